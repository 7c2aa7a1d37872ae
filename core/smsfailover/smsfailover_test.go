package smsfailover_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/core/smsfailover"
)

// provider answers each send with what next returns, and counts sends.
type provider struct {
	mu   sync.Mutex
	sent int
	next func(ctx context.Context) error
}

func (p *provider) Send(ctx context.Context, _ core.SMS) error {
	p.mu.Lock()
	p.sent++
	next := p.next
	p.mu.Unlock()
	return next(ctx)
}

func (p *provider) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent
}

func answer(err error) func(context.Context) error { return func(context.Context) error { return err } }

var sms = core.SMS{Phone: "+8613800000001", Code: "123456", Purpose: "register", Dialect: "v1"}

type outcomes struct {
	mu   sync.Mutex
	seen []string
}

func (o *outcomes) observe(p, outcome string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, p+":"+outcome)
}

func chain(o *outcomes, opts smsfailover.Options, ps ...smsfailover.Provider) *smsfailover.Chain {
	opts.Observe = o.observe
	opts.Log = slog.New(slog.DiscardHandler)
	return smsfailover.New(ps, opts)
}

func TestFailover(t *testing.T) {
	failed := &core.Error{Op: "a.Send", Kind: core.SMSFailed, Msg: "HTTP 503"}
	for _, c := range []struct {
		name      string
		first     func(context.Context) error
		wantErr   bool
		wantKind  core.Kind // of Send's error
		wantVia   string
		wantSecnd int
	}{
		{"first takes it", answer(nil), false, 0, "a", 0},
		{"first fails: the next takes it", answer(failed), false, 0, "b", 1},
		{"first times out: the next takes it", func(ctx context.Context) error {
			<-ctx.Done() // a provider that never answers, bounded by its own time-out
			return &core.Error{Op: "a.Send", Kind: core.SMSFailed, Err: ctx.Err()}
		}, false, 0, "b", 1},
		{"the number is over its limit: no failover", answer(&core.Error{Kind: core.RateLimited, Msg: "isv.BUSINESS_LIMIT_CONTROL"}), true, core.RateLimited, "a", 0},
		{"the number is invalid: no failover", answer(&core.Error{Kind: core.Invalid, Msg: "isv.MOBILE_NUMBER_ILLEGAL"}), true, core.Invalid, "a", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := &provider{next: c.first}, &provider{next: answer(nil)}
			first := a.next
			a.next = func(ctx context.Context) error {
				ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
				return first(ctx)
			}
			o := &outcomes{}
			ch := chain(o, smsfailover.Options{}, smsfailover.Provider{Name: "a", Sender: a}, smsfailover.Provider{Name: "b", Sender: b})
			via, err := ch.SendVia(context.Background(), "", sms)
			if !c.wantErr && err != nil || c.wantErr && core.KindOf(err) != c.wantKind {
				t.Fatalf("Send = %v, want kind %v", err, c.wantKind)
			}
			if via != c.wantVia || b.count() != c.wantSecnd {
				t.Errorf("via %q, second provider sent %d; want %q, %d (outcomes %v)", via, b.count(), c.wantVia, c.wantSecnd, o.seen)
			}
		})
	}
	t.Run("every provider fails", func(t *testing.T) {
		o := &outcomes{}
		ch := chain(o, smsfailover.Options{}, smsfailover.Provider{Name: "a", Sender: &provider{next: answer(failed)}}, smsfailover.Provider{Name: "b", Sender: &provider{next: answer(errors.New("connection refused"))}})
		err := ch.Send(context.Background(), sms)
		if core.KindOf(err) != core.SMSFailed {
			t.Fatalf("Send = %v, want sms_failed", err)
		}
		if len(o.seen) != 2 || o.seen[0] != "a:failed" || o.seen[1] != "b:failed" {
			t.Errorf("outcomes %v, want a:failed b:failed", o.seen)
		}
	})
	t.Run("the whole send has a deadline", func(t *testing.T) {
		slow := &provider{next: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}
		b := &provider{next: answer(nil)}
		ch := chain(&outcomes{}, smsfailover.Options{Timeout: 50 * time.Millisecond}, smsfailover.Provider{Name: "a", Sender: slow}, smsfailover.Provider{Name: "b", Sender: b})
		start := time.Now()
		err := ch.Send(context.Background(), sms)
		if core.KindOf(err) != core.SMSFailed || b.count() != 0 {
			t.Fatalf("Send = %v, b sent %d; want sms_failed and b not tried past the deadline", err, b.count())
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Send took %v", took)
		}
	})
}

