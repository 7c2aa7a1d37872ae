package apiv4

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"legacyauth/core"
)

func TestReplyTableIsTotal(t *testing.T) {
	d := New(nil, Options{})
	ops := map[string]bool{}
	for _, rt := range d.Routes() {
		ops[rt.Op] = true
		ok, found := okReplies[rt.Op]
		if !found || ok.Code != codeOK || ok.Msg == "" {
			t.Errorf("%s: success reply %+v", rt.Op, ok)
		}
		for _, k := range core.Kinds() {
			rep := failureReply(rt.Op, core.E("test", k, "english text never shown"))
			if rep.Code == codeOK || rep.Code == 0 || rep.Msg == "" || rep.Bare {
				t.Errorf("(%s, %s) -> %+v: want a negative code and a message", rt.Op, k, rep)
			}
			if strings.Contains(rep.Msg, "english") {
				t.Errorf("(%s, %s) shows the core's message", rt.Op, k)
			}
		}
	}
	for op := range failures {
		if !ops[op] {
			t.Errorf("failures has a row for %q, which no route serves", op)
		}
	}
	for _, k := range core.Kinds() {
		if _, ok := commonFailures[k]; !ok {
			t.Errorf("commonFailures has no row for %s", k)
		}
	}
}

func TestDocumentedCodes(t *testing.T) {
	cases := []struct {
		op   string
		kind core.Kind
		code int
		msg  string
	}{
		{opSendSMS, core.AlreadyRegistered, -1, "手机号已经被注册"},
		{opSendSMS, core.NotRegistered, -1, "手机号未注册"},
		{opIsRegister, core.AlreadyRegistered, -1, "手机号已经被注册"},
		{opIsRegister, core.NotRegistered, -1, "手机号未注册"},
		{opRegister, core.AlreadyRegistered, -1, "手机号已经被注册"},
		{opRegister, core.CodeWrong, -2, "验证码错误"},
		{opRegister, core.CodeExpired, -2, "验证码已过期"},
		{opRegister, core.TooManyAttempts, -2, "验证码错误次数过多，请重新获取"},
		{opLogin, core.NotRegistered, -1, "手机号或密码错误"},
		{opLogin, core.WrongPassword, -1, "手机号或密码错误"},
		{opVerifyCode, core.CodeWrong, -1, "验证码错误"},
		{opVerifyCode, core.CodeExpired, -1, "验证码已过期"},
		{opForgetPassword, core.Unauthorized, -1, "请先验证验证码"},
		{opForgetPassword, core.NotRegistered, -1, "手机号未注册"},
	}
	for _, c := range cases {
		rep := failureReply(c.op, core.E("test", c.kind, ""))
		if rep.Code != c.code || rep.Msg != c.msg {
			t.Errorf("(%s, %s) = %d %q, want %d %q", c.op, c.kind, rep.Code, rep.Msg, c.code, c.msg)
		}
	}
}

