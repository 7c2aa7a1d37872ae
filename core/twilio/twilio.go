// Package twilio sends verification codes as SMS through Twilio
// Programmable Messaging (POST /2010-04-01/Accounts/{Sid}/Messages.json),
// using the official SDK github.com/twilio/twilio-go.
package twilio

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
	"unicode/utf8"

	"github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"

	"legacyauth/core"
)

// DefaultTemplate is the body of purposes that have no template of their
// own and no Config.Template. Plain ASCII, so one 160-character segment.
const DefaultTemplate = "Your verification code is {code}. It expires in 5 minutes."

// Placeholder is replaced by the code in a template.
const Placeholder = "{code}"

// DefaultTimeout bounds one send when Config.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// RateLimitRetryAfter is what a RateLimited send asks the caller to wait:
// Twilio's 14107 window is 30 seconds, rounded up.
const RateLimitRetryAfter = time.Minute

// Config holds the settings of the Twilio provider.
type Config struct {
	AccountSID string // AC followed by 32 hex digits; the Basic auth user
	AuthToken  string // secret; the Basic auth password
	// Exactly one of From (an E.164 Twilio number, a short code or an
	// alphanumeric sender ID) and MessagingServiceSID (MG...) is required.
	From                string
	MessagingServiceSID string
	// Endpoint is empty for Twilio's https://api.twilio.com; a host, or a
	// full URL such as http://127.0.0.1:PORT (tests, private endpoints).
	// Plain http is accepted only for a loopback host: Basic auth sends the
	// token itself, not a signature.
	Endpoint string
	Timeout  time.Duration // 0 means DefaultTimeout
	// Template is the body for purposes without their own; empty means
	// DefaultTemplate. Templates holds a body per purpose ("register",
	// "reset", "any"). Every template holds Placeholder and fits one SMS
	// segment.
	Template  string
	Templates map[string]string
}

// String hides the token, so a logged Config leaks nothing.
func (c Config) String() string {
	tok := ""
	if c.AuthToken != "" {
		tok = "[redacted]"
	}
	return fmt.Sprintf("twilio.Config{AccountSID:%q AuthToken:%s From:%q MessagingServiceSID:%q Endpoint:%q Timeout:%s Template:%q Templates:%q}",
		c.AccountSID, tok, c.From, c.MessagingServiceSID, c.Endpoint, c.Timeout, c.Template, c.Templates)
}

// GoString hides the token from %#v too.
func (c Config) GoString() string { return c.String() }

// Sender sends codes through Twilio. It is safe for concurrent use.
type Sender struct {
	cfg       Config
	base      *url.URL // nil: the SDK's own https://api.twilio.com
	timeout   time.Duration
	templates map[string]string // every purpose, defaults filled in
	dflt      string
	transport http.RoundTripper // shared connection pool
}

var _ core.Sender = (*Sender)(nil)

var (
	accountSIDRE = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	serviceSIDRE = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	// The SDK itself refuses any other token (its error 21224), at send time.
	tokenRE     = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	e164RE      = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	shortCodeRE = regexp.MustCompile(`^[0-9]{3,8}$`)
	alphaIDRE   = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
	letterRE    = regexp.MustCompile(`[A-Za-z]`)
)

// New checks cfg without sending anything. Its errors never quote the token.
func New(cfg Config) (*Sender, error) {
	if cfg.AccountSID == "" {
		return nil, errors.New("twilio: the account SID is required")
	}
	if !accountSIDRE.MatchString(cfg.AccountSID) {
		return nil, errors.New("twilio: the account SID must be AC followed by 32 hex digits")
	}
	if cfg.AuthToken == "" {
		return nil, errors.New("twilio: the auth token is required")
	}
	if !tokenRE.MatchString(cfg.AuthToken) {
		return nil, errors.New("twilio: the auth token must hold only letters and digits")
	}
	switch {
	case cfg.From == "" && cfg.MessagingServiceSID == "":
		return nil, errors.New("twilio: a From sender or a messaging service SID is required")
	case cfg.From != "" && cfg.MessagingServiceSID != "":
		return nil, errors.New("twilio: set a From sender or a messaging service SID, not both")
	case cfg.From != "" && !validFrom(cfg.From):
		return nil, errors.New("twilio: From must be an E.164 number (+...), a short code or an alphanumeric sender ID of at most 11 characters")
	case cfg.MessagingServiceSID != "" && !serviceSIDRE.MatchString(cfg.MessagingServiceSID):
		return nil, errors.New("twilio: the messaging service SID must be MG followed by 32 hex digits")
	}
	base, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("twilio: the timeout must not be negative")
	}
	s := &Sender{cfg: cfg, base: base, timeout: cfg.Timeout, templates: map[string]string{}}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	s.dflt = cfg.Template
	if s.dflt == "" {
		s.dflt = DefaultTemplate
	}
	if err := checkTemplate("the default template", s.dflt); err != nil {
		return nil, err
	}
	for purpose, tpl := range cfg.Templates {
		if _, ok := core.ParsePurpose(purpose); !ok {
			return nil, fmt.Errorf("twilio: template for unknown purpose %q (want register, reset or any)", purpose)
		}
		if err := checkTemplate("the "+purpose+" template", tpl); err != nil {
			return nil, err
		}
		s.templates[purpose] = tpl
	}
	s.transport = http.DefaultTransport.(*http.Transport).Clone()
	return s, nil
}

