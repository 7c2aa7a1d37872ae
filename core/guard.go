package core

import (
	"context"
	"net/netip"
	"time"
)

// Guard protects operations from abuse: rate limits and brute-force locks.
// The core asks it before each sensitive step; package core/limits
// implements it. A refusal is an error of kind RateLimited (with
// RetryAfter and Limit set); a guard whose store fails answers Unavailable
// where it must fail closed (sending SMS) and lets the step through
// elsewhere (failing open).
//
// Checks of secrets (passwords, codes) are attempts: BeginLogin and
// BeginCodeCheck take a slot from every budget the check counts against
// before the check runs, atomically, so concurrent requests cannot all
// pass a budget that admits only some of them. The core reports how the
// check ended through the returned Attempt.
type Guard interface {
	// AllowSend is asked before a code is sent to phone (E.164).
	AllowSend(ctx context.Context, phone string) error
	// AllowLookup is asked before an answer that reveals whether a phone
	// is registered.
	AllowLookup(ctx context.Context) error
	// AllowUpload is asked before an avatar is stored (anyone may upload,
	// as resultcode's old server allowed, so the disk is what to protect).
	AllowUpload(ctx context.Context) error
	// BeginCodeCheck is asked before a code for phone is checked.
	BeginCodeCheck(ctx context.Context, phone string) (Attempt, error)
	// BeginLogin is asked before a password is checked. device is the
	// device id the client sent, "" when none: a device (or, without one,
	// an address) that has logged in to the phone before has budgets of its
	// own, so failures from elsewhere cannot lock its owner out.
	BeginLogin(ctx context.Context, phone, device string) (Attempt, error)
}

// Attempt is a check the Guard let through. The core calls exactly one of
// its methods when the check has ended.
type Attempt interface {
	// Succeeded: the secret was right. The attempt's failure slots are
	// given back; only this client's own failures are forgotten.
	Succeeded(ctx context.Context)
	// Failed: the secret was wrong. The slots stay taken, as failures.
	Failed(ctx context.Context)
	// Cancel: no verdict (the check itself failed). Every slot is given back.
	Cancel(ctx context.Context)
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

func (noGuard) AllowSend(context.Context, string) error { return nil }
func (noGuard) AllowLookup(context.Context) error       { return nil }
func (noGuard) AllowUpload(context.Context) error       { return nil }
func (noGuard) BeginCodeCheck(context.Context, string) (Attempt, error) {
	return NoAttempt, nil
}
func (noGuard) BeginLogin(context.Context, string, string) (Attempt, error) {
	return NoAttempt, nil
}

// NoAttempt is an Attempt that records nothing: what a Guard returns when
// it does not count a check (limits off, a failed-open store).
var NoAttempt Attempt = noAttempt{}

type noAttempt struct{}

func (noAttempt) Succeeded(context.Context) {}
func (noAttempt) Failed(context.Context)    {}
func (noAttempt) Cancel(context.Context)    {}

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
// The gateway's per-request record implements Client, and its request
// context answers this package's key with it (IsClientKey): one context
// value per request serves both.
type Client interface {
	ClientAddress() (ip string, addr netip.Addr)
	// ClientDialect names the contract the request speaks ("apiv4",
	// "v1"): codes are bound to the dialect that sent them.
	ClientDialect() string
}

// WithClient records c as the request's client (see Client).
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientIPKey{}, c)
}

// IsClientKey reports whether key is the one WithClient records under, for
// a context type that holds its Client itself (the gateway's request
// context answers it with its per-request record, without a second
// context value).
func IsClientKey(key any) bool {
	_, ok := key.(clientIPKey)
	return ok
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

// ClientDialect returns the dialect recorded by WithClient, "" if none.
func ClientDialect(ctx context.Context) string {
	if c, ok := ctx.Value(clientIPKey{}).(Client); ok {
		return c.ClientDialect()
	}
	return ""
}
