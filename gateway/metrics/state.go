package metrics

import (
	"context"
	"time"

	"legacyauth/core"
)

// stateStore is gateway/migrate.StateStore (the shared migration state),
// which the durable stores implement besides core.Store.
type stateStore interface {
	LoadState(ctx context.Context, key string) ([]byte, int64, error)
	CompareAndSwapState(ctx context.Context, key string, version int64, value []byte) (bool, error)
}

func (s *store) LoadState(ctx context.Context, key string) (_ []byte, _ int64, err error) {
	defer s.stateDone("LoadState", time.Now(), &err)
	ss, ok := s.s.(stateStore)
	if !ok {
		return nil, 0, core.E("metrics.LoadState", core.Unavailable, "this store keeps no shared state")
	}
	return ss.LoadState(ctx, key)
}

func (s *store) CompareAndSwapState(ctx context.Context, key string, version int64, value []byte) (_ bool, err error) {
	defer s.stateDone("CompareAndSwapState", time.Now(), &err)
	ss, ok := s.s.(stateStore)
	if !ok {
		return false, core.E("metrics.CompareAndSwapState", core.Unavailable, "this store keeps no shared state")
	}
	return ss.CompareAndSwapState(ctx, key, version, value)
}

// stateDone records a state call as done records the others (the state
// methods are not in the observer's list of core.Store methods).
func (s *store) stateDone(method string, start time.Time, err *error) {
	s.o.m.storeTime.WithLabelValues(s.o.name, method).Observe(time.Since(start).Seconds())
	if *err != nil {
		s.o.m.storeErrs.WithLabelValues(s.o.name, method, core.KindOf(*err).String()).Inc()
	}
}
