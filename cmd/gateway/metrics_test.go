package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"legacyauth/contracts"
	"legacyauth/gateway/metrics"
	"legacyauth/internal/testkit"
)

// adminServer serves the gateway's admin handler (what --admin-listen
// serves) on loopback for the test's lifetime.
func adminServer(t testing.TB, g *testGateway) string {
	t.Helper()
	srv := httptest.NewServer(g.Admin)
	t.Cleanup(srv.Close)
	return srv.URL
}

// series is one scrape: every sample by metric name, each with its labels.
type series map[string][]sample

type sample struct {
	labels map[string]string
	value  float64
}

// scrape reads /metrics from the admin listener in the text format.
func scrape(t testing.TB, adminURL string) (series, string) {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, raw)
	}
	s := series{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cut := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[cut+1:], 64)
		if err != nil {
			t.Fatalf("unparsable sample %q", line)
		}
		name, labels := parseSeries(t, line[:cut])
		s[name] = append(s[name], sample{labels, v})
	}
	return s, string(raw)
}

var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func parseSeries(t testing.TB, s string) (string, map[string]string) {
	name, rest, ok := strings.Cut(s, "{")
	labels := map[string]string{}
	if !ok {
		return s, labels
	}
	for _, m := range labelPair.FindAllStringSubmatch(strings.TrimSuffix(rest, "}"), -1) {
		labels[m[1]] = m[2]
	}
	return name, labels
}

// get returns the value of the sample of name whose labels include want
// (pairs: "dialect", "apiv4", ...); it fails when there is none.
func (s series) get(t testing.TB, name string, want ...string) float64 {
	t.Helper()
	for _, smp := range s[name] {
		if matches(smp.labels, want) {
			return smp.value
		}
	}
	t.Fatalf("no sample %s%v in the scrape", name, want)
	return 0
}

// sum adds the samples of name whose labels include want.
func (s series) sum(name string, want ...string) float64 {
	var n float64
	for _, smp := range s[name] {
		if matches(smp.labels, want) {
			n += smp.value
		}
	}
	return n
}

func matches(labels map[string]string, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		if labels[want[i]] != want[i+1] {
			return false
		}
	}
	return true
}

// uaTransport sets a User-Agent ("" sends none) and counts requests.
type uaTransport struct {
	ua    string
	count *atomic.Int64
}

