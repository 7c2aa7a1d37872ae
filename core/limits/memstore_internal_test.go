package limits

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"

	"legacyauth/internal/testkit"
)

// TestMemoryStoreSweeps: expired counters leave the store once their
// shard is used after sweepEvery, so keys of past windows do not pile up;
// a wall clock stepped back does not stop the sweeps.
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
	s.sweeps.Wait()
	if n := size(); n != 1 {
		t.Fatalf("%d counters after the sweep, want only the unexpired one", n)
	}
	if c, _ := s.Peek(ctx, "long", long); c.Remaining != 0 {
		t.Fatalf("the unexpired counter was lost: %+v", c)
	}

	clock.Advance(-time.Hour)
	for i := range 1000 {
		s.Increment(ctx, fmt.Sprintf("back%d", i), 1, short)
	}
	s.sweeps.Wait()
	clock.Advance(sweepEvery)
	for i := range 1000 {
		s.Peek(ctx, fmt.Sprintf("other%d", i), short)
	}
	s.sweeps.Wait()
	if n := size(); n != 1 {
		t.Fatalf("%d counters after the clock went back an hour, want 1", n)
	}
}

// TestMemoryStoreSweepShrinks: a shard that a sweep empties to a quarter
// of its size gets a new, smaller map.
func TestMemoryStoreSweepShrinks(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	s := NewMemoryStore(clock.Now)
	short := limiter.Rate{Period: time.Second, Limit: 1}
	for i := range 8 * memShards * sweepBatch { // about 2,000 a shard
		s.Increment(ctx, fmt.Sprintf("flood%d", i), 1, short)
	}
	s.sweeps.Wait()
	before := make([]map[string]*memCounter, memShards)
	for i := range s.shards {
		if n := len(s.shards[i].counters); n < 4*sweepBatch {
			t.Fatalf("shard %d holds only %d counters: too few to shrink", i, n)
		}
		before[i] = s.shards[i].counters
	}
	clock.Advance(sweepEvery)
	for i := range 1000 {
		s.Peek(ctx, fmt.Sprintf("other%d", i), short)
	}
	s.sweeps.Wait()
	for i := range s.shards {
		sh := &s.shards[i]
		if n := len(sh.counters); n != 0 {
			t.Fatalf("shard %d holds %d counters after the sweep", i, n)
		}
		if reflect.ValueOf(sh.counters).UnsafePointer() == reflect.ValueOf(before[i]).UnsafePointer() {
			t.Fatalf("shard %d kept the map of the flood", i)
		}
	}
}
