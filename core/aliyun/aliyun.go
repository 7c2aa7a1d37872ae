// Package aliyun sends verification codes through Alibaba Cloud SMS
// (dysmsapi, API version 2017-05-25) with the official SDK,
// github.com/alibabacloud-go/dysmsapi-20170525/v4, on its darabonba openapi
// client. The SDK signs each request with ACS3-HMAC-SHA256 (its default; no
// signature setting is changed here).
package aliyun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	dysmsapi "github.com/alibabacloud-go/dysmsapi-20170525/v4/client"
	util "github.com/alibabacloud-go/tea-utils/v2/service"
	"github.com/alibabacloud-go/tea/tea"

	"legacyauth/core"
)

// DefaultEndpoint is the public dysmsapi endpoint (the SDK's "central" rule).
const DefaultEndpoint = "dysmsapi.aliyuncs.com"

// DefaultTimeout bounds one send when Config.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// Config holds every Alibaba Cloud SMS setting.
type Config struct {
	AccessKeyID     string
	AccessKeySecret string
	SignName        string // the approved signature (签名), e.g. "阿里云短信测试"
	TemplateCode    string // the approved template, e.g. "SMS_154950909"; its variable is ${code}
	// Endpoint is a host ("dysmsapi.aliyuncs.com", HTTPS) or a full URL
	// ("http://127.0.0.1:8080") for tests and private endpoints. Empty means
	// DefaultEndpoint.
	Endpoint string
	Timeout  time.Duration // one send, connection included; 0 means DefaultTimeout
}

// Sender sends through Alibaba Cloud SMS. It is safe for concurrent use.
type Sender struct {
	cfg     Config // validated
	proto   string // the SDK's protocol and endpoint, from cfg.Endpoint
	host    string
	timeout time.Duration // cfg.Timeout or DefaultTimeout
}

var _ core.Sender = (*Sender)(nil)

// Name is the provider's setting name.
func (s *Sender) Name() string { return "aliyun" }

// New validates cfg and builds an SDK client to check it. It sends nothing, so
// `gateway config check` can call it. Error texts name the setting, never
// its value.
func New(cfg Config) (*Sender, error) {
	const op = "aliyun.New"
	bad := func(msg string) error { return core.E(op, core.Invalid, msg) }
	for _, f := range []struct{ name, v string }{
		{"access key id", cfg.AccessKeyID},
		{"access key secret", cfg.AccessKeySecret},
		{"sign name", cfg.SignName},
		{"template code", cfg.TemplateCode},
	} {
		if f.v == "" {
			return nil, bad("the " + f.name + " is not set")
		}
		// A secret read from a file often keeps its newline; the
		// signature would then never match, far from the cause.
		if strings.TrimSpace(f.v) != f.v {
			return nil, bad("the " + f.name + " has leading or trailing spaces")
		}
	}
	if strings.ContainsAny(cfg.AccessKeyID+cfg.AccessKeySecret, " \t\r\n") {
		return nil, bad("the access key id or secret contains spaces")
	}
	timeout := cfg.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < time.Millisecond:
		// The SDK counts in milliseconds, and 0 ms would mean no limit.
		return nil, bad("the timeout must be at least 1ms")
	}
	protocol, host, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, core.E(op, core.Invalid, err.Error())
	}
	snd := &Sender{
		cfg:     cfg,
		proto:   protocol,
		host:    host,
		timeout: timeout,
	}
	// Build one client now so the SDK's own checks run at start-up.
	if _, err := snd.newClient(); err != nil {
		// NewClient makes no network call; this is a settings problem.
		// Its text could quote the settings, so it is not passed on.
		return nil, bad("the SDK refused the settings")
	}
	return snd, nil
}

// newClient builds an SDK client. Each send gets its own: the SDK's client
// is not safe for concurrent use (every call rewrites its Headers field,
// GetRpcHeaders in darabonba-openapi v2.0.10), and building one is cheap
// and makes no network call. Connections are still reused, since the SDK
// keeps its HTTP clients in a process-wide pool keyed by endpoint and
// time-outs.
func (s *Sender) newClient() (*dysmsapi.Client, error) {
	ms := int(s.timeout / time.Millisecond)
	return dysmsapi.NewClient(&openapi.Config{
		AccessKeyId:     tea.String(s.cfg.AccessKeyID),
		AccessKeySecret: tea.String(s.cfg.AccessKeySecret),
		Endpoint:        tea.String(s.host),
		Protocol:        tea.String(s.proto),
		ReadTimeout:     tea.Int(ms), // the SDK's http.Client.Timeout: the whole exchange
		ConnectTimeout:  tea.Int(ms),
	})
}

