package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"legacyauth/core"
	"legacyauth/core/limits"
	"legacyauth/gateway"
	"legacyauth/gateway/metrics"
	"legacyauth/gateway/migrate"
)

// newMigrator builds the migration layer (gateway/migrate) from each
// enabled dialect's mode and old server, over the mounted dialects' wire
// knowledge (migrate.Wire); nil when every dialect is served by the core
// alone, as by default.
func newMigrator(cfg *Config, log *slog.Logger, m *metrics.Metrics, svc *core.Service, users migrate.Users, state migrate.StateStore, lim *limits.Limits, mounts []gateway.Mount) (*migrate.Migrator, error) {
	dialects := map[string]migrate.Dialect{}
	for _, mount := range mounts {
		name := mount.Dialect.Name()
		d := cfg.Dialects[name]
		if d == nil || d.Upstream == nil {
			continue // validate made sure a dialect without an old server is in core mode
		}
		w, ok := mount.Dialect.(migrate.Wire)
		if !ok {
			return nil, fmt.Errorf("%s cannot be migrated from an old server: it does not describe its wire format (migrate.Wire)", name)
		}
		dialects[name] = migrate.Dialect{Wire: w, Mode: d.Mode, Modes: d.Modes, Upstream: d.Upstream, SplitPercent: d.SplitPercent, Rollout: d.Rollout}
	}
	if len(dialects) == 0 {
		return nil, nil
	}
	mig, err := migrate.New(migrate.Options{
		Dialects:          dialects,
		Timeout:           cfg.UpstreamTimeout,
		ShadowSideEffects: cfg.ShadowSideEffects,
		ShadowQueue:       cfg.ShadowQueue,
		ShadowWorkers:     cfg.ShadowWorkers,
		TrustedProxies:    cfg.TrustedProxies,
		Users:             users,
		Flows:             svc.Flow,
		Import:            importMigrated(svc),
		Guard:             guardOf(lim),
		Log:               log,
		Registerer:        m.Registry(),
		Rollout: migrate.RolloutOptions{
			State:            state,
			Poll:             cfg.RolloutPoll,
			MinTime:          cfg.RolloutMinTime,
			MinRequests:      cfg.RolloutMinRequests,
			MaxMismatch:      cfg.RolloutMaxMismatch,
			MaxErrorIncrease: max(cfg.RolloutMaxErrorIncrease, 1e-9), // 0 is "no increase", not the default
		},
	})
	if err != nil {
		return nil, err
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, "migration from old servers", mig.Describe()...)
	if cfg.ShadowSideEffects {
		log.Warn("GATEWAY_SHADOW_SIDE_EFFECTS is on: shadowed codes, registrations and password resets act on the old server and on the core alike")
	}
	return mig, nil
}

// wrapOf is the gateway's Wrap hook of a migration layer; nil for none
// (so that a nil *Migrator does not become a non-nil func).
func wrapOf(mig *migrate.Migrator) func(gateway.Dialect, gateway.Route, http.Handler) http.Handler {
	if mig == nil {
		return nil
	}
	return mig.Wrap
}

// wireOf is a dialect's wire knowledge for reading its settings (the
// operation names of per-operation modes), before there is a core: the
// dialect built without one, as Wire reads only its own tables. Nil when
// the dialect cannot be migrated.
func wireOf(k dialectKind) migrate.Wire {
	w, _ := k.mount(nil, &DialectConfig{}, slog.New(slog.DiscardHandler)).(migrate.Wire)
	return w
}
