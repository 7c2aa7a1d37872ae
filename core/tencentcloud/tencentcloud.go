// Package tencentcloud sends verification codes through Tencent Cloud SMS
// (sms SendSms, API version 2021-01-11).
//
// It uses the official SDK's common client
// (github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common): the
// typed tencentcloud/sms module is not served by the module proxy here, and
// the common client signs requests with TC3-HMAC-SHA256 exactly as the typed
// one does, so only the JSON body is ours.
package tencentcloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"

	"legacyauth/core"
)

const (
	// DefaultRegion is used when Config.Region is empty.
	DefaultRegion = "ap-guangzhou"
	// DefaultEndpoint is used when Config.Endpoint is empty.
	DefaultEndpoint = "sms.tencentcloudapi.com"
	// DefaultTimeout is used when Config.Timeout is 0.
	DefaultTimeout = 5 * time.Second

	service    = "sms"
	apiVersion = "2021-01-11"
	action     = "SendSms"
)

// Config holds the Tencent Cloud SMS settings.
type Config struct {
	SecretID  string // CAM API key ID (AKID...)
	SecretKey string // CAM API key secret; never logged
	SDKAppID  string // SMS application ID, e.g. 1400006666
	SignName  string // approved sign name, e.g. 腾讯云; required for mainland numbers
	// TemplateID is an approved template with one parameter, the code.
	TemplateID string
	Region     string // empty: DefaultRegion
	// Endpoint is a host name (HTTPS) or a full http(s) URL such as
	// http://127.0.0.1:PORT, for tests and private endpoints. Empty:
	// DefaultEndpoint.
	Endpoint string
	Timeout  time.Duration // per send; 0: DefaultTimeout
}

// String hides the secret key, so that printing a Config (%v, slog) is safe.
func (c Config) String() string {
	key := ""
	if c.SecretKey != "" {
		key = "(set)"
	}
	return fmt.Sprintf("{SecretID:%s SecretKey:%s SDKAppID:%s SignName:%s TemplateID:%s Region:%s Endpoint:%s Timeout:%s}",
		c.SecretID, key, c.SDKAppID, c.SignName, c.TemplateID, c.Region, c.Endpoint, c.Timeout)
}

// GoString is String for %#v.
func (c Config) GoString() string { return "tencentcloud.Config" + c.String() }

// Sender sends codes through Tencent Cloud SMS. It is safe for concurrent
// use.
type Sender struct {
	cfg    Config // defaults applied
	client *common.Client
	rt     *statusRecorder
	now    func() time.Time // for RetryAfter; tests replace it
}

var _ core.Sender = (*Sender)(nil)

var (
	digits   = regexp.MustCompile(`^[0-9]+$`)
	regionRe = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)
)

// New validates cfg and builds a Sender. It sends nothing, so `gateway
// config check` can call it. Its errors never quote a secret.
func New(cfg Config) (*Sender, error) {
	const op = "tencent.New"
	bad := func(msg string) (*Sender, error) { return nil, core.E(op, core.Invalid, msg) }
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.SecretID == "":
		return bad("secret ID is not set")
	case strings.TrimSpace(cfg.SecretID) != cfg.SecretID:
		return bad("secret ID has leading or trailing white space")
	case cfg.SecretKey == "":
		return bad("secret key is not set")
	case strings.TrimSpace(cfg.SecretKey) != cfg.SecretKey:
		// Typical of a secret file with a trailing newline; Tencent would
		// answer AuthFailure.SignatureFailure on every send.
		return bad("secret key has leading or trailing white space")
	case cfg.SDKAppID == "":
		return bad("SDK app ID is not set")
	case !digits.MatchString(cfg.SDKAppID):
		return bad(fmt.Sprintf("SDK app ID %q is not a number such as 1400006666", cfg.SDKAppID))
	case strings.TrimSpace(cfg.SignName) == "":
		return bad("sign name is not set")
	case cfg.TemplateID == "":
		return bad("template ID is not set")
	case !digits.MatchString(cfg.TemplateID):
		return bad(fmt.Sprintf("template ID %q is not a number", cfg.TemplateID))
	case !regionRe.MatchString(cfg.Region):
		return bad(fmt.Sprintf("region %q is not a region name such as %s", cfg.Region, DefaultRegion))
	case cfg.Timeout < 0:
		return bad("timeout is negative")
	}
	scheme, hostPath, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return bad(err.Error())
	}

	prof := profile.NewClientProfile()
	prof.HttpProfile.Scheme = scheme
	prof.HttpProfile.Endpoint = hostPath
	prof.HttpProfile.ReqMethod = http.MethodPost
	// The send's context carries the real deadline; this is only a backstop
	// (the SDK counts whole seconds).
	prof.HttpProfile.ReqTimeout = int(cfg.Timeout/time.Second) + 2
	prof.SignMethod = "TC3-HMAC-SHA256"
	prof.Language = "en-US"
	// No SDK-side retries or region switching: the failover chain decides
	// what happens after a failure, and the region breaker would send to
	// ap-guangzhou.tencentcloudapi.com whatever Endpoint says.
	prof.DisableRegionBreaker = true
	prof.NetworkFailureMaxRetries = 0
	prof.RateLimitExceededMaxRetries = 0
	// Debug dumps whole requests, Authorization and code included.
	prof.Debug = false

	base := http.DefaultTransport.(*http.Transport).Clone()
	base.IdleConnTimeout = 30 * time.Second
	rt := &statusRecorder{base: base}
	client := common.NewCommonClient(common.NewCredential(cfg.SecretID, cfg.SecretKey), cfg.Region, prof).
		WithHttpTransport(rt)
	return &Sender{cfg: cfg, client: client, rt: rt, now: time.Now}, nil
}