func validFrom(from string) bool {
	return e164RE.MatchString(from) || shortCodeRE.MatchString(from) ||
		(alphaIDRE.MatchString(from) && letterRE.MatchString(from))
}

// checkTemplate refuses a body without the code, or one that would need
// more than one SMS segment: a multi-part code costs more and its parts can
// arrive out of order. ASCII counts 160 characters a segment (GSM-7 is
// close), anything else 70 (UCS-2).
func checkTemplate(what, tpl string) error {
	if !strings.Contains(tpl, Placeholder) {
		return fmt.Errorf("twilio: %s must contain %s", what, Placeholder)
	}
	body := strings.ReplaceAll(tpl, Placeholder, "00000000") // the longest code
	limit, ascii := 160, true
	for _, r := range body {
		if r >= utf8.RuneSelf {
			ascii = false
		}
		if r < ' ' && r != '\n' {
			return fmt.Errorf("twilio: %s holds a control character", what)
		}
	}
	if !ascii {
		limit = 70
	}
	if n := utf8.RuneCountInString(body); n > limit {
		return fmt.Errorf("twilio: %s is %d characters with the code, more than one SMS segment (%d)", what, n, limit)
	}
	return nil
}

// parseEndpoint returns nil for the SDK's default host.
func parseEndpoint(ep string) (*url.URL, error) {
	if ep == "" {
		return nil, nil
	}
	raw := ep
	if !strings.Contains(ep, "://") {
		raw = "https://" + ep
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Not err: it quotes the URL, which could hold user info.
		return nil, errors.New("twilio: the endpoint is not a valid URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, errors.New("twilio: the endpoint must be an http or https URL")
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("twilio: the endpoint has no host")
	case u.User != nil:
		return nil, errors.New("twilio: the endpoint must not hold credentials; use the account SID and auth token settings")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("twilio: the endpoint must not have a query or fragment")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return nil, errors.New("twilio: a plain http endpoint is accepted only on a loopback host: Basic auth would send the token in clear")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Name is the provider's setting name.
func (s *Sender) Name() string { return "twilio" }

// Body returns the text sent for m: its purpose's template, else the default.
func (s *Sender) Body(m core.SMS) string {
	tpl, ok := s.templates[m.Purpose]
	if !ok {
		tpl = s.dflt
	}
	return strings.ReplaceAll(tpl, Placeholder, m.Code)
}

// Send creates one message. Its errors are *core.Error; their texts hold
// neither the token nor the code, and the phone only masked.
func (s *Sender) Send(ctx context.Context, m core.SMS) error {
	const op = "twilio.Send"
	masked := core.MaskPhone(m.Phone)
	if !e164RE.MatchString(m.Phone) {
		return &core.Error{Op: op, Kind: core.Invalid, Msg: "the phone is not an E.164 number: " + masked}
	}
	if m.Code == "" {
		return &core.Error{Op: op, Kind: core.SMSFailed, Msg: "no code to send"}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	// The SDK builds its requests with context.Background() and a fixed
	// host, so each send gets a client whose transport adds the send's
	// context (deadline, cancellation) and points the request at Endpoint.
	tr := &sendTransport{ctx: ctx, base: s.base, next: s.transport}
	c := &client.Client{
		Credentials: client.NewCredentials(s.cfg.AccountSID, s.cfg.AuthToken),
		HTTPClient: &http.Client{
			Transport: tr,
			// As the SDK's default client: a redirect is not followed, so
			// the credentials never go to another host.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(s.cfg.AccountSID)
	rh := client.NewRequestHandler(c)
	// NewRequestHandler reads TWILIO_EDGE and TWILIO_REGION; the Endpoint
	// setting alone decides where codes go.
	rh.Edge, rh.Region = "", ""

	p := &api.CreateMessageParams{}
	p.SetTo(m.Phone)
	if s.cfg.MessagingServiceSID != "" {
		p.SetMessagingServiceSid(s.cfg.MessagingServiceSID)
	} else {
		p.SetFrom(s.cfg.From)
	}
	p.SetBody(s.Body(m))

	msg, err := api.NewApiService(rh).CreateMessage(p)
	if err != nil {
		return s.sendError(ctx, m, int(tr.status.Load()), err)
	}
	if msg == nil || msg.Sid == nil || *msg.Sid == "" {
		return &core.Error{Op: op, Kind: core.SMSFailed, Msg: fmt.Sprintf("unreadable reply (HTTP %d): no message SID", tr.status.Load())}
	}
	// A message can be refused at creation yet answered 201 with a failed
	// status and its error code: read it as an error reply.
	if (msg.ErrorCode != nil && *msg.ErrorCode != 0) || (msg.Status != nil && (*msg.Status == "failed" || *msg.Status == "undelivered")) {
		ae := &APIError{Status: int(tr.status.Load())}
		if msg.ErrorCode != nil {
			ae.Code = *msg.ErrorCode
		}
		if msg.ErrorMessage != nil {
			ae.Message = s.clean(*msg.ErrorMessage, m)
		}
		return s.apiError(m, ae)
	}
	return nil
}

// APIError is a Twilio error reply, its message cleaned of the phone and
// the code. It is the Err of a *core.Error from Send.
type APIError struct {
	Code     int    // Twilio's error code, e.g. 21211
	Status   int    // the HTTP status
	Message  string // Twilio's text, phone masked, code removed
	MoreInfo string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("twilio error %d (HTTP %d)", e.Code, e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.MoreInfo != "" {
		s += " (" + e.MoreInfo + ")"
	}
	return s
}

func (s *Sender) sendError(ctx context.Context, m core.SMS, status int, err error) error {
	const op = "twilio.Send"
	var re *client.TwilioRestError
	if errors.As(err, &re) {
		if status == 0 {
			status = re.Status
		}
		return s.apiError(m, &APIError{Code: re.Code, Status: status, Message: s.clean(re.Message, m), MoreInfo: re.MoreInfo})
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// Not ue itself: it quotes the URL; its cause is enough.
		err = ue.Err
	}
	switch {
	case ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded):
		return &core.Error{Op: op, Kind: core.SMSFailed, Msg: fmt.Sprintf("no reply within %s", s.timeout), Err: context.DeadlineExceeded}
	case ctx.Err() != nil:
		return &core.Error{Op: op, Kind: core.SMSFailed, Msg: "the send was cancelled", Err: ctx.Err()}
	case status != 0:
		// A reply came but the SDK could not read it (e.g. an HTML 502).
		return &core.Error{Op: op, Kind: core.SMSFailed, Msg: fmt.Sprintf("unreadable reply (HTTP %d)", status), Err: errors.New(s.clean(err.Error(), m))}
	}
	return &core.Error{Op: op, Kind: core.SMSFailed, Msg: "request failed", Err: errors.New(s.clean(err.Error(), m))}
}

func (s *Sender) apiError(m core.SMS, ae *APIError) error {
	kind, desc := kindOf(ae.Code, ae.Status)
	e := &core.Error{Op: "twilio.Send", Kind: kind, Msg: desc, Err: ae}
	if kind == core.Invalid || kind == core.RateLimited {
		e.Msg += ": " + core.MaskPhone(m.Phone)
	}
	if kind == core.RateLimited {
		e.RetryAfter = RateLimitRetryAfter
	}
	return e
}

// clean removes what must never reach a log from a text that came back
// from the network: Twilio quotes the To number, and a proxy could echo
// anything.
func (s *Sender) clean(text string, m core.SMS) string {
	return core.ScrubProviderText(text, m.Phone, m.Code, s.cfg.AuthToken)
}

// sendTransport gives one send's requests its context and endpoint, and
// remembers the reply's HTTP status, which the SDK's errors do not keep.
type sendTransport struct {
	ctx    context.Context
	base   *url.URL
	next   http.RoundTripper
	status atomic.Int32
}

func (t *sendTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(t.ctx)
	if t.base != nil {
		r.URL.Scheme = t.base.Scheme
		r.URL.Host = t.base.Host
		r.URL.Path = t.base.Path + r.URL.Path
		r.URL.RawPath = ""
		r.Host = ""
	}
	resp, err := t.next.RoundTrip(r)
	if resp != nil {
		t.status.Store(int32(resp.StatusCode))
	}
	return resp, err
}
