package caraccessories

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/gateway"
)

const okBody = `{"status":1,"msg":"Ok"}`

// parseReply decodes a body that must have exactly the contract's shape:
// an int status and a non-empty msg, nothing else.
func parseReply(tb testing.TB, body string) reply {
	tb.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil || len(raw) != 2 {
		tb.Fatalf("body %s: want an object of exactly status and msg (%v)", body, err)
	}
	var rep reply
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil || rep.Msg == "" {
		tb.Fatalf("body %s: want an int status and a non-empty string msg (%v)", body, err)
	}
	return rep
}

func TestRepliesTotal(t *testing.T) {
	d := New(nil, Options{})
	ops := map[string]bool{}
	for _, rt := range d.Routes() {
		ops[rt.Op] = true
		for _, k := range core.Kinds() {
			rep, found := replies[rt.Op][k]
			switch {
			case !found:
				t.Errorf("%s: no reply for %v", rt.Op, k)
			case rep.Status >= 0 || rep.Msg == "":
				t.Errorf("%s: %v answers %+v: want a negative status and a message", rt.Op, k, rep)
			}
		}
	}
	for op, row := range replies {
		if !ops[op] {
			t.Errorf("replies has operation %q, which no route serves", op)
		}
		if len(row) != len(core.Kinds()) {
			t.Errorf("%s: %d rows for %d kinds", op, len(row), len(core.Kinds()))
		}
	}
}

// The documented codes, from the document's tables.
func TestRepliesDocumentedCodes(t *testing.T) {
	cases := []struct {
		op     string
		kind   core.Kind
		status int
	}{
		{opSend, core.SMSFailed, -3},
		{opSend, core.RateLimited, -3},
		{opRegister, core.CodeWrong, -3},
		{opRegister, core.TooManyAttempts, -3},
		{opRegister, core.CodeExpired, -4},
		{opRegister, core.AlreadyRegistered, -5},
		{opLogin, core.NotRegistered, -3},
		{opLogin, core.WrongPassword, -4},
		{opReset, core.CodeWrong, -4},
		{opReset, core.TooManyAttempts, -4},
		{opReset, core.CodeExpired, -5},
		{opReset, core.NotRegistered, -3},
	}
	for _, c := range cases {
		if got := lookup(c.op, c.kind); got.Status != c.status {
			t.Errorf("%s %v = %d, want %d", c.op, c.kind, got.Status, c.status)
		}
	}
}

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	write(rec, http.StatusOK, success, nil)
	if got := rec.Body.String(); got != okBody {
		t.Errorf("body = %q, want %q", got, okBody)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json;charset=UTF-8" {
		t.Errorf("Content-Type = %q", got)
	}

	rec = httptest.NewRecorder()
	write(rec, http.StatusOK, regTaken, core.E("test", core.AlreadyRegistered, ""))
	if got, want := rec.Body.String(), `{"status":-5,"msg":"手机号已注册"}`; got != want {
		t.Errorf("body = %q, want %q (UTF-8, not \\u escapes)", got, want)
	}
	if rec.Header().Get("Retry-After") != "" {
		t.Error("Retry-After on a reply that is not rate limited")
	}

	rec = httptest.NewRecorder()
	limited := &core.Error{Kind: core.RateLimited, RetryAfter: 1500 * time.Millisecond}
	write(rec, http.StatusOK, lookup(opLogin, core.RateLimited), limited)
	if got := rec.Header().Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2 (rounded up)", got)
	}
}

func TestClaims(t *testing.T) {
	d := New(nil, Options{})
	for _, c := range []struct {
		fields []string
		want   bool
	}{
		{[]string{"mobile"}, true},
		{[]string{"mobile", "code", "password"}, true},
		{[]string{"phone", "password"}, false},
		{[]string{"userId"}, false},
		{nil, false},
	} {
		m := map[string]bool{}
		for _, f := range c.fields {
			m[f] = true
		}
		if got := d.Claims(m); got != c.want {
			t.Errorf("Claims(%v) = %v, want %v", c.fields, got, c.want)
		}
	}
}