func (u uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header["User-Agent"] = []string{u.ua} // an empty value makes net/http send none
	u.count.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// TestMetricsCountWhatWasSent drives a known set of requests through every
// dialect and /v1, then checks the scrape series by series.
func TestMetricsCountWhatWasSent(t *testing.T) {
	g := startGateway(t, "--limit-request=dry-run:5-M")
	admin := adminServer(t, g)
	var sent atomic.Int64
	as := func(ua string) *client {
		c := newClient(t, g)
		c.http.Transport = uaTransport{ua, &sent}
		return c
	}

	car := as("CarApp/3.2.1 (iPhone; iOS 15.1) CFNetwork/1240.0.4")
	registrars["caraccessories"](car, "13900000101") // get_verification_code, registration
	_, r := car.json("/caraccessories/app/login", map[string]string{"mobile": "13900000101", "password": "wrong-pw"})
	want(t, "caraccessories wrong password", r, "status", -4.0)
	_, r = car.json("/caraccessories/app/login", map[string]string{"mobile": "13900000199", "password": "whatever"})
	want(t, "caraccessories unknown phone", r, "status", -3.0)

	v4 := as("okhttp/4.9.0")
	registrars["apiv4"](v4, "13900000102") // sendsms, register
	for range 2 {
		_, r = v4.form("/api/v4.0/login", url.Values{"phone": {"13900000102"}, "password": {"wrong-pw"}, "device_identifier": {"dev-1"}})
		want(t, "apiv4 wrong password", r, "code", -1.0)
	}
	if st, _ := v4.do(http.MethodPut, "/api/v4.0/login", "", ""); st != http.StatusMethodNotAllowed {
		t.Fatalf("PUT apiv4 login: %d, want 405", st)
	}

	rc := as("")                                // no User-Agent: version "unknown"
	registrars["resultcode"](rc, "13900000103") // send_code, verify_code, register
	loginers["resultcode"](rc, "13900000103", crossPassword)

	api := as("LegacyAuthTest/1.0")
	registrars["v1"](api, "13900000104") // codes, users
	if st, _ := api.json("/v1/codes", map[string]string{"phone": "13900000104", "purpose": "reset"}); st != http.StatusTooManyRequests {
		t.Fatalf("second code within the cooldown: %d, want 429", st)
	}
	if st, _ := api.json("/v1/sessions", map[string]string{"phone": "13900000104", "password": "wrong-pw"}); st != http.StatusUnauthorized {
		t.Fatalf("v1 wrong password: %d, want 401", st)
	}
	g.SMS.Fail(errors.New("provider down"))
	if st, _ := api.json("/v1/codes", map[string]string{"phone": "13900000105", "purpose": "register"}); st != http.StatusBadGateway {
		t.Fatalf("send while the SMS provider fails: %d, want 502", st)
	}
	g.SMS.Fail(nil)
	if st, _ := api.do(http.MethodGet, "/v1/nowhere", "", ""); st != http.StatusNotFound {
		t.Fatalf("unknown /v1 path: %d, want 404", st)
	}
	if st, _ := as("Probe/0.1").do(http.MethodPost, "/nowhere", "application/json", "{}"); st != http.StatusNotFound {
		t.Fatalf("undetected: %d, want 404", st)
	}

	s, _ := scrape(t, admin)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"gateway_requests_total", []string{"dialect", "caraccessories", "op", "get_verification_code", "outcome", "ok"}, 1},
		{"gateway_requests_total", []string{"dialect", "caraccessories", "op", "registration", "outcome", "ok"}, 1},
		{"gateway_requests_total", []string{"dialect", "caraccessories", "op", "login", "outcome", "wrong_password"}, 1},
		{"gateway_requests_total", []string{"dialect", "caraccessories", "op", "login", "outcome", "not_registered"}, 1},
		{"gateway_requests_total", []string{"dialect", "apiv4", "op", "sendsms", "outcome", "ok"}, 1},
		{"gateway_requests_total", []string{"dialect", "apiv4", "op", "register", "outcome", "ok"}, 1},
		{"gateway_requests_total", []string{"dialect", "apiv4", "op", "login", "outcome", "wrong_password"}, 2},
		{"gateway_requests_total", []string{"dialect", "apiv4", "op", "none", "outcome", "method_not_allowed"}, 1},
		{"gateway_requests_total", []string{"dialect", "resultcode", "op", "send_code", "outcome", "ok"}, 1},
		{"gateway_requests_total", []string{"dialect", "resultcode", "op", "verify_code", "outcome", "ok"}, 1},
		{"gateway_requests_total", []string{"dialect", "resultcode", "op", "register", "outcome", "ok"}, 1},
		{"gateway_requests_total", []string{"dialect", "resultcode", "op", "login", "outcome", "ok"}, 1},
		{"gateway_requests_total", []string{"dialect", "v1", "op", "send_code", "outcome", "ok"}, 1},
		{"gateway_requests_total", []string{"dialect", "v1", "op", "send_code", "outcome", "rate_limited"}, 1},
		{"gateway_requests_total", []string{"dialect", "v1", "op", "send_code", "outcome", "sms_failed"}, 1},
		{"gateway_requests_total", []string{"dialect", "v1", "op", "register", "outcome", "ok"}, 1},
		{"gateway_requests_total", []string{"dialect", "v1", "op", "login", "outcome", "wrong_password"}, 1},
		{"gateway_requests_total", []string{"dialect", "v1", "op", "none", "outcome", "not_found"}, 1},
		{"gateway_requests_total", []string{"dialect", "none", "op", "none", "outcome", "undetected"}, 1},
		{"gateway_request_duration_seconds_count", []string{"dialect", "apiv4", "op", "login"}, 2},
		{"gateway_request_duration_seconds_count", []string{"dialect", "v1", "op", "send_code"}, 3},
		{"gateway_client_requests_total", []string{"dialect", "caraccessories", "version", "CarApp/3.2.1"}, 4},
		{"gateway_client_requests_total", []string{"dialect", "apiv4", "version", "okhttp/4.9.0"}, 5},
		{"gateway_client_requests_total", []string{"dialect", "resultcode", "version", "unknown"}, 4},
		{"gateway_client_requests_total", []string{"dialect", "v1", "version", "LegacyAuthTest/1.0"}, 6},
		{"gateway_client_requests_total", []string{"dialect", "none", "version", "Probe/0.1"}, 1},
		{"gateway_sms_sends_total", []string{"result", "ok"}, 4},
		{"gateway_sms_sends_total", []string{"result", "failed"}, 1},
		{"gateway_rate_limit_rejections_total", []string{"limit", "sms_cooldown"}, 1},
		{"gateway_rate_limit_rejections_total", []string{"limit", "request"}, 0},
		{"gateway_rate_limit_dry_run_hits_total", []string{"limit", "request"}, float64(sent.Load() - 5)},
		{"gateway_rate_limit_store_errors_total", []string{"limit", "sms_ip"}, 0},
		{"gateway_detection_failures_total", nil, 1},
		{"gateway_store_operation_duration_seconds_count", []string{"store", "memdb", "method", "CreateUser"}, 4},
		{"gateway_store_up", []string{"store", "memdb"}, 1},
	} {
		if got := s.get(t, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if total := s.sum("gateway_requests_total"); total != float64(sent.Load()) {
		t.Errorf("requests counted %v, requests sent %d", total, sent.Load())
	}
	if n := s.sum("gateway_store_errors_total", "store", "memdb", "method", "UserByPhone", "kind", "not_registered"); n == 0 {
		t.Error("no not_registered answer of UserByPhone counted, though the unknown phone's login asked")
	}
	if n := s.sum("gateway_store_errors_total", "kind", "unavailable"); n != 0 {
		t.Errorf("%v unavailable store errors on a healthy memdb", n)
	}
	if n := s.sum("go_goroutines"); n == 0 {
		t.Error("the Go runtime collector is missing")
	}
}

// piiPattern finds what must never be a label value: an 11-digit mainland
// mobile (bare or in E.164) and an IPv4 or IPv6 address.
var piiPattern = regexp.MustCompile(`1[3-9]\d{9}|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}`)

func TestPIIPattern(t *testing.T) {
	for _, s := range []string{"13812345678", "+8613812345678", "127.0.0.1", "10.1.2.3:4567", "::1", "2001:db8::1", "[::ffff:10.0.0.1]"} {
		if !piiPattern.MatchString(s) {
			t.Errorf("%q not caught", s)
		}
	}
	for _, s := range []string{"App/1.2.3", "okhttp/4.9.0", "2021081501", "0.005", "+Inf", "go1.26.8", "not_registered"} {
		if piiPattern.MatchString(s) {
			t.Errorf("%q caught", s)
		}
	}
}

// checkLabels fails on any label value of the scrape holding a phone or
// an address, and on an outcome outside the fixed set. (Values are not
// scanned: a byte count may well have 11 digits.)
func checkLabels(t *testing.T, s series) {
	t.Helper()
	outcomes := map[string]bool{}
	for _, o := range metrics.Outcomes {
		outcomes[o] = true
	}
	for name, samples := range s {
		for _, smp := range samples {
			for k, v := range smp.labels {
				if piiPattern.MatchString(v) {
					t.Errorf("%s{%s=%q}: a label value looks like a phone or an address", name, k, v)
				}
			}
			if o, ok := smp.labels["outcome"]; ok && name == "gateway_requests_total" && !outcomes[o] && !isKindName(o) {
				t.Errorf("outcome %q is not in the fixed set", o)
			}
		}
	}
}

func isKindName(s string) bool {
	return metrics.Outcome(s) == s
}

// TestMetricsOverGoldenCases replays every golden case, each against its
// own gateway as TestGolden does, counting the requests it sends: every
// request is counted once in gateway_requests_total and in the latency
// histogram, and no label of the scrape carries a phone or an address
// (the cases put phones in paths, bodies and query strings).
func TestMetricsOverGoldenCases(t *testing.T) {
	cases, err := contracts.Load("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, append([]string{"--limits=off"}, optionFlags(c.Options())...)...)
			var sent atomic.Int64
			counted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sent.Add(1)
				g.Handler.ServeHTTP(w, r)
			}))
			t.Cleanup(counted.Close)
			res := contracts.Run(context.Background(), contracts.Target{
				BaseURL: counted.URL, LastCode: g.SMS.Last, Advance: g.Clock.Advance, InProcess: true,
			}, c)
			if res.Skipped != "" {
				t.Fatalf("skipped: %s", res.Skipped)
			}
			s, _ := scrape(t, adminServer(t, g))
			if got := s.sum("gateway_requests_total"); got != float64(sent.Load()) {
				t.Errorf("gateway_requests_total sums to %v, %d requests were sent", got, sent.Load())
			}
			if got := s.sum("gateway_request_duration_seconds_count"); got != float64(sent.Load()) {
				t.Errorf("gateway_request_duration_seconds_count sums to %v, %d requests were sent", got, sent.Load())
			}
			if got := s.sum("gateway_requests_total", "dialect", c.Dialect); got == 0 && c.Dialect != "canonical" {
				t.Errorf("no request of the case's dialect %s counted", c.Dialect)
			}
			checkLabels(t, s)
		})
	}
}

