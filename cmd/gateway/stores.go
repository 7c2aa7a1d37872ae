package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ulule/limiter/v3"

	"legacyauth/core"
	"legacyauth/core/limits"
	"legacyauth/core/memdb"
	"legacyauth/core/postgres"
	"legacyauth/core/redis"
	"legacyauth/gateway/metrics"
	"legacyauth/gateway/migrate"
)

// stores are the back ends one gateway uses: a durable store (memdb or
// PostgreSQL), an ephemeral store (the durable one, or Redis), and the
// rate limiter's counters (memory, or Redis).
type stores struct {
	durable core.Store
	// state is the durable store as opened, for the rollout's shared
	// state: the metrics and tracing wrappers of durable implement only
	// core.Store, so it is kept from before they wrap it.
	state     migrate.StateStore
	ephemeral core.EphemeralStore
	limiter   limiter.Store
	events    limits.Log
	checks    map[string]func(context.Context) error // for /readyz
	closers   []io.Closer
}

func (s *stores) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i].Close())
	}
	return errors.Join(errs...)
}

// openStores opens what the configuration names. Several instances share
// state only through PostgreSQL and Redis: memdb is one process's.
func openStores(ctx context.Context, cfg *Config, log *slog.Logger, now func() time.Time) (*stores, error) {
	s := &stores{checks: map[string]func(context.Context) error{}}
	switch cfg.Store {
	case "memdb":
		m, err := memdb.Open(cfg.DataDir, memdb.Options{Logger: log, Now: now, AvatarGrace: cfg.AvatarGrace})
		if err != nil {
			return nil, fmt.Errorf("open the embedded store in %s: %w", cfg.DataDir, err)
		}
		s.durable, s.ephemeral, s.state = m, m, m
		s.checks["memdb"] = m.Ping
		s.closers = append(s.closers, m)
	case "postgres":
		p, err := postgres.Open(ctx, cfg.PostgresURL, postgres.Options{Logger: log, Schema: cfg.PostgresSchema, Now: now, AvatarGrace: cfg.AvatarGrace, ExecMode: cfg.PostgresExecMode})
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL: %w", err)
		}
		s.durable, s.ephemeral, s.state = p, p, p
		s.checks["postgres"] = p.Ping
		s.closers = append(s.closers, p)
	}
	if cfg.RedisURL != "" {
		r, err := redis.Open(ctx, cfg.RedisURL, redis.Options{Prefix: cfg.RedisPrefix, Logger: log, Now: now})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("open Redis: %w", err)
		}
		s.ephemeral, s.limiter, s.events = r, r.LimiterStore(), r.EventLog()
		s.checks["redis"] = r.Ping
		s.closers = append(s.closers, r)
	} else {
		s.limiter, s.events = limits.NewMemoryStore(nil), limits.NewMemoryLog()
		if cfg.Store == "postgres" {
			log.Warn("GATEWAY_REDIS_URL is empty: rate limits are counted per instance; with several instances behind a load balancer each one allows the full budget")
		}
	}
	return s, nil
}

// instrument wraps the durable and ephemeral stores so that every call's
// time and error kind are recorded (gateway_store_*), labelled with the
// back end that answers it.
func (s *stores) instrument(cfg *Config, m *metrics.Metrics) {
	ephemeral := cfg.Store
	if cfg.RedisURL != "" {
		ephemeral = "redis"
	}
	s.durable = m.Store(cfg.Store, s.durable)
	s.ephemeral = m.EphemeralStore(ephemeral, s.ephemeral)
}
