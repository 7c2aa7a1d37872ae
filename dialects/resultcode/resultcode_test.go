package resultcode

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/gateway"
	"legacyauth/internal/testkit"
)

var avatarPath = regexp.MustCompile(`^/v1/avatars/([0-9a-f]{32}\.(png|gif|jpg|webp))$`)

// TestFullFlow drives the gateway over real HTTP the way the old app does:
// send a code, verify it, upload an avatar, register, log in.
func TestFullFlow(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t, Options{})
	a := newApp(t, srv.URL)
	const phone = "13800003101"

	r := a.get("/register?userId=" + phone)
	r.is(t, 200, okEmpty)
	c := r.cookie(DefaultCookieName)
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || len(c.Value) != 32 {
		t.Fatalf("flow cookie = %+v, want an HttpOnly SameSite=Lax cookie on / holding a 32-hex id", c)
	}
	code := e.sms.CodeFor(phone)
	if len(code) != DefaultCodeLength {
		t.Fatalf("sent code %q, want %d digits", code, DefaultCodeLength)
	}

	// code_v is what the old server echoed; the gateway ignores it.
	a.form("/register", "code_v", "0000", "code", code).is(t, 200, okEmpty)

	img := a.upload("/upload", "img", "me.png", pngImage).message(t)
	m := avatarPath.FindStringSubmatch(img)
	if m == nil {
		t.Fatalf("upload message %q, want /v1/avatars/<32 hex>.png", img)
	}
	if _, rc, err := e.svc.Avatar(context.Background(), m[1]); err != nil {
		t.Fatalf("uploaded avatar not stored: %v", err)
	} else {
		rc.Close()
	}

	r = a.form("/register", "register", "1", "password", "abc12345", "headImage", img, "gender", "1", "nickname", "小明")
	r.is(t, 200, okEmpty)
	if c := r.cookie(DefaultCookieName); c == nil || c.MaxAge >= 0 {
		t.Errorf("registration should expire the flow cookie, got %+v", c)
	}
	if !e.registered(t, phone) {
		t.Fatal("phone not registered after step 2")
	}
	// The flow is over: step 2 cannot be replayed.
	a.form("/register", "register", "1", "password", "abc12345").is(t, 200, body(rUnknown, msgVerify))

	token := a.form("/log", "userId", phone, "password", "abc12345").message(t)
	u, _, err := e.svc.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatalf("login token does not authenticate: %v", err)
	}
	if u.Nickname != "小明" || u.Gender != "1" || u.Avatar != img {
		t.Errorf("profile = %+v, want nickname 小明, gender 1, avatar %s", u.Profile, img)
	}
	a.form("/log", "userId", phone, "password", "abc12345x").is(t, 200, loginWrongPwd)
	a.form("/log", "userId", "13800003102", "password", "abc12345").is(t, 200, loginNoUser)

	// A second registration of the same phone stops at the send step.
	newApp(t, srv.URL).get("/register?userId="+phone).is(t, 200, sendExists)
}

// TestCodeGuessing: four wrong codes answer 0004, the fifth 0005, and the
// right code afterwards still fails: the code is burned.
func TestCodeGuessing(t *testing.T) {
	e := newEnv(t)
	a := newApp(t, e.server(t, Options{}).URL)
	const phone = "13800003111"
	a.get("/register?userId="+phone).is(t, 200, okEmpty)
	code := e.sms.CodeFor(phone)
	for i := 1; i <= 4; i++ {
		// Five digits never match a four-digit code.
		a.form("/register", "code_v", code, "code", "00000").is(t, 200, verifyWrong)
	}
	a.form("/register", "code_v", code, "code", "00000").is(t, 200, verifyTooMany)
	a.form("/register", "code", code).is(t, 200, verifyTooMany)
	a.form("/register", "register", "1", "password", "abc12345").is(t, 200, body(rUnknown, msgVerify))
	if e.registered(t, phone) {
		t.Fatal("a burned code registered the phone")
	}
}

// TestCodeExpired: a code older than its TTL answers 0004.
func TestCodeExpired(t *testing.T) {
	e := newEnv(t)
	a := newApp(t, e.server(t, Options{}).URL)
	const phone = "13800003112"
	a.get("/register?userId="+phone).is(t, 200, okEmpty)
	e.clock.Advance(6 * time.Minute)
	a.form("/register", "code", e.sms.CodeFor(phone)).is(t, 200, verifyWrong)
}

