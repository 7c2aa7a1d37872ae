package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// client is an app's HTTP client: its own cookie jar, like the old apps.
type client struct {
	t    *testing.T
	g    *testGateway
	http *http.Client
}

func newClient(t *testing.T, g *testGateway) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, g: g, http: &http.Client{Jar: jar}}
}

// do sends a request and decodes the JSON reply into a map.
func (c *client) do(method, path, contentType, body string, header ...string) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.g.URL+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			c.t.Fatalf("%s %s: reply is not a JSON object: %q", method, path, raw)
		}
	}
	return resp.StatusCode, m
}

func (c *client) json(path string, v map[string]string) (int, map[string]any) {
	b, _ := json.Marshal(v)
	return c.do(http.MethodPost, path, "application/json", string(b))
}

func (c *client) form(path string, v url.Values) (int, map[string]any) {
	return c.do(http.MethodPost, path, "application/x-www-form-urlencoded", v.Encode())
}

func want(t *testing.T, what string, got map[string]any, key string, value any) {
	t.Helper()
	if g, ok := got[key]; !ok || g != value {
		t.Fatalf("%s: %s = %#v, want %#v (reply %v)", what, key, got[key], value, got)
	}
}

const crossPassword = "abc12345" // satisfies every dialect's rule

// Each dialect's registration, driven the way its old app drives it.
var registrars = map[string]func(c *client, phone string){
	"caraccessories": func(c *client, phone string) {
		_, r := c.json("/caraccessories/app/get_verification_code", map[string]string{"mobile": phone})
		want(c.t, "send", r, "status", 1.0)
		_, r = c.json("/caraccessories/app/registration", map[string]string{"mobile": phone, "code": c.g.SMS.Last(), "password": crossPassword})
		want(c.t, "register", r, "status", 1.0)
	},
	"apiv4": func(c *client, phone string) {
		_, r := c.form("/api/v4.0/sendsms/"+phone, url.Values{"expect": {"0"}})
		want(c.t, "send", r, "code", "200")
		_, r = c.form("/api/v4.0/register", url.Values{"phone": {phone}, "name": {"Ann"}, "password": {crossPassword}, "device_identifier": {"dev-1"}, "code": {c.g.SMS.Last()}})
		want(c.t, "register", r, "code", 200.0)
	},
	"resultcode": func(c *client, phone string) {
		_, r := c.do(http.MethodGet, "/register?userId="+phone, "", "")
		want(c.t, "send", r, "result", "0000")
		_, r = c.form("/register", url.Values{"code_v": {"0000"}, "code": {c.g.SMS.Last()}})
		want(c.t, "verify", r, "result", "0000")
		_, r = c.form("/register", url.Values{"register": {"1"}, "password": {crossPassword}, "nickname": {"ann"}, "gender": {"0"}})
		want(c.t, "register", r, "result", "0000")
	},
	"v1": func(c *client, phone string) {
		st, _ := c.json("/v1/codes", map[string]string{"phone": phone, "purpose": "register"})
		if st != http.StatusOK {
			c.t.Fatalf("send: %d", st)
		}
		st, _ = c.json("/v1/users", map[string]string{"phone": phone, "password": crossPassword, "code": c.g.SMS.Last()})
		if st != http.StatusCreated {
			c.t.Fatalf("register: %d", st)
		}
	},
}

// Each dialect's login; it fails the test unless the login succeeds.
var loginers = map[string]func(c *client, phone, password string){
	"caraccessories": func(c *client, phone, password string) {
		_, r := c.json("/caraccessories/app/login", map[string]string{"mobile": phone, "password": password})
		want(c.t, "login", r, "status", 1.0)
	},
	"apiv4": func(c *client, phone, password string) {
		_, r := c.form("/api/v4.0/login", url.Values{"phone": {phone}, "password": {password}, "device_identifier": {"dev-1"}})
		want(c.t, "login", r, "code", 200.0)
	},
	"resultcode": func(c *client, phone, password string) {
		_, r := c.form("/log", url.Values{"userId": {phone}, "password": {password}})
		want(c.t, "login", r, "result", "0000")
	},
	"v1": func(c *client, phone, password string) {
		if st, r := c.json("/v1/sessions", map[string]string{"phone": phone, "password": password}); st != http.StatusCreated {
			c.t.Fatalf("login: %d %v", st, r)
		}
	},
}

