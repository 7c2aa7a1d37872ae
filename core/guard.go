package core

import (
	"context"
	"net/netip"
	"time"
)

// Guard protects operations from abuse: rate limits and brute-force locks.
// The core asks it before each sensitive step and tells it about failures;
// package core/limits implements it over ulule/limiter. A refusal is an
// error of kind RateLimited (with RetryAfter and Limit set); a guard whose
// store fails answers Unavailable where it must fail closed (sending SMS)
// and nil elsewhere (failing open).
type Guard interface {
	// AllowSend is asked before a code is sent to phone (E.164).
	AllowSend(ctx context.Context, phone string) error
	// AllowLookup is asked before an answer that reveals whether a phone
	// is registered.
	AllowLookup(ctx context.Context) error
	// AllowUpload is asked before an avatar is stored (anyone may upload,
	// as resultcode's old server allowed, so the disk is what to protect).
	AllowUpload(ctx context.Context) error
	// AllowCodeCheck is asked before a code for phone is checked;
	// CodeCheckFailed is told when a check found a wrong code.
	AllowCodeCheck(ctx context.Context, phone string) error
	CodeCheckFailed(ctx context.Context, phone string)
	// AllowLogin is asked before a password is checked; LoginFailed and
	// LoginSucceeded are told the outcome.
	AllowLogin(ctx context.Context, phone string) error
	LoginFailed(ctx context.Context, phone string)
	LoginSucceeded(ctx context.Context, phone string)
}

// Limit describes the limit that refused a request, for replies that
// state it (the /v1 API's RateLimit-* headers).
type Limit struct {
	Name   string        // the setting's name, e.g. "sms_phone"
	Quota  int64         // events allowed per window
	Window time.Duration // the window
}

// noGuard allows everything: the core's guard when none is configured.
type noGuard struct{}

func (noGuard) AllowSend(context.Context, string) error      { return nil }
func (noGuard) AllowLookup(context.Context) error            { return nil }
func (noGuard) AllowUpload(context.Context) error            { return nil }
func (noGuard) AllowCodeCheck(context.Context, string) error { return nil }
func (noGuard) CodeCheckFailed(context.Context, string)      {}
func (noGuard) AllowLogin(context.Context, string) error     { return nil }
func (noGuard) LoginFailed(context.Context, string)          {}
func (noGuard) LoginSucceeded(context.Context, string)       {}

type shadowKey struct{}

// WithShadow marks a context as a shadow replay (a request the old server
// answered, run through the core only to compare): the core then neither
// asks nor tells the Guard, so replays never spend a real client's budget
// or lock a phone.
func WithShadow(ctx context.Context) context.Context {
	return context.WithValue(ctx, shadowKey{}, true)
}

func isShadow(ctx context.Context) bool {
	v, _ := ctx.Value(shadowKey{}).(bool)
	return v
}

type clientIPKey struct{}

// WithClientIP records the client's address (as the gateway determined it
// from trusted proxies) for the guard's per-address limits.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// Client is a request-scoped value that knows the client's address, as
// the gateway determined it from trusted proxies: the address as text
// (what ClientIP returns) and parsed (invalid when it is not an address).
// The gateway stores its per-request record, which implements Client,
// with WithClient: one context value per request serves both.
type Client interface {
	ClientAddress() (ip string, addr netip.Addr)
}

// WithClient records c as the request's client (see Client).
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientIPKey{}, c)
}

// ClientFrom returns the value recorded by WithClient, nil if none.
func ClientFrom(ctx context.Context) Client {
	c, _ := ctx.Value(clientIPKey{}).(Client)
	return c
}

// ClientAddress returns the address recorded by WithClientIP or
// WithClient, as text and parsed: "" and an invalid Addr when none was
// recorded (the Addr is invalid too when the text is not an address). A
// Client's is parsed once, by the gateway.
func ClientAddress(ctx context.Context) (string, netip.Addr) {
	switch v := ctx.Value(clientIPKey{}).(type) {
	case string:
		a, _ := netip.ParseAddr(v)
		return v, a
	case Client:
		return v.ClientAddress()
	}
	return "", netip.Addr{}
}

// ClientIP is ClientAddress's text.
func ClientIP(ctx context.Context) string {
	ip, _ := ClientAddress(ctx)
	return ip
}

// ClientAddr is ClientAddress's parsed address.
func ClientAddr(ctx context.Context) netip.Addr {
	_, a := ClientAddress(ctx)
	return a
}
