package aliyun

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"legacyauth/core"
)

const (
	testKeyID  = "LTAI5tTestKeyId0000"
	testSecret = "s3cretAccessKeySecretValue42"
	testSign   = "阿里云短信测试" // a non-ASCII sign name exercises the query encoding
	testTmpl   = "SMS_154950909"
	testPhone  = "+8613812345678"
	testLocal  = "13812345678"
	testCode   = "482916"
)

func testSMS() core.SMS {
	return core.SMS{Phone: testPhone, Code: testCode, Purpose: "register", Dialect: "test"}
}

func newSender(t *testing.T, endpoint, secret string, timeout time.Duration) *Sender {
	t.Helper()
	s, err := New(Config{
		AccessKeyID:     testKeyID,
		AccessKeySecret: secret,
		SignName:        testSign,
		TemplateCode:    testTmpl,
		Endpoint:        endpoint,
		Timeout:         timeout,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// assertClean fails if an error text holds a secret, the code, an unmasked
// phone or the request signature.
func assertClean(t *testing.T, err error, sig string) {
	t.Helper()
	if err == nil {
		return
	}
	text := err.Error()
	for _, bad := range []string{testSecret, "wrong" + testSecret, testCode, testLocal, testPhone} {
		if strings.Contains(text, bad) {
			t.Errorf("error text holds %q: %s", bad, text)
		}
	}
	if sig != "" && strings.Contains(text, sig) {
		t.Errorf("error text holds the signature: %s", text)
	}
}

func kindIs(t *testing.T, err error, want core.Kind) *core.Error {
	t.Helper()
	var ce *core.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *core.Error", err, err)
	}
	if ce.Kind != want {
		t.Fatalf("kind = %v, want %v (%v)", ce.Kind, want, err)
	}
	if ce.Op != "aliyun.Send" {
		t.Errorf("op = %q", ce.Op)
	}
	return ce
}

func TestSendReachesProviderSigned(t *testing.T) {
	f := newFake(t, testKeyID, testSecret)
	s := newSender(t, f.URL(), testSecret, 0)
	if err := s.Send(context.Background(), testSMS()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := f.only()
	if !got.SigOK || got.Failed != "" {
		t.Fatalf("fake: signature ok=%v, failed check %q", got.SigOK, got.Failed)
	}
	if got.Method != "POST" || got.Action != "SendSms" || got.Version != "2017-05-25" {
		t.Errorf("request %s action=%q version=%q", got.Method, got.Action, got.Version)
	}
	if want := strings.TrimPrefix(f.URL(), "http://"); got.Host != want {
		t.Errorf("host %q, want %q", got.Host, want)
	}
	q := got.Query
	if q.Get("PhoneNumbers") != testLocal {
		t.Errorf("PhoneNumbers = %q, want the 11-digit mainland form %q", q.Get("PhoneNumbers"), testLocal)
	}
	if q.Get("SignName") != testSign || q.Get("TemplateCode") != testTmpl {
		t.Errorf("SignName %q TemplateCode %q", q.Get("SignName"), q.Get("TemplateCode"))
	}
	var param map[string]any
	if err := json.Unmarshal([]byte(q.Get("TemplateParam")), &param); err != nil {
		t.Fatalf("TemplateParam %q: %v", q.Get("TemplateParam"), err)
	}
	if len(param) != 1 || param["code"] != testCode {
		t.Errorf("TemplateParam = %v, want exactly {\"code\":%q}", param, testCode)
	}
	for k := range q {
		switch k {
		case "PhoneNumbers", "SignName", "TemplateCode", "TemplateParam":
		default:
			t.Errorf("unexpected query parameter %q", k)
		}
	}
}

func TestSendInternationalPhone(t *testing.T) {
	f := newFake(t, testKeyID, testSecret)
	s := newSender(t, f.URL(), testSecret, 0)
	m := testSMS()
	m.Phone = "+85261234567"
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := f.only().Query.Get("PhoneNumbers"); got != "85261234567" {
		t.Errorf("PhoneNumbers = %q, want country code and number without +", got)
	}
}

// The fake's check can fail: a sender with another secret is refused, and
// the failure is SMSFailed (the next provider is tried).
func TestWrongSecretFailsSignature(t *testing.T) {
	f := newFake(t, testKeyID, testSecret)
	s := newSender(t, f.URL(), "wrong"+testSecret, 0)
	err := s.Send(context.Background(), testSMS())
	got := f.only()
	if got.SigOK || got.Failed != "SignatureDoesNotMatch" {
		t.Fatalf("fake: signature ok=%v, failed %q; want a signature mismatch", got.SigOK, got.Failed)
	}
	ce := kindIs(t, err, core.SMSFailed)
	if !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Errorf("error does not name the code: %v", err)
	}
	if !strings.Contains(ce.Msg, "138****5678") {
		t.Errorf("Msg %q does not show the masked phone", ce.Msg)
	}
	assertClean(t, err, got.Signature)
}

func TestWrongKeyID(t *testing.T) {
	f := newFake(t, "LTAIsomeoneElse", testSecret)
	s := newSender(t, f.URL(), testSecret, 0)
	err := s.Send(context.Background(), testSMS())
	if f.only().Failed != "InvalidAccessKeyId.NotFound" {
		t.Fatalf("fake failed %q", f.only().Failed)
	}
	kindIs(t, err, core.SMSFailed)
	assertClean(t, err, "")
}

// Each documented error code, as the provider sends it, gives its kind.
func TestSendErrorReplies(t *testing.T) {
	f := newFake(t, testKeyID, testSecret)
	s := newSender(t, f.URL(), testSecret, 0)
	for _, c := range documentedCodes {
		t.Run(c.code, func(t *testing.T) {
			// Business errors (isv., isp.) come in a 200 reply; OpenAPI
			// errors with their HTTP status.
			body, _ := json.Marshal(map[string]string{
				"Code": c.code, "Message": c.message, "RequestId": fakeRequestID,
			})
			f.setReply(fakeReply{Status: c.status, Body: string(body)})
			before := len(f.requests())
			err := s.Send(context.Background(), testSMS())
			if n := len(f.requests()); n != before+1 || !f.requests()[n-1].SigOK {
				t.Fatalf("the fake did not receive one well-signed request")
			}
			ce := kindIs(t, err, c.kind)
			if !strings.Contains(err.Error(), c.code) {
				t.Errorf("error does not name the code: %v", err)
			}
			if c.kind == core.RateLimited && ce.RetryAfter <= 0 {
				t.Errorf("RateLimited without RetryAfter")
			}
			assertClean(t, err, "")
		})
	}
}

func TestBusinessLimitRetryAfter(t *testing.T) {
	f := newFake(t, testKeyID, testSecret)
	s := newSender(t, f.URL(), testSecret, 0)
	for msg, want := range map[string]time.Duration{
		"触发分钟级流控Permits:1": time.Minute,
		"触发小时级流控Permits:5": time.Hour,
		"触发天级流控Permits:10": 24 * time.Hour,
		"":                 time.Minute,
	} {
		body, _ := json.Marshal(map[string]string{"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": msg, "RequestId": fakeRequestID})
		f.setReply(fakeReply{Body: string(body)})
		err := s.Send(context.Background(), testSMS())
		if ce := kindIs(t, err, core.RateLimited); ce.RetryAfter != want {
			t.Errorf("%q: RetryAfter %v, want %v", msg, ce.RetryAfter, want)
		}
	}
}

func TestServerErrors(t *testing.T) {
	for name, r := range map[string]fakeReply{
		"500 json":       {Status: 500, Body: `{"Code":"InternalError","Message":"The request processing has failed due to some unknown error.","RequestId":"` + fakeRequestID + `"}`},
		"503 no code":    {Status: 503, Body: `{"Message":"busy"}`},
		"502 html":       {Status: 502, Body: "<html>Bad Gateway</html>", ContentType: "text/html"},
		"200 not json":   {Status: 200, Body: "<html>captive portal</html>", ContentType: "text/html"},
		"200 no Code":    {Status: 200, Body: `{"RequestId":"` + fakeRequestID + `"}`},
		"200 empty body": {Status: 200, Body: " "},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, testKeyID, testSecret)
			f.setReply(r)
			s := newSender(t, f.URL(), testSecret, 0)
			err := s.Send(context.Background(), testSMS())
			if !f.only().SigOK {
				t.Fatal("the fake did not receive a well-signed request")
			}
			kindIs(t, err, core.SMSFailed)
			assertClean(t, err, "")
		})
	}
}

