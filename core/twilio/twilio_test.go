package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"legacyauth/core"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "f00dfeedcafebabe0123456789abcdef"
	testFrom  = "+15005550006"
	testSvc   = "MG0123456789abcdef0123456789abcdef"
	testPhone = "+8613812345678"
	testCode  = "482913"
)

func itoa(n int) string { return strconv.Itoa(n) }

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func testConfig(endpoint string) Config {
	return Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, Endpoint: endpoint, Timeout: 2 * time.Second}
}

func mustNew(t *testing.T, cfg Config) *Sender {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func sms() core.SMS {
	return core.SMS{Phone: testPhone, Code: testCode, Purpose: "register", Dialect: "carmall"}
}

// assertClean fails if an error text holds a secret, the code or the
// unmasked phone.
func assertClean(t *testing.T, err error) {
	t.Helper()
	text := err.Error()
	for what, s := range map[string]string{"token": testToken, "code": testCode, "phone": testPhone, "local phone": "13812345678"} {
		if strings.Contains(text, s) {
			t.Errorf("error text holds the %s: %q", what, text)
		}
	}
	if fmt.Sprintf("%+v", err) != text && strings.Contains(fmt.Sprintf("%+v", err), testToken) {
		t.Errorf("formatted error holds the token")
	}
}

func kindOfErr(t *testing.T, err error) core.Kind {
	t.Helper()
	var ce *core.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %T %v is not a *core.Error", err, err)
	}
	if ce.Op != "twilio.Send" {
		t.Errorf("Op = %q", ce.Op)
	}
	return ce.Kind
}