// TestUserIsSharedAcrossDialects: a user registered through any dialect
// logs in through the other two and through /v1, because all of them are
// served by one core.
func TestUserIsSharedAcrossDialects(t *testing.T) {
	g := startGateway(t)
	phones := map[string]string{"caraccessories": "13900000001", "apiv4": "13900000002", "resultcode": "13900000003", "v1": "13900000004"}
	for via, register := range registrars {
		t.Run("registered via "+via, func(t *testing.T) {
			register(newClient(t, g), phones[via])
			for name, login := range loginers {
				t.Run("login via "+name, func(t *testing.T) { login(newClient(t, g), phones[via], crossPassword) })
			}
		})
	}
}

// TestV1Session is the /v1 session of the README's quick start: send a code, register, log
// in, introspect, reset the password, log in with the new one.
func TestV1Session(t *testing.T) {
	g := startGateway(t)
	c := newClient(t, g)
	const phone = "13812341234"
	if st, _ := c.json("/v1/codes", map[string]string{"phone": phone, "purpose": "register"}); st != http.StatusOK {
		t.Fatalf("send code: %d", st)
	}
	st, r := c.json("/v1/users", map[string]string{"phone": phone, "password": "s3cret-pw", "code": g.SMS.Last(), "name": "Ann", "device_id": "phone-1"})
	if st != http.StatusCreated {
		t.Fatalf("register: %d %v", st, r)
	}
	st, r = c.json("/v1/sessions", map[string]string{"phone": phone, "password": "s3cret-pw", "device_id": "phone-1"})
	if st != http.StatusCreated || r["device_changed"] != false {
		t.Fatalf("login: %d %v", st, r)
	}
	token, _ := r["token"].(string)
	st, r = c.do(http.MethodGet, "/v1/session", "", "", "Authorization", "Bearer "+token)
	if st != http.StatusOK || r["active"] != true {
		t.Fatalf("introspect: %d %v", st, r)
	}
	g.Clock.Advance(time.Minute) // one code per phone per minute (sms_cooldown)
	if st, _ = c.json("/v1/codes", map[string]string{"phone": phone, "purpose": "reset"}); st != http.StatusOK {
		t.Fatalf("send reset code: %d", st)
	}
	if st, r = c.json("/v1/password-resets", map[string]string{"phone": phone, "password": "new-pw-2", "code": g.SMS.Last()}); st != http.StatusNoContent {
		t.Fatalf("reset: %d %v", st, r)
	}
	if st, _ = c.do(http.MethodGet, "/v1/session", "", "", "Authorization", "Bearer "+token); st != http.StatusUnauthorized {
		t.Fatalf("introspect after reset: %d, want 401 (a reset revokes sessions)", st)
	}
	if st, _ = c.json("/v1/sessions", map[string]string{"phone": phone, "password": "s3cret-pw"}); st != http.StatusUnauthorized {
		t.Fatalf("login with the old password: %d, want 401", st)
	}
	if st, r = c.json("/v1/sessions", map[string]string{"phone": phone, "password": "new-pw-2"}); st != http.StatusCreated {
		t.Fatalf("login with the new password: %d %v", st, r)
	}
}

// TestUndetectableRequest: a path no dialect serves gets the canonical 404
// problem and is counted.
func TestUndetectableRequest(t *testing.T) {
	g := startGateway(t)
	st, r := newClient(t, g).do(http.MethodPost, "/nowhere", "application/json", "{}")
	if st != http.StatusNotFound || r["code"] != "unknown_route" {
		t.Fatalf("got %d %v, want 404 unknown_route", st, r)
	}
	if n := g.Gateway.DetectionFailures(); n != 1 {
		t.Fatalf("DetectionFailures = %d, want 1", n)
	}
}

// TestDetectionByFieldNames: with caraccessories and apiv4 both mounted at
// the root, /login is theirs alike; the field names decide.
func TestDetectionByFieldNames(t *testing.T) {
	g := startGateway(t, "--caraccessories-prefix=/", "--apiv4-prefix=/")
	c := newClient(t, g)
	registrars["v1"](c, "13900000011")
	_, r := c.json("/login", map[string]string{"mobile": "13900000011", "password": crossPassword})
	want(t, "caraccessories login at the root", r, "status", 1.0)
	_, r = c.form("/login", url.Values{"phone": {"13900000011"}, "password": {crossPassword}, "device_identifier": {"d"}})
	want(t, "apiv4 login at the root", r, "code", 200.0)
	if st, r := c.json("/login", map[string]string{"user": "x"}); st != http.StatusNotFound {
		t.Fatalf("fields of neither dialect: %d %v, want 404", st, r)
	}
	if n := g.Gateway.DetectionFailures(); n != 1 {
		t.Fatalf("DetectionFailures = %d, want 1", n)
	}
}
