package resultcode

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/core/memdb"
	"legacyauth/gateway"
	"legacyauth/internal/testkit"
)

// env is one core over one store, as a deployment of several gateway
// instances shares it.
type env struct {
	svc   *core.Service
	sms   *testkit.SMSRecorder
	clock *testkit.Clock
}

func newEnv(t testing.TB) *env {
	t.Helper()
	clock := testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := memdb.Open(t.TempDir(), memdb.Options{Logger: quiet, Now: clock.Now, SweepInterval: -1, NoSync: true})
	if err != nil {
		t.Fatalf("memdb.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	sms := &testkit.SMSRecorder{}
	svc, err := core.New(st, st, core.Config{
		Secret: bytes.Repeat([]byte{0x5a}, 32),
		Hash:   testkit.FastHash,
		Sender: sms,
		Now:    clock.Now,
		Log:    quiet,
	})
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	return &env{svc: svc, sms: sms, clock: clock}
}

// gateway returns a gateway serving the dialect at its default prefix.
func (e *env) gateway(opts Options) *gateway.Gateway {
	return gateway.New(gateway.Options{
		Mounts: []gateway.Mount{{Dialect: New(e.svc, opts), Prefix: DefaultPrefix}},
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

// server starts a real HTTP server for a gateway instance.
func (e *env) server(t testing.TB, opts Options) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(e.gateway(opts))
	t.Cleanup(srv.Close)
	return srv
}

func (e *env) registered(t testing.TB, phone string) bool {
	t.Helper()
	ok, err := e.svc.IsRegistered(context.Background(), phone)
	if err != nil {
		t.Fatalf("IsRegistered(%s): %v", phone, err)
	}
	return ok
}

// registerUser creates an account directly in the core.
func (e *env) registerUser(t testing.TB, phone, password string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.svc.SendCode(ctx, core.SendCodeRequest{Phone: phone, Purpose: core.PurposeRegister}); err != nil {
		t.Fatalf("SendCode: %v", err)
	}
	if _, err := e.svc.Register(ctx, core.RegisterRequest{Phone: phone, Password: password, Proof: core.Proof{Code: e.sms.CodeFor(phone)}}); err != nil {
		t.Fatalf("Register: %v", err)
	}
}

// app is an old app's HTTP client: one cookie jar, like Android's.
type app struct {
	t    testing.TB
	base string
	c    *http.Client
}

func newApp(t testing.TB, base string) *app {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &app{t: t, base: base, c: &http.Client{Jar: jar}}
}

// reply is a received response.
type reply struct {
	status int
	header http.Header
	body   string
}

func (a *app) do(method, path, contentType string, body []byte) reply {
	a.t.Helper()
	req, err := http.NewRequest(method, a.base+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func (a *app) get(pathAndQuery string) reply { return a.do(http.MethodGet, pathAndQuery, "", nil) }

// form POSTs an urlencoded form (pairs of name, value).
func (a *app) form(path string, kv ...string) reply {
	a.t.Helper()
	return a.do(http.MethodPost, path, "application/x-www-form-urlencoded", []byte(encodeForm(kv...)))
}

func encodeForm(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

// upload POSTs a multipart form with one file in field, as the app does.
func (a *app) upload(path, field, filename string, data []byte) reply {
	a.t.Helper()
	body, ct := multipartBody(a.t, map[string]string{}, field, filename, data)
	return a.do(http.MethodPost, path, ct, body)
}

func multipartBody(t testing.TB, fields map[string]string, fileField, filename string, data []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if fileField != "" {
		fw, err := mw.CreateFormFile(fileField, filename)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

// Checks on a reply.

func (r reply) is(t testing.TB, status int, body string) {
	t.Helper()
	if r.status != status || r.body != body {
		t.Fatalf("reply = %d %s, want %d %s", r.status, r.body, status, body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
}

// message returns the string message of a "0000" reply.
func (r reply) message(t testing.TB) string {
	t.Helper()
	const pre, post = `{"result": "0000", "message": "`, `"}`
	if r.status != http.StatusOK || !strings.HasPrefix(r.body, pre) || !strings.HasSuffix(r.body, post) {
		t.Fatalf("reply = %d %s, want 200 and result 0000 with a string message", r.status, r.body)
	}
	return strings.TrimSuffix(strings.TrimPrefix(r.body, pre), post)
}

func (r reply) cookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Bodies, written out as the old server's json.dumps wrote them.
const (
	okEmpty       = `{"result": "0000", "message": ""}`
	sendExists    = `{"result": "0001", "message": null}`
	sendOther     = `{"result": "0002", "message": null}`
	verifyWrong   = `{"result": "0004", "message": null}`
	verifyTooMany = `{"result": "0005", "message": null}`
	unknownNull   = `{"result": "0006", "message": null}`
	loginNoUser   = `{"result": "0007", "message": null}`
	loginWrongPwd = `{"result": "0008", "message": null}`
)

// body renders a reply with a message as the dialect does, for expected values.
func body(result, message string) string { return string(encode(result, &message)) }

// A tiny valid PNG (1x1, transparent).
var pngImage = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89" +
	"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
