package caraccessories

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/core/memdb"
	"legacyauth/gateway"
	"legacyauth/internal/testkit"
)

// env is a gateway with this dialect mounted at DefaultPrefix over a core
// with a real store, a recording sender and a clock tests move.
type env struct {
	svc    *core.Service
	sms    *testkit.SMSRecorder
	clock  *testkit.Clock
	server *httptest.Server
}

func newEnv(tb testing.TB, opts Options) *env {
	tb.Helper()
	clk := testkit.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	store, err := memdb.Open(tb.TempDir(), memdb.Options{Now: clk.Now, SweepInterval: -1, NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	sms := &testkit.SMSRecorder{}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := core.New(store, store, core.Config{
		Secret: []byte(strings.Repeat("k", 32)),
		Hash:   testkit.FastHash,
		Sender: sms,
		Now:    clk.Now,
		Log:    quiet,
	})
	if err != nil {
		tb.Fatal(err)
	}
	gw := gateway.New(gateway.Options{
		Mounts: []gateway.Mount{{Dialect: New(svc, opts), Prefix: DefaultPrefix}},
		Log:    quiet,
	})
	srv := httptest.NewServer(gw)
	tb.Cleanup(srv.Close)
	return &env{svc: svc, sms: sms, clock: clk, server: srv}
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// response is what a test looks at in a reply.
type response struct {
	status int
	header http.Header
	body   string
}

// post sends body to an endpoint (a path relative to DefaultPrefix) as the
// app does: POST, application/json.
func (e *env) post(tb testing.TB, client *http.Client, endpoint, body string) response {
	tb.Helper()
	return e.do(tb, client, http.MethodPost, endpoint, "application/json", body)
}

func (e *env) do(tb testing.TB, client *http.Client, method, endpoint, contentType, body string) response {
	tb.Helper()
	req, err := http.NewRequest(method, e.server.URL+DefaultPrefix+endpoint, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if client == nil {
		client = e.server.Client()
	}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// registered reports whether an 11-digit phone has an account.
func (e *env) registered(tb testing.TB, phone string) bool {
	tb.Helper()
	ok, err := e.svc.IsRegistered(context.Background(), phone)
	if err != nil {
		tb.Fatal(err)
	}
	return ok
}

// register creates an account through the dialect itself.
func (e *env) register(tb testing.TB, phone, password string) {
	tb.Helper()
	e.post(tb, nil, "/get_verification_code", `{"mobile":"`+phone+`"}`).hasBody(tb, `{"status":1,"msg":"Ok"}`)
	e.post(tb, nil, "/registration", `{"mobile":"`+phone+`","code":"`+e.sms.MessageTo(tb, phone).Code+`","password":"`+password+`"}`).
		hasBody(tb, `{"status":1,"msg":"Ok"}`)
}

func (r response) hasStatus(tb testing.TB, want int) response {
	tb.Helper()
	if r.status != want {
		tb.Errorf("HTTP status = %d, want %d (body %s)", r.status, want, r.body)
	}
	return r
}

func (r response) hasBody(tb testing.TB, want string) response {
	tb.Helper()
	if r.body != want {
		tb.Errorf("body = %s, want %s", r.body, want)
	}
	return r
}

func (r response) hasHeader(tb testing.TB, name, want string) response {
	tb.Helper()
	if got := r.header.Get(name); got != want {
		tb.Errorf("%s = %q, want %q", name, got, want)
	}
	return r
}

// hasCode checks the reply's legacy status and that the body has exactly
// the contract's shape.
func (r response) hasCode(tb testing.TB, want int) response {
	tb.Helper()
	rep := parseReply(tb, r.body)
	if rep.Status != want {
		tb.Errorf("status = %d (msg %q), want %d", rep.Status, rep.Msg, want)
	}
	return r
}