// TestFlowAcrossInstances: the flow lives in the core's store, so each
// step may reach another gateway instance.
func TestFlowAcrossInstances(t *testing.T) {
	e := newEnv(t)
	s1, s2 := e.server(t, Options{}), e.server(t, Options{})
	const phone = "13800003121"
	a1 := newApp(t, s1.URL)
	a1.get("/register?userId="+phone).is(t, 200, okEmpty)
	// Same host, other port: the jar sends the cookie to both (cookies ignore ports).
	a2 := &app{t: t, base: s2.URL, c: a1.c}
	a2.form("/register", "code_v", "", "code", e.sms.CodeFor(phone)).is(t, 200, okEmpty)
	a1.form("/register", "register", "1", "password", "abc12345").is(t, 200, okEmpty)
	if !e.registered(t, phone) {
		t.Fatal("phone not registered")
	}
	a2.form("/log", "userId", phone, "password", "abc12345").message(t)
}

// TestEchoCode: the switch puts the code in message, as the old server did.
func TestEchoCode(t *testing.T) {
	e := newEnv(t)
	a := newApp(t, e.server(t, Options{EchoCode: true}).URL)
	const phone = "13800003131"
	msg := a.get("/register?userId=" + phone).message(t)
	if msg != e.sms.CodeFor(phone) || len(msg) != 4 {
		t.Fatalf("message = %q, want the sent code %q", msg, e.sms.CodeFor(phone))
	}
	// Echoed or not, the code is still checked by the gateway, not by code_v.
	a.form("/register", "code_v", msg, "code", "00000").is(t, 200, verifyWrong)
}

func TestCodeLengthOption(t *testing.T) {
	e := newEnv(t)
	a := newApp(t, e.server(t, Options{CodeLength: 6}).URL)
	a.get("/register?userId=13800003132").is(t, 200, okEmpty)
	if c := e.sms.CodeFor("13800003132"); len(c) != 6 {
		t.Fatalf("code %q, want 6 digits", c)
	}
}

func TestVerifyWithoutFlow(t *testing.T) {
	e := newEnv(t)
	a := newApp(t, e.server(t, Options{}).URL)
	a.form("/register", "code_v", "1234", "code", "1234").is(t, 200, verifyWrong)
	// A forged flow id is no flow either.
	a.c.Jar.SetCookies(mustURL(t, a.base), []*http.Cookie{{Name: DefaultCookieName, Value: strings.Repeat("a", 32)}})
	a.form("/register", "code", "1234").is(t, 200, verifyWrong)
	// Nor is an expired one.
	a.get("/register?userId=13800003141").is(t, 200, okEmpty)
	e.clock.Advance(31 * time.Minute)
	a.form("/register", "code", e.sms.CodeFor("13800003141")).is(t, 200, verifyWrong)
}

func TestSendFailures(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t, Options{})
	e.sms.Fail(errors.New("gateway down"))
	r := newApp(t, srv.URL).get("/register?userId=13800003151")
	r.is(t, 200, sendOther)
	if r.cookie(DefaultCookieName) != nil {
		t.Error("a failed send must not start a flow")
	}
}

func TestRegisterStep2Failures(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t, Options{})
	const phone = "13800003161"
	a := newApp(t, srv.URL)
	a.get("/register?userId="+phone).is(t, 200, okEmpty)

	// Not verified yet: the flow exists but holds no ticket.
	a.form("/register", "register", "1", "password", "abc12345").is(t, 200, body(rUnknown, msgVerify))
	a.form("/register", "code", e.sms.CodeFor(phone)).is(t, 200, okEmpty)

	cases := []struct {
		name string
		kv   []string
		want string
	}{
		{"short password", []string{"password", "abc1"}, body(rUnknown, "密码长度必须至少为8个字符")},
		{"no digit", []string{"password", "abcdefgh"}, body(rUnknown, "密码必须同时包含字母和数字")},
		{"missing password", nil, body(rUnknown, "密码为必填字段")},
		{"bad gender", []string{"password", "abc12345", "gender", "2"}, body(rUnknown, "性别必须是[0 1]中的一个")},
		{"file-system headImage", []string{"password", "abc12345", "headImage", "/etc/passwd"}, body(rUnknown, "头像路径无效，请重新上传头像")},
		{"unknown avatar", []string{"password", "abc12345", "headImage", "/v1/avatars/" + strings.Repeat("0", 32) + ".png"}, body(rUnknown, "头像路径无效，请重新上传头像")},
		{"other site headImage", []string{"password", "abc12345", "headImage", "http://evil.example/x.png"}, body(rUnknown, "头像路径无效，请重新上传头像")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a.form("/register", append([]string{"register", "1"}, c.kv...)...).is(t, 200, c.want)
			if e.registered(t, phone) {
				t.Fatal("registered despite bad input")
			}
		})
	}
	// None of that spent the ticket.
	a.form("/register", "register", "1", "password", "abc12345", "gender", "0").is(t, 200, okEmpty)

	// Ticket expired (10 minutes): verify again is needed.
	const phone2 = "13800003162"
	b := newApp(t, srv.URL)
	b.get("/register?userId="+phone2).is(t, 200, okEmpty)
	b.form("/register", "code", e.sms.CodeFor(phone2)).is(t, 200, okEmpty)
	e.clock.Advance(11 * time.Minute)
	b.form("/register", "register", "1", "password", "abc12345").is(t, 200, body(rUnknown, msgVerify))
	if e.registered(t, phone2) {
		t.Fatal("registered with an expired ticket")
	}

	// Phone registered meanwhile (e.g. through another contract).
	const phone3 = "13800003163"
	c := newApp(t, srv.URL)
	c.get("/register?userId="+phone3).is(t, 200, okEmpty)
	c.form("/register", "code", e.sms.CodeFor(phone3)).is(t, 200, okEmpty)
	e.registerUser(t, phone3, "other-password")
	c.form("/register", "register", "1", "password", "abc12345").is(t, 200, body(rUnknown, "该手机号已被注册"))
}