// parseEndpoint splits an Endpoint setting into the SDK's scheme and
// host[:port][/path]. Its errors do not quote the endpoint: a URL with user
// info may hold a password.
func parseEndpoint(ep string) (scheme, hostPath string, err error) {
	if ep == "" {
		return "HTTPS", DefaultEndpoint, nil
	}
	raw := ep
	if !strings.Contains(ep, "://") {
		raw = "https://" + ep
	}
	u, perr := url.Parse(raw)
	switch {
	case perr != nil || strings.ContainsAny(ep, " \t\r\n"):
		return "", "", errors.New("endpoint is not a host name or an http(s) URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", "", errors.New("endpoint scheme must be http or https")
	case u.User != nil:
		return "", "", errors.New("endpoint must not hold user info")
	case u.Host == "" || u.Hostname() == "":
		return "", "", errors.New("endpoint has no host")
	case u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return "", "", errors.New("endpoint must not have a query or fragment")
	}
	p := strings.TrimSuffix(u.EscapedPath(), "/")
	return strings.ToUpper(u.Scheme), u.Host + p, nil
}

// Name is the provider's setting name.
func (s *Sender) Name() string { return "tencent" }

// sendSmsResponse is the part of a SendSms reply that is read.
type sendSmsResponse struct {
	*tchttp.BaseResponse
	Response struct {
		SendStatusSet []struct {
			PhoneNumber string `json:"PhoneNumber"`
			Code        string `json:"Code"`
			Message     string `json:"Message"`
			SerialNo    string `json:"SerialNo"`
		} `json:"SendStatusSet"`
		RequestId string `json:"RequestId"`
	} `json:"Response"`
}

// Send sends m.Code to m.Phone with the configured template. Its errors are
// *core.Error: RateLimited when the number's own limit was reached,
// Invalid when the number is refused, SMSFailed otherwise.
func (s *Sender) Send(ctx context.Context, m core.SMS) error {
	const op = "tencent.Send"
	phone, err := core.NormalizePhone(m.Phone)
	if err != nil {
		return &core.Error{Op: op, Kind: core.Invalid, Msg: "not an E.164 phone number: " + core.MaskPhone(m.Phone)}
	}
	if m.Code == "" {
		return &core.Error{Op: op, Kind: core.Invalid, Msg: "empty code"}
	}
	masked := core.MaskPhone(phone)

	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	status := new(atomic.Int32)
	ctx = context.WithValue(ctx, statusKey{}, status)

	req := tchttp.NewCommonRequest(service, apiVersion, action)
	req.SetContext(ctx)
	if err := req.SetActionParameters(map[string]interface{}{
		"PhoneNumberSet":   []string{phone},
		"SmsSdkAppId":      s.cfg.SDKAppID,
		"SignName":         s.cfg.SignName,
		"TemplateId":       s.cfg.TemplateID,
		"TemplateParamSet": []string{m.Code},
	}); err != nil {
		return &core.Error{Op: op, Kind: core.SMSFailed, Msg: "building the request failed"}
	}
	resp := &sendSmsResponse{BaseResponse: &tchttp.BaseResponse{}}
	start := time.Now()
	err = s.client.Send(req, resp)
	if err != nil {
		return s.callError(ctx, err, int(status.Load()), time.Since(start), m, phone)
	}

	r := resp.Response
	if len(r.SendStatusSet) == 0 {
		return &core.Error{
			Op: op, Kind: core.SMSFailed,
			Msg: fmt.Sprintf("reply for %s has no send status", masked),
			Err: &providerError{RequestID: r.RequestId},
		}
	}
	// One number was sent, so one status is expected; prefer the one that
	// names it.
	st := r.SendStatusSet[0]
	for _, x := range r.SendStatusSet {
		if x.PhoneNumber == phone {
			st = x
			break
		}
	}
	if strings.EqualFold(st.Code, "Ok") {
		return nil
	}
	// The call succeeded but this number was refused: the per-number
	// status carries the same codes as a call error.
	kind, wait := classify(st.Code, s.now())
	return &core.Error{
		Op: op, Kind: kind, RetryAfter: wait,
		Msg: fmt.Sprintf("send to %s refused by Tencent Cloud: %s", masked, st.Code),
		Err: &providerError{Code: st.Code, Message: s.redact(st.Message, m, phone), RequestID: r.RequestId},
	}
}

// callError turns a failed SDK call into a *core.Error.
func (s *Sender) callError(ctx context.Context, err error, status int, took time.Duration, m core.SMS, phone string) error {
	const op = "tencent.Send"
	masked := core.MaskPhone(phone)
	var sdkErr *tcerr.TencentCloudSDKError
	isSDK := errors.As(err, &sdkErr)
	if isSDK && !strings.HasPrefix(sdkErr.GetCode(), "ClientError.") {
		// Tencent's own answer: its code decides.
		code := sdkErr.GetCode()
		kind, wait := classify(code, s.now())
		return &core.Error{
			Op: op, Kind: kind, RetryAfter: wait,
			Msg: fmt.Sprintf("send to %s refused by Tencent Cloud: %s", masked, code),
			Err: &providerError{Code: code, Message: s.redact(sdkErr.GetMessage(), m, phone), RequestID: sdkErr.GetRequestId(), HTTPStatus: status},
		}
	}
	if ctx.Err() != nil {
		// Our deadline, or the caller went away: the cause is the context
		// error, not the SDK's text (which quotes the URL).
		msg := fmt.Sprintf("no reply for %s within %s", masked, s.cfg.Timeout)
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			msg = fmt.Sprintf("send to %s canceled after %s", masked, took.Round(time.Millisecond))
		}
		return &core.Error{Op: op, Kind: core.SMSFailed, Msg: msg, Err: ctx.Err()}
	}
	if !isSDK {
		return &core.Error{Op: op, Kind: core.SMSFailed, Msg: fmt.Sprintf("send to %s failed", masked), Err: errors.New(s.redact(err.Error(), m, phone))}
	}
	code := sdkErr.GetCode()
	// The SDK's own errors: no answer, a non-200 status, or a body that is
	// not a Tencent reply. Their messages quote the reply body, so only the
	// status is kept.
	var msg string
	var cause error
	switch {
	case code == "ClientError.NetworkError":
		msg = fmt.Sprintf("send to %s: no reply from Tencent Cloud", masked)
		var ne net.Error
		var ue *url.Error
		switch {
		case errors.As(err, &ue):
			cause = ue.Err // not ue: it quotes the URL
		case errors.As(err, &ne):
			cause = ne
		}
	case status != 0 && status != http.StatusOK:
		msg = fmt.Sprintf("send to %s: Tencent Cloud answered HTTP %d", masked, status)
	default:
		msg = fmt.Sprintf("send to %s: unreadable reply from Tencent Cloud (HTTP %d)", masked, status)
	}
	if cause != nil {
		cause = errors.New(s.redact(cause.Error(), m, phone))
	}
	return &core.Error{Op: op, Kind: core.SMSFailed, Msg: msg, Err: &providerError{Code: code, HTTPStatus: status, cause: cause}}
}

