package main

import (
	"context"
	"log/slog"
	"net/http"

	"legacyauth/core"
	"legacyauth/core/limits"
	"legacyauth/gateway"
	"legacyauth/gateway/metrics"
	"legacyauth/gateway/migrate"
)

// newMigrator builds the migration layer (gateway/migrate) from each
// enabled dialect's mode and old server; nil when every dialect is served
// by the core alone, as by default.
func newMigrator(cfg *Config, log *slog.Logger, m *metrics.Metrics, svc *core.Service, users migrate.Users, lim *limits.Limits) (*migrate.Migrator, error) {
	dialects := map[string]migrate.Dialect{}
	for name, d := range cfg.Dialects {
		if !d.Enabled || d.Upstream == nil {
			continue // validate made sure a dialect without an old server is in core mode
		}
		md := migrate.Dialect{Mode: d.Mode, Modes: d.Modes, Upstream: d.Upstream, SplitPercent: d.SplitPercent}
		dialects[name] = md
		if name == "apiv4" && md.ModeOf("forget_password") != migrate.Core {
			// The old server let anyone reset anyone's password: only the
			// core enforces verify_code first.
			log.Warn("apiv4 forget_password is not served by the core: the old server resets any phone's password without a verified code; keep it in core mode (GATEWAY_APIV4_MODES=forget_password=core) unless the old server was fixed")
		}
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
		Import:            svc.ImportUser,
		Guard:             guardOf(lim),
		Log:               log,
		Registerer:        m.Registry(),
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
