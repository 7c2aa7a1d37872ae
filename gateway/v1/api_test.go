package v1_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/core/memdb"
	"legacyauth/gateway"
	v1 "legacyauth/gateway/v1"
	"legacyauth/internal/testkit"
)

type harness struct {
	t     *testing.T
	api   *v1.API
	store *memdb.Store
	clock *testkit.Clock
	sms   *testkit.SMSRecorder
	logs  *testkit.Buffer
	// secrets are values that must never appear in the logs.
	secrets []string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, clock: testkit.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), sms: &testkit.SMSRecorder{}, logs: &testkit.Buffer{}}
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store, err := memdb.Open(t.TempDir(), memdb.Options{Logger: log, Now: h.clock.Now})
	if err != nil {
		t.Fatalf("memdb.Open: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	svc, err := core.New(store, store, core.Config{
		Secret: bytes.Repeat([]byte{7}, 32),
		Hash:   testkit.FastHash,
		Sender: h.sms,
		Now:    h.clock.Now,
		Log:    log,
	})
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	h.store, h.api = store, v1.New(svc, log)
	t.Cleanup(h.checkLogs)
	return h
}

// checkLogs fails the test when a password, code, token, ticket or whole
// phone number reached the log.
func (h *harness) checkLogs() {
	logs := h.logs.String()
	for _, s := range h.secrets {
		if s != "" && strings.Contains(logs, s) {
			h.t.Errorf("the log contains the secret %q:\n%s", s, logs)
		}
	}
}

func (h *harness) secret(s ...string) { h.secrets = append(h.secrets, s...) }

type response struct {
	*httptest.ResponseRecorder
	t *testing.T
}

// json decodes the body into a generic map, after checking its type.
func (r response) json() map[string]any {
	r.t.Helper()
	if ct := r.Header().Get("Content-Type"); ct != "application/json" {
		r.t.Fatalf("Content-Type = %q, body %s", ct, r.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body.Bytes(), &m); err != nil {
		r.t.Fatalf("body %q: %v", r.Body, err)
	}
	return m
}

func (r response) want(status int) response {
	r.t.Helper()
	if r.Code != status {
		r.t.Fatalf("status = %d, want %d; body %s", r.Code, status, r.Body)
	}
	return r
}

// problem checks a problem reply's status and code.
func (r response) problem(status int, code string) v1.Problem {
	r.t.Helper()
	r.want(status)
	if ct := r.Header().Get("Content-Type"); ct != "application/problem+json" {
		r.t.Fatalf("Content-Type = %q", ct)
	}
	var p v1.Problem
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		r.t.Fatalf("problem body: %v", err)
	}
	if p.Code != code || p.Status != status || p.Title == "" || p.Type != v1.ProblemTypeBase+code {
		r.t.Fatalf("problem = %+v, want %d %s", p, status, code)
	}
	return p
}

