package redis

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/ulule/limiter/v3"
	redisstore "github.com/ulule/limiter/v3/drivers/store/redis"
)

// LimiterStore returns ulule/limiter's own Redis driver over this Store's
// client, its keys under Prefix+"limit:", for core/limits: every gateway
// instance then counts in the same windows and sees the same locks.
//
// The driver's counters expire with their rate's period: its increment
// script sets the TTL when the returned count equals the increment, that is
// on a fresh key — which is how core/limits writes its lock deadlines (Reset,
// then one Increment by the deadline in Unix milliseconds), so locks expire
// too. Counts are exact below 2^53 (the script's Lua doubles).
//
// The driver loads its scripts when built; when Redis was down at Open, it
// is built on first use instead. Every call is bounded by OpTimeout, and
// its errors are *core.Error (Unavailable when Redis does not answer).
func (s *Store) LimiterStore() limiter.Store { return s.limiter }

// limiterStore builds the driver lazily and wraps its calls.
type limiterStore struct {
	s     *Store
	mu    sync.Mutex // serializes building
	inner atomic.Pointer[limiter.Store]
}

var _ limiter.Store = (*limiterStore)(nil)

// store returns the driver, building it when needed. The driver loads its
// scripts without a deadline of its own (the client's time-outs bound it),
// so the server is first asked to answer within ctx's.
func (l *limiterStore) store(ctx context.Context) (limiter.Store, error) {
	if p := l.inner.Load(); p != nil {
		return *p, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.inner.Load(); p != nil {
		return *p, nil
	}
	if err := l.s.client.Ping(ctx).Err(); err != nil {
		return nil, err
	}
	// The driver joins its prefix and a key with ":".
	st, err := redisstore.NewStoreWithOptions(l.s.client, limiter.StoreOptions{Prefix: l.s.prefix + "limit"})
	if err != nil {
		return nil, err
	}
	l.inner.Store(&st)
	return st, nil
}

// do runs one driver call under OpTimeout.
func (l *limiterStore) do(ctx context.Context, op string, f func(context.Context, limiter.Store) (limiter.Context, error)) (limiter.Context, error) {
	ctx, cancel := l.s.call(ctx)
	defer cancel()
	st, err := l.store(ctx)
	if err != nil {
		return limiter.Context{}, l.s.fail(op, err)
	}
	c, err := f(ctx, st)
	if err != nil {
		return limiter.Context{}, l.s.fail(op, err)
	}
	return c, nil
}

func (l *limiterStore) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return l.do(ctx, "redis.limiter.Get", func(ctx context.Context, st limiter.Store) (limiter.Context, error) {
		return st.Get(ctx, key, rate)
	})
}

func (l *limiterStore) Peek(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return l.do(ctx, "redis.limiter.Peek", func(ctx context.Context, st limiter.Store) (limiter.Context, error) {
		return st.Peek(ctx, key, rate)
	})
}

func (l *limiterStore) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return l.do(ctx, "redis.limiter.Reset", func(ctx context.Context, st limiter.Store) (limiter.Context, error) {
		return st.Reset(ctx, key, rate)
	})
}

func (l *limiterStore) Increment(ctx context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	return l.do(ctx, "redis.limiter.Increment", func(ctx context.Context, st limiter.Store) (limiter.Context, error) {
		return st.Increment(ctx, key, count, rate)
	})
}
