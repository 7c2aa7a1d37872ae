package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"legacyauth/core"
	"legacyauth/core/limits"
	"legacyauth/gateway"
)

// value returns the value of the one sample of name with exactly labels
// (pairs), or -1 when there is none.
func value(t *testing.T, m *Metrics, name string, labels ...string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			if !hasLabels(s, labels) {
				continue
			}
			switch {
			case s.Counter != nil:
				return s.Counter.GetValue()
			case s.Gauge != nil:
				return s.Gauge.GetValue()
			case s.Histogram != nil:
				return float64(s.Histogram.GetSampleCount())
			}
		}
	}
	return -1
}

func hasLabels(s *dto.Metric, want []string) bool {
	if len(s.GetLabel())*2 != len(want) {
		return false
	}
	got := map[string]string{}
	for _, l := range s.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for i := 0; i+1 < len(want); i += 2 {
		if v, ok := got[want[i]]; !ok || v != want[i+1] {
			return false
		}
	}
	return true
}

func TestUserAgentVersion(t *testing.T) {
	for ua, want := range map[string]string{
		"CarApp/3.2.1 (iPhone; iOS 15.1) CFNetwork/1240.0.4 Darwin/20.6.0": "CarApp/3.2.1",
		"okhttp/4.9.0": "okhttp/4.9.0",
		"Dalvik/2.1.0 (Linux; U; Android 11; Pixel 5)": "Dalvik/2.1.0",
		"  com.example.app/2021081501 ":                "com.example.app/2021081501",
		"App/1.0.0-beta+exp.sha.5114f85":               "App/1.0.0-beta+exp.sha.5114f85",
		"":                                             "unknown",
		"CarApp":                                       "unknown", // no version
		"CarApp/ (iPhone)":                             "unknown",
		"/1.0":                                         "unknown",
		"(compatible; bot)":                            "unknown",
		"App/13812345678":                              "unknown", // a phone
		"13812345678/1.0":                              "unknown",
		"App/10.0.0.1":                                 "unknown", // an address
		"App/1.0;DROP":                                 "unknown",
		"App/1.0\"}":                                   "unknown",
		"App/deadbeefdeadbeefdeadbeef":                 "unknown", // a token
		"App/" + strings.Repeat("1.", 20):              "unknown", // too long
		strings.Repeat("a", 33) + "/1.0":               "unknown",
		"Mozilla/5.0 (Linux; Android 11) AppleWebKit/537.36": "Mozilla/5.0",
	} {
		if got := UserAgentVersion(ua); got != want {
			t.Errorf("UserAgentVersion(%q) = %q, want %q", ua, got, want)
		}
	}
}

func TestHeaderVersion(t *testing.T) {
	for v, want := range map[string]string{
		"4.2.1":          "4.2.1",
		" 4.2.1 ":        "4.2.1",
		"":               "unknown",
		"4.2.1 (build)":  "unknown",
		"+8613812345678": "unknown",
		"192.168.1.20":   "unknown",
	} {
		if got := HeaderVersion(v); got != want {
			t.Errorf("HeaderVersion(%q) = %q, want %q", v, got, want)
		}
	}
}

func TestVersionSetBoundsEachDialect(t *testing.T) {
	s := newVersionSet(2)
	for i, c := range []struct{ dialect, version, want string }{
		{"apiv4", "A/1", "A/1"},
		{"apiv4", "unknown", "unknown"},
		{"apiv4", "A/2", "A/2"},
		{"apiv4", "A/3", "other"},
		{"apiv4", "A/1", "A/1"}, // still its own
		{"resultcode", "A/3", "A/3"},
		{"apiv4", "A/4", "other"},
	} {
		if got := s.label(c.dialect, c.version); got != c.want {
			t.Errorf("%d: label(%s, %s) = %s, want %s", i, c.dialect, c.version, got, c.want)
		}
	}
}