// TestFullFlow drives a real server the way the old app does: the
// document's request bodies (trailing commas included), a cookie jar.
func TestFullFlow(t *testing.T) {
	e := newEnv(t, Options{})
	jar, _ := cookiejar.New(nil)
	app := &http.Client{Jar: jar}
	const phone = "13800001001"

	e.post(t, app, "/get_verification_code", "{ \n\"mobile\": \""+phone+"\", \n}").
		hasStatus(t, http.StatusOK).hasBody(t, okBody).hasHeader(t, "Content-Type", "application/json;charset=UTF-8")
	code := e.sms.MessageTo(t, phone).Code
	if len(code) != 5 {
		t.Errorf("code %q: want 5 digits, as the document's example", code)
	}

	e.post(t, app, "/registration", "{\n\"mobile\": \""+phone+"\",\n\"code\": \""+code+"\",\n\"password\": \"12345\",\n}").
		hasStatus(t, http.StatusOK).hasBody(t, okBody)
	regToken := sessionCookie(t, jar, e.server.URL)
	if !e.registered(t, phone) {
		t.Fatal("not registered after status 1")
	}

	e.post(t, app, "/login", "{\n\"mobile\": \""+phone+"\",\n\"password\": \"12345\",\n}").hasBody(t, okBody)
	loginToken := sessionCookie(t, jar, e.server.URL)
	if loginToken == regToken {
		t.Error("login kept the registration's session token")
	}

	// The same endpoint sends the code for a password reset.
	e.post(t, app, "/get_verification_code", `{"mobile":"`+phone+`"}`).hasBody(t, okBody)
	e.post(t, app, "/forget_password", `{"mobile":"`+phone+`","code":"`+e.sms.MessageTo(t, phone).Code+`","password":"54321"}`).
		hasBody(t, okBody)
	if _, _, err := e.svc.Authenticate(context.Background(), loginToken); core.KindOf(err) != core.Unauthorized {
		t.Errorf("session after a password reset: err = %v, want unauthorized", err)
	}

	e.post(t, app, "/login", `{"mobile":"`+phone+`","password":"12345"}`).hasBody(t, `{"status":-4,"msg":"密码不正确"}`)
	e.post(t, app, "/login", `{"mobile":"`+phone+`","password":"54321"}`).hasBody(t, okBody)
	sessionCookie(t, jar, e.server.URL)
}

// sessionCookie returns the JSESSIONID the jar holds for the dialect's
// path, and checks it is a live session of the core.
func sessionCookie(tb testing.TB, jar http.CookieJar, base string) string {
	tb.Helper()
	u, _ := url.Parse(base + DefaultPrefix + "/login")
	for _, c := range jar.Cookies(u) {
		if c.Name == "JSESSIONID" {
			return c.Value
		}
	}
	tb.Fatal("no JSESSIONID cookie")
	return ""
}

func TestSessionCookie(t *testing.T) {
	e := newEnv(t, Options{})
	e.register(t, "13800001011", "12345")
	resp := e.post(t, nil, "/login", `{"mobile":"13800001011","password":"12345"}`).hasBody(t, okBody)
	cookies := (&http.Response{Header: resp.header}).Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Set-Cookie: %q, want one cookie", resp.header.Values("Set-Cookie"))
	}
	c := cookies[0]
	if c.Name != "JSESSIONID" || c.Path != DefaultPrefix || !c.HttpOnly || c.Secure || c.SameSite != http.SameSiteLaxMode || c.MaxAge != 0 {
		t.Errorf("cookie %s: want JSESSIONID, Path=%s, HttpOnly, SameSite=Lax, not Secure, no Max-Age", c, DefaultPrefix)
	}
	u, _, err := e.svc.Authenticate(context.Background(), c.Value)
	if err != nil || u.Phone != "+8613800001011" {
		t.Errorf("the cookie is not the user's session: %v", err)
	}

	// Failures set no cookie.
	resp = e.post(t, nil, "/login", `{"mobile":"13800001011","password":"wrong"}`).hasCode(t, -4)
	if sc := resp.header.Values("Set-Cookie"); len(sc) != 0 {
		t.Errorf("failed login set %q", sc)
	}
}