// parseEndpoint returns the SDK's protocol and host for an endpoint setting.
func parseEndpoint(ep string) (protocol, host string, err error) {
	if ep == "" {
		return "HTTPS", DefaultEndpoint, nil
	}
	if !strings.Contains(ep, "://") {
		// A bare host (and port), as the SDK itself takes it.
		u, perr := url.Parse("https://" + ep)
		if perr != nil || u.Host != ep || u.Hostname() == "" {
			return "", "", errors.New("the endpoint is neither a host nor an http(s) URL")
		}
		return "HTTPS", ep, nil
	}
	u, perr := url.Parse(ep)
	if perr != nil {
		return "", "", errors.New("the endpoint is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", "", errors.New("the endpoint URL must be http or https")
	case u.Hostname() == "":
		return "", "", errors.New("the endpoint URL has no host")
	case u.User != nil:
		return "", "", errors.New("the endpoint URL must not hold user info")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		// The SDK always posts to "/" on the host: a path would be ignored.
		return "", "", errors.New("the endpoint URL must have no path, query or fragment")
	}
	return strings.ToUpper(u.Scheme), u.Host, nil
}

// Send sends m.Code to m.Phone with the configured sign name and template.
// Errors are *core.Error: RateLimited (the number's own limit at Alibaba
// Cloud; no failover), Invalid (the number; no failover) or SMSFailed.
func (s *Sender) Send(ctx context.Context, m core.SMS) error {
	const op = "aliyun.Send"
	masked := core.MaskPhone(m.Phone)
	phone, ok := providerPhone(m.Phone)
	if !ok {
		return &core.Error{Op: op, Kind: core.Invalid, Msg: "not an E.164 phone number: " + masked}
	}
	if m.Code == "" {
		return &core.Error{Op: op, Kind: core.Internal, Msg: "no verification code to send"}
	}
	if err := ctx.Err(); err != nil {
		return &core.Error{Op: op, Kind: core.SMSFailed, Msg: "not sent: the send was cancelled", Err: err}
	}
	param, err := json.Marshal(map[string]string{"code": m.Code})
	if err != nil {
		return &core.Error{Op: op, Kind: core.Internal, Msg: "template parameter", Err: err}
	}
	req := &dysmsapi.SendSmsRequest{
		PhoneNumbers:  tea.String(phone),
		SignName:      tea.String(s.cfg.SignName),
		TemplateCode:  tea.String(s.cfg.TemplateCode),
		TemplateParam: tea.String(string(param)),
	}
	// Autoretry stays off: a retried send after a lost reply would text
	// the user twice; the failover chain decides what happens next.
	rt := &util.RuntimeOptions{Autoretry: tea.Bool(false)}

	type result struct {
		resp *dysmsapi.SendSmsResponse
		err  error
	}
	client, err := s.newClient()
	if err != nil {
		return &core.Error{Op: op, Kind: core.SMSFailed, Msg: "the SDK refused the settings"}
	}
	done := make(chan result, 1) // buffered: the SDK call may outlive a cancelled ctx
	start := time.Now()
	go func() {
		resp, err := client.SendSmsWithOptions(req, rt)
		done <- result{resp, err}
	}()
	// The SDK takes no context; its own time-out (s.timeout) ends the call
	// at the latest, and a shorter caller deadline ends the wait here.
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return &core.Error{Op: op, Kind: core.SMSFailed,
			Msg: fmt.Sprintf("no reply from Alibaba Cloud for %s before the send's deadline or cancellation", masked),
			Err: ctx.Err()}
	}
	if r.err != nil {
		return s.sdkError(op, m, masked, r.err, time.Since(start))
	}
	if r.resp == nil || r.resp.Body == nil || r.resp.Body.Code == nil {
		return &core.Error{Op: op, Kind: core.SMSFailed, Msg: "unreadable reply from Alibaba Cloud (no Code)"}
	}
	body := r.resp.Body
	if *body.Code == "OK" {
		return nil
	}
	return s.refused(op, m, masked, *body.Code, tea.StringValue(body.Message), tea.StringValue(body.RequestId), 0)
}