// A provider that keeps failing is skipped while its breaker is open, and
// tried again once OpenFor has passed: when it works, its breaker closes.
func TestBreakerOpensAndCloses(t *testing.T) {
	failed := &core.Error{Kind: core.SMSFailed, Msg: "HTTP 500"}
	a, b := &provider{next: answer(failed)}, &provider{next: answer(nil)}
	var mu sync.Mutex
	var states []string
	o := &outcomes{}
	ch := chain(o, smsfailover.Options{FailuresToOpen: 3, OpenFor: 200 * time.Millisecond, OnState: func(p, s string) {
		mu.Lock()
		defer mu.Unlock()
		states = append(states, p+":"+s)
	}}, smsfailover.Provider{Name: "a", Sender: a}, smsfailover.Provider{Name: "b", Sender: b})
	for range 6 {
		if err := ch.Send(context.Background(), sms); err != nil {
			t.Fatal(err)
		}
	}
	if a.count() != 3 || b.count() != 6 {
		t.Fatalf("a sent %d, b %d; want a tried 3 times (then its breaker opened), b 6", a.count(), b.count())
	}
	a.mu.Lock()
	a.next = answer(nil) // a recovers
	a.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		via, err := ch.SendVia(context.Background(), "", sms)
		if err != nil {
			t.Fatal(err)
		}
		if via == "a" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a was not tried again after its breaker's OpenFor")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"a:closed", "b:closed", "a:open", "a:half-open", "a:closed"}
	if len(states) != len(want) {
		t.Fatalf("states %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("states %v, want %v", states, want)
		}
	}
}

// Answers about the number do not open the breaker: the provider works.
func TestNumberAnswersKeepTheBreakerClosed(t *testing.T) {
	a := &provider{next: answer(&core.Error{Kind: core.Invalid})}
	ch := chain(&outcomes{}, smsfailover.Options{FailuresToOpen: 2}, smsfailover.Provider{Name: "a", Sender: a})
	for range 5 {
		_ = ch.Send(context.Background(), sms)
	}
	if a.count() != 5 {
		t.Fatalf("a sent %d, want 5 (never skipped)", a.count())
	}
}

func TestSendViaOnlyThatProvider(t *testing.T) {
	a, b := &provider{next: answer(nil)}, &provider{next: answer(nil)}
	ch := chain(&outcomes{}, smsfailover.Options{}, smsfailover.Provider{Name: "a", Sender: a}, smsfailover.Provider{Name: "b", Sender: b})
	if via, err := ch.SendVia(context.Background(), "b", sms); err != nil || via != "b" || a.count() != 0 {
		t.Fatalf("SendVia b = %q, %v; a sent %d", via, err, a.count())
	}
	if _, err := ch.SendVia(context.Background(), "c", sms); core.KindOf(err) != core.Invalid {
		t.Fatalf("SendVia c = %v, want invalid", err)
	}
}

type spanKey struct{}

// Options.Trace spans each provider attempt: one start per provider
// tried, its context reaching the provider, its end told the outcome
// Observe is told.
func TestTraceEachAttempt(t *testing.T) {
	failed := &core.Error{Op: "a.Send", Kind: core.SMSFailed, Msg: "HTTP 503"}
	var mu sync.Mutex
	var spans []string
	trace := func(ctx context.Context, p string) (context.Context, func(string)) {
		return context.WithValue(ctx, spanKey{}, p), func(outcome string) {
			mu.Lock()
			defer mu.Unlock()
			spans = append(spans, p+":"+outcome)
		}
	}
	inSpan := func(want string, err error) func(context.Context) error {
		return func(ctx context.Context) error {
			if got := ctx.Value(spanKey{}); got != want {
				t.Errorf("provider %s sent with span context %v", want, got)
			}
			return err
		}
	}
	o := &outcomes{}
	ch := chain(o, smsfailover.Options{Trace: trace, FailuresToOpen: 1},
		smsfailover.Provider{Name: "a", Sender: &provider{next: inSpan("a", failed)}},
		smsfailover.Provider{Name: "b", Sender: &provider{next: inSpan("b", nil)}})
	for range 2 { // the second send finds a's breaker open
		if err := ch.Send(context.Background(), sms); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"a:failed", "b:sent", "a:skipped", "b:sent"}
	if !slices.Equal(spans, want) || !slices.Equal(o.seen, want) {
		t.Fatalf("spans %v, observed %v; want %v", spans, o.seen, want)
	}
}

// A caller that goes away does not stop the send, nor count against the
// provider's breaker.
func TestCallerCancelDoesNotTripTheBreaker(t *testing.T) {
	a := &provider{next: func(ctx context.Context) error { return ctx.Err() }}
	ch := chain(&outcomes{}, smsfailover.Options{FailuresToOpen: 2}, smsfailover.Provider{Name: "a", Sender: a})
	for range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := ch.Send(ctx, sms); err != nil {
			t.Fatalf("send with the caller gone: %v, want sent", err)
		}
	}
	if a.count() != 5 {
		t.Fatalf("a sent %d, want 5 (never skipped)", a.count())
	}
}
