package limits

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"

	"legacyauth/internal/testkit"
)

// TestMemoryStoreSweeps: expired counters leave the store once their
// shard is used after sweepEvery, so keys of past windows do not pile up.
func TestMemoryStoreSweeps(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	s := NewMemoryStore(clock.Now)
	size := func() (n int) {
		for i := range s.shards {
			n += len(s.shards[i].counters)
		}
		return n
	}
	short, long := limiter.Rate{Period: time.Second, Limit: 1}, limiter.Rate{Period: time.Hour, Limit: 1}
	for i := range 1000 {
		s.Increment(ctx, fmt.Sprintf("short%d", i), 1, short)
	}
	s.Increment(ctx, "long", 1, long)
	if n := size(); n != 1001 {
		t.Fatalf("%d counters, want 1001", n)
	}
	clock.Advance(sweepEvery)
	for i := range 1000 { // touch every shard
		s.Peek(ctx, fmt.Sprintf("other%d", i), short)
	}
	if n := size(); n != 1 {
		t.Fatalf("%d counters after the sweep, want only the unexpired one", n)
	}
	if c, _ := s.Peek(ctx, "long", long); c.Remaining != 0 {
		t.Fatalf("the unexpired counter was lost: %+v", c)
	}
}