// refused builds the error for a reply that carries an Alibaba Cloud error
// code, from the code table.
func (s *Sender) refused(op string, m core.SMS, masked, code, message, requestID string, status int) error {
	kind := kindOf(code)
	e := &core.Error{Op: op, Kind: kind,
		Msg: fmt.Sprintf("Alibaba Cloud refused the SMS to %s: %s", masked, code)}
	var detail []string
	if status != 0 {
		detail = append(detail, fmt.Sprintf("HTTP %d", status))
	}
	if message != "" {
		detail = append(detail, s.redact(message, m))
	}
	if requestID != "" {
		detail = append(detail, "request id "+s.redact(requestID, m))
	}
	if len(detail) > 0 {
		e.Err = errors.New(strings.Join(detail, ", "))
	}
	if kind == core.RateLimited {
		e.RetryAfter = retryAfter(message)
	}
	return e
}

// sdkError maps an error returned by the SDK: an HTTP error reply
// (*tea.SDKError), a transport failure or time-out, or an unreadable body.
// The SDK's own texts are never passed on as they are: a transport error
// quotes the request URL, whose query holds the phone and the code.
func (s *Sender) sdkError(op string, m core.SMS, masked string, err error, took time.Duration) error {
	var se *tea.SDKError
	if errors.As(err, &se) {
		status := tea.IntValue(se.StatusCode)
		code := tea.StringValue(se.Code)
		// se.Message is the SDK's summary; Data holds the reply's own fields.
		var reply struct{ Message, RequestId string }
		if json.Unmarshal([]byte(tea.StringValue(se.Data)), &reply) != nil || reply.Message == "" {
			reply.Message = tea.StringValue(se.Message)
		}
		if code != "" && code != "<nil>" { // the SDK prints a missing Code as "<nil>"
			return s.refused(op, m, masked, code, reply.Message, reply.RequestId, status)
		}
		e := &core.Error{Op: op, Kind: core.SMSFailed,
			Msg: fmt.Sprintf("Alibaba Cloud failed the SMS to %s", masked)}
		if status != 0 {
			e.Msg += fmt.Sprintf(" (HTTP %d)", status)
		}
		e.Err = errors.New(s.redact(reply.Message, m))
		return e
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		what := "could not reach Alibaba Cloud"
		if ue.Timeout() {
			what = fmt.Sprintf("no reply from Alibaba Cloud within %s", s.timeout)
		}
		return &core.Error{Op: op, Kind: core.SMSFailed,
			Msg: fmt.Sprintf("%s for %s", what, masked),
			Err: fmt.Errorf("%s after %s: %s", ue.Op, took.Round(time.Millisecond), s.redact(ue.Err.Error(), m))}
	}
	return &core.Error{Op: op, Kind: core.SMSFailed,
		Msg: fmt.Sprintf("unreadable reply from Alibaba Cloud for %s", masked),
		Err: errors.New(s.redact(err.Error(), m))}
}

// redact removes from a provider or SDK text whatever must never reach a log:
// the secret, the code and the phone. Alibaba Cloud's signature errors
// quote the server's string to sign, which holds the whole query; that part
// is cut.
func (s *Sender) redact(text string, m core.SMS) string {
	if loc := stringToSign.FindStringIndex(text); loc != nil {
		text = text[:loc[0]] + "[string to sign withheld]"
	}
	return core.ScrubProviderText(text, m.Phone, m.Code, s.cfg.AccessKeySecret)
}

var stringToSign = regexp.MustCompile(`(?i)string\s*to\s*sign`)

// providerPhone turns an E.164 number into the form SendSms documents:
// mainland numbers as the 11-digit national number (the documented
// "11-digit mobile numbers without prefixes"), others as country code and
// number without "+" (the documented "<area code><mobile number>").
func providerPhone(e164 string) (string, bool) {
	if len(e164) < 9 || len(e164) > 16 || e164[0] != '+' || e164[1] == '0' {
		return "", false
	}
	for i := 1; i < len(e164); i++ {
		if e164[i] < '0' || e164[i] > '9' {
			return "", false
		}
	}
	if strings.HasPrefix(e164, "+86") {
		local := core.LocalPhone(e164)
		return local, core.IsMainlandMobile(local)
	}
	return e164[1:], true
}
