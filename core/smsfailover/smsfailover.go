// Package smsfailover sends a code through an ordered list of SMS
// providers: the first that takes it wins, and a provider that keeps
// failing is skipped for a while by a circuit breaker (sony/gobreaker), so
// a dead provider does not add its time-out to every send.
//
// What a provider's error means decides what happens next (see the
// adapters' error tables): RateLimited (the number's own limit at the
// provider) and Invalid (a number the provider will not serve) are
// answers about the number, returned at once; another provider would say
// the same or, worse, deliver past a limit. Anything else (SMSFailed:
// authentication, template, balance, 5xx, time-outs) tries the next
// provider and counts against the provider's breaker.
package smsfailover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sony/gobreaker/v2"

	"legacyauth/core"
)

// Provider is one named sender.
type Provider struct {
	Name   string // the setting's name: aliyun, tencent, twilio, webhook, log
	Sender core.Sender
}

// Options tune a Chain. Zero values take the defaults.
type Options struct {
	// Timeout bounds a whole send, every provider tried included.
	// Default 10 s.
	Timeout time.Duration
	// FailuresToOpen consecutive failures open a provider's breaker;
	// default 3.
	FailuresToOpen uint32
	// OpenFor is how long an open breaker skips its provider before one
	// trial send; default 30 s.
	OpenFor time.Duration
	// Observe, when set, is told each provider's outcome: "sent",
	// "rate_limited", "invalid", "failed" or "skipped" (breaker open), and
	// how long the attempt took.
	Observe func(provider, outcome string, took time.Duration)
	// OnState, when set, is told each breaker's state changes: "closed",
	// "half-open", "open".
	OnState func(provider, state string)
	// Trace, when set, is called as each provider's attempt starts; it
	// returns the context the attempt runs with and the function told the
	// attempt's outcome (as Observe's) when it ends. Tracing hooks in here
	// (gateway/tracing), so this package does not depend on it.
	Trace func(ctx context.Context, provider string) (context.Context, func(outcome string))
	Log   *slog.Logger
}

// Chain is the failover sender.
type Chain struct {
	providers []entry
	o         Options
}

type entry struct {
	Provider
	cb *gobreaker.CircuitBreaker[struct{}]
}

var _ core.Sender = (*Chain)(nil)

// New builds a chain over providers, tried in order.
func New(providers []Provider, o Options) *Chain {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.FailuresToOpen == 0 {
		o.FailuresToOpen = 3
	}
	if o.OpenFor <= 0 {
		o.OpenFor = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	c := &Chain{o: o}
	for _, p := range providers {
		c.providers = append(c.providers, entry{Provider: p, cb: gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        p.Name,
			MaxRequests: 1, // one trial send while half-open
			Timeout:     o.OpenFor,
			ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= o.FailuresToOpen },
			// An answer about the number is the provider working.
			IsSuccessful: func(err error) bool { return err == nil || aboutTheNumber(err) },
			OnStateChange: func(name string, from, to gobreaker.State) {
				o.Log.Warn("sms provider breaker", "provider", name, "from", from.String(), "to", to.String())
				if o.OnState != nil {
					o.OnState(name, to.String())
				}
			},
		})})
		if o.OnState != nil {
			o.OnState(p.Name, gobreaker.StateClosed.String())
		}
	}
	return c
}

// Names lists the providers in order.
func (c *Chain) Names() []string {
	names := make([]string, len(c.providers))
	for i, p := range c.providers {
		names[i] = p.Name
	}
	return names
}

// Send sends through the first provider that takes the SMS.
func (c *Chain) Send(ctx context.Context, m core.SMS) error {
	_, err := c.SendVia(ctx, "", m)
	return err
}

// SendVia is Send, through the named provider alone when only is not
// empty; it returns the provider that took the SMS.
func (c *Chain) SendVia(ctx context.Context, only string, m core.SMS) (string, error) {
	const op = "smsfailover.Send"
	// Not the caller's cancellation: the code is stored and the budget
	// spent, so a client that hangs up still gets its SMS, and its
	// hanging up is never counted against a provider's breaker.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.o.Timeout)
	defer cancel()
	var errs []error
	tried := false
	for _, p := range c.providers {
		if only != "" && p.Name != only {
			continue
		}
		tried = true
		if ctx.Err() != nil {
			errs = append(errs, fmt.Errorf("%s: not tried: the send's deadline passed", p.Name))
			break
		}
		start := time.Now()
		sendCtx, traced := c.trace(ctx, p.Name)
		_, err := p.cb.Execute(func() (struct{}, error) { return struct{}{}, p.Sender.Send(sendCtx, m) })
		took := time.Since(start)
		outcome := "failed"
		switch {
		case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
			outcome = "skipped"
		case err == nil:
			outcome = "sent"
		case aboutTheNumber(err):
			outcome = core.KindOf(err).String()
		}
		traced(outcome)
		c.observe(p.Name, outcome, took)
		switch {
		case outcome == "skipped":
			errs = append(errs, fmt.Errorf("%s: skipped: its breaker is open", p.Name))
			continue
		case err == nil:
			return p.Name, nil
		case aboutTheNumber(err):
			return p.Name, err
		}
		c.o.Log.Warn("sms provider failed; trying the next", "provider", p.Name, "phone", core.MaskPhone(m.Phone), "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
	}
	if !tried {
		return "", &core.Error{Op: op, Kind: core.Invalid, Msg: fmt.Sprintf("no SMS provider %q is configured", only)}
	}
	return "", &core.Error{Op: op, Kind: core.SMSFailed, Msg: "no SMS provider took the code", Err: errors.Join(errs...)}
}

// trace starts a provider attempt's trace (Options.Trace).
func (c *Chain) trace(ctx context.Context, provider string) (context.Context, func(string)) {
	if c.o.Trace == nil {
		return ctx, func(string) {}
	}
	return c.o.Trace(ctx, provider)
}

func (c *Chain) observe(provider, outcome string, took time.Duration) {
	if c.o.Observe != nil {
		c.o.Observe(provider, outcome, took)
	}
}

// aboutTheNumber reports whether err is a provider's answer about the
// number rather than a failure of the provider.
func aboutTheNumber(err error) bool {
	k := core.KindOf(err)
	return k == core.RateLimited || k == core.Invalid
}
