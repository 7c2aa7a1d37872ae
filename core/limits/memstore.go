package limits

import (
	"context"
	"hash/maphash"
	"maps"
	"sync"
	"time"

	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/common"
)

// MemoryStore is the limiter.Store of a single instance. It behaves as
// ulule/limiter's memory store does (TestMemoryStoreAgreesWithULule): a
// counter lives for its rate's period from the increment that created
// it; Peek of a missing or expired counter is 0; Reset forgets it.
//
// It exists because every request pays for one or two limit checks.
// ulule's store builds a prefixed key string and reads the clock up to
// three times per call; this one uses the key as given, reads the clock
// once, and spreads keys over shards, each a map under its own mutex.
type MemoryStore struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [memShards]memShard
	sweeps sync.WaitGroup // sweeps running, for tests
}

const (
	memShards = 32
	// sweepEvery is how often a shard drops its expired counters, as
	// ulule's cleaner does every 30 s. The call that finds its shard due
	// starts the sweep in a goroutine and goes on, so no request waits
	// for one and there is no goroutine to stop.
	sweepEvery = 30 * time.Second
	// sweepBatch is how many counters a sweep looks at before it lets
	// waiting calls take the shard's lock.
	sweepBatch = 256
)

type memShard struct {
	mu        sync.Mutex
	counters  map[string]*memCounter
	nextSweep int64 // Unix nanoseconds
}

type memCounter struct{ value, expires int64 } // expires: Unix nanoseconds

var _ limiter.Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store whose counters expire by now
// (time.Now when nil).
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	s := &MemoryStore{now: now, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].counters = map[string]*memCounter{}
	}
	return s
}

// Get counts one event.
func (s *MemoryStore) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return s.Increment(ctx, key, 1, rate)
}

// Increment adds count to the key's counter, starting a new one (for the
// rate's period) when there is none or it has expired.
func (s *MemoryStore) Increment(_ context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	now := s.now()
	t := now.UnixNano()
	sh := s.lock(key, t)
	c := sh.counters[key]
	switch {
	case c == nil:
		c = &memCounter{value: count, expires: t + int64(rate.Period)}
		sh.counters[key] = c
	case t > c.expires:
		c.value, c.expires = count, t+int64(rate.Period)
	default:
		c.value += count
	}
	value, expires := c.value, c.expires
	sh.mu.Unlock()
	return common.GetContextFromState(now, rate, time.Unix(0, expires), value), nil
}

// Peek reads the key's counter without changing it.
func (s *MemoryStore) Peek(_ context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	now := s.now()
	t := now.UnixNano()
	sh := s.lock(key, t)
	value, expires := int64(0), t+int64(rate.Period)
	if c := sh.counters[key]; c != nil && t <= c.expires {
		value, expires = c.value, c.expires
	}
	sh.mu.Unlock()
	return common.GetContextFromState(now, rate, time.Unix(0, expires), value), nil
}

// Reset forgets the key's counter.
func (s *MemoryStore) Reset(_ context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	now := s.now()
	t := now.UnixNano()
	sh := s.lock(key, t)
	delete(sh.counters, key)
	sh.mu.Unlock()
	return common.GetContextFromState(now, rate, time.Unix(0, t+int64(rate.Period)), 0), nil
}

// lock locks the key's shard, starting its sweep when due at t (Unix
// nanoseconds), and returns it.
func (s *MemoryStore) lock(key string, t int64) *memShard {
	sh := &s.shards[maphash.String(s.seed, key)%memShards]
	sh.mu.Lock()
	// The second test catches a wall clock stepped back, which would
	// otherwise put the next sweep far off.
	if t >= sh.nextSweep || sh.nextSweep-t > int64(sweepEvery) {
		sh.nextSweep = t + int64(sweepEvery)
		s.sweeps.Add(1)
		go func() {
			defer s.sweeps.Done()
			sh.sweep(t)
		}()
	}
	return sh
}

// sweep drops the counters expired at t. It releases the lock every
// sweepBatch counters: a Go map may be changed between the steps of a
// range over it (the range then may or may not see what changed), as
// long as nothing touches it at the same time. A shard emptied to a
// quarter of its size gets a new map, since Go maps never shrink: a
// flood from many addresses would otherwise keep its memory.
func (sh *memShard) sweep(t int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	before, seen := len(sh.counters), 0
	for k, c := range sh.counters {
		if t > c.expires {
			delete(sh.counters, k)
		}
		if seen++; seen%sweepBatch == 0 {
			sh.mu.Unlock()
			sh.mu.Lock()
		}
	}
	if n := len(sh.counters); before >= 4*sweepBatch && n < before/4 {
		small := make(map[string]*memCounter, n)
		maps.Copy(small, sh.counters)
		sh.counters = small
	}
}