// do sends a request straight to the API. A body that is not already a
// string or []byte is encoded as JSON.
func (h *harness) do(method, path string, body any, header ...string) response {
	h.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	case []byte:
		rd, ct = bytes.NewReader(b), "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req := httptest.NewRequest(method, path, rd)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.api.ServeHTTP(rec, req)
	return response{rec, h.t}
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

type obj = map[string]any

// sendCode asks for a code and returns the one the SMS carried.
func (h *harness) sendCode(phone, purpose string) string {
	h.t.Helper()
	h.do("POST", "/v1/codes", obj{"phone": phone, "purpose": purpose}).want(200)
	p, err := core.NormalizePhone(phone)
	if err != nil {
		h.t.Fatal(err)
	}
	code := h.sms.MessageTo(h.t, p).Code
	h.secret(code)
	return code
}

// register creates a user with a code and returns its token.
func (h *harness) register(phone, password string) string {
	h.t.Helper()
	h.secret(password)
	code := h.sendCode(phone, "register")
	tok := h.do("POST", "/v1/users", obj{"phone": phone, "password": password, "code": code}).want(201).json()["token"].(string)
	h.secret(tok)
	return tok
}

func (h *harness) login(phone, password string) response {
	h.t.Helper()
	return h.do("POST", "/v1/sessions", obj{"phone": phone, "password": password})
}

const (
	phone = "13812341234"
	e164  = "+8613812341234"
)

// TestFlow walks the whole life of an account: send code, register, log
// in, introspect, reset, log in with the new password, log out.
func TestFlow(t *testing.T) {
	h := newHarness(t)
	h.secret(phone, e164, "old-secret-pw", "new-secret-pw")

	r := h.do("POST", "/v1/phones/lookup", obj{"phone": phone}).want(200).json()
	if r["phone"] != e164 || r["registered"] != false {
		t.Fatalf("lookup = %v", r)
	}

	r = h.do("POST", "/v1/codes", obj{"phone": phone, "purpose": "register"}).want(200).json()
	if r["phone"] != e164 || r["expires_at"] != "2026-03-01T12:05:00Z" || len(r) != 2 {
		t.Fatalf("send code = %v", r)
	}
	sms := h.sms.MessageTo(t, e164)
	if sms.Purpose != "register" || sms.Dialect != "v1" || len(sms.Code) != 6 {
		t.Fatalf("sms = %+v", sms)
	}
	h.secret(sms.Code)

	reg := h.do("POST", "/v1/users", obj{
		"phone": phone, "password": "old-secret-pw", "code": sms.Code,
		"name": "Li Lei", "nickname": "lei", "gender": "1", "device_id": "dev-A",
	}).want(201)
	if cc := reg.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	r = reg.json()
	user := r["user"].(obj)
	token1 := r["token"].(string)
	h.secret(token1)
	if user["phone"] != e164 || user["name"] != "Li Lei" || user["nickname"] != "lei" || user["gender"] != "1" || user["avatar"] != "" || len(user["id"].(string)) != 32 {
		t.Fatalf("user = %v", user)
	}
	if r["expires_at"] != "2026-03-31T12:00:00Z" {
		t.Fatalf("expires_at = %v", r["expires_at"])
	}

	r = h.do("POST", "/v1/phones/lookup", obj{"phone": e164}).want(200).json()
	if r["registered"] != true {
		t.Fatalf("lookup after register = %v", r)
	}

	r = h.login(phone, "old-secret-pw").want(201).json()
	token2 := r["token"].(string)
	h.secret(token2)
	if r["device_changed"] != false || r["user"].(obj)["id"] != user["id"] {
		t.Fatalf("login = %v", r)
	}
	r = h.do("POST", "/v1/sessions", obj{"phone": phone, "password": "old-secret-pw", "device_id": "dev-B"}).want(201).json()
	h.secret(r["token"].(string))
	if r["device_changed"] != true {
		t.Fatalf("login from another device = %v", r)
	}

	h.clock.Advance(time.Hour)
	r = h.do("GET", "/v1/session", nil, bearer(token2)...).want(200).json()
	if r["active"] != true || r["user"].(obj)["id"] != user["id"] || r["user"].(obj)["phone"] != e164 || r["expires_at"] != "2026-03-31T12:00:00Z" {
		t.Fatalf("introspect = %v", r)
	}

	// Reset with a ticket: verify first, then spend the ticket.
	code := h.sendCode(phone, "reset")
	ticket := h.do("POST", "/v1/codes/verify", obj{"phone": phone, "purpose": "reset", "code": code}).want(200).json()["ticket"].(string)
	h.secret(ticket)
	h.do("POST", "/v1/password-resets", obj{"phone": phone, "password": "new-secret-pw", "ticket": ticket}).want(204)

	// A reset revokes every session.
	for _, tok := range []string{token1, token2} {
		h.do("GET", "/v1/session", nil, bearer(tok)...).problem(401, "unauthorized")
	}
	h.login(phone, "old-secret-pw").problem(401, "wrong_password")
	r = h.login(phone, "new-secret-pw").want(201).json()
	token3 := r["token"].(string)
	h.secret(token3)

	h.do("GET", "/v1/session", nil, bearer(token3)...).want(200)
	out := h.do("DELETE", "/v1/session", nil, bearer(token3)...).want(204)
	if out.Body.Len() != 0 {
		t.Errorf("204 with a body: %q", out.Body)
	}
	res := h.do("GET", "/v1/session", nil, bearer(token3)...)
	res.problem(401, "unauthorized")
	if got := res.Header().Get("WWW-Authenticate"); got != `Bearer realm="legacyauth", error="invalid_token"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	h.do("DELETE", "/v1/session", nil, bearer(token3)...).problem(401, "unauthorized")

	// The access log and the API's own lines name the user, never its secrets.
	if !strings.Contains(h.logs.String(), "138****1234") {
		t.Errorf("expected masked phone in logs:\n%s", h.logs)
	}
}

// The same flow over a real HTTP connection, so transport-level behaviour
// (body limits through net/http, headers) is exercised as clients see it.
func TestFlowOverHTTP(t *testing.T) {
	h := newHarness(t)
	srv := httptest.NewServer(h.api)
	defer srv.Close()
	post := func(path, body string) *http.Response {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := post("/v1/codes", `{"phone":"+8613900000000","purpose":"any"}`); resp.StatusCode != 200 {
		t.Fatalf("send code: %s", resp.Status)
	}
	code := h.sms.MessageTo(t, "+8613900000000").Code
	resp := post("/v1/users", `{"phone":"13900000000","password":"pw-123456","code":"`+code+`"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("register: %s", resp.Status)
	}
	var reg struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/v1/session", nil)
	req.Header.Set("Authorization", "bearer "+reg.Token) // the scheme is case-insensitive
	got, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got.Body.Close()
	if got.StatusCode != 200 {
		t.Fatalf("introspect: %s", got.Status)
	}
	// A body of unknown length (chunked) is cut by the reader, not by
	// Content-Length.
	big, err := http.Post(srv.URL+"/v1/phones/lookup", "application/json",
		io.MultiReader(strings.NewReader(`{"phone":"`+strings.Repeat("1", 70<<10)+`"}`)))
	if err != nil {
		t.Fatal(err)
	}
	big.Body.Close()
	if big.StatusCode != 413 {
		t.Fatalf("oversized body: %s", big.Status)
	}
}

func TestRegisterWithTicket(t *testing.T) {
	h := newHarness(t)
	code := h.sendCode(phone, "any")
	// A code sent for "any" verifies for registration.
	ticket := h.do("POST", "/v1/codes/verify", obj{"phone": phone, "purpose": "register", "code": code}).want(200).json()["ticket"].(string)
	// An unknown ticket is refused.
	h.do("POST", "/v1/users", obj{"phone": phone, "password": "pw", "ticket": strings.Repeat("0", 32)}).problem(401, "unauthorized")
	h.do("POST", "/v1/users", obj{"phone": phone, "password": "pw", "ticket": ticket}).want(201)
	// One use.
	h.do("POST", "/v1/users", obj{"phone": "13800000001", "password": "pw", "ticket": ticket}).problem(401, "unauthorized")
}

func TestTicketPurposeIsBound(t *testing.T) {
	h := newHarness(t)
	h.register(phone, "pw")
	code := h.sendCode(phone, "any")
	ticket := h.do("POST", "/v1/codes/verify", obj{"phone": phone, "purpose": "register", "code": code}).want(200).json()["ticket"].(string)
	h.do("POST", "/v1/password-resets", obj{"phone": phone, "password": "pw2", "ticket": ticket}).problem(401, "unauthorized")
}

func TestResetWithCode(t *testing.T) {
	h := newHarness(t)
	h.register(phone, "pw-one")
	code := h.sendCode(phone, "reset")
	h.do("POST", "/v1/password-resets", obj{"phone": phone, "password": "pw-two", "code": code}).want(204)
	h.login(phone, "pw-two").want(201)
}

func TestSendCodeErrors(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/v1/codes", obj{"phone": "12345", "purpose": "any"}).problem(400, "invalid")
	h.do("POST", "/v1/codes", obj{"phone": phone}).problem(400, "invalid")
	h.do("POST", "/v1/codes", obj{"phone": phone, "purpose": "login"}).problem(400, "invalid")
	h.do("POST", "/v1/codes", obj{"phone": phone, "purpose": "any", "length": 3}).problem(400, "invalid")
	h.do("POST", "/v1/codes", obj{"phone": phone, "purpose": "reset", "length": 4}).problem(400, "invalid") // 4 and 5 digits are for the legacy apps only
	h.do("POST", "/v1/codes", obj{"phone": phone, "purpose": "reset"}).problem(404, "not_registered")

	h.do("POST", "/v1/codes", obj{"phone": phone, "purpose": "any", "length": 8}).want(200)
	if c := h.sms.MessageTo(t, e164).Code; len(c) != 8 {
		t.Errorf("code %q, want 8 digits", c)
	}

	h.register(phone, "pw")
	h.do("POST", "/v1/codes", obj{"phone": phone, "purpose": "register"}).problem(409, "already_registered")
}

func TestSMSFailed(t *testing.T) {
	h := newHarness(t)
	h.sms.Fail(errors.New("gateway down"))
	p := h.do("POST", "/v1/codes", obj{"phone": phone, "purpose": "any"}).problem(502, "sms_failed")
	if strings.Contains(p.Detail, "gateway down") {
		t.Errorf("the sender's error leaked: %q", p.Detail)
	}
}

func TestVerifyCodeErrors(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/v1/codes/verify", obj{"phone": phone, "purpose": "register", "code": "123456"}).problem(422, "code_wrong")
	h.do("POST", "/v1/codes/verify", obj{"phone": phone, "purpose": "any", "code": "123456"}).problem(400, "invalid")
	h.do("POST", "/v1/codes/verify", obj{"phone": phone, "purpose": "register"}).problem(400, "invalid")

	code := h.sendCode(phone, "register")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	h.do("POST", "/v1/codes/verify", obj{"phone": phone, "purpose": "register", "code": wrong}).problem(422, "code_wrong")
	// A wrong try does not burn the code by itself.
	h.do("POST", "/v1/codes/verify", obj{"phone": phone, "purpose": "register", "code": code}).want(200)
	// Consumed.
	h.do("POST", "/v1/codes/verify", obj{"phone": phone, "purpose": "register", "code": code}).problem(422, "code_wrong")
}

func TestCodeExpires(t *testing.T) {
	h := newHarness(t)
	code := h.sendCode(phone, "register")
	h.clock.Advance(5*time.Minute + time.Second)
	h.do("POST", "/v1/users", obj{"phone": phone, "password": "pw", "code": code}).problem(422, "code_expired")
	h.do("POST", "/v1/codes/verify", obj{"phone": phone, "purpose": "register", "code": code}).problem(422, "code_expired")
}

func TestTooManyAttempts(t *testing.T) {
	h := newHarness(t)
	code := h.sendCode(phone, "register")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := 0; i < 4; i++ {
		h.do("POST", "/v1/codes/verify", obj{"phone": phone, "purpose": "register", "code": wrong}).problem(422, "code_wrong")
	}
	h.do("POST", "/v1/codes/verify", obj{"phone": phone, "purpose": "register", "code": wrong}).problem(422, "too_many_attempts")
	h.do("POST", "/v1/users", obj{"phone": phone, "password": "pw", "code": code}).problem(422, "too_many_attempts")
	// A new code starts over.
	code = h.sendCode(phone, "register")
	h.do("POST", "/v1/users", obj{"phone": phone, "password": "pw", "code": code}).want(201)
}

func TestRegisterErrors(t *testing.T) {
	h := newHarness(t)
	code := h.sendCode(phone, "register")
	for _, body := range []obj{
		{"phone": phone, "password": "pw"},                                                      // no proof
		{"phone": phone, "password": "pw", "code": code, "ticket": strings.Repeat("a", 32)},     // two proofs
		{"phone": phone, "code": code},                                                          // no password
		{"phone": phone, "password": "pw", "code": code, "gender": "m"},                         // bad gender
		{"phone": phone, "password": "pw", "code": code, "avatar": "javascript:alert(1)"},       // not a path
		{"phone": phone, "password": "pw", "code": code, "avatar": "//evil.example/a.png"},      // another host
		{"phone": phone, "password": strings.Repeat("x", 257), "code": code},                    // too long
		{"phone": "not-a-phone", "password": "pw", "code": code},                                // bad phone
		{"phone": phone, "password": "pw", "code": code, "device_id": strings.Repeat("d", 257)}, // too long
		{"phone": phone, "password": "pw", "code": code, "name": "x", "email": "a@b.example"},   // unknown field
		{"phone": phone, "password": "pw", "code": code, "nickname": strings.Repeat("n", 300)},  // too long
	} {
		h.do("POST", "/v1/users", body).problem(400, "invalid")
	}
	h.do("POST", "/v1/users", obj{"phone": phone, "password": "pw", "code": "999999999"}).problem(422, "code_wrong")
	code = h.sendCode(phone, "register")
	h.do("POST", "/v1/users", obj{"phone": phone, "password": "pw", "code": code}).want(201)
	// Taken: refused before the proof is looked at.
	h.do("POST", "/v1/users", obj{"phone": phone, "password": "pw", "code": code}).problem(409, "already_registered")
}

func TestLoginErrors(t *testing.T) {
	h := newHarness(t)
	h.login(phone, "pw").problem(404, "not_registered")
	h.register(phone, "right-pw")
	res := h.login(phone, "wrong-pw")
	res.problem(401, "wrong_password")
	if !strings.HasPrefix(res.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate")
	}
	h.login(phone, "").problem(400, "invalid")
	h.login("+0123", "pw").problem(400, "invalid")
}

func TestResetErrors(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/v1/password-resets", obj{"phone": phone, "password": "pw", "code": "123456"}).problem(404, "not_registered")
	h.register(phone, "pw")
	h.do("POST", "/v1/password-resets", obj{"phone": phone, "password": "pw2"}).problem(400, "invalid")
	h.do("POST", "/v1/password-resets", obj{"phone": phone, "password": "pw2", "code": "123456"}).problem(422, "code_wrong")
	h.do("POST", "/v1/password-resets", obj{"phone": phone, "password": "pw2", "ticket": strings.Repeat("f", 32)}).problem(401, "unauthorized")
}

func TestSessionAuth(t *testing.T) {
	h := newHarness(t)
	for _, hdr := range [][]string{
		nil,
		{"Authorization", "Basic dXNlcjpwYXNz"},
		{"Authorization", "Bearer"},
		{"Authorization", "Bearer not-a-token"},
		{"Authorization", "Bearer " + strings.Repeat("a", 32)},
	} {
		for _, m := range []string{"GET", "DELETE"} {
			res := h.do(m, "/v1/session", nil, hdr...)
			res.problem(401, "unauthorized")
			want := `Bearer realm="legacyauth"`
			if hdr != nil && !strings.HasPrefix(hdr[1], "Basic") {
				want += `, error="invalid_token"`
			}
			if got := res.Header().Get("WWW-Authenticate"); got != want {
				t.Errorf("%s %v: WWW-Authenticate = %q, want %q", m, hdr, got, want)
			}
		}
	}
	// A session expires with time.
	tok := h.register(phone, "pw")
	h.do("GET", "/v1/session", nil, bearer(tok)...).want(200)
	h.clock.Advance(31 * 24 * time.Hour)
	h.do("GET", "/v1/session", nil, bearer(tok)...).problem(401, "unauthorized")
}

func TestJSONHandling(t *testing.T) {
	h := newHarness(t)
	for name, body := range map[string]string{
		"malformed":     `{"phone":`,
		"not an object": `["13812341234"]`,
		"empty":         ``,
		"trailing":      `{"phone":"13812341234"} {}`,
		"wrong type":    `{"phone":13812341234}`,
		"unknown field": `{"phone":"13812341234","x":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			p := h.do("POST", "/v1/phones/lookup", body).problem(400, "invalid")
			if strings.Contains(p.Detail, "13812341234") {
				t.Errorf("detail echoes a value: %q", p.Detail)
			}
		})
	}
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1"} {
		req := httptest.NewRequest("POST", "/v1/phones/lookup", strings.NewReader(`{"phone":"13812341234"}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		rec := httptest.NewRecorder()
		h.api.ServeHTTP(rec, req)
		response{rec, t}.problem(415, "unsupported_media_type")
	}
	h.do("POST", "/v1/phones/lookup", `{"phone":"13812341234"}`, "Content-Type", "application/json; charset=UTF-8").want(200)
	h.do("POST", "/v1/phones/lookup", `{"phone":"`+strings.Repeat("1", 64<<10)+`"}`).problem(413, "too_large")
}

func TestRouting(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/v1", "/v1/", "/v1/nope", "/v1/codes/", "/v1//codes", "/v1/avatars/a/b"} {
		h.do("POST", path, obj{}).problem(404, "not_found")
	}
	for _, c := range []struct{ method, path, allow string }{
		{"GET", "/v1/codes", "POST"},
		{"PUT", "/v1/session", "DELETE, GET, HEAD"},
		{"POST", "/v1/session", "DELETE, GET, HEAD"},
		{"DELETE", "/v1/avatars/x.png", "GET, HEAD"},
		{"GET", "/v1/users", "POST"},
		{"HEAD", "/v1/users", "POST"},
	} {
		res := h.do(c.method, c.path, nil)
		res.problem(405, "method_not_allowed")
		if got := res.Header().Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow = %q, want %q", c.method, c.path, got, c.allow)
		}
	}
	// HEAD is served wherever GET is, with GET's status and headers (net/http
	// drops the body on the wire).
	for _, path := range []string{"/v1/session", "/v1/avatars/nope.png"} {
		get, head := h.do("GET", path, nil), h.do("HEAD", path, nil)
		if get.Code != head.Code || get.Header().Get("Content-Type") != head.Header().Get("Content-Type") || head.Code == 405 {
			t.Errorf("HEAD %s: %d %q, GET: %d %q", path, head.Code, head.Header().Get("Content-Type"), get.Code, get.Header().Get("Content-Type"))
		}
	}
}