func TestSendReachesFakeWithFrom(t *testing.T) {
	f := newFake(t, testSID, testToken)
	s := mustNew(t, testConfig(f.srv.URL))
	if s.Name() != "twilio" {
		t.Errorf("Name = %q", s.Name())
	}
	if err := s.Send(context.Background(), sms()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := f.requests()
	if len(got) != 1 {
		t.Fatalf("fake got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.Path != "/2010-04-01/Accounts/"+testSID+"/Messages.json" {
		t.Errorf("path %q", r.Path)
	}
	if r.Form["To"] != testPhone || r.Form["From"] != testFrom {
		t.Errorf("To/From = %q/%q", r.Form["To"], r.Form["From"])
	}
	if want := "Your verification code is 482913. It expires in 5 minutes."; r.Form["Body"] != want {
		t.Errorf("Body = %q, want %q", r.Form["Body"], want)
	}
	sort.Strings(r.Fields)
	if strings.Join(r.Fields, ",") != "Body,From,To" {
		t.Errorf("fields sent: %v", r.Fields)
	}
	if !strings.HasPrefix(r.UserAgent, "twilio-go/") {
		t.Errorf("User-Agent %q: not the SDK", r.UserAgent)
	}
	if f.authFailures() != 0 {
		t.Errorf("fake refused the credentials")
	}
}

func TestSendWithMessagingService(t *testing.T) {
	f := newFake(t, testSID, testToken)
	cfg := testConfig(f.srv.URL)
	cfg.From, cfg.MessagingServiceSID = "", testSvc
	if err := mustNew(t, cfg).Send(context.Background(), sms()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := f.requests()[0]
	if r.Form["MessagingServiceSid"] != testSvc {
		t.Errorf("MessagingServiceSid = %q", r.Form["MessagingServiceSid"])
	}
	if _, ok := r.Form["From"]; ok {
		t.Errorf("From sent with a messaging service")
	}
}

// The fake's check can fail: a wrong token is refused, and the send fails
// over (SMSFailed) without the token or the code in the error.
func TestWrongTokenFailsFakeAuth(t *testing.T) {
	f := newFake(t, testSID, testToken)
	cfg := testConfig(f.srv.URL)
	cfg.AuthToken = "0000000000wrongtoken000000000000"
	err := mustNew(t, cfg).Send(context.Background(), sms())
	if err == nil {
		t.Fatal("a wrong token was accepted")
	}
	if f.authFailures() != 1 || len(f.requests()) != 0 {
		t.Errorf("fake: %d auth failures, %d accepted requests", f.authFailures(), len(f.requests()))
	}
	if k := kindOfErr(t, err); k != core.SMSFailed {
		t.Errorf("kind %v, want sms_failed", k)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 20003 || ae.Status != 401 {
		t.Errorf("APIError = %+v", ae)
	}
	assertClean(t, err)
	if strings.Contains(err.Error(), cfg.AuthToken) {
		t.Errorf("error holds the wrong token: %v", err)
	}
}

// Every documented error reply maps to its kind. The reply quotes the
// phone and the code, as Twilio's texts quote the To number, to show they
// are cleaned out.
func TestErrorRepliesMapToKinds(t *testing.T) {
	f := newFake(t, testSID, testToken)
	s := mustNew(t, testConfig(f.srv.URL))
	for code, ci := range errorCodes {
		status := 400
		switch code {
		case 20429:
			status = 429
		case 20003:
			status = 401
		}
		t.Run(itoa(code), func(t *testing.T) {
			f.setReply(fakeReply{Status: status, Body: `{"code":` + itoa(code) + `,"message":"The 'To' number ` + testPhone +
				` (86 13812345678) refused body containing ` + testCode + `","more_info":"https://www.twilio.com/docs/errors/` + itoa(code) + `","status":` + itoa(status) + `}`})
			err := s.Send(context.Background(), sms())
			if err == nil {
				t.Fatal("no error")
			}
			if k := kindOfErr(t, err); k != ci.Kind {
				t.Errorf("kind %v, want %v", k, ci.Kind)
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != code || ae.Status != status {
				t.Errorf("APIError = %+v", ae)
			}
			if got := core.RetryAfterOf(err); (ci.Kind == core.RateLimited) != (got > 0) {
				t.Errorf("RetryAfter = %v for kind %v", got, ci.Kind)
			}
			if ci.Kind == core.Invalid && !strings.Contains(err.Error(), core.MaskPhone(testPhone)) {
				t.Errorf("invalid-number error does not name the masked phone: %v", err)
			}
			assertClean(t, err)
		})
	}
}

func TestRateLimitedRetryAfter(t *testing.T) {
	f := newFake(t, testSID, testToken)
	f.setReply(fakeReply{Status: 400, Body: `{"code":14107,"message":"SMS send rate limit exceeded","status":400}`})
	err := mustNew(t, testConfig(f.srv.URL)).Send(context.Background(), sms())
	if core.KindOf(err) != core.RateLimited || core.RetryAfterOf(err) != time.Minute {
		t.Errorf("got %v, RetryAfter %v", err, core.RetryAfterOf(err))
	}
}

func TestUnknownCodeAndServerErrorsFailOver(t *testing.T) {
	f := newFake(t, testSID, testToken)
	s := mustNew(t, testConfig(f.srv.URL))
	for _, c := range []struct {
		name  string
		reply fakeReply
	}{
		{"unknown code", fakeReply{Status: 400, Body: `{"code":99999,"message":"something new","status":400}`}},
		{"500 JSON", fakeReply{Status: 500, Body: `{"code":20500,"message":"Internal Server Error","status":500}`}},
		// A 5xx wins over a code that would otherwise mean Invalid.
		{"503 with an invalid-number code", fakeReply{Status: 503, Body: `{"code":21211,"message":"x","status":503}`}},
		{"502 HTML", fakeReply{Status: 502, Body: `<html>Bad Gateway</html>`}},
		{"201 unreadable", fakeReply{Status: 201, Body: `not json`}},
		{"201 without sid", fakeReply{Status: 201, Body: `{"status":"queued"}`}},
		{"302 redirect", fakeReply{Status: 302, Body: `{}`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f.setReply(c.reply)
			err := s.Send(context.Background(), sms())
			if err == nil {
				t.Fatal("no error")
			}
			if k := kindOfErr(t, err); k != core.SMSFailed {
				t.Errorf("kind %v, want sms_failed: %v", k, err)
			}
			assertClean(t, err)
		})
	}
}

// A 201 whose resource already says failed carries its error code.
func TestCreatedButFailed(t *testing.T) {
	f := newFake(t, testSID, testToken)
	f.setReply(fakeReply{Status: 201, Body: `{"sid":"SM0123456789abcdef0123456789abcdef","status":"failed","error_code":21614,"error_message":"To ` + testPhone + ` is not a mobile number"}`})
	err := mustNew(t, testConfig(f.srv.URL)).Send(context.Background(), sms())
	if core.KindOf(err) != core.Invalid {
		t.Fatalf("got %v, want invalid", err)
	}
	assertClean(t, err)
}

func TestTimeout(t *testing.T) {
	f := newFake(t, testSID, testToken)
	f.setReply(fakeReply{Delay: 5 * time.Second})
	cfg := testConfig(f.srv.URL)
	cfg.Timeout = 150 * time.Millisecond
	start := time.Now()
	err := mustNew(t, cfg).Send(context.Background(), sms())
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("send took %v with a 150ms timeout", took)
	}
	if len(f.requests()) != 1 {
		t.Fatalf("the fake did not get the request")
	}
	if k := kindOfErr(t, err); k != core.SMSFailed {
		t.Errorf("kind %v, want sms_failed", k)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no reply within 150ms") {
		t.Errorf("error %v", err)
	}
	assertClean(t, err)
}

// The caller's own deadline or cancellation reaches the request, which
// the SDK alone would not do (it builds requests with Background).
func TestCallerCancel(t *testing.T) {
	f := newFake(t, testSID, testToken)
	f.setReply(fakeReply{Delay: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := mustNew(t, testConfig(f.srv.URL)).Send(ctx, sms())
	if time.Since(start) > 2*time.Second || core.KindOf(err) != core.SMSFailed || !errors.Is(err, context.Canceled) {
		t.Errorf("after %v: %v", time.Since(start), err)
	}
}

func TestConnectionRefused(t *testing.T) {
	f := newFake(t, testSID, testToken)
	url := f.srv.URL
	f.srv.Close()
	err := mustNew(t, testConfig(url)).Send(context.Background(), sms())
	if core.KindOf(err) != core.SMSFailed {
		t.Errorf("got %v", err)
	}
	assertClean(t, err)
}

func TestPerPurposeTemplates(t *testing.T) {
	f := newFake(t, testSID, testToken)
	cfg := testConfig(f.srv.URL)
	cfg.Template = "Code {code} (default)"
	cfg.Templates = map[string]string{"register": "Welcome! Your sign-up code is {code}.", "reset": "Password reset code: {code}"}
	s := mustNew(t, cfg)
	want := map[string]string{
		"register": "Welcome! Your sign-up code is 482913.",
		"reset":    "Password reset code: 482913",
		"any":      "Code 482913 (default)",
		"":         "Code 482913 (default)",
	}
	for purpose, body := range want {
		m := sms()
		m.Purpose = purpose
		if err := s.Send(context.Background(), m); err != nil {
			t.Fatalf("%q: %v", purpose, err)
		}
		got := f.requests()
		if b := got[len(got)-1].Form["Body"]; b != body {
			t.Errorf("purpose %q: Body %q, want %q", purpose, b, body)
		}
	}
}

func TestInvalidPhoneNotSent(t *testing.T) {
	f := newFake(t, testSID, testToken)
	m := sms()
	m.Phone = "13812345678"
	err := mustNew(t, testConfig(f.srv.URL)).Send(context.Background(), m)
	if core.KindOf(err) != core.Invalid || len(f.requests()) != 0 {
		t.Errorf("got %v, %d requests", err, len(f.requests()))
	}
	assertClean(t, err)
}

func TestConcurrentSends(t *testing.T) {
	f := newFake(t, testSID, testToken)
	s := mustNew(t, testConfig(f.srv.URL))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			m := sms()
			m.Phone = fmt.Sprintf("+861381234%04d", i)
			if err := s.Send(context.Background(), m); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if n := len(f.requests()); n != 8 {
		t.Errorf("fake got %d sends, want 8", n)
	}
}

// roundTripFunc records where the default endpoint would send, without a
// network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// With no Endpoint the SDK's host is used, and TWILIO_EDGE/TWILIO_REGION
// (read by the SDK from the environment) do not move it.
func TestDefaultEndpointIgnoresSDKEnvironment(t *testing.T) {
	t.Setenv("TWILIO_EDGE", "sydney")
	t.Setenv("TWILIO_REGION", "au1")
	s := mustNew(t, testConfig(""))
	var got string
	s.transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r.URL.String()
		if _, ok := r.Context().Deadline(); !ok {
			t.Errorf("request without the send's deadline")
		}
		return &http.Response{StatusCode: 201, Body: io.NopCloser(strings.NewReader(`{"sid":"SMx","status":"queued"}`)), Header: http.Header{}, Request: r}, nil
	})
	if err := s.Send(context.Background(), sms()); err != nil {
		t.Fatal(err)
	}
	if want := "https://api.twilio.com/2010-04-01/Accounts/" + testSID + "/Messages.json"; got != want {
		t.Errorf("sent to %q, want %q", got, want)
	}
}

func TestEndpointPathPrefix(t *testing.T) {
	s := mustNew(t, testConfig("https://twilio-proxy.internal/prefix/"))
	var got string
	s.transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r.URL.String()
		return &http.Response{StatusCode: 201, Body: io.NopCloser(strings.NewReader(`{"sid":"SMx"}`)), Header: http.Header{}, Request: r}, nil
	})
	if err := s.Send(context.Background(), sms()); err != nil {
		t.Fatal(err)
	}
	if want := "https://twilio-proxy.internal/prefix/2010-04-01/Accounts/" + testSID + "/Messages.json"; got != want {
		t.Errorf("sent to %q, want %q", got, want)
	}
}

func TestNewValidates(t *testing.T) {
	ok := testConfig("")
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string // in the error
	}{
		{"no sid", func(c *Config) { c.AccountSID = "" }, "account SID is required"},
		{"bad sid", func(c *Config) { c.AccountSID = "SK0123456789abcdef0123456789abcdef" }, "account SID must be"},
		{"no token", func(c *Config) { c.AuthToken = "" }, "auth token is required"},
		{"bad token", func(c *Config) { c.AuthToken = testToken + "!" }, "letters and digits"},
		{"no sender", func(c *Config) { c.From = "" }, "From sender or a messaging service"},
		{"both senders", func(c *Config) { c.MessagingServiceSID = testSvc }, "not both"},
		{"bad from", func(c *Config) { c.From = "+1 (500) 555-0006" }, "From must be"},
		{"alnum from too long", func(c *Config) { c.From = "LegacyAuthGW" }, "From must be"},
		{"bad service", func(c *Config) { c.From, c.MessagingServiceSID = "", "MG123" }, "MG followed"},
		{"endpoint scheme", func(c *Config) { c.Endpoint = "ftp://api.twilio.com" }, "http or https"},
		{"endpoint user", func(c *Config) { c.Endpoint = "https://" + testSID + ":" + testToken + "@api.twilio.com" }, "must not hold credentials"},
		{"endpoint query", func(c *Config) { c.Endpoint = "https://api.twilio.com/?x=1" }, "query"},
		{"endpoint http remote", func(c *Config) { c.Endpoint = "http://api.twilio.com" }, "loopback"},
		{"endpoint garbage", func(c *Config) { c.Endpoint = "https://%zz" }, "not a valid URL"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout"},
		{"template without code", func(c *Config) { c.Template = "Your code is ready" }, "{code}"},
		{"purpose template without code", func(c *Config) { c.Templates = map[string]string{"reset": "Reset now"} }, "reset template must contain {code}"},
		{"unknown purpose", func(c *Config) { c.Templates = map[string]string{"login": "{code}"} }, "unknown purpose"},
		{"template too long", func(c *Config) { c.Template = strings.Repeat("x", 160) + "{code}" }, "more than one SMS segment"},
		{"unicode template too long", func(c *Config) { c.Template = strings.Repeat("验", 63) + "{code}" }, "(70)"},
		{"control char", func(c *Config) { c.Template = "code\t{code}" }, "control character"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.edit(&cfg)
			_, err := New(cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want %q in it", err, c.want)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error holds the token: %q", err)
			}
		})
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
	}{
		{"default", func(*Config) {}},
		{"short code", func(c *Config) { c.From = "12345" }},
		{"alphanumeric", func(c *Config) { c.From = "LegacyAuth" }},
		{"service", func(c *Config) { c.From, c.MessagingServiceSID = "", testSvc }},
		{"bare host", func(c *Config) { c.Endpoint = "api.dublin.ie1.twilio.com" }},
		{"loopback http", func(c *Config) { c.Endpoint = "http://127.0.0.1:8080" }},
		{"localhost http", func(c *Config) { c.Endpoint = "http://localhost:8080/" }},
		{"chinese template", func(c *Config) {
			c.Templates = map[string]string{"any": "您的验证码是{code},5分钟内有效。"}
		}},
	} {
		t.Run("ok "+c.name, func(t *testing.T) {
			cfg := ok
			c.edit(&cfg)
			if _, err := New(cfg); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}

func TestConfigStringHidesToken(t *testing.T) {
	cfg := testConfig("")
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", &cfg)} {
		if strings.Contains(s, testToken) {
			t.Errorf("formatted Config holds the token: %s", s)
		}
	}
}