func TestOptions(t *testing.T) {
	e := newEnv(t, Options{CodeLength: 6, CookieName: "SID", SecureCookie: true})
	e.post(t, nil, "/get_verification_code", `{"mobile":"13800001021"}`).hasBody(t, okBody)
	code := e.sms.MessageTo(t, "13800001021").Code
	if len(code) != 6 {
		t.Errorf("code %q: want 6 digits", code)
	}
	resp := e.post(t, nil, "/registration", `{"mobile":"13800001021","code":"`+code+`","password":"x"}`).hasBody(t, okBody)
	want := regexp.MustCompile(`^SID=[0-9a-f]{32}; Path=/caraccessories/app; HttpOnly; Secure; SameSite=Lax$`)
	if got := resp.header.Get("Set-Cookie"); !want.MatchString(got) {
		t.Errorf("Set-Cookie = %q, want %v", got, want)
	}
}

// The cookie's path is wherever the dialect is mounted.
func TestCookiePathFollowsMount(t *testing.T) {
	e := newEnv(t, Options{})
	for _, prefix := range []string{"/", "/legacy/app"} {
		gw := gateway.New(gateway.Options{
			Mounts: []gateway.Mount{{Dialect: New(e.svc, Options{}), Prefix: prefix}},
			Log:    newTextLogger(io.Discard),
		})
		phone := map[string]string{"/": "13800001031", "/legacy/app": "13800001032"}[prefix]
		path := strings.TrimSuffix(prefix, "/")
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path+"/get_verification_code", strings.NewReader(`{"mobile":"`+phone+`"}`)))
		body := `{"mobile":"` + phone + `","code":"` + e.sms.MessageTo(t, phone).Code + `","password":"12345"}`
		rec = httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path+"/registration", strings.NewReader(body)))
		cookies := rec.Result().Cookies()
		if rec.Body.String() != okBody || len(cookies) != 1 {
			t.Fatalf("mounted at %q: %s, cookies %v", prefix, rec.Body, cookies)
		}
		if want := map[string]string{"/": "/", "/legacy/app": "/legacy/app"}[prefix]; cookies[0].Path != want {
			t.Errorf("mounted at %q: cookie path %q, want %q", prefix, cookies[0].Path, want)
		}
	}
}

