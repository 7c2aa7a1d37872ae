package tencentcloud

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"legacyauth/core"
)

const (
	testSecretID  = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
	testSecretKey = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLEkey"
	testAppID     = "1400006666"
	testSign      = "腾讯云"
	testTemplate  = "1110"
	testPhone     = "+8613812345678"
	testCode      = "902716" // shares no 4 digits with testPhone, so a masked phone never holds it
)

func testConfig(endpoint string) Config {
	return Config{
		SecretID: testSecretID, SecretKey: testSecretKey,
		SDKAppID: testAppID, SignName: testSign, TemplateID: testTemplate,
		Endpoint: endpoint, Timeout: 2 * time.Second,
	}
}

func testSMS() core.SMS {
	return core.SMS{Phone: testPhone, Code: testCode, Purpose: "register", Dialect: "apiv4"}
}

func newSender(t *testing.T, cfg Config) *Sender {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// assertClean fails if an error's text holds a secret or the code.
func assertClean(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	text := err.Error() + fmt.Sprintf(" %v %+v", err, err)
	for name, secret := range map[string]string{"secret key": testSecretKey, "secret ID": testSecretID, "code": testCode, "phone": testPhone, "local phone": core.LocalPhone(testPhone)} {
		if strings.Contains(text, secret) {
			t.Errorf("error text holds the %s: %s", name, text)
		}
	}
}

func TestSendReachesFakeSigned(t *testing.T) {
	f := newFake(t, testSecretID, testSecretKey, "ap-guangzhou")
	s := newSender(t, testConfig(f.srv.URL))
	if err := s.Send(context.Background(), testSMS()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := f.requests()
	if len(got) != 1 {
		t.Fatalf("fake got %d requests, want 1", len(got))
	}
	r := got[0]
	if !r.SignatureOK {
		t.Fatalf("fake rejected the signature: %s (Authorization %q)", r.SignatureProblem, r.AuthorizationHeader)
	}
	checks := []struct{ name, got, want string }{
		{"method", r.Method, "POST"},
		{"path", r.Path, "/"},
		{"X-TC-Action", r.Action, "SendSms"},
		{"X-TC-Version", r.Version, "2021-01-11"},
		{"X-TC-Region", r.Region, "ap-guangzhou"},
		{"Content-Type", r.ContentType, "application/json"},
		{"credential ID", r.CredentialID, testSecretID},
		{"SmsSdkAppId", r.SmsSdkAppId, testAppID},
		{"SignName", r.SignName, testSign},
		{"TemplateId", r.TemplateId, testTemplate},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !slices.Equal(r.PhoneNumberSet, []string{testPhone}) {
		t.Errorf("PhoneNumberSet = %q, want [%q]", r.PhoneNumberSet, testPhone)
	}
	if !slices.Equal(r.TemplateParamSet, []string{testCode}) {
		t.Errorf("TemplateParamSet = %q, want [code]", r.TemplateParamSet)
	}
	if len(r.UnknownBodyFields) != 0 {
		t.Errorf("body has unexpected fields %q: %s", r.UnknownBodyFields, r.RawBody)
	}
	if strings.Contains(r.AuthorizationHeader, testSecretKey) {
		t.Error("the secret key itself was sent")
	}
}

func TestSendRegionAndLocalPhone(t *testing.T) {
	f := newFake(t, testSecretID, testSecretKey, "ap-beijing")
	cfg := testConfig(f.srv.URL)
	cfg.Region = "ap-beijing"
	s := newSender(t, cfg)
	m := testSMS()
	m.Phone = core.LocalPhone(testPhone) // 11 digits: sent as E.164
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := f.requests()[0]
	if !r.SignatureOK || r.Region != "ap-beijing" || !slices.Equal(r.PhoneNumberSet, []string{testPhone}) {
		t.Errorf("fake got signature ok %v (%s), region %q, phones %q", r.SignatureOK, r.SignatureProblem, r.Region, r.PhoneNumberSet)
	}
}

func TestWrongSecretFailsFakeCheck(t *testing.T) {
	f := newFake(t, testSecretID, testSecretKey, "ap-guangzhou")
	cfg := testConfig(f.srv.URL)
	cfg.SecretKey = "not-the-right-secret-key-0000000"
	s := newSender(t, cfg)
	err := s.Send(context.Background(), testSMS())
	got := f.requests()
	if len(got) != 1 {
		t.Fatalf("fake got %d requests, want 1", len(got))
	}
	if got[0].SignatureOK || got[0].SignatureProblem != "signature mismatch" {
		t.Fatalf("fake accepted a signature made with the wrong key (problem %q)", got[0].SignatureProblem)
	}
	if core.KindOf(err) != core.SMSFailed {
		t.Fatalf("kind = %v, want sms_failed: %v", core.KindOf(err), err)
	}
	if !strings.Contains(err.Error(), "AuthFailure.SignatureFailure") {
		t.Errorf("error does not name the provider's code: %v", err)
	}
	assertClean(t, err)
	if strings.Contains(err.Error(), cfg.SecretKey) {
		t.Errorf("error holds the configured key: %v", err)
	}
}

// TestErrorRepliesMapToKinds drives each documented code through the fake,
// both as a failed call (Error) and as a refused number (SendStatusSet).
// The provider's message echoes the code, phone and key ID, to show they
// are redacted.
func TestErrorRepliesMapToKinds(t *testing.T) {
	f := newFake(t, testSecretID, testSecretKey, "ap-guangzhou")
	s := newSender(t, testConfig(f.srv.URL))
	now := time.Date(2025, 3, 1, 22, 30, 0, 0, chinaTime)
	s.now = func() time.Time { return now }
	cases := []struct {
		code  string
		kind  core.Kind
		retry time.Duration
	}{
		{"LimitExceeded.PhoneNumberDailyLimit", core.RateLimited, 90 * time.Minute},
		{"LimitExceeded.PhoneNumberSameContentDailyLimit", core.RateLimited, 90 * time.Minute},
		{"LimitExceeded.PhoneNumberOneHourLimit", core.RateLimited, time.Hour},
		{"LimitExceeded.PhoneNumberThirtySecondLimit", core.RateLimited, 30 * time.Second},
		{"LimitExceeded.DeliveryFrequencyLimit", core.RateLimited, time.Minute},
		{"InvalidParameterValue.IncorrectPhoneNumber", core.Invalid, 0},
		{"FailedOperation.PhoneNumberInBlacklist", core.Invalid, 0},
		{"UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber", core.Invalid, 0},
		{"UnsupportedOperation.UnsuportedRegion", core.Invalid, 0},
		{"AuthFailure.SecretIdNotFound", core.SMSFailed, 0},
		{"AuthFailure.SignatureExpire", core.SMSFailed, 0},
		{"FailedOperation.SignatureIncorrectOrUnapproved", core.SMSFailed, 0},
		{"FailedOperation.TemplateIncorrectOrUnapproved", core.SMSFailed, 0},
		{"FailedOperation.InsufficientBalanceInSmsPackage", core.SMSFailed, 0},
		{"UnauthorizedOperation.SmsSdkAppIdVerifyFail", core.SMSFailed, 0},
		{"LimitExceeded.AppDailyLimit", core.SMSFailed, 0},
		{"RequestLimitExceeded", core.SMSFailed, 0},
		{"InternalError.Timeout", core.SMSFailed, 0},
		{"InternalError.SomethingNew", core.SMSFailed, 0},
		{"NoSuchCode", core.SMSFailed, 0},
	}
	echo := fmt.Sprintf("phone %s (%s), code %s, key %s", testPhone, core.LocalPhone(testPhone), testCode, testSecretID)
	for _, c := range cases {
		for _, form := range []string{"error", "status"} {
			t.Run(c.code+"/"+form, func(t *testing.T) {
				f.setReply(func(w http.ResponseWriter, _ *http.Request, rec received) {
					if form == "error" {
						errorReply(w, c.code, echo)
					} else {
						statusReply(w, rec, c.code, echo)
					}
				})
				err := s.Send(context.Background(), testSMS())
				if err == nil {
					t.Fatal("no error")
				}
				var ce *core.Error
				if !errors.As(err, &ce) || ce.Op != "tencent.Send" {
					t.Fatalf("not a tencent.Send *core.Error: %#v", err)
				}
				if ce.Kind != c.kind {
					t.Errorf("kind = %v, want %v (%v)", ce.Kind, c.kind, err)
				}
				if ce.RetryAfter != c.retry {
					t.Errorf("RetryAfter = %v, want %v", ce.RetryAfter, c.retry)
				}
				if !strings.Contains(err.Error(), c.code) || !strings.Contains(err.Error(), core.MaskPhone(testPhone)) {
					t.Errorf("error names neither the code nor the masked phone: %v", err)
				}
				assertClean(t, err)
			})
		}
	}
	if n := len(f.requests()); n != 2*len(cases) {
		t.Errorf("fake got %d requests, want %d", n, 2*len(cases))
	}
	for _, r := range f.requests() {
		if !r.SignatureOK {
			t.Errorf("fake rejected a signature: %s", r.SignatureProblem)
		}
	}
}

func TestHTTPErrorsAndUnreadableReplies(t *testing.T) {
	f := newFake(t, testSecretID, testSecretKey, "ap-guangzhou")
	s := newSender(t, testConfig(f.srv.URL))
	cases := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"502 html", http.StatusBadGateway, "<html>bad gateway " + testCode + "</html>", "HTTP 502"},
		{"503 json without error", http.StatusServiceUnavailable, `{}`, "HTTP 503"},
		{"500 with Tencent error", http.StatusInternalServerError, `{"Response":{"Error":{"Code":"InternalError","Message":"oops"},"RequestId":"r"}}`, "InternalError"},
		{"200 not json", http.StatusOK, "not json " + testPhone, "unreadable reply"},
		{"200 no status", http.StatusOK, `{"Response":{"RequestId":"r1"}}`, "no send status"},
		{"200 empty status set", http.StatusOK, `{"Response":{"SendStatusSet":[],"RequestId":"r2"}}`, "no send status"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.setReply(func(w http.ResponseWriter, _ *http.Request, _ received) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.status)
				fmt.Fprint(w, c.body)
			})
			err := s.Send(context.Background(), testSMS())
			if core.KindOf(err) != core.SMSFailed {
				t.Fatalf("kind = %v, want sms_failed: %v", core.KindOf(err), err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			assertClean(t, err)
		})
	}
}

