// Package testkit holds the helpers that tests across the module share: an
// injectable clock, an SMS sender that records what a phone would receive,
// the cheap argon2id parameters, a log buffer safe for concurrent use and a
// starting gate for racing goroutines.
//
// It imports only the standard library and legacyauth/core, so that any
// package's tests can use it, core/memdb's own included.
package testkit

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"legacyauth/core"
)

// FastHash keeps argon2id cheap in tests; core.DefaultHashParams is
// exercised only where the default itself is under test.
var FastHash = core.HashParams{MemoryKiB: 64, Time: 1, Threads: 1}

// DefaultStart is where a Clock made with a zero start begins.
var DefaultStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Clock is an injectable time source (a core.Config.Now or
// memdb.Options.Now) that only moves when told. It is safe for concurrent
// use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock reading start, or DefaultStart when start is zero.
func NewClock(start time.Time) *Clock {
	if start.IsZero() {
		start = DefaultStart
	}
	return &Clock{now: start}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (backward when d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// SMSRecorder is a core.Sender that keeps every SMS it delivers, so tests
// learn the codes a user would have received. Its zero value is ready to
// use and it is safe for concurrent use.
type SMSRecorder struct {
	mu   sync.Mutex
	sent []core.SMS
	fail error
}

var _ core.Sender = (*SMSRecorder)(nil)

// Send records m, or refuses with the error given to Fail.
func (r *SMSRecorder) Send(_ context.Context, m core.SMS) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.sent = append(r.sent, m)
	return nil
}

// Fail makes every later Send refuse with err (nothing is recorded); a nil
// err makes it deliver again.
func (r *SMSRecorder) Fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

// Sent returns a copy of the messages delivered so far, oldest first.
func (r *SMSRecorder) Sent() []core.SMS {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]core.SMS(nil), r.sent...)
}

// Last returns the code of the last message delivered to any phone, "" if
// none.
func (r *SMSRecorder) Last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sent) == 0 {
		return ""
	}
	return r.sent[len(r.sent)-1].Code
}

// CodeFor returns the code of the last message delivered to phone, "" if
// none. phone is E.164 (+8613812341234) or an 11-digit mainland mobile
// (13812341234).
func (r *SMSRecorder) CodeFor(phone string) string {
	m, _ := r.lastTo(phone)
	return m.Code
}

// MessageTo returns the last message delivered to phone (E.164 or 11
// digits); it fails the test when there is none.
func (r *SMSRecorder) MessageTo(tb testing.TB, phone string) core.SMS {
	tb.Helper()
	m, ok := r.lastTo(phone)
	if !ok {
		tb.Fatalf("no SMS was sent to %s", phone)
	}
	return m
}

func (r *SMSRecorder) lastTo(phone string) (core.SMS, bool) {
	want := core.LocalPhone(phone)
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.sent) - 1; i >= 0; i-- {
		if core.LocalPhone(r.sent[i].Phone) == want {
			return r.sent[i], true
		}
	}
	return core.SMS{}, false
}

// Together runs f(0), …, f(n-1) in n goroutines that all start at once,
// released together after every one of them exists, and returns when all
// have returned: tests use it to race requests against each other.
func Together(n int, f func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			f(i)
		})
	}
	close(start)
	wg.Wait()
}

// Buffer is a log destination safe for concurrent writes: handlers,
// goroutines and exec's copying goroutines write while the test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