// TestDecoding: what the old server's JSON reader accepted, and the clear
// -1 replies to what it could not read.
func TestDecoding(t *testing.T) {
	e := newEnv(t, Options{})
	cases := []struct {
		name, contentType, body string
		httpStatus              int
		want                    string
	}{
		{"document example with trailing comma", "application/json", "{ \n\"mobile\": \"13800001041\", \n}", 200, okBody},
		{"text/plain", "text/plain", `{"mobile":"13800001042"}`, 200, okBody},
		{"charset parameter", "application/json; charset=utf-8", `{"mobile":"13800001043"}`, 200, okBody},
		{"no content type", "", `{"mobile":"13800001044"}`, 200, okBody},
		{"unknown fields ignored", "application/json", `{"mobile":"13800001045","imei":"x"}`, 200, okBody},
		{"empty body", "application/json", ``, 200, `{"status":-1,"msg":"手机号为必填字段"}`},
		{"empty object", "application/json", `{}`, 200, `{"status":-1,"msg":"手机号为必填字段"}`},
		{"empty mobile", "application/json", `{"mobile":""}`, 200, `{"status":-1,"msg":"手机号为必填字段"}`},
		{"not a mobile", "application/json", `{"mobile":"23800001046"}`, 200, `{"status":-1,"msg":"手机号必须是1开头的11位手机号"}`},
		{"E.164 is not what the app sends", "application/json", `{"mobile":"+8613800001047"}`, 200, `{"status":-1,"msg":"手机号必须是1开头的11位手机号"}`},
		{"number for a string", "application/json", `{"mobile":13800001048}`, 400, `{"status":-1,"msg":"参数mobile必须是字符串"}`},
		{"malformed", "application/json", `{"mobile":"13800001049"`, 400, `{"status":-1,"msg":"JSON格式错误"}`},
		{"array", "application/json", `["13800001049"]`, 400, `{"status":-1,"msg":"JSON格式错误"}`},
		{"form", "application/x-www-form-urlencoded", `mobile=13800001049`, 415, `{"status":-1,"msg":"不支持的请求内容类型"}`},
		{"control character", "application/json", `{"mobile":"1380000104\u0000"}`, 400, `{"status":-1,"msg":"请求参数含有非法字符"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, nil, http.MethodPost, "/get_verification_code", c.contentType, c.body)
			r.hasStatus(t, c.httpStatus).hasBody(t, c.want).hasHeader(t, "Content-Type", "application/json;charset=UTF-8")
		})
	}
}

// TestBadInputStoresNothing: a registration the dialect cannot read
// answers -1, registers nobody and spends no code attempt.
func TestBadInputStoresNothing(t *testing.T) {
	e := newEnv(t, Options{})
	const phone = "13800001051"
	e.post(t, nil, "/get_verification_code", `{"mobile":"`+phone+`"}`).hasBody(t, okBody)
	code := e.sms.MessageTo(t, phone).Code
	cases := []struct {
		name, contentType, body string
		httpStatus              int
		msg                     string
	}{
		{"missing password", "application/json", `{"mobile":"` + phone + `","code":"` + code + `"}`, 200, "密码为必填字段"},
		{"empty password", "application/json", `{"mobile":"` + phone + `","code":"` + code + `","password":""}`, 200, "密码为必填字段"},
		{"missing code", "application/json", `{"mobile":"` + phone + `","password":"12345"}`, 200, "验证码为必填字段"},
		{"missing mobile", "application/json", `{"code":"` + code + `","password":"12345"}`, 200, "手机号为必填字段"},
		{"number password", "application/json", `{"mobile":"` + phone + `","code":"` + code + `","password":12345}`, 400, "参数password必须是字符串"},
		{"number code", "application/json", `{"mobile":"` + phone + `","code":12345,"password":"12345"}`, 400, "参数code必须是字符串"},
		{"null password is no password", "application/json", `{"mobile":"` + phone + `","code":"` + code + `","password":null}`, 200, "密码为必填字段"},
		{"malformed", "application/json", `{"mobile":"` + phone + `","code":"` + code + `","password":"12345"`, 400, "JSON格式错误"},
		{"form body", "application/x-www-form-urlencoded", "mobile=" + phone + "&code=" + code + "&password=12345", 415, "不支持的请求内容类型"},
		{"multipart body", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"mobile\"\r\n\r\n" + phone + "\r\n--x--\r\n", 415, "不支持的请求内容类型"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, nil, http.MethodPost, "/registration", c.contentType, c.body).hasStatus(t, c.httpStatus)
			if rep := parseReply(t, r.body); rep.Status != -1 || rep.Msg != c.msg {
				t.Errorf("reply %s, want status -1 and msg %q", r.body, c.msg)
			}
			if sc := r.header.Values("Set-Cookie"); len(sc) != 0 {
				t.Errorf("Set-Cookie %q on a refused request", sc)
			}
			if e.registered(t, phone) {
				t.Fatal("registered")
			}
		})
	}
	// No attempt was spent: the code still works.
	e.post(t, nil, "/registration", `{"mobile":"`+phone+`","code":"`+code+`","password":"12345"}`).hasBody(t, okBody)
}

// A name sent twice with different values must be refused, not settled
// by whichever the JSON reader kept last.
func TestRepeatedParameters(t *testing.T) {
	e := newEnv(t, Options{})
	const phone, other = "13800001061", "13800001062"
	e.post(t, nil, "/get_verification_code", `{"mobile":"`+phone+`"}`).hasBody(t, okBody)
	code := e.sms.MessageTo(t, phone).Code
	r := e.post(t, nil, "/registration", `{"mobile":"`+other+`","mobile":"`+phone+`","code":"`+code+`","password":"12345"}`)
	r.hasStatus(t, http.StatusBadRequest).hasCode(t, -1)
	if e.registered(t, phone) || e.registered(t, other) {
		t.Error("a request with a repeated mobile registered a phone")
	}
}

// TestOutcomes: every documented status of every endpoint, over HTTP.
func TestOutcomes(t *testing.T) {
	e := newEnv(t, Options{})
	post := func(endpoint, mobile, code, password string) response {
		t.Helper()
		m := map[string]string{"mobile": mobile}
		if code != "" {
			m["code"] = code
		}
		if password != "" {
			m["password"] = password
		}
		b, _ := json.Marshal(m)
		return e.post(t, nil, endpoint, string(b))
	}
	sendCode := func(phone string) string {
		t.Helper()
		post("/get_verification_code", phone, "", "").hasBody(t, okBody)
		return e.sms.MessageTo(t, phone).Code
	}
	wrong := func(code string) string { // a 5-digit code that is not code
		if code == "00000" {
			return "11111"
		}
		return "00000"
	}

	t.Run("get_verification_code -3 SMS not sent", func(t *testing.T) {
		e.sms.Fail(errors.New("sms gateway refused"))
		defer e.sms.Fail(nil)
		post("/get_verification_code", "13800001101", "", "").hasStatus(t, 200).hasBody(t, `{"status":-3,"msg":"短信发送失败"}`)
	})
	t.Run("get_verification_code for a registered phone", func(t *testing.T) {
		e.register(t, "13800001102", "12345")
		post("/get_verification_code", "13800001102", "", "").hasBody(t, okBody)
	})

	t.Run("registration -3 wrong code", func(t *testing.T) {
		code := sendCode("13800001111")
		post("/registration", "13800001111", wrong(code), "12345").hasBody(t, `{"status":-3,"msg":"验证码不正确"}`)
		post("/registration", "13800001112", "12345", "12345").hasBody(t, `{"status":-3,"msg":"验证码不正确"}`) // none sent
	})
	t.Run("registration -3 too many wrong codes", func(t *testing.T) {
		code := sendCode("13800001113")
		for range 4 {
			post("/registration", "13800001113", wrong(code), "12345").hasBody(t, `{"status":-3,"msg":"验证码不正确"}`)
		}
		post("/registration", "13800001113", wrong(code), "12345").hasBody(t, `{"status":-3,"msg":"验证码错误次数过多，请重新获取验证码"}`)
		post("/registration", "13800001113", code, "12345").hasBody(t, `{"status":-3,"msg":"验证码错误次数过多，请重新获取验证码"}`)
		if e.registered(t, "13800001113") {
			t.Error("registered with a burned code")
		}
	})
	t.Run("registration -4 code expired", func(t *testing.T) {
		code := sendCode("13800001114")
		e.clock.Advance(5*time.Minute + time.Second)
		post("/registration", "13800001114", code, "12345").hasBody(t, `{"status":-4,"msg":"验证码已过期"}`)
	})
	t.Run("registration -5 already registered", func(t *testing.T) {
		e.register(t, "13800001115", "12345")
		code := sendCode("13800001115")
		post("/registration", "13800001115", code, "other").hasBody(t, `{"status":-5,"msg":"手机号已注册"}`)
		post("/login", "13800001115", "", "12345").hasBody(t, okBody) // the password did not change
	})

	t.Run("login -3 not registered", func(t *testing.T) {
		post("/login", "13800001121", "", "12345").hasBody(t, `{"status":-3,"msg":"手机号未注册"}`)
	})
	t.Run("login -4 wrong password", func(t *testing.T) {
		e.register(t, "13800001122", "12345")
		post("/login", "13800001122", "", "1234").hasBody(t, `{"status":-4,"msg":"密码不正确"}`)
	})

	t.Run("forget_password -4 wrong code", func(t *testing.T) {
		e.register(t, "13800001131", "12345")
		code := sendCode("13800001131")
		post("/forget_password", "13800001131", wrong(code), "54321").hasBody(t, `{"status":-4,"msg":"验证码不正确"}`)
	})
	t.Run("forget_password -4 too many wrong codes", func(t *testing.T) {
		e.register(t, "13800001132", "12345")
		code := sendCode("13800001132")
		for range 4 {
			post("/forget_password", "13800001132", wrong(code), "54321").hasCode(t, -4)
		}
		post("/forget_password", "13800001132", wrong(code), "54321").hasBody(t, `{"status":-4,"msg":"验证码错误次数过多，请重新获取验证码"}`)
		post("/forget_password", "13800001132", code, "54321").hasCode(t, -4)
		post("/login", "13800001132", "", "12345").hasBody(t, okBody)
	})
	t.Run("forget_password -5 code expired", func(t *testing.T) {
		e.register(t, "13800001133", "12345")
		code := sendCode("13800001133")
		e.clock.Advance(5*time.Minute + time.Second)
		post("/forget_password", "13800001133", code, "54321").hasBody(t, `{"status":-5,"msg":"验证码已过期"}`)
	})
	t.Run("forget_password -3 not registered", func(t *testing.T) {
		code := sendCode("13800001134")
		post("/forget_password", "13800001134", code, "54321").hasBody(t, `{"status":-3,"msg":"手机号没有注册"}`)
		if e.registered(t, "13800001134") {
			t.Error("forget_password created an account")
		}
	})
	t.Run("a code is used once", func(t *testing.T) {
		code := sendCode("13800001135")
		post("/registration", "13800001135", code, "12345").hasBody(t, okBody)
		post("/forget_password", "13800001135", code, "54321").hasBody(t, `{"status":-4,"msg":"验证码不正确"}`)
	})
}

// TestReject: failures before the handler get the dialect's body.
func TestReject(t *testing.T) {
	e := newEnv(t, Options{})
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		e.do(t, nil, method, "/login", "", "").
			hasStatus(t, http.StatusMethodNotAllowed).
			hasHeader(t, "Allow", "POST").
			hasBody(t, `{"status":-1,"msg":"请求方法不支持，请使用POST"}`)
	}

	big := `{"mobile":"13800001201","password":"` + strings.Repeat("x", gateway.DefaultMaxBody) + `"}`
	e.post(t, nil, "/login", big).hasStatus(t, http.StatusRequestEntityTooLarge).hasBody(t, `{"status":-1,"msg":"请求内容过大"}`)

	// A limit refusing a request before the handler (the gateway's rate
	// limiter) gets the endpoint's rate-limited answer.
	d := New(e.svc, Options{})
	limited := &core.Error{Op: "gateway", Kind: core.RateLimited, RetryAfter: 30 * time.Second}
	for _, c := range []struct{ path, want string }{
		{DefaultPrefix + "/get_verification_code", `{"status":-3,"msg":"短信发送过于频繁，请稍后再试"}`},
		{DefaultPrefix + "/login", `{"status":-6,"msg":"请求过于频繁，请稍后再试"}`},
	} {
		rec := httptest.NewRecorder()
		d.Reject(rec, httptest.NewRequest(http.MethodPost, c.path, nil), http.StatusOK, limited)
		if rec.Code != http.StatusOK || rec.Body.String() != c.want || rec.Header().Get("Retry-After") != "30" {
			t.Errorf("%s: %d %s Retry-After %q, want 200 %s and 30", c.path, rec.Code, rec.Body, rec.Header().Get("Retry-After"), c.want)
		}
	}
}

// Passwords and codes never reach the log line.
func TestNoSecretsLogged(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, Options{})
	gw := gateway.New(gateway.Options{
		Mounts: []gateway.Mount{{Dialect: New(e.svc, Options{}), Prefix: DefaultPrefix}},
		Log:    newTextLogger(&logs),
	})
	send := func(path, body string) {
		gw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, DefaultPrefix+path, strings.NewReader(body)))
	}
	send("/get_verification_code", `{"mobile":"13800001301"}`)
	code := e.sms.MessageTo(t, "13800001301").Code
	send("/registration", `{"mobile":"13800001301","code":"`+code+`","password":"pw-secret-1"}`)
	send("/login", `{"mobile":"13800001301","password":"pw-secret-1"}`)
	out := logs.String()
	for _, secret := range []string{code, "pw-secret-1", "13800001301"} {
		// As a value of its own: a request id or a latency may hold the digits by chance.
		if regexp.MustCompile(`(^|[^0-9A-Za-z])` + regexp.QuoteMeta(secret) + `($|[^0-9A-Za-z])`).MatchString(out) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "op=registration") || !strings.Contains(out, "outcome=ok") || !strings.Contains(out, "phone=138****1301") {
		t.Errorf("log lacks the operation, outcome or masked phone:\n%s", out)
	}
}
