package migrate

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"legacyauth/core"
	"legacyauth/gateway"
	"legacyauth/internal/oldserver"
	"legacyauth/internal/testkit"
)

// fakeCore stands in for the caraccessories dialect over a core: its
// handlers answer what the test says, as slowly as the test says.
type fakeCore struct {
	mu      sync.Mutex
	calls   map[string]int
	entered chan string   // told of each call, when not nil
	hold    chan struct{} // each call waits for it, when not nil
	delay   time.Duration
	reply   string
	panics  bool
}

func (f *fakeCore) Name() string                       { return "caraccessories" }
func (f *fakeCore) Claims(fields map[string]bool) bool { return fields["mobile"] }
func (f *fakeCore) Reject(w http.ResponseWriter, _ *http.Request, status int, err error) {
	w.WriteHeader(status)
	io.WriteString(w, `{"status":-2,"msg":"服务器繁忙，请稍后再试"}`)
	_ = err
}

func (f *fakeCore) Routes() []gateway.Route {
	h := func(op string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			f.calls[op]++
			entered, hold, delay, reply, panics := f.entered, f.hold, f.delay, f.reply, f.panics
			f.mu.Unlock()
			if entered != nil {
				entered <- op
			}
			if hold != nil {
				<-hold
			}
			time.Sleep(delay)
			if panics {
				panic("the core broke")
			}
			_, _ = io.ReadAll(r.Body)
			gateway.SetOutcomeCode(r, fakeOutcome(reply))
			io.WriteString(w, reply)
		}
	}
	post := []string{http.MethodPost}
	return []gateway.Route{
		{Op: "login", Path: "/login", Methods: post, Sources: fakeSources, Handler: h("login")},
		{Op: "get_verification_code", Path: "/get_verification_code", Methods: post, Sources: fakeSources, Handler: h("get_verification_code")},
	}
}

const fakeSources = gateway.JSON | gateway.AnyTypeJSON

// fakeCore's Wire: caraccessories' phone parameter and the statuses the
// tests' replies use.
var fakeStatuses = map[string]string{"1": "ok", "-1": "invalid", "-2": "internal", "-3": "not_registered", "-4": "wrong_password"}

// fakeOutcome is the outcome of one of fakeCore's replies.
func fakeOutcome(reply string) string {
	return ReplyOutcome(http.StatusOK, []byte(reply), "status", func(c string) (string, bool) { o, ok := fakeStatuses[c]; return o, ok })
}

func (f *fakeCore) Operations() []Operation {
	return []Operation{{Name: "login", Login: true}, {Name: "get_verification_code", Acts: true}}
}
func (f *fakeCore) Phone(_ string, _ *http.Request, p gateway.Params) string { return p.Get("mobile") }
func (f *fakeCore) Flow(*http.Request) string                                { return "" }
func (f *fakeCore) Outcome(_ string, _ gateway.Params, status int, body []byte) string {
	return ReplyOutcome(status, body, "status", func(c string) (string, bool) { o, ok := fakeStatuses[c]; return o, ok })
}
func (f *fakeCore) CoreOutcome(_ string, _ gateway.Params, outcome string) string { return outcome }
func (f *fakeCore) Login(p gateway.Params) (string, string)                       { return p.Get("password"), "" }
func (f *fakeCore) Profile([]byte) core.Profile                                   { return core.Profile{} }
func (f *fakeCore) Redact(b []byte) []byte                                        { return b }

var _ Wire = (*fakeCore)(nil)