// A provider that does not answer within Timeout fails the send, soon.
func TestTimeout(t *testing.T) {
	f := newFake(t, testKeyID, testSecret)
	f.setReply(fakeReply{Delay: 5 * time.Second})
	s := newSender(t, f.URL(), testSecret, 300*time.Millisecond)
	start := time.Now()
	err := s.Send(context.Background(), testSMS())
	took := time.Since(start)
	kindIs(t, err, core.SMSFailed)
	if took > 3*time.Second {
		t.Errorf("Send took %v with a 300ms timeout", took)
	}
	if len(f.requests()) != 1 {
		t.Errorf("fake received %d requests; a time-out must not be retried", len(f.requests()))
	}
	if !strings.Contains(err.Error(), "no reply") {
		t.Errorf("error does not say it timed out: %v", err)
	}
	assertClean(t, err, "")
}

// The caller's deadline ends the wait even when Timeout is longer.
func TestContextDeadline(t *testing.T) {
	f := newFake(t, testKeyID, testSecret)
	f.setReply(fakeReply{Delay: time.Second})
	s := newSender(t, f.URL(), testSecret, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Send(ctx, testSMS())
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("Send took %v with a 200ms deadline", took)
	}
	ce := kindIs(t, err, core.SMSFailed)
	if !errors.Is(ce, context.DeadlineExceeded) {
		t.Errorf("cause %v, want the deadline", ce.Err)
	}
	assertClean(t, err, "")
}

