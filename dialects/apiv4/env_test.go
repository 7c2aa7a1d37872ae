package apiv4

import (
	"context"
	"encoding/json"
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

type env struct {
	svc    *core.Service
	sms    *testkit.SMSRecorder
	clock  *testkit.Clock
	srv    *httptest.Server // the gateway with only this dialect mounted at DefaultPrefix
	client *http.Client
	logs   *testkit.Buffer // the gateway's request log
}

func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	clk := testkit.NewClock(time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC))
	store, err := memdb.Open(t.TempDir(), memdb.Options{Now: clk.Now, SweepInterval: -1, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	sms := &testkit.SMSRecorder{}
	svc, err := core.New(store, store, core.Config{
		Secret: []byte("0123456789abcdef0123456789abcdef"),
		Hash:   testkit.FastHash,
		Sender: sms,
		Now:    clk.Now,
		Log:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.Buffer{}
	gw := gateway.New(gateway.Options{
		Mounts: []gateway.Mount{{Dialect: New(svc, opts), Prefix: DefaultPrefix}},
		Log:    slog.New(slog.NewTextHandler(logs, nil)),
	})
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return &env{svc: svc, sms: sms, clock: clk, srv: srv, client: srv.Client(), logs: logs}
}

// resp is a reply as the app sees it.
type resp struct {
	status int
	header http.Header
	raw    string
	body   map[string]any // decoded
}

// code returns the body's code as a number (the sendsms success sends it
// as the string "200").
func (r resp) code() int {
	switch c := r.body["code"].(type) {
	case float64:
		return int(c)
	case string:
		if c == "200" {
			return 200
		}
	}
	return 0
}

func (r resp) msg() string { s, _ := r.body["msg"].(string); return s }

func (r resp) data() map[string]any { d, _ := r.body["data"].(map[string]any); return d }

// do sends a request; path is relative to DefaultPrefix. body is sent
// with contentType when not empty.
func (e *env) do(t testing.TB, method, path, contentType, body string, header ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+DefaultPrefix+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v\n%s", method, path, err, raw)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return r
}

func (e *env) get(t testing.TB, path string) resp { t.Helper(); return e.do(t, "GET", path, "", "") }

func (e *env) postForm(t testing.TB, path, form string) resp {
	t.Helper()
	return e.do(t, "POST", path, "application/x-www-form-urlencoded", form)
}

// register signs a phone up through the dialect itself.
func (e *env) register(t testing.TB, phone, password, device string) resp {
	t.Helper()
	if r := e.get(t, "/sendsms/"+phone); r.code() != 200 {
		t.Fatalf("sendsms %s: %s", phone, r.raw)
	}
	r := e.postForm(t, "/register", "phone="+phone+"&name=n&password="+password+"&device_identifier="+device+"&code="+e.sms.CodeFor(phone))
	if r.code() != 200 {
		t.Fatalf("register %s: %s", phone, r.raw)
	}
	return r
}

// registered reports whether the core has the phone.
func (e *env) registered(t testing.TB, phone string) bool {
	t.Helper()
	ok, err := e.svc.IsRegistered(context.Background(), phone)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// hasReply checks status, code and message.
func hasReply(t testing.TB, r resp, status, code int, msg string) {
	t.Helper()
	if r.status != status || r.code() != code || r.msg() != msg {
		t.Errorf("got HTTP %d code %d msg %q, want HTTP %d code %d msg %q\n%s", r.status, r.code(), r.msg(), status, code, msg, r.raw)
	}
}