func TestUpload(t *testing.T) {
	e := newEnv(t)
	a := newApp(t, e.server(t, Options{}).URL)

	t.Run("client file name is never used", func(t *testing.T) {
		gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")
		msg := a.upload("/upload", "img", "../../etc/passwd", gif).message(t)
		if !avatarPath.MatchString(msg) || strings.Contains(msg, "passwd") {
			t.Fatalf("message %q, want a random /v1/avatars/ name", msg)
		}
		if _, _, err := e.svc.Avatar(context.Background(), "passwd"); core.KindOf(err) != core.NotFound {
			t.Fatalf("an avatar named passwd exists: %v", err)
		}
	})
	t.Run("not an image", func(t *testing.T) {
		a.upload("/upload", "img", "x.png", []byte("#!/bin/sh\necho hi\n")).is(t, 200, unknownNull)
	})
	// The content must decode as the image its signature claims.
	t.Run("image signature then HTML", func(t *testing.T) {
		for _, sig := range []string{"\x89PNG\r\n\x1a\n", "GIF89a", "\xff\xd8\xff\xe0"} {
			a.upload("/upload", "img", "x.png", []byte(sig+"<html><script>alert(1)</script></html>")).is(t, 200, unknownNull)
		}
	})
	t.Run("empty image", func(t *testing.T) {
		a.upload("/upload", "img", "x.png", nil).is(t, 200, unknownNull)
	})
	t.Run("no img field", func(t *testing.T) {
		a.upload("/upload", "file", "x.png", pngImage).is(t, 200, unknownNull)
	})
	t.Run("img as a text field", func(t *testing.T) {
		b, ct := multipartBody(t, map[string]string{"img": "hello"}, "", "", nil)
		a.do(http.MethodPost, "/upload", ct, b).is(t, 200, unknownNull)
	})
	t.Run("prefix option", func(t *testing.T) {
		b := newApp(t, e.server(t, Options{AvatarURLPrefix: "/static/avatars/"}).URL)
		msg := b.upload("/upload", "img", "a.png", pngImage).message(t)
		if !strings.HasPrefix(msg, "/static/avatars/") {
			t.Fatalf("message %q, want the configured prefix", msg)
		}
	})
	t.Run("too large", func(t *testing.T) {
		big := append(append([]byte(nil), pngImage...), make([]byte, core.MaxAvatarBytes+64<<10)...)
		r := a.upload("/upload", "img", "big.png", big)
		r.is(t, http.StatusRequestEntityTooLarge, unknownNull)
	})
}

// TestDecode: parameters are read from the query, an urlencoded form or a
// multipart form, as Pyramid's request.params merged them.
func TestDecode(t *testing.T) {
	e := newEnv(t)
	a := newApp(t, e.server(t, Options{}).URL)
	const phone = "13800003171"
	e.registerUser(t, phone, "abc12345")
	mp, mpType := multipartBody(t, map[string]string{"userId": phone, "password": "abc12345"}, "", "", nil)
	cases := []struct {
		name, path, ct string
		body           []byte
	}{
		{"query", "/log?userId=" + phone + "&password=abc12345", "", nil},
		{"form", "/log", "application/x-www-form-urlencoded", []byte(encodeForm("userId", phone, "password", "abc12345"))},
		{"form with charset", "/log", "application/x-www-form-urlencoded; charset=UTF-8", []byte(encodeForm("userId", phone, "password", "abc12345"))},
		{"multipart", "/log", mpType, mp},
		{"query and form", "/log?userId=" + phone, "application/x-www-form-urlencoded", []byte("password=abc12345")},
		{"same value twice", "/log?userId=" + phone, "application/x-www-form-urlencoded", []byte(encodeForm("userId", phone, "password", "abc12345"))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if tok := a.do(http.MethodPost, c.path, c.ct, c.body).message(t); len(tok) != 32 {
				t.Fatalf("token %q", tok)
			}
		})
	}
}