// redact removes from a provider's message anything that must not reach a
// log: the code, the phone and the credentials (an auth failure's message
// may echo the key ID). It also bounds the message's length.
func (s *Sender) redact(msg string, m core.SMS, phone string) string {
	return core.ScrubProviderText(msg, phone, m.Code, s.cfg.SecretKey, s.cfg.SecretID)
}

// providerError is what Tencent Cloud said, with the phone masked and the
// code and secrets removed: safe to log.
type providerError struct {
	Code       string
	Message    string
	RequestID  string
	HTTPStatus int
	cause      error
}

func (e *providerError) Error() string {
	var b strings.Builder
	b.WriteString("tencent cloud")
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " HTTP %d", e.HTTPStatus)
	}
	if e.Code != "" {
		b.WriteString(" code=" + e.Code)
	}
	if e.Message != "" {
		b.WriteString(" message=" + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" request_id=" + e.RequestID)
	}
	if e.cause != nil {
		b.WriteString(": " + e.cause.Error())
	}
	return b.String()
}

func (e *providerError) Unwrap() error { return e.cause }

// statusKey is the context key of a send's *atomic.Int32 HTTP status.
type statusKey struct{}

// statusRecorder notes each reply's HTTP status in the request's context:
// the SDK's error for a non-200 reply has the status only inside a text
// that also quotes the body.
type statusRecorder struct{ base http.RoundTripper }

func (t *statusRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if resp != nil {
		if p, ok := r.Context().Value(statusKey{}).(*atomic.Int32); ok {
			p.Store(int32(resp.StatusCode))
		}
	}
	return resp, err
}