func (f *fakeCore) callsTo(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

type harness struct {
	mig  *Migrator
	url  string
	old  *oldserver.Server
	core *fakeCore
	log  *testkit.Buffer
}

// start serves the fake dialect through a gateway whose Wrap is a
// Migrator over an old caraccessories server.
func start(t *testing.T, core *fakeCore, o Options, d Dialect) *harness {
	t.Helper()
	old := oldserver.MustNew(oldserver.Caraccessories, oldserver.Options{})
	oldSrv := httptest.NewServer(old)
	t.Cleanup(oldSrv.Close)
	d.Upstream, _ = ParseUpstream(oldSrv.URL)
	d.Wire = core
	o.Dialects = map[string]Dialect{"caraccessories": d}
	logs := &testkit.Buffer{}
	o.Log = slog.New(slog.NewJSONHandler(logs, nil))
	mig, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if core.calls == nil {
		core.calls = map[string]int{}
	}
	if core.reply == "" {
		core.reply = `{"status":1,"msg":"Ok"}`
	}
	gw := gateway.New(gateway.Options{Mounts: []gateway.Mount{{Dialect: core, Prefix: "/caraccessories/app"}}, Wrap: mig.Wrap, Log: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		srv.Close()
		mig.Close()
	})
	return &harness{mig: mig, url: srv.URL, old: old, core: core, log: logs}
}

func (h *harness) post(t *testing.T, op, body string) (string, time.Duration) {
	t.Helper()
	began := time.Now()
	resp, err := http.Post(h.url+"/caraccessories/app/"+op, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(b), time.Since(began)
}

// value reads a counter.
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// A slow core does not slow the client down: the old server's reply goes
// out at once, the comparison happens later.
func TestShadowNeverDelaysThePrimaryReply(t *testing.T) {
	core := &fakeCore{delay: time.Second, reply: `{"status":-3,"msg":"手机号未注册"}`}
	h := start(t, core, Options{}, Dialect{Mode: Shadow})
	h.old.AddUser(oldserver.User{Phone: "13800000001", Password: "pw"})
	body, took := h.post(t, "login", `{"mobile":"13800000001","password":"pw"}`)
	if body != `{"status":1,"msg":"Ok"}` {
		t.Fatalf("client got %s, want the old server's reply", body)
	}
	if took > 500*time.Millisecond {
		t.Errorf("the reply took %v: the shadow's one-second core held it up", took)
	}
	mismatches := h.mig.met.comparisons.WithLabelValues("caraccessories", "login", "mismatch")
	waitFor(t, "the comparison", func() bool { return value(mismatches) == 1 })
	// The mismatch is logged with both bodies; no password, no token.
	waitFor(t, "the mismatch log line", func() bool { return strings.Contains(h.log.String(), "shadow mismatch") })
	for _, want := range []string{`"old_outcome":"ok"`, `"core_outcome":"not_registered"`, `"phone":"138****0001"`, `"op":"login"`} {
		if !strings.Contains(h.log.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, h.log.String())
		}
	}
	if strings.Contains(h.log.String(), `"pw"`) {
		t.Errorf("password logged:\n%s", h.log.String())
	}
}

// A full queue drops comparisons (counted) instead of waiting.
func TestShadowQueueFullDrops(t *testing.T) {
	core := &fakeCore{entered: make(chan string, 10), hold: make(chan struct{})}
	h := start(t, core, Options{ShadowQueue: 1, ShadowWorkers: 1}, Dialect{Mode: Shadow})
	defer close(core.hold)
	h.post(t, "login", `{"mobile":"13800000001","password":"x"}`)
	<-core.entered // the one worker is busy with the first
	for range 4 {
		if _, took := h.post(t, "login", `{"mobile":"13800000001","password":"x"}`); took > 500*time.Millisecond {
			t.Errorf("a reply took %v with the queue full", took)
		}
	}
	// (A handler may still be queueing after its reply went out.)
	dropped := h.mig.met.skips.WithLabelValues("caraccessories", "login", "queue_full")
	waitFor(t, "3 dropped (one replaying, one queued)", func() bool { return value(dropped) == 3 })
	time.Sleep(20 * time.Millisecond)
	if n := value(dropped); n != 3 {
		t.Errorf("dropped %v, want 3", n)
	}
}

// Operations that act are not shadowed unless asked.
func TestShadowSideEffects(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		core := &fakeCore{}
		h := start(t, core, Options{ShadowSideEffects: enabled}, Dialect{Mode: Shadow})
		body, _ := h.post(t, "get_verification_code", `{"mobile":"13800000002"}`)
		if body != `{"status":1,"msg":"Ok"}` || h.old.LastCode() == "" {
			t.Fatalf("old server: %s, code %q", body, h.old.LastCode())
		}
		if enabled {
			matches := h.mig.met.comparisons.WithLabelValues("caraccessories", "get_verification_code", "match")
			waitFor(t, "the shadowed send", func() bool { return value(matches) == 1 })
			continue
		}
		skips := h.mig.met.skips.WithLabelValues("caraccessories", "get_verification_code", "side_effect")
		waitFor(t, "the side_effect skip", func() bool { return value(skips) == 1 })
		time.Sleep(50 * time.Millisecond)
		if n := core.callsTo("get_verification_code"); n != 0 {
			t.Errorf("the core's send ran %d times in shadow mode", n)
		}
	}
}