// The whole life of an account, over real HTTP, the way the old app
// drives it.
func TestFullFlow(t *testing.T) {
	e := newEnv(t, Options{})
	const phone = "13800002001"

	hasReply(t, e.get(t, "/isregister/"+phone), 200, 200, "手机号未注册")
	r := e.postForm(t, "/sendsms/"+phone, "expect=0")
	if want := "{\n  \"code\": \"200\", \n  \"msg\": \"\\u53d1\\u9001\\u6210\\u529f\"\n}"; r.raw != want {
		t.Fatalf("sendsms = %q, want %q", r.raw, want)
	}
	code := e.sms.CodeFor(phone)
	if len(code) != DefaultCodeLength {
		t.Fatalf("code %q, want %d digits", code, DefaultCodeLength)
	}

	r = e.postForm(t, "/register", "phone="+phone+"&name=%E4%BA%8E%E8%BF%9E%E6%9E%97&password=123456&device_identifier=uuid-a&code="+code)
	hasReply(t, r, 200, 200, "注册成功")
	hex32 := `"[0-9a-f]{32}"`
	wantRegister := regexp.MustCompile(`^\{
  "code": 200, 
  "data": \{
    "apply": \{\}, 
    "change_device": false, 
    "enterprise_id": -1, 
    "name": "\\u4e8e\\u8fde\\u6797", 
    "token": ` + hex32 + `, 
    "user_id": ` + hex32 + `
  \}, 
  "msg": "\\u6ce8\\u518c\\u6210\\u529f"
\}$`)
	if !wantRegister.MatchString(r.raw) {
		t.Errorf("register body:\n%s", r.raw)
	}
	userID := r.data()["user_id"]
	if !e.registered(t, phone) {
		t.Fatal("not registered after register")
	}
	hasReply(t, e.get(t, "/isregister/"+phone+"?expect=1"), 200, 200, "手机号已注册")
	hasReply(t, e.get(t, "/isregister/"+phone), 200, -1, "手机号已经被注册")

	// Same device: no change. Another device: change_device is true.
	r = e.get(t, "/login?phone="+phone+"&password=123456&device_identifier=uuid-a")
	hasReply(t, r, 200, 200, "登录成功")
	if d := r.data(); d["change_device"] != false || d["enterprise_id"] != "-1" || d["user_id"] != userID || d["name"] != "于连林" {
		t.Errorf("login data %v", d)
	}
	if _, ok := r.data()["pemissions"]; ok {
		t.Error("login data has pemissions, which no capture has")
	}
	r = e.postForm(t, "/login", "phone="+phone+"&password=123456&device_identifier=uuid-b")
	if r.data()["change_device"] != true {
		t.Errorf("login from another device: change_device %v", r.data()["change_device"])
	}
	token := r.data()["token"].(string)
	if _, _, err := e.svc.Authenticate(t.Context(), token); err != nil {
		t.Errorf("login token does not authenticate: %v", err)
	}

	// Forget password: send (expect=1), verify, then step 2 with no code.
	r = e.get(t, "/sendsms/"+phone+"?expect=1")
	if r.raw != captureSendSMS {
		t.Errorf("sendsms expect=1 = %q, want the capture", r.raw)
	}
	r = e.get(t, "/verify_code?phone="+phone+"&code="+e.sms.CodeFor(phone))
	if r.raw != captureVerifyCode {
		t.Errorf("verify_code = %q, want the capture", r.raw)
	}
	r = e.postForm(t, "/forget_password", "phone="+phone+"&password=654321")
	if r.raw != captureForgetPassword {
		t.Errorf("forget_password = %q, want the capture", r.raw)
	}
	if _, _, err := e.svc.Authenticate(t.Context(), token); core.KindOf(err) != core.Unauthorized {
		t.Errorf("old token after reset: %v, want unauthorized", err)
	}
	// The verification served once.
	hasReply(t, e.postForm(t, "/forget_password", "phone="+phone+"&password=999999"), 200, -1, "请先验证验证码")

	hasReply(t, e.get(t, "/login?phone="+phone+"&password=123456&device_identifier=uuid-b"), 200, -1, "手机号或密码错误")
	hasReply(t, e.get(t, "/login?phone="+phone+"&password=654321&device_identifier=uuid-b"), 200, 200, "登录成功")
}