func TestTimeout(t *testing.T) {
	f := newFake(t, testSecretID, testSecretKey, "ap-guangzhou")
	f.setReply(func(w http.ResponseWriter, r *http.Request, rec received) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
		okReply(w, rec)
	})
	cfg := testConfig(f.srv.URL)
	cfg.Timeout = 200 * time.Millisecond
	s := newSender(t, cfg)
	start := time.Now()
	err := s.Send(context.Background(), testSMS())
	took := time.Since(start)
	if core.KindOf(err) != core.SMSFailed {
		t.Fatalf("kind = %v, want sms_failed: %v", core.KindOf(err), err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "within 200ms") {
		t.Errorf("error does not say it timed out: %v", err)
	}
	if took > 1500*time.Millisecond {
		t.Errorf("Send took %v with a 200ms timeout", took)
	}
	if len(f.requests()) != 1 {
		t.Errorf("fake got %d requests, want 1 (no retry)", len(f.requests()))
	}
	assertClean(t, err)
}

func TestCallerCancelAndNoServer(t *testing.T) {
	f := newFake(t, testSecretID, testSecretKey, "ap-guangzhou")
	s := newSender(t, testConfig(f.srv.URL))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Send(ctx, testSMS())
	if core.KindOf(err) != core.SMSFailed || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled send: %v", err)
	}
	assertClean(t, err)

	// A closed port: connection refused, no reply at all.
	dead := httptest.NewServer(http.NotFoundHandler())
	addr := dead.URL
	dead.Close()
	s = newSender(t, testConfig(addr))
	err = s.Send(context.Background(), testSMS())
	if core.KindOf(err) != core.SMSFailed || !strings.Contains(err.Error(), "no reply") {
		t.Errorf("refused connection: %v", err)
	}
	if strings.Contains(err.Error(), addr) {
		t.Errorf("error quotes the endpoint URL: %v", err)
	}
	assertClean(t, err)
}