// TestBadInput: every malformed request gets the dialect's body, and
// nothing is stored.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t, Options{})
	const phone = "13800003181"
	cases := []struct {
		name, method, path, ct, body string
		status                       int
		want                         string
	}{
		{"send: no userId", "GET", "/register", "", "", 200, sendOther},
		{"send: not a mobile", "GET", "/register?userId=23800003181", "", "", 200, sendOther},
		{"send: too short", "GET", "/register?userId=1380000318", "", "", 200, sendOther},
		{"send: E.164 is not what the app sends", "GET", "/register?userId=%2B8613800003181", "", "", 200, sendOther},
		{"send: userId twice, different values", "GET", "/register?userId=" + phone + "&userId=13800003182", "", "", 400, sendOther},
		{"send: malformed query", "GET", "/register?userId=%zz", "", "", 400, sendOther},
		{"send: control character", "GET", "/register?userId=1380000318%01", "", "", 400, sendOther},
		{"verify: no code", "POST", "/register", "application/x-www-form-urlencoded", "code_v=1234", 200, verifyWrong},
		{"verify: letters", "POST", "/register", "application/x-www-form-urlencoded", "code=abcd", 200, verifyWrong},
		{"verify: JSON body", "POST", "/register", "application/json", `{"code": "1234"}`, 415, verifyWrong},
		{"register: no multipart boundary", "POST", "/register?register=1", "multipart/form-data", "--x\r\n", 400, body(rUnknown, "表单格式错误")},
		{"register: password twice", "POST", "/register", "application/x-www-form-urlencoded", "register=1&password=abc12345&password=abc12346", 400, body(rUnknown, "参数password重复且取值不同")},
		{"upload: form instead of multipart", "POST", "/upload", "application/x-www-form-urlencoded", "img=abc", 200, unknownNull},
		{"upload: text/plain", "POST", "/upload", "text/plain", "img", 415, unknownNull},
		{"login: no password", "POST", "/log", "application/x-www-form-urlencoded", "userId=" + phone, 200, body(rGateway, "密码为必填字段")},
		{"login: no userId", "POST", "/log", "application/x-www-form-urlencoded", "password=abc12345", 200, body(rGateway, "手机号为必填字段")},
		{"login: bad phone", "POST", "/log", "application/x-www-form-urlencoded", "userId=12345&password=abc12345", 200, body(rGateway, "手机号必须是1开头的11位手机号")},
		{"login: JSON with a number", "POST", "/log", "application/json", `{"userId": 13800003181, "password": "abc12345"}`, 415, body(rGateway, "不支持的请求内容类型")},
		{"login: malformed form", "POST", "/log", "application/x-www-form-urlencoded", "userId=%zz", 400, body(rGateway, "表单格式错误")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newApp(t, srv.URL)
			r := a.do(c.method, c.path, c.ct, []byte(c.body))
			r.is(t, c.status, c.want)
			if r.cookie(DefaultCookieName) != nil {
				t.Error("bad input started a flow")
			}
		})
	}
	if e.registered(t, phone) || len(e.sms.Sent()) != 0 {
		t.Fatalf("bad input stored something: registered %v, %d SMS sent", e.registered(t, phone), len(e.sms.Sent()))
	}
}