// A panic in the core's replay ends that comparison only.
func TestShadowReplayPanics(t *testing.T) {
	core := &fakeCore{panics: true}
	h := start(t, core, Options{}, Dialect{Mode: Shadow})
	h.post(t, "login", `{"mobile":"13800000001","password":"x"}`)
	waitFor(t, "the panic's log line", func() bool { return strings.Contains(h.log.String(), "shadow replay panicked") })
	core.mu.Lock()
	core.panics = false
	core.mu.Unlock()
	h.post(t, "login", `{"mobile":"13800000001","password":"x"}`)
	matches := h.mig.met.comparisons.WithLabelValues("caraccessories", "login", "mismatch")
	waitFor(t, "a later comparison", func() bool { return value(matches) == 1 })
}

// X-Forwarded-For: a chain from a trusted proxy is kept and extended;
// from anyone else it is replaced by the peer.
func TestForwardedFor(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
		io.WriteString(w, `{"status":1,"msg":"Ok"}`)
	}))
	defer up.Close()
	target, _ := ParseUpstream(up.URL)
	for _, c := range []struct {
		trusted []netip.Prefix
		want    string
	}{
		{nil, "127.0.0.1"},
		{[]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "203.0.113.9, 127.0.0.1"},
	} {
		mig, err := New(Options{Dialects: map[string]Dialect{"caraccessories": {Mode: Proxy, Upstream: target, Wire: &fakeCore{}}}, TrustedProxies: c.trusted})
		if err != nil {
			t.Fatal(err)
		}
		gw := gateway.New(gateway.Options{Mounts: []gateway.Mount{{Dialect: &fakeCore{calls: map[string]int{}}, Prefix: "/caraccessories/app"}},
			Wrap: mig.Wrap, Log: slog.New(slog.DiscardHandler), TrustedProxies: c.trusted})
		srv := httptest.NewServer(gw)
		req, _ := http.NewRequest("POST", srv.URL+"/caraccessories/app/login", strings.NewReader(`{}`))
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		req.Header.Set("Connection", "X-Hop")
		req.Header.Set("X-Hop", "dropped")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		mig.Close()
		mu.Lock()
		if xff := got.Get("X-Forwarded-For"); xff != c.want {
			t.Errorf("trusted %v: X-Forwarded-For %q, want %q", c.trusted, xff, c.want)
		}
		if got.Get("X-Hop") != "" {
			t.Errorf("a header the Connection header names was forwarded")
		}
		mu.Unlock()
	}
}

// A body over the route's limit is not buffered whole: it streams to the
// old server, which decides.
func TestLargeBodyStreamsToTheOldServer(t *testing.T) {
	var n atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		n.Store(int64(len(b)))
		io.WriteString(w, `{"status":-1,"msg":"too big"}`)
	}))
	defer up.Close()
	target, _ := ParseUpstream(up.URL)
	mig, err := New(Options{Dialects: map[string]Dialect{"caraccessories": {Mode: Shadow, Upstream: target, Wire: &fakeCore{}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer mig.Close()
	gw := gateway.New(gateway.Options{Mounts: []gateway.Mount{{Dialect: &fakeCore{calls: map[string]int{}}, Prefix: "/caraccessories/app"}},
		Wrap: mig.Wrap, Log: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(gw)
	defer srv.Close()
	big := bytes.Repeat([]byte("x"), gateway.DefaultMaxBody+1000)
	resp, err := http.Post(srv.URL+"/caraccessories/app/login", "application/json", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n.Load() != int64(len(big)) {
		t.Errorf("the old server got %d bytes of %d", n.Load(), len(big))
	}
	skips := mig.met.skips.WithLabelValues("caraccessories", "login", "body_too_large")
	waitFor(t, "the body_too_large skip", func() bool { return value(skips) == 1 })
}

// Modes other than core need an old server; dialects without a Wire and
// unknown operations are refused.
func TestNewChecksTheConfiguration(t *testing.T) {
	up, _ := ParseUpstream("http://old:8080")
	w := &fakeCore{}
	for name, o := range map[string]Options{
		"proxy without upstream": {Dialects: map[string]Dialect{"caraccessories": {Wire: w, Mode: Proxy}}},
		"override without":       {Dialects: map[string]Dialect{"caraccessories": {Wire: w, Modes: map[string]Mode{"login": Shadow}}}},
		"no wire":                {Dialects: map[string]Dialect{"v5": {Upstream: up}}},
		"unknown operation":      {Dialects: map[string]Dialect{"caraccessories": {Wire: w, Upstream: up, Modes: map[string]Mode{"logout": Proxy}}}},
		"percent":                {Dialects: map[string]Dialect{"caraccessories": {Wire: w, Upstream: up, Mode: Split, SplitPercent: 101}}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	var nilMigrator *Migrator
	nilMigrator.Close() // harmless
}