// The API records each request's operation, phone and outcome in the
// gateway's record, for its log line, as the dialects do.
func TestObserve(t *testing.T) {
	h := newHarness(t)
	type seen struct{ op, phone, outcome string }
	var got []seen
	gw := gateway.New(gateway.Options{V1: h.api, Log: slog.New(slog.DiscardHandler),
		Observe: func(_ *http.Request, i *gateway.Info, _ int, _ time.Duration) {
			got = append(got, seen{i.Op, i.Phone, i.Outcome})
		}})
	do := func(method, path, body string) {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		gw.ServeHTTP(httptest.NewRecorder(), r)
	}
	do("POST", "/v1/sessions", `{"phone":"`+phone+`","password":"pw"}`)
	do("POST", "/v1/phones/lookup", `{"phone":"`+phone+`"}`)
	do("POST", "/v1/phones/lookup", `{"phone":"secret-pw"}`)
	do("GET", "/v1/nope", "")
	want := []seen{
		{"login", e164, "not_registered"},
		{"lookup_phone", e164, "ok"},
		{"lookup_phone", "", "invalid"},
		{"", "", "not_found"},
	}
	if len(got) != len(want) {
		t.Fatalf("observed %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("observed[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

func pngImage(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func multipartBody(t *testing.T, field string, data []byte) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if err := mw.WriteField("note", "ignored"); err != nil {
		t.Fatal(err)
	}
	fw, err := mw.CreateFormFile(field, "me.png")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

func (h *harness) upload(contentType string, body []byte) response {
	h.t.Helper()
	req := httptest.NewRequest("POST", "/v1/avatars", bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.api.ServeHTTP(rec, req)
	return response{rec, h.t}
}

func TestAvatars(t *testing.T) {
	h := newHarness(t)
	img := pngImage(t)

	check := func(res response) string {
		t.Helper()
		r := res.want(201).json()
		name, url := r["name"].(string), r["url"].(string)
		if !strings.HasSuffix(name, ".png") || url != "/v1/avatars/"+name || res.Header().Get("Location") != url {
			t.Fatalf("upload = %v, Location %q", r, res.Header().Get("Location"))
		}
		got := h.do("GET", url, nil).want(200)
		if got.Header().Get("Content-Type") != "image/png" || got.Header().Get("X-Content-Type-Options") != "nosniff" || !bytes.Equal(got.Body.Bytes(), img) {
			t.Fatalf("GET %s: %v, %d bytes", url, got.Header(), got.Body.Len())
		}
		return url
	}
	// The declared type is only framing: the content decides.
	url := check(h.upload("image/jpeg", img))
	check(h.upload("application/octet-stream", img))
	for _, field := range []string{"img", "file"} {
		check(h.upload(multipartBody(t, field, img)))
	}

	h.upload("image/png", []byte("<svg onload=alert(1)></svg>")).problem(400, "invalid")
	h.upload("image/png", nil).problem(400, "invalid")
	h.upload(multipartBody(t, "photo", img)).problem(400, "invalid")
	h.upload("multipart/form-data", img).problem(400, "invalid")
	h.upload("application/json", img).problem(415, "unsupported_media_type")
	h.upload("", img).problem(415, "unsupported_media_type")
	big := append(bytes.Clone(img), make([]byte, core.MaxAvatarBytes)...)
	h.upload("image/png", big).problem(413, "too_large")
	h.upload(multipartBody(t, "img", big)).problem(413, "too_large")

	h.do("GET", "/v1/avatars/"+strings.Repeat("0", 32)+".png", nil).problem(404, "not_found")
	h.do("GET", "/v1/avatars/..%2f..%2fetc%2fpasswd", nil).problem(404, "not_found")

	// The uploaded avatar is what registration takes.
	code := h.sendCode(phone, "register")
	r := h.do("POST", "/v1/users", obj{"phone": phone, "password": "pw", "code": code, "avatar": url}).want(201).json()
	if r["user"].(obj)["avatar"] != url {
		t.Fatalf("user = %v", r["user"])
	}
}

// A store that cannot answer is a 503, whatever the operation.
func TestStoreUnavailable(t *testing.T) {
	h := newHarness(t)
	tok := h.register(phone, "pw")
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	h.do("POST", "/v1/phones/lookup", obj{"phone": phone}).problem(503, "unavailable")
	h.login(phone, "pw").problem(503, "unavailable")
	h.do("GET", "/v1/session", nil, bearer(tok)...).problem(503, "unavailable")
	h.do("POST", "/v1/codes", obj{"phone": phone, "purpose": "any"}).problem(503, "unavailable")
	h.upload("image/png", pngImage(t)).problem(503, "unavailable")
	if !strings.Contains(h.logs.String(), `"level":"WARN","msg":"request failed"`) {
		t.Errorf("a 503 was not logged as a warning:\n%s", h.logs)
	}
}