// TestReject: failures found before a handler get the dialect's body too.
func TestReject(t *testing.T) {
	e := newEnv(t)
	a := newApp(t, e.server(t, Options{}).URL)
	a.get("/log?userId=13800003191&password=x").is(t, 405, body(rGateway, "不支持的请求方法"))
	a.get("/upload").is(t, 405, unknownNull)
	a.do(http.MethodPut, "/register", "application/x-www-form-urlencoded", []byte("register=1")).is(t, 405, body(rUnknown, "不支持的请求方法"))
	a.do(http.MethodDelete, "/register", "", nil).is(t, 405, verifyWrong)
	big := make([]byte, gateway.DefaultMaxBody+1)
	a.do(http.MethodPost, "/log", "application/x-www-form-urlencoded", big).is(t, 413, body(rGateway, "请求内容过大"))

	// A limit refusing a request (the gateway calls Reject): Retry-After in
	// whole seconds, the operation's own code.
	d := New(e.svc, Options{})
	limited := &core.Error{Op: "limiter", Kind: core.RateLimited, RetryAfter: 1500 * time.Millisecond}
	for _, c := range []struct {
		method, target, want string
	}{
		{"GET", "/register?userId=13800003192", sendOther},
		{"POST", "/register?code=1234", verifyTooMany},
		{"POST", "/register?register=1", body(rUnknown, msgTooOften)},
		{"POST", "/log", body(rGateway, msgTooOften)},
		{"POST", "/upload", unknownNull},
	} {
		rec := httptest.NewRecorder()
		d.Reject(rec, httptest.NewRequest(c.method, c.target, nil), http.StatusOK, limited)
		r := reply{rec.Code, rec.Header(), rec.Body.String()}
		r.is(t, 200, c.want)
		if got := rec.Header().Get("Retry-After"); got != "2" {
			t.Errorf("%s %s: Retry-After = %q, want 2", c.method, c.target, got)
		}
	}
}

func TestRegisterOp(t *testing.T) {
	params := gateway.NewParams
	cases := []struct {
		method string
		p      gateway.Params
		want   string
	}{
		{"GET", params("userId", "13800003100"), opSend},
		{"GET", params("register", "1"), opSend},
		{"POST", params("code_v", "1", "code", "1"), opVerify},
		{"POST", params("register", "1", "password", "x"), opRegister},
		{"POST", params("register", "1", "code", "1"), opRegister},
		{"POST", params("register", "0", "code", "1"), opVerify},
		{"POST", params(), opVerify},
	}
	for _, c := range cases {
		if got := registerOp(c.method, c.p); got != c.want {
			t.Errorf("registerOp(%s, %v) = %s, want %s", c.method, c.p, got, c.want)
		}
	}
}

func TestClaims(t *testing.T) {
	d := New(nil, Options{})
	for _, f := range []string{"userId", "code_v", "register", "img"} {
		if !d.Claims(map[string]bool{f: true}) {
			t.Errorf("Claims(%s) = false", f)
		}
	}
	for _, f := range []map[string]bool{{}, {"mobile": true}, {"phone": true, "code": true}, {"code": true, "password": true}} {
		if d.Claims(f) {
			t.Errorf("Claims(%v) = true", f)
		}
	}
}

func TestCookieFollowsMountPrefix(t *testing.T) {
	e := newEnv(t)
	g := gateway.New(gateway.Options{
		Mounts: []gateway.Mount{{Dialect: New(e.svc, Options{CookieName: "sid", SecureCookie: true}), Prefix: "/rc"}},
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", "/rc/register?userId=13800003195", nil))
	c := reply{rec.Code, rec.Header(), rec.Body.String()}.cookie("sid")
	if c == nil || c.Path != "/rc" || !c.Secure {
		t.Fatalf("cookie = %+v, want sid on /rc, Secure", c)
	}
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestRequestLog: each request's log line names the real operation, its
// outcome and the masked phone, and never a code, password or token.
func TestRequestLog(t *testing.T) {
	e := newEnv(t)
	var buf testkit.Buffer
	g := gateway.New(gateway.Options{
		// Ten digits: a 4-digit code could appear by chance in a request id or a latency.
		Mounts: []gateway.Mount{{Dialect: New(e.svc, Options{EchoCode: true, CodeLength: 10}), Prefix: DefaultPrefix}},
		Log:    slog.New(slog.NewTextHandler(&buf, nil)),
	})
	srv := httptest.NewServer(g)
	defer srv.Close()
	a := newApp(t, srv.URL)
	const phone = "13800003197"
	code := a.get("/register?userId=" + phone).message(t)
	wrong := code[:9] + string('0'+(code[9]-'0'+1)%10)
	a.form("/register", "code_v", code, "code", wrong).is(t, 200, verifyWrong)
	a.form("/register", "code", code).is(t, 200, okEmpty)
	a.form("/register", "register", "1", "password", "secret123").is(t, 200, okEmpty)
	token := a.form("/log", "userId", phone, "password", "secret123").message(t)

	log := buf.String()
	for _, want := range []string{
		"op=send_code outcome=ok", "op=verify_code outcome=code_wrong", "op=verify_code outcome=ok",
		"op=register outcome=ok", "op=login outcome=ok", "phone=138****3197",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	for _, secret := range []string{code, "secret123", token, phone} {
		if strings.Contains(log, secret) {
			t.Errorf("log contains %q:\n%s", secret, log)
		}
	}
}