func TestBadMessagesAreRefusedLocally(t *testing.T) {
	f := newFake(t, testSecretID, testSecretKey, "ap-guangzhou")
	s := newSender(t, testConfig(f.srv.URL))
	for _, m := range []core.SMS{
		{Phone: "", Code: testCode},
		{Phone: "12345", Code: testCode},
		{Phone: "+86 138 1234 5678", Code: testCode},
		{Phone: testPhone, Code: ""},
	} {
		err := s.Send(context.Background(), m)
		if core.KindOf(err) != core.Invalid {
			t.Errorf("Send(%q, %q): kind %v, want invalid: %v", m.Phone, m.Code, core.KindOf(err), err)
		}
		assertClean(t, err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("fake got %d requests for messages that cannot be sent", n)
	}
}

// TestHostOnlyEndpointUsesHTTPS shows an Endpoint without a scheme is
// reached over HTTPS, with a host[:port] that the signature covers.
func TestHostOnlyEndpointUsesHTTPS(t *testing.T) {
	f := newFake(t, testSecretID, testSecretKey, "ap-guangzhou")
	f.srv.Close()
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	u, _ := url.Parse(f.srv.URL)
	s := newSender(t, testConfig(u.Host))
	s.rt.base = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}}
	if err := s.Send(context.Background(), testSMS()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r := f.requests(); len(r) != 1 || !r[0].SignatureOK || r[0].Host != u.Host {
		t.Fatalf("fake got %+v", r)
	}
}

