package limits_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"

	"legacyauth/core/limits"
	"legacyauth/internal/testkit"
)

// TestMemoryStoreAgreesWithULule runs the same random calls on
// MemoryStore and on ulule/limiter's memory store, which it replaces, and
// wants the same answers. Both read the real clock here, and periods are
// long, so nothing expires: expiry is TestMemoryStoreExpiry's.
func TestMemoryStoreAgreesWithULule(t *testing.T) {
	ctx := context.Background()
	ours, theirs := limits.NewMemoryStore(nil), memory.NewStore()
	rnd := rand.New(rand.NewPCG(1, 2))
	rates := []limiter.Rate{{Period: time.Hour, Limit: 5}, {Period: 24 * time.Hour, Limit: 1 << 40}}
	for i := range 5000 {
		key := fmt.Sprintf("k%d", rnd.IntN(8))
		rate := rates[rnd.IntN(len(rates))]
		var a, b limiter.Context
		var errA, errB error
		op := rnd.IntN(10)
		switch {
		case op < 4:
			n := rnd.Int64N(3) + 1
			a, errA = ours.Increment(ctx, key, n, rate)
			b, errB = theirs.Increment(ctx, key, n, rate)
		case op < 6:
			a, errA = ours.Get(ctx, key, rate)
			b, errB = theirs.Get(ctx, key, rate)
		case op < 9:
			a, errA = ours.Peek(ctx, key, rate)
			b, errB = theirs.Peek(ctx, key, rate)
		default:
			a, errA = ours.Reset(ctx, key, rate)
			b, errB = theirs.Reset(ctx, key, rate)
		}
		if errA != nil || errB != nil {
			t.Fatalf("call %d: errors %v, %v", i, errA, errB)
		}
		// Reset (a Unix second) is computed from each store's own clock
		// reading when a counter starts: the two may fall either side of
		// a second's boundary.
		if d := a.Reset - b.Reset; d < -1 || d > 1 {
			t.Fatalf("call %d (op %d on %s): Reset %d, ulule's %d", i, op, key, a.Reset, b.Reset)
		}
		a.Reset, b.Reset = 0, 0
		if a != b {
			t.Fatalf("call %d (op %d on %s): %+v, ulule's %+v", i, op, key, a, b)
		}
	}
}

// TestMemoryStoreExpiry: a counter lives for its rate's period from the
// increment that created it, then starts again.
func TestMemoryStoreExpiry(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	clock := testkit.NewClock(start)
	s := limits.NewMemoryStore(clock.Now)
	rate := limiter.Rate{Period: time.Minute, Limit: 3}
	for i := int64(1); i <= 4; i++ {
		c, _ := s.Increment(ctx, "k", 1, rate)
		if got := rate.Limit - c.Remaining; i <= 3 && got != i || c.Reached != (i > 3) || c.Reset != start.Add(time.Minute).Unix() {
			t.Fatalf("increment %d: %+v", i, c)
		}
		clock.Advance(10 * time.Second)
	}
	clock.Set(start.Add(time.Minute)) // the last instant of the counter's life
	if c, _ := s.Peek(ctx, "k", rate); !c.Reached {
		t.Fatalf("Peek at expiry: %+v, want the count still there", c)
	}
	clock.Advance(time.Nanosecond)
	if c, _ := s.Peek(ctx, "k", rate); c.Remaining != 3 || c.Reset != clock.Now().Add(time.Minute).Unix() {
		t.Fatalf("Peek after expiry: %+v, want a fresh window", c)
	}
	if c, _ := s.Increment(ctx, "k", 2, rate); c.Remaining != 1 || c.Reset != clock.Now().Add(time.Minute).Unix() {
		t.Fatalf("Increment after expiry: %+v, want a new counter of 2", c)
	}
	s.Reset(ctx, "k", rate)
	if c, _ := s.Peek(ctx, "k", rate); c.Remaining != 3 {
		t.Fatalf("Peek after Reset: %+v", c)
	}
}

// TestMemoryStoreConcurrent: increments from many goroutines are all
// counted (run with -race).
func TestMemoryStoreConcurrent(t *testing.T) {
	ctx := context.Background()
	s := limits.NewMemoryStore(nil)
	rate := limiter.Rate{Period: time.Hour, Limit: 1 << 40}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				s.Increment(ctx, "shared", 1, rate)
				s.Increment(ctx, fmt.Sprintf("own%d", g), 1, rate)
				s.Peek(ctx, fmt.Sprintf("k%d", i%50), rate)
			}
		})
	}
	wg.Wait()
	if c, _ := s.Peek(ctx, "shared", rate); rate.Limit-c.Remaining != 8000 {
		t.Fatalf("shared count %d, want 8000", rate.Limit-c.Remaining)
	}
	for g := range 8 {
		if c, _ := s.Peek(ctx, fmt.Sprintf("own%d", g), rate); rate.Limit-c.Remaining != 1000 {
			t.Fatalf("own%d count %d, want 1000", g, rate.Limit-c.Remaining)
		}
	}
}
