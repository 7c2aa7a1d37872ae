package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

// StateStore is what State checks: gateway/migrate.StateStore, which
// core/memdb and core/postgres implement (declared here again so that
// core imports no gateway package).
type StateStore interface {
	LoadState(ctx context.Context, key string) ([]byte, int64, error)
	CompareAndSwapState(ctx context.Context, key string, version int64, value []byte) (bool, error)
}

// State checks a StateStore: an absent key, a first write, a swap on a
// stale version refused, and concurrent swaps of which exactly one wins
// each round.
func State(t *testing.T, open func(t *testing.T) StateStore) {
	ctx := context.Background()
	t.Run("Absent", func(t *testing.T) {
		s := open(t)
		v, ver, err := s.LoadState(ctx, "nothing")
		if err != nil || v != nil || ver != 0 {
			t.Fatalf("LoadState of an absent key: %q %d %v", v, ver, err)
		}
	})
	t.Run("SwapAndStale", func(t *testing.T) {
		s := open(t)
		if ok, err := s.CompareAndSwapState(ctx, "k", 0, []byte(`{"a":1}`)); !ok || err != nil {
			t.Fatalf("first swap: %v %v", ok, err)
		}
		if ok, err := s.CompareAndSwapState(ctx, "k", 0, []byte(`{"a":2}`)); ok || err != nil {
			t.Fatalf("a second create of the same key: %v %v, want false", ok, err)
		}
		v, ver, err := s.LoadState(ctx, "k")
		if err != nil || string(v) != `{"a":1}` || ver != 1 {
			t.Fatalf("after the first swap: %q %d %v", v, ver, err)
		}
		if ok, err := s.CompareAndSwapState(ctx, "k", 1, []byte(`{"a":3}`)); !ok || err != nil {
			t.Fatalf("swap on the current version: %v %v", ok, err)
		}
		if ok, err := s.CompareAndSwapState(ctx, "k", 1, []byte(`{"a":4}`)); ok || err != nil {
			t.Fatalf("swap on a stale version: %v %v, want false", ok, err)
		}
		v, ver, _ = s.LoadState(ctx, "k")
		if string(v) != `{"a":3}` || ver != 2 {
			t.Fatalf("after the stale swap: %q %d", v, ver)
		}
		if v, ver, _ := s.LoadState(ctx, "other"); v != nil || ver != 0 {
			t.Fatalf("another key: %q %d", v, ver)
		}
	})
	t.Run("ConcurrentSwaps", func(t *testing.T) {
		s := open(t)
		for round := int64(0); round < 5; round++ {
			var wins atomic.Int32
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if ok, err := s.CompareAndSwapState(ctx, "race", round, []byte(`{}`)); err != nil {
						t.Error(err)
					} else if ok {
						wins.Add(1)
					}
				}()
			}
			wg.Wait()
			if n := wins.Load(); n != 1 {
				t.Fatalf("round %d: %d swaps won, want 1", round, n)
			}
		}
	})
}