func TestConcurrentSends(t *testing.T) {
	f := newFake(t, testSecretID, testSecretKey, "ap-guangzhou")
	s := newSender(t, testConfig(f.srv.URL))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := testSMS()
			m.Phone = fmt.Sprintf("+861381234560%d", i)
			errs <- s.Send(context.Background(), m)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	got := f.requests()
	if len(got) != 8 {
		t.Fatalf("fake got %d requests, want 8", len(got))
	}
	for _, r := range got {
		if !r.SignatureOK {
			t.Errorf("signature rejected: %s", r.SignatureProblem)
		}
	}
}

func TestName(t *testing.T) {
	if got := newSender(t, testConfig("")).Name(); got != "tencent" {
		t.Errorf("Name() = %q", got)
	}
}

func TestNewValidates(t *testing.T) {
	good := testConfig("")
	s := newSender(t, good)
	if s.cfg.Region != DefaultRegion || s.cfg.Timeout != 2*time.Second {
		t.Errorf("defaults: %+v", s.cfg)
	}
	good.Timeout = 0
	if s := newSender(t, good); s.cfg.Timeout != DefaultTimeout {
		t.Errorf("default timeout = %v", s.cfg.Timeout)
	}

	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no secret ID", func(c *Config) { c.SecretID = "" }, "secret ID is not set"},
		{"no secret key", func(c *Config) { c.SecretKey = "" }, "secret key is not set"},
		{"key with newline", func(c *Config) { c.SecretKey += "\n" }, "white space"},
		{"no app ID", func(c *Config) { c.SDKAppID = "" }, "SDK app ID is not set"},
		{"app ID not digits", func(c *Config) { c.SDKAppID = "app-1" }, "not a number"},
		{"no sign name", func(c *Config) { c.SignName = " " }, "sign name"},
		{"no template", func(c *Config) { c.TemplateID = "" }, "template ID is not set"},
		{"template not digits", func(c *Config) { c.TemplateID = "SMS_123" }, "template ID"},
		{"bad region", func(c *Config) { c.Region = "Guangzhou" }, "region"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "negative"},
		{"ftp endpoint", func(c *Config) { c.Endpoint = "ftp://sms.example" }, "http or https"},
		{"user info", func(c *Config) { c.Endpoint = "https://user:" + testSecretKey + "@sms.example" }, "user info"},
		{"no host", func(c *Config) { c.Endpoint = "http://" }, "no host"},
		{"query", func(c *Config) { c.Endpoint = "http://127.0.0.1:9/?k=v" }, "query"},
		{"space", func(c *Config) { c.Endpoint = "sms tencent" }, "endpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig("")
			c.edit(&cfg)
			s, err := New(cfg)
			if err == nil || s != nil {
				t.Fatalf("New accepted it")
			}
			if core.KindOf(err) != core.Invalid || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want invalid saying %q", err, c.want)
			}
			if strings.Contains(err.Error(), testSecretKey) {
				t.Errorf("error holds the secret key: %v", err)
			}
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	cases := []struct{ in, scheme, hostPath string }{
		{"", "HTTPS", "sms.tencentcloudapi.com"},
		{"sms.tencentcloudapi.com", "HTTPS", "sms.tencentcloudapi.com"},
		{"sms.ap-guangzhou.tencentcloudapi.com", "HTTPS", "sms.ap-guangzhou.tencentcloudapi.com"},
		{"http://127.0.0.1:8080", "HTTP", "127.0.0.1:8080"},
		{"http://127.0.0.1:8080/", "HTTP", "127.0.0.1:8080"},
		{"https://sms.internal:8443/tc", "HTTPS", "sms.internal:8443/tc"},
		{"HTTP://Sms.Internal", "HTTP", "Sms.Internal"},
	}
	for _, c := range cases {
		scheme, hp, err := parseEndpoint(c.in)
		if err != nil || scheme != c.scheme || hp != c.hostPath {
			t.Errorf("parseEndpoint(%q) = %q, %q, %v; want %q, %q", c.in, scheme, hp, err, c.scheme, c.hostPath)
		}
	}
}

func TestConfigPrintingHidesSecret(t *testing.T) {
	cfg := testConfig("")
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", &cfg)} {
		if strings.Contains(s, testSecretKey) {
			t.Errorf("printed Config holds the secret key: %s", s)
		}
		if !strings.Contains(s, testAppID) {
			t.Errorf("printed Config lost the other fields: %s", s)
		}
	}
}