// Each source the old server read (query, form) and the JSON body the
// gateway adds decode to the same request.
func TestDecoding(t *testing.T) {
	e := newEnv(t, Options{})
	const phone = "13800002011"
	e.register(t, phone, "secret1", "dev")
	cases := []struct {
		name, method, path, ct, body string
	}{
		{"query GET", "GET", "/login?phone=" + phone + "&password=secret1&device_identifier=dev", "", ""},
		{"query POST", "POST", "/login?phone=" + phone + "&password=secret1&device_identifier=dev", "", ""},
		{"form", "POST", "/login", "application/x-www-form-urlencoded", "phone=" + phone + "&password=secret1&device_identifier=dev"},
		{"form charset", "POST", "/login", "application/x-www-form-urlencoded; charset=UTF-8", "phone=" + phone + "&password=secret1"},
		{"query and form", "POST", "/login?phone=" + phone, "application/x-www-form-urlencoded", "password=secret1&device_identifier=dev"},
		{"same value twice", "POST", "/login?phone=" + phone, "application/x-www-form-urlencoded", "phone=" + phone + "&password=secret1"},
		{"json", "POST", "/login", "application/json", `{"phone": "` + phone + `", "password": "secret1", "device_identifier": "dev"}`},
		{"json trailing comma", "POST", "/login", "application/json", `{"phone": "` + phone + `", "password": "secret1", }`},
		{"unknown fields ignored", "POST", "/login", "application/json", `{"phone": "` + phone + `", "password": "secret1", "pemissions": "x"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hasReply(t, e.do(t, c.method, c.path, c.ct, c.body), 200, 200, "登录成功")
		})
	}
	t.Run("path phone", func(t *testing.T) {
		hasReply(t, e.get(t, "/isregister/"+phone+"?expect=1"), 200, 200, "手机号已注册")
		hasReply(t, e.do(t, "POST", "/sendsms/"+phone, "application/json", `{"expect": "1"}`), 200, 200, "发送成功")
	})
	t.Run("GET ignores a body", func(t *testing.T) {
		r := e.do(t, "GET", "/login?phone="+phone+"&password=secret1", "application/x-www-form-urlencoded", "password=wrong")
		hasReply(t, r, 200, 200, "登录成功")
	})
}

// Bad input gets a -3 reply naming the problem, and stores nothing.
func TestBadInput(t *testing.T) {
	e := newEnv(t, Options{})
	const form = "application/x-www-form-urlencoded"
	cases := []struct {
		name, method, path, ct, body string
		status                       int
		msg                          string
	}{
		{"missing code", "POST", "/register", form, "phone=P&name=n&password=123456&device_identifier=d", 200, "验证码为必填字段"},
		{"missing name", "POST", "/register", form, "phone=P&password=123456&device_identifier=d&code=C", 200, "姓名为必填字段"},
		{"missing device", "POST", "/register", form, "phone=P&name=n&password=123456&code=C", 200, "设备标识为必填字段"},
		{"missing phone", "POST", "/register", form, "name=n&password=123456&device_identifier=d&code=C", 200, "手机号为必填字段"},
		{"bad phone", "POST", "/register", form, "phone=2P&name=n&password=123456&device_identifier=d&code=C", 200, "手机号必须是1开头的11位手机号"},
		{"short password", "POST", "/register", form, "phone=P&name=n&password=12345&device_identifier=d&code=C", 200, "密码长度必须至少为6个字符"},
		{"long password", "POST", "/register", form, "phone=P&name=n&password=123456789012345&device_identifier=d&code=C", 200, "密码长度不能超过14个字符"},
		{"malformed json", "POST", "/register", "application/json", `{"phone": "P"`, 400, "JSON格式错误"},
		{"malformed form", "POST", "/register", form, "phone=%zz", 400, "表单格式错误"},
		{"wrong content type", "POST", "/register", "text/plain", "phone=P&name=n&password=123456&device_identifier=d&code=C", 415, "不支持的请求内容类型"},
		{"number for a string", "POST", "/register", "application/json", `{"phone": 1P, "name": "n", "password": "123456", "device_identifier": "d", "code": "C"}`, 400, "参数phone必须是字符串"},
		{"repeated phone", "POST", "/register?phone=P", form, "phone=13800002999&name=n&password=123456&device_identifier=d&code=C", 400, "参数phone重复且取值不同"},
		{"repeated password", "GET", "/register?phone=P&name=n&password=123456&password=654321&device_identifier=d&code=C", "", "", 400, "参数password重复且取值不同"},
		{"control character", "GET", "/register?phone=P&name=a%00b&password=123456&device_identifier=d&code=C", "", "", 400, "请求参数含有非法字符"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			phone := "138000021" + string(rune('0'+i/10)) + string(rune('0'+i%10))
			// A valid code is pending, so only the bad input can fail the request.
			hasReply(t, e.get(t, "/sendsms/"+phone), 200, 200, "发送成功")
			code := e.sms.CodeFor(phone)
			repl := strings.NewReplacer("2P", "2"+phone[1:], "1P", phone[1:], "P", phone, "C", code)
			r := e.do(t, c.method, repl.Replace(c.path), c.ct, repl.Replace(c.body))
			hasReply(t, r, c.status, codeInvalid, c.msg)
			if r.body["data"] != "" {
				t.Errorf("data = %v, want \"\"", r.body["data"])
			}
			if e.registered(t, phone) {
				t.Error("bad input registered the phone")
			}
		})
	}
	t.Run("other endpoints", func(t *testing.T) {
		hasReply(t, e.get(t, "/sendsms/1380000200"), 200, codeInvalid, "手机号必须是1开头的11位手机号")
		hasReply(t, e.get(t, "/sendsms/13800002100?expect=2"), 200, codeInvalid, "expect必须是[0 1]中的一个")
		hasReply(t, e.get(t, "/isregister/abc"), 200, codeInvalid, "手机号必须是1开头的11位手机号")
		hasReply(t, e.get(t, "/login?phone=13800002100"), 200, codeInvalid, "密码为必填字段")
		hasReply(t, e.get(t, "/verify_code?phone=13800002100"), 200, codeInvalid, "验证码为必填字段")
		hasReply(t, e.get(t, "/forget_password?phone=13800002100&password=12345"), 200, codeInvalid, "密码长度必须至少为6个字符")
	})
}

// The documented failure codes of each endpoint, as the core produces them.
func TestOutcomes(t *testing.T) {
	e := newEnv(t, Options{})
	const form = "application/x-www-form-urlencoded"

	t.Run("sendsms", func(t *testing.T) {
		e.register(t, "13800002201", "123456", "d")
		hasReply(t, e.get(t, "/sendsms/13800002201"), 200, -1, "手机号已经被注册")
		hasReply(t, e.get(t, "/sendsms/13800002202?expect=1"), 200, -1, "手机号未注册")
		if r := e.get(t, "/sendsms/13800002202?expect=1"); r.body["data"] != "" {
			t.Errorf("failed sendsms carries data %v, want \"\"", r.body["data"])
		}
		e.sms.Fail(errors.New("sms gateway down"))
		hasReply(t, e.get(t, "/sendsms/13800002203"), 200, codeSMSFailed, "短信发送失败，请稍后再试")
		e.sms.Fail(nil)
	})
	t.Run("register", func(t *testing.T) {
		regForm := func(phone, code string) string {
			return "phone=" + phone + "&name=n&password=123456&device_identifier=d&code=" + code
		}
		e.register(t, "13800002211", "123456", "d")
		hasReply(t, e.postForm(t, "/register", regForm("13800002211", "123456")), 200, -1, "手机号已经被注册")

		e.get(t, "/sendsms/13800002212")
		code := e.sms.CodeFor("13800002212")
		hasReply(t, e.postForm(t, "/register", regForm("13800002212", wrong(code))), 200, -2, "验证码错误")
		hasReply(t, e.postForm(t, "/register", regForm("13800002212", code)), 200, 200, "注册成功")

		e.get(t, "/sendsms/13800002213")
		code = e.sms.CodeFor("13800002213")
		e.clock.Advance(5*time.Minute + time.Second)
		hasReply(t, e.postForm(t, "/register", regForm("13800002213", code)), 200, -2, "验证码已过期")

		e.get(t, "/sendsms/13800002214")
		code = e.sms.CodeFor("13800002214")
		for range 4 {
			hasReply(t, e.postForm(t, "/register", regForm("13800002214", wrong(code))), 200, -2, "验证码错误")
		}
		hasReply(t, e.postForm(t, "/register", regForm("13800002214", wrong(code))), 200, -2, "验证码错误次数过多，请重新获取")
		hasReply(t, e.postForm(t, "/register", regForm("13800002214", code)), 200, -2, "验证码错误次数过多，请重新获取")
		if e.registered(t, "13800002214") {
			t.Error("a burned code registered the phone")
		}

		// A reset code does not register.
		e.register(t, "13800002215", "123456", "d")
		e.get(t, "/sendsms/13800002215?expect=1")
		hasReply(t, e.postForm(t, "/register", regForm("13800002216", e.sms.CodeFor("13800002215"))), 200, -2, "验证码错误")
	})
	t.Run("login does not tell which part is wrong", func(t *testing.T) {
		e.register(t, "13800002221", "123456", "d")
		unknown := e.postForm(t, "/login", "phone=13800002222&password=123456&device_identifier=d")
		wrongPw := e.postForm(t, "/login", "phone=13800002221&password=1234567&device_identifier=d")
		hasReply(t, unknown, 200, -1, "手机号或密码错误")
		if unknown.raw != wrongPw.raw {
			t.Errorf("unknown phone %q and wrong password %q answer differently", unknown.raw, wrongPw.raw)
		}
		// A password set elsewhere (another dialect, /v1) may be shorter than 6.
		hasReply(t, e.postForm(t, "/login", "phone=13800002221&password=1"), 200, -1, "手机号或密码错误")
	})
	t.Run("verify_code", func(t *testing.T) {
		e.register(t, "13800002231", "123456", "d")
		e.get(t, "/sendsms/13800002231?expect=1")
		code := e.sms.CodeFor("13800002231")
		hasReply(t, e.get(t, "/verify_code?phone=13800002231&code="+wrong(code)), 200, -1, "验证码错误")
		e.clock.Advance(6 * time.Minute)
		hasReply(t, e.get(t, "/verify_code?phone=13800002231&code="+code), 200, -1, "验证码已过期")

		e.get(t, "/sendsms/13800002231?expect=1")
		code = e.sms.CodeFor("13800002231")
		for range 4 {
			e.get(t, "/verify_code?phone=13800002231&code="+wrong(code))
		}
		hasReply(t, e.get(t, "/verify_code?phone=13800002231&code="+wrong(code)), 200, -1, "验证码错误次数过多，请重新获取")

		// No code was sent at all; a sign-up code is not a reset code.
		hasReply(t, e.get(t, "/verify_code?phone=13800002232&code=123456"), 200, -1, "验证码错误")
		e.get(t, "/sendsms/13800002233")
		hasReply(t, e.get(t, "/verify_code?phone=13800002233&code="+e.sms.CodeFor("13800002233")), 200, -1, "验证码错误")
	})
	t.Run("forget_password", func(t *testing.T) {
		e.register(t, "13800002241", "123456", "d")
		// Step 2 alone, as the old server allowed: refused.
		hasReply(t, e.get(t, "/forget_password?phone=13800002241&password=654321"), 200, -1, "请先验证验证码")
		// A verification of another phone does not help.
		e.register(t, "13800002242", "123456", "d")
		e.get(t, "/sendsms/13800002242?expect=1")
		hasReply(t, e.get(t, "/verify_code?phone=13800002242&code="+e.sms.CodeFor("13800002242")), 200, 200, "验证码正确")
		hasReply(t, e.get(t, "/forget_password?phone=13800002241&password=654321"), 200, -1, "请先验证验证码")
		// The window closes (core.Config.TicketTTL, 10 minutes by default).
		e.clock.Advance(11 * time.Minute)
		hasReply(t, e.get(t, "/forget_password?phone=13800002242&password=654321"), 200, -1, "请先验证验证码")
		hasReply(t, e.get(t, "/forget_password?phone=13800002243&password=654321"), 200, -1, "手机号未注册")
		hasReply(t, e.get(t, "/login?phone=13800002241&password=123456"), 200, 200, "登录成功")
	})
}

// wrong returns a code that differs from code.
func wrong(code string) string {
	if strings.HasPrefix(code, "0") {
		return "1" + code[1:]
	}
	return "0" + code[1:]
}

func TestMethods(t *testing.T) {
	e := newEnv(t, Options{})
	const msg = "不支持的请求方法"
	hasReply(t, e.postForm(t, "/verify_code", "phone=13800002301&code=123456"), 405, codeInvalid, msg)
	hasReply(t, e.postForm(t, "/isregister/13800002301", ""), 405, codeInvalid, msg)
	hasReply(t, e.do(t, "PUT", "/login", "", ""), 405, codeInvalid, msg)
	hasReply(t, e.do(t, "DELETE", "/sendsms/13800002301", "", ""), 405, codeInvalid, msg)

	e = newEnv(t, Options{VerifyCodePOST: true})
	hasReply(t, e.postForm(t, "/verify_code", "phone=13800002301&code=123456"), 200, -1, "验证码错误")
}

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t, Options{})
	big := "phone=13800002311&name=" + strings.Repeat("x", 70<<10)
	hasReply(t, e.postForm(t, "/login", big), 413, codeInvalid, "请求内容过大")
}

func TestRateLimitedCarriesRetryAfter(t *testing.T) {
	d := New(nil, Options{})
	limited := &core.Error{Op: "limit", Kind: core.RateLimited, RetryAfter: 1500 * time.Millisecond}
	for name, write := range map[string]func(http.ResponseWriter, *http.Request){
		"reject":  func(w http.ResponseWriter, r *http.Request) { d.Reject(w, r, http.StatusTooManyRequests, limited) },
		"handler": func(w http.ResponseWriter, r *http.Request) { fail(w, r, opSendSMS, limited) },
	} {
		t.Run(name, func(t *testing.T) {
			w := httptest.NewRecorder()
			write(w, httptest.NewRequest("GET", "/api/v4.0/sendsms/13800002321", nil))
			if got := w.Header().Get("Retry-After"); got != "2" {
				t.Errorf("Retry-After %q, want 2", got)
			}
			want := "{\n  \"code\": -4, \n  \"data\": \"\", \n  \"msg\": \"\\u8bf7\\u6c42\\u8fc7\\u4e8e\\u9891\\u7e41\\uff0c\\u8bf7\\u7a0d\\u540e\\u518d\\u8bd5\"\n}"
			if w.Body.String() != want {
				t.Errorf("body %q, want %q", w.Body.String(), want)
			}
		})
	}
}

// Flask 0.10's jsonify printed on one line for XMLHttpRequest callers.
func TestXHRIsCompact(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.do(t, "GET", "/isregister/13800002331", "", "", "X-Requested-With", "XMLHttpRequest")
	if want := `{"code": 200, "data": "", "msg": "\u624b\u673a\u53f7\u672a\u6ce8\u518c"}`; r.raw != want {
		t.Errorf("XHR reply %q, want %q", r.raw, want)
	}
}

func TestCodeLength(t *testing.T) {
	e := newEnv(t, Options{CodeLength: 4})
	e.get(t, "/sendsms/13800002341")
	if code := e.sms.CodeFor("13800002341"); !regexp.MustCompile(`^\d{4}$`).MatchString(code) {
		t.Errorf("code %q, want 4 digits", code)
	}
}

func TestClaims(t *testing.T) {
	d := New(nil, Options{})
	for fields, want := range map[string]bool{
		"phone,password":                   true,
		"phone,password,device_identifier": true,
		"expect":                           true,
		"mobile,password":                  false,
		"userId,password":                  false,
		"code_v,code":                      false,
		"":                                 false,
	} {
		m := map[string]bool{}
		for _, f := range strings.Split(fields, ",") {
			if f != "" {
				m[f] = true
			}
		}
		if got := d.Claims(m); got != want {
			t.Errorf("Claims(%s) = %v, want %v", fields, got, want)
		}
	}
}

// The request log names the operation, the outcome and the masked phone,
// and never a password, a code or a token.
func TestLogLine(t *testing.T) {
	e := newEnv(t, Options{})
	const phone = "13800002351"
	r := e.register(t, phone, "pw-secret-1", "dev")
	token := r.data()["token"].(string)
	code := e.sms.CodeFor(phone)
	e.get(t, "/login?phone="+phone+"&password=pw-secret-2")
	e.get(t, "/login?phone=pw-secret-3&password=123456")
	logs := e.logs.String()
	for _, want := range []string{
		"op=register outcome=ok status=200 phone=138****2351",
		"op=login outcome=wrong_password status=200 phone=138****2351",
		`op=login outcome=invalid status=200 phone=""`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log has no %q:\n%s", want, logs)
		}
	}
	// A code would be logged as a value: "=123456 " (digits alone may occur
	// in latencies by chance).
	for _, secret := range []string{"pw-secret", "cret-3", "=" + code + " ", "=" + code + "\n", token} {
		if strings.Contains(logs, secret) {
			t.Errorf("log shows %q:\n%s", secret, logs)
		}
	}
}