// TestAdminEndpointsOnlyOnAdminListener: /metrics, /healthz, /readyz and,
// with an admin token, pprof answer on the admin handler and are unknown
// routes on the public one. Without the token in the request, pprof is
// 401; without a token configured, it is not served at all.
func TestAdminEndpointsOnlyOnAdminListener(t *testing.T) {
	const token = "admin-token-0123456789"
	g := startGateway(t, "--admin-token", token)
	admin := adminServer(t, g)
	get := func(url, bearer string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	open := []string{"/metrics", "/healthz", "/readyz"}
	pprofPaths := []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1", "/debug/pprof/symbol"}
	for _, p := range append(open, pprofPaths...) {
		if status, body := get(g.URL+p, token); status != http.StatusNotFound || !strings.Contains(string(body), "unknown_route") {
			t.Errorf("public GET %s: %d %.80q, want 404 unknown_route", p, status, body)
		}
		if status, _ := get(admin+p, token); status != http.StatusOK {
			t.Errorf("admin GET %s with the token: %d, want 200", p, status)
		}
	}
	for _, p := range pprofPaths {
		for _, bearer := range []string{"", "wrong-token-0123456789"} {
			if status, _ := get(admin+p, bearer); status != http.StatusUnauthorized {
				t.Errorf("admin GET %s with token %q: %d, want 401", p, bearer, status)
			}
		}
	}
	for _, p := range open {
		if status, _ := get(admin+p, ""); status != http.StatusOK {
			t.Errorf("admin GET %s without a token: %d, want 200 (read-only)", p, status)
		}
	}
	noToken := adminServer(t, startGateway(t))
	for _, p := range pprofPaths {
		if status, _ := get(noToken+p, token); status != http.StatusNotFound {
			t.Errorf("admin GET %s with no token configured: %d, want 404", p, status)
		}
	}
	if status, trace := get(admin+"/debug/pprof/trace?seconds=0.05", token); status != http.StatusOK || len(trace) == 0 {
		t.Errorf("admin trace: %d, %d bytes", status, len(trace))
	}
	// net/http/pprof's init registers on http.DefaultServeMux whatever
	// the import: neither listener may fall back on that mux.
	cfg, err := parseConfig([]string{"--data-dir", t.TempDir()}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.DiscardHandler)
	for name, srv := range map[string]*http.Server{"public": newHTTPServer(cfg, g.Handler, discard), "admin": newAdminServer(cfg, g.Admin, discard)} {
		if srv.Handler == nil || srv.Handler == http.DefaultServeMux {
			t.Errorf("the %s server serves http.DefaultServeMux", name)
		}
	}
}

// TestClientVersionLabelsAreBounded: however many versions clients claim,
// a dialect gets --client-version-labels of them plus "other" and
// "unknown"; a configured header replaces User-Agent.
func TestClientVersionLabelsAreBounded(t *testing.T) {
	t.Run("User-Agent", func(t *testing.T) {
		g := startGateway(t, "--client-version-labels=3")
		var sent atomic.Int64
		for i := range 50 {
			c := newClient(t, g)
			c.http.Transport = uaTransport{fmt.Sprintf("App/1.%d.0 (Android 11)", i), &sent}
			c.json("/v1/phones/lookup", map[string]string{"phone": "13900000201"})
		}
		c := newClient(t, g)
		c.http.Transport = uaTransport{"App/13812345678", &sent} // a phone as a version: never a label
		c.json("/v1/phones/lookup", map[string]string{"phone": "13900000201"})
		s, _ := scrape(t, adminServer(t, g))
		versions := map[string]float64{}
		for _, smp := range s["gateway_client_requests_total"] {
			if smp.labels["dialect"] == "v1" {
				versions[smp.labels["version"]] = smp.value
			}
		}
		wantV := map[string]float64{"App/1.0.0": 1, "App/1.1.0": 1, "App/1.2.0": 1, "other": 47, "unknown": 1}
		if fmt.Sprint(versions) != fmt.Sprint(wantV) {
			t.Errorf("v1 client versions = %v, want %v", versions, wantV)
		}
		checkLabels(t, s)
	})
	t.Run("configured header", func(t *testing.T) {
		g := startGateway(t, "--client-version-header=X-App-Version")
		c := newClient(t, g)
		c.do(http.MethodPost, "/v1/phones/lookup", "application/json", `{"phone":"13900000202"}`, "X-App-Version", "4.2.1", "User-Agent", "okhttp/4.9.0")
		c.do(http.MethodPost, "/v1/phones/lookup", "application/json", `{"phone":"13900000202"}`, "User-Agent", "okhttp/4.9.0")
		s, _ := scrape(t, adminServer(t, g))
		if got := s.get(t, "gateway_client_requests_total", "dialect", "v1", "version", "4.2.1"); got != 1 {
			t.Errorf("version 4.2.1: %v, want 1", got)
		}
		if got := s.get(t, "gateway_client_requests_total", "dialect", "v1", "version", "unknown"); got != 1 {
			t.Errorf("no header: %v, want 1 unknown", got)
		}
		if got := s.sum("gateway_client_requests_total", "version", "okhttp/4.9.0"); got != 0 {
			t.Errorf("User-Agent used despite the configured header: %v", got)
		}
	})
}

// TestServeStartsAndStopsBothListeners runs the real serve(): the public
// and admin listeners both answer, and both close on shutdown (the
// signal's context being cancelled).
func TestServeStartsAndStopsBothListeners(t *testing.T) {
	public, admin := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logw := &testkit.Buffer{}
	go func() {
		done <- run(ctx, []string{"--listen", public, "--admin-listen", admin, "--data-dir", t.TempDir(), "--log-level", "warn"}, func(string) string { return "" }, io.Discard, logw)
	}()
	waitFor(t, "http://"+admin+"/healthz", http.StatusOK)
	waitFor(t, "http://"+public+"/healthz", http.StatusNotFound)
	waitFor(t, "http://"+admin+"/readyz", http.StatusOK)
	waitFor(t, "http://"+admin+"/metrics", http.StatusOK)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not return after shutdown")
	}
	for _, addr := range []string{public, admin} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after shutdown", addr)
		}
	}

	t.Run("admin address in use", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		err = run(context.Background(), []string{"--listen", freeAddr(t), "--admin-listen", ln.Addr().String(), "--data-dir", t.TempDir(), "--log-level", "error"}, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "admin listener") {
			t.Fatalf("run with the admin address taken: %v, want an admin listener error", err)
		}
	})

	t.Run("off", func(t *testing.T) {
		public := freeAddr(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		logw := &testkit.Buffer{}
		go func() {
			done <- run(ctx, []string{"--listen", public, "--admin-listen", "off", "--data-dir", t.TempDir()}, func(string) string { return "" }, io.Discard, logw)
		}()
		waitFor(t, "http://"+public+"/healthz", http.StatusNotFound)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logw.String(), "admin listener off") {
			t.Errorf("no notice that the admin listener is off in:\n%s", logw.String())
		}
	})
}

// waitFor polls url until it answers status.
func waitFor(t *testing.T, url string, status int) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url)
		if err != nil {
			last = err.Error()
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == status {
			return
		}
		last = resp.Status
	}
	t.Fatalf("%s never answered %d (last: %s)", url, status, last)
}