func TestClientVersionCardinality(t *testing.T) {
	m := New(Options{ClientVersionLabels: 5})
	for i := range 1000 {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("User-Agent", fmt.Sprintf("App/%d.%d", i/100, i%100))
		for _, d := range []string{"apiv4", "v1", ""} {
			m.ObserveRequest(r, &gateway.Info{Dialect: d, Outcome: "ok"}, 200, time.Millisecond)
		}
	}
	fams, _ := m.Registry().Gather()
	for _, f := range fams {
		if f.GetName() != "gateway_client_requests_total" {
			continue
		}
		if n := len(f.GetMetric()); n != 3*6 {
			t.Errorf("%d client version series for 3 dialects, want 3 x (5 + other)", n)
		}
	}
	if got := value(t, m, "gateway_client_requests_total", "dialect", "none", "version", "other"); got != 995 {
		t.Errorf("other = %v, want 995", got)
	}
}

func TestOutcomeIsAFixedSet(t *testing.T) {
	for in, want := range map[string]string{
		"ok": "ok", "wrong_password": "wrong_password", "undetected": "undetected",
		"body_too_large": "body_too_large", "unsupported_media_type": "unsupported_media_type",
		"": "unknown", "13812345678": "other", "kind(99)": "other",
	} {
		if got := Outcome(in); got != want {
			t.Errorf("Outcome(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestObserveRequest(t *testing.T) {
	m := New(Options{})
	r := httptest.NewRequest(http.MethodPost, "/api/v4.0/login", nil)
	r.Header.Set("User-Agent", "okhttp/4.9.0")
	m.ObserveRequest(r, &gateway.Info{Dialect: "apiv4", Op: "login", Outcome: "wrong_password", Phone: "+8613812345678", ClientIP: "10.0.0.1"}, 200, 30*time.Millisecond)
	m.ObserveRequest(r, &gateway.Info{Outcome: "undetected"}, 404, time.Millisecond)
	if got := value(t, m, "gateway_requests_total", "dialect", "apiv4", "op", "login", "outcome", "wrong_password"); got != 1 {
		t.Errorf("requests = %v, want 1", got)
	}
	if got := value(t, m, "gateway_requests_total", "dialect", "none", "op", "none", "outcome", "undetected"); got != 1 {
		t.Errorf("undetected requests = %v, want 1", got)
	}
	if got := value(t, m, "gateway_request_duration_seconds", "dialect", "apiv4", "op", "login"); got != 1 {
		t.Errorf("latency observations = %v, want 1", got)
	}
	if got := value(t, m, "gateway_client_requests_total", "dialect", "apiv4", "version", "okhttp/4.9.0"); got != 1 {
		t.Errorf("client requests = %v, want 1", got)
	}
}

type flakySender struct{ fail bool }

func (f *flakySender) Send(context.Context, core.SMS) error {
	if f.fail {
		return errors.New("provider down")
	}
	return nil
}

func TestSender(t *testing.T) {
	m := New(Options{})
	if got := value(t, m, "gateway_sms_sends_total", "result", "failed"); got != 0 {
		t.Errorf("failed before any send = %v, want 0 (the series exists from the start)", got)
	}
	f := &flakySender{}
	s := m.Sender(f)
	_ = s.Send(context.Background(), core.SMS{})
	_ = s.Send(context.Background(), core.SMS{})
	f.fail = true
	if err := s.Send(context.Background(), core.SMS{}); err == nil {
		t.Fatal("the wrapper hid the sender's error")
	}
	if ok, failed := value(t, m, "gateway_sms_sends_total", "result", "ok"), value(t, m, "gateway_sms_sends_total", "result", "failed"); ok != 2 || failed != 1 {
		t.Errorf("ok %v failed %v, want 2 and 1", ok, failed)
	}
}

// fakeStore answers every call with err.
type fakeStore struct{ err error }

func (f fakeStore) CreateUser(context.Context, *core.User, *core.Session) error { return f.err }
func (f fakeStore) UserByPhone(context.Context, string) (*core.User, error)     { return nil, f.err }
func (f fakeStore) UserByID(context.Context, string) (*core.User, error)        { return nil, f.err }
func (f fakeStore) RecordLogin(context.Context, string, string, string, string, *core.Session) error {
	return f.err
}
func (f fakeStore) SetPassword(context.Context, string, string, time.Time) error { return f.err }
func (f fakeStore) Session(context.Context, [32]byte, time.Time) (*core.Session, *core.User, error) {
	return nil, nil, f.err
}
func (f fakeStore) DeleteSession(context.Context, [32]byte) error           { return f.err }
func (f fakeStore) PutAvatar(context.Context, string, string, []byte) error { return f.err }
func (f fakeStore) Avatar(context.Context, string) (string, io.ReadCloser, error) {
	return "", nil, f.err
}
func (f fakeStore) TouchAvatar(context.Context, string, time.Time) error { return f.err }
func (f fakeStore) DeleteUnusedAvatars(context.Context, time.Time) (int, error) {
	return 0, f.err
}
func (f fakeStore) Ping(context.Context) error                { return f.err }
func (f fakeStore) Close() error                              { return f.err }
func (f fakeStore) PutCode(context.Context, *core.Code) error { return f.err }
func (f fakeStore) CheckCode(context.Context, string, [][32]byte, time.Time, int) (core.CodeCheck, error) {
	return 0, f.err
}
func (f fakeStore) PutTicket(context.Context, *core.Ticket) error { return f.err }
func (f fakeStore) TakeTicket(context.Context, string, core.Purpose, *[32]byte, time.Time) error {
	return f.err
}
func (f fakeStore) PutFlow(context.Context, *core.Flow) error                   { return f.err }
func (f fakeStore) Flow(context.Context, string, time.Time) (*core.Flow, error) { return nil, f.err }
func (f fakeStore) DeleteFlow(context.Context, string) error                    { return f.err }
func (f fakeStore) DeletePhone(context.Context, string) error                   { return f.err }
func (f fakeStore) CountSessions(context.Context, string, time.Time) (int, error) {
	return 0, f.err
}
func (f fakeStore) RevokeSessions(context.Context, string) (int, error)    { return 0, f.err }
func (f fakeStore) DeleteUser(context.Context, string) (*core.User, error) { return nil, f.err }
func (f fakeStore) DeleteAvatar(context.Context, string) (bool, error)     { return false, f.err }

func TestStoreWrappers(t *testing.T) {
	m := New(Options{})
	ctx := context.Background()
	ok := m.Store("postgres", fakeStore{})
	if _, err := ok.UserByPhone(ctx, "+8613812345678"); err != nil {
		t.Fatal(err)
	}
	missing := m.Store("postgres", fakeStore{core.E("test", core.NotRegistered, "")})
	if _, err := missing.UserByPhone(ctx, "+8613812345678"); core.KindOf(err) != core.NotRegistered {
		t.Fatalf("the wrapper changed the error: %v", err)
	}
	down := m.EphemeralStore("redis", fakeStore{errors.New("dial tcp: connection refused")})
	_ = down.PutCode(ctx, &core.Code{})
	_, _ = down.CheckCode(ctx, "+8613812345678", nil, time.Now(), 5)
	_ = down.PutCode(ctx, &core.Code{})

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"gateway_store_operation_duration_seconds", []string{"store", "postgres", "method", "UserByPhone"}, 2},
		{"gateway_store_operation_duration_seconds", []string{"store", "redis", "method", "PutCode"}, 2},
		{"gateway_store_operation_duration_seconds", []string{"store", "redis", "method", "CheckCode"}, 1},
		{"gateway_store_operation_duration_seconds", []string{"store", "redis", "method", "Flow"}, 0},
		{"gateway_store_errors_total", []string{"store", "postgres", "method", "UserByPhone", "kind", "not_registered"}, 1},
		{"gateway_store_errors_total", []string{"store", "redis", "method", "PutCode", "kind", "internal"}, 2},
		{"gateway_store_errors_total", []string{"store", "redis", "method", "CheckCode", "kind", "internal"}, 1},
	} {
		if got := value(t, m, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestLimitsAreReadAtScrapeTime(t *testing.T) {
	m := New(Options{})
	m.Limits(nil) // limits off: nothing, and no panic
	cfg := limits.Defaults()
	cfg.Request, _ = limits.ParseRule("request", "1-M")
	cfg.LookupAddr, _ = limits.ParseRule("lookup_ip", "dry-run:1-M")
	l := limits.New(limits.NewMemoryStore(nil), limits.NewMemoryLog(), cfg, nil, slog.New(slog.DiscardHandler))
	m.Limits(l)
	ctx := core.WithClientIP(context.Background(), "192.0.2.1")
	for range 3 {
		_ = l.AllowRequest(ctx)
		_ = l.AllowLookup(ctx)
	}
	if got := value(t, m, "gateway_rate_limit_rejections_total", "limit", "request"); got != 2 {
		t.Errorf("request rejections = %v, want 2", got)
	}
	if got := value(t, m, "gateway_rate_limit_dry_run_hits_total", "limit", "lookup_ip"); got != 2 {
		t.Errorf("lookup_ip dry-run hits = %v, want 2", got)
	}
	if got := value(t, m, "gateway_rate_limit_rejections_total", "limit", "sms_ip"); got != 0 {
		t.Errorf("sms_ip rejections = %v, want 0 (every rule is exposed)", got)
	}
	// The collector reads the limits' own counters: no second count.
	if got, own := value(t, m, "gateway_rate_limit_rejections_total", "limit", "request"), l.Stats()["request"].Rejected.Load(); got != float64(own) {
		t.Errorf("exposed %v, limits counted %d", got, own)
	}
}

func TestDetectionFailuresAndReadiness(t *testing.T) {
	m := New(Options{})
	var n int64 = 3
	m.DetectionFailures(func() int64 { return n })
	m.Readiness(map[string]func(context.Context) error{
		"postgres": func(context.Context) error { return nil },
		"redis":    func(context.Context) error { return errors.New("down") },
	})
	if got := value(t, m, "gateway_detection_failures_total"); got != 3 {
		t.Errorf("detection failures = %v, want 3", got)
	}
	n = 4
	if got := value(t, m, "gateway_detection_failures_total"); got != 4 {
		t.Errorf("detection failures = %v, want 4 (read at scrape time)", got)
	}
	if up, down := value(t, m, "gateway_store_up", "store", "postgres"), value(t, m, "gateway_store_up", "store", "redis"); up != 1 || down != 0 {
		t.Errorf("store_up postgres %v redis %v, want 1 and 0", up, down)
	}
}

func TestOwnRegistry(t *testing.T) {
	a, b := New(Options{}), New(Options{}) // a second New would panic on a shared registry
	a.sms.WithLabelValues("ok").Inc()
	if got := value(t, b, "gateway_sms_sends_total", "result", "ok"); got != 0 {
		t.Errorf("two Metrics share a series: %v", got)
	}
	fams, _ := prometheus.DefaultGatherer.Gather()
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "gateway_") {
			t.Errorf("%s is on the global registry", f.GetName())
		}
	}
}

func TestHandlerServesTheRegistry(t *testing.T) {
	m := New(Options{})
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `gateway_sms_sends_total{result="failed"} 0`) {
		t.Errorf("/metrics: %d\n%s", w.Code, w.Body.String())
	}
}

// A request of a label set already seen finds its series without
// allocating (no WithLabelValues, no address parsing of the version).
func TestObserveRequestCachedSeries(t *testing.T) {
	m := New(Options{})
	r := httptest.NewRequest(http.MethodGet, "/api/v4.0/isregister/13812345678", nil)
	r.Header.Set("User-Agent", "okhttp/3.12.1")
	info := &gateway.Info{Dialect: "apiv4", Op: "isregister", Outcome: "already_registered"}
	for range 3 {
		m.ObserveRequest(r, info, 200, time.Millisecond)
	}
	if n := testing.AllocsPerRun(100, func() { m.ObserveRequest(r, info, 200, time.Millisecond) }); n != 0 {
		t.Errorf("ObserveRequest allocates %v times per request", n)
	}
	if got := value(t, m, "gateway_requests_total", "dialect", "apiv4", "op", "isregister", "outcome", "already_registered"); got != 104 { // 3, then AllocsPerRun's warm-up call and 100
		t.Errorf("requests = %v, want 104", got)
	}
	if got := value(t, m, "gateway_client_requests_total", "dialect", "apiv4", "version", "okhttp/3.12.1"); got != 104 { // 3, then AllocsPerRun's warm-up call and 100
		t.Errorf("client requests = %v, want 104", got)
	}
}
