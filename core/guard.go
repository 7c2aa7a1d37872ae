package core

import (
	"context"
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
func (noGuard) AllowCodeCheck(context.Context, string) error { return nil }
func (noGuard) CodeCheckFailed(context.Context, string)      {}
func (noGuard) AllowLogin(context.Context, string) error     { return nil }
func (noGuard) LoginFailed(context.Context, string)          {}
func (noGuard) LoginSucceeded(context.Context, string)       {}

type clientIPKey struct{}

// WithClientIP records the client's address (as the gateway determined it
// from trusted proxies) for the guard's per-address limits.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIP returns the address recorded by WithClientIP, "" if none.
func ClientIP(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}