func TestCancelledBeforeSend(t *testing.T) {
	f := newFake(t, testKeyID, testSecret)
	s := newSender(t, f.URL(), testSecret, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	kindIs(t, s.Send(ctx, testSMS()), core.SMSFailed)
	if n := len(f.requests()); n != 0 {
		t.Errorf("a cancelled send reached the provider %d times", n)
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	s := newSender(t, "http://"+addr, testSecret, time.Second)
	err = s.Send(context.Background(), testSMS())
	kindIs(t, err, core.SMSFailed)
	assertClean(t, err, "")
}

// A phone the provider cannot take is Invalid before any request.
func TestBadPhoneNotSent(t *testing.T) {
	f := newFake(t, testKeyID, testSecret)
	s := newSender(t, f.URL(), testSecret, 0)
	for _, p := range []string{"", "13812345678", "+86123", "+86223456789012", "+0123456789", "+86138abc45678"} {
		m := testSMS()
		m.Phone = p
		err := s.Send(context.Background(), m)
		kindIs(t, err, core.Invalid)
		if strings.Contains(err.Error(), testCode) {
			t.Errorf("error holds the code: %v", err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("invalid phones reached the provider %d times", n)
	}
}

func TestName(t *testing.T) {
	if got := newSender(t, "", testSecret, 0).Name(); got != "aliyun" {
		t.Errorf("Name = %q", got)
	}
}

func TestNewEndpoint(t *testing.T) {
	for ep, want := range map[string][2]string{
		"":                                     {"HTTPS", DefaultEndpoint},
		"dysmsapi.aliyuncs.com":                {"HTTPS", "dysmsapi.aliyuncs.com"},
		"dysmsapi.ap-southeast-1.aliyuncs.com": {"HTTPS", "dysmsapi.ap-southeast-1.aliyuncs.com"},
		"http://127.0.0.1:8080":                {"HTTP", "127.0.0.1:8080"},
		"https://sms.internal.example/":        {"HTTPS", "sms.internal.example"},
		"https://[::1]:8443":                   {"HTTPS", "[::1]:8443"},
	} {
		c, err := newSender(t, ep, testSecret, 0).newClient()
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]string{*c.Protocol, *c.Endpoint}; got != want {
			t.Errorf("endpoint %q: protocol and host %v, want %v", ep, got, want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	good := Config{AccessKeyID: testKeyID, AccessKeySecret: testSecret, SignName: testSign, TemplateCode: testTmpl}
	for name, c := range map[string]struct {
		edit func(*Config)
		want string
	}{
		"no key id":        {func(c *Config) { c.AccessKeyID = "" }, "access key id"},
		"no secret":        {func(c *Config) { c.AccessKeySecret = "" }, "access key secret"},
		"no sign name":     {func(c *Config) { c.SignName = "" }, "sign name"},
		"no template":      {func(c *Config) { c.TemplateCode = "" }, "template code"},
		"secret newline":   {func(c *Config) { c.AccessKeySecret = testSecret + "\n" }, "access key secret"},
		"secret space":     {func(c *Config) { c.AccessKeySecret = "s3cret AccessKeySecretValue42" }, "contains spaces"},
		"negative timeout": {func(c *Config) { c.Timeout = -time.Second }, "timeout"},
		"sub-ms timeout":   {func(c *Config) { c.Timeout = time.Microsecond }, "timeout"},
		"ftp endpoint":     {func(c *Config) { c.Endpoint = "ftp://dysmsapi.aliyuncs.com" }, "http or https"},
		"no host":          {func(c *Config) { c.Endpoint = "http://" }, "no host"},
		"path":             {func(c *Config) { c.Endpoint = "https://example.com/sms" }, "no path"},
		"query":            {func(c *Config) { c.Endpoint = "https://example.com?AccessKeySecret=" + testSecret }, "no path"},
		"user info":        {func(c *Config) { c.Endpoint = "https://u:" + testSecret + "@example.com" }, "user info"},
		"host with path":   {func(c *Config) { c.Endpoint = "dysmsapi.aliyuncs.com/x" }, "neither a host"},
		"host with spaces": {func(c *Config) { c.Endpoint = "dysms api" }, "neither a host"},
		"unparseable URL":  {func(c *Config) { c.Endpoint = "http://[::1" }, "not a valid URL"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := good
			c.edit(&cfg)
			s, err := New(cfg)
			if err == nil {
				t.Fatalf("New accepted it: %+v", s)
			}
			if core.KindOf(err) != core.Invalid || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q (kind %v), want Invalid mentioning %q", err, core.KindOf(err), c.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error holds the secret: %v", err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	s := newSender(t, "", testSecret, 0)
	in := "key " + testSecret + " to " + testPhone + " / " + testLocal + " / 86" + testLocal + " code " + testCode
	got := s.redact(in, testSMS())
	for _, bad := range []string{testSecret, testLocal, testCode} {
		if strings.Contains(got, bad) {
			t.Errorf("redact left %q: %s", bad, got)
		}
	}
	if got := s.redact("Specified signature does not match. server string to sign is:POST&%2F&x", testSMS()); strings.Contains(got, "POST") {
		t.Errorf("redact kept the string to sign: %s", got)
	}
}

// Concurrent sends share the SDK client: each is signed with its own nonce.
func TestConcurrentSends(t *testing.T) {
	f := newFake(t, testKeyID, testSecret)
	s := newSender(t, f.URL(), testSecret, 0)
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() { errs <- s.Send(context.Background(), testSMS()) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	got := f.requests()
	if len(got) != n {
		t.Fatalf("fake received %d requests, want %d", len(got), n)
	}
	for _, r := range got {
		if !r.SigOK || r.Failed != "" {
			t.Errorf("request signature ok=%v, failed %q", r.SigOK, r.Failed)
		}
	}
}
