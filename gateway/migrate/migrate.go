// Package migrate moves a dialect's traffic from its old server to the
// gateway's core step by step. Per dialect, and optionally per operation,
// a Mode says who answers:
//
//   - Core: the core, as without this package. With an old server
//     configured, a login for a phone the core does not know is first
//     tried on the old server and, if it succeeds there, the user is
//     imported with that password (lazy migration) and served by the core.
//   - Proxy: the old server. The request goes to it unchanged and its
//     reply comes back unchanged.
//   - Shadow: the old server, as Proxy; in the background the same request
//     is also replayed through the core and the two outcomes are compared
//     in canonical terms, counted and, when they differ, logged.
//   - Split: a stable share of phones (by a hash of the phone) by the core,
//     the rest by the old server.
//
// It hooks into the gateway through gateway.Options.Wrap, so the gateway
// itself knows nothing of old servers: the request limit runs before it,
// and the route's body limit and handler run after it, only for requests
// it hands to the core.
package migrate

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"legacyauth/core"
	"legacyauth/gateway"
)

// Users finds a core user by E.164 phone without counting a look-up
// against the client (core.Store does).
type Users interface {
	UserByPhone(ctx context.Context, phone string) (*core.User, error)
}

// Options configure a Migrator.
type Options struct {
	Dialects map[string]Dialect // by dialect name; absent: Core without an old server
	// Timeout bounds each exchange with an old server (default 10s); a
	// request it cuts off gets the dialect's server-error reply.
	Timeout time.Duration
	// ShadowSideEffects also shadows operations that act (send a code,
	// register, reset a password, verify a code, store an avatar): each
	// would then act twice, once on each side.
	ShadowSideEffects bool
	// ShadowQueue bounds the shadow requests waiting for a worker (default
	// 1000); more are dropped and counted. ShadowWorkers replay them
	// (default 2).
	ShadowQueue   int
	ShadowWorkers int
	// MismatchLogsPerMinute bounds the mismatch log lines (default 10).
	MismatchLogsPerMinute int
	// TrustedProxies are believed about X-Forwarded-For, as by the gateway.
	TrustedProxies []netip.Prefix

	// Users, Flows, Import and Guard are the core, for lazy migration and
	// split routing: is a phone known, is a flow the core's, create a user,
	// count a failed login. Import is core.Service.ImportUser.
	Users  Users
	Flows  func(ctx context.Context, id string) (*core.Flow, error)
	Import func(ctx context.Context, req core.ImportRequest) (*core.User, error)
	Guard  core.Guard

	// Rollout steers split tracks step by step (see RolloutOptions); its
	// State is also where status and operators' commands meet.
	Rollout RolloutOptions

	Log        *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are kept but not exposed
	// Transport carries requests to the old servers; nil is a transport
	// with sensible time-outs.
	Transport http.RoundTripper
}

// Migrator is the migration layer. Build it with New, hook Wrap into
// gateway.Options.Wrap, and Close it at shutdown.
type Migrator struct {
	opts     Options
	dialects map[string]*dialectState
	log      *slog.Logger
	met      *metricSet
	shadow   *shadowQueue
	ctl      *controller
}

// dialectState is one configured dialect.
type dialectState struct {
	name string
	wire *wire
	cfg  Dialect
	up   *upstream // nil without an old server
	// tracks are the rollout tracks by operation (with an old server).
	tracks map[string]*liveTrack
	noise  *noiseModel
}

// New checks the configuration and starts the shadow workers.
func New(o Options) (*Migrator, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.ShadowQueue <= 0 {
		o.ShadowQueue = 1000
	}
	if o.ShadowWorkers <= 0 {
		o.ShadowWorkers = 2
	}
	if o.MismatchLogsPerMinute <= 0 {
		o.MismatchLogsPerMinute = 10
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	m := &Migrator{opts: o, dialects: map[string]*dialectState{}, log: o.Log, met: newMetrics(o.Registerer)}
	m.ctl = newController(m, o.Rollout)
	transport := o.Transport
	if transport == nil {
		transport = newTransport(o.Timeout)
	}
	names := make([]string, 0, len(o.Dialects))
	for name := range o.Dialects {
		names = append(names, name)
	}
	sort.Strings(names)
	shadowing := false
	for _, name := range names {
		cfg := o.Dialects[name]
		if cfg.Wire == nil {
			return nil, fmt.Errorf("migrate: dialect %q cannot be migrated: it does not describe its wire format (migrate.Wire)", name)
		}
		w := newWire(cfg.Wire)
		if cfg.SplitPercent < 0 || cfg.SplitPercent > 100 {
			return nil, fmt.Errorf("migrate: %s: split percent %d is not 0-100", name, cfg.SplitPercent)
		}
		modes := []Mode{cfg.ModeOf("")}
		for op, mode := range cfg.Modes {
			if _, known := w.ops[op]; !known {
				return nil, fmt.Errorf("migrate: %s has no operation %q", name, op)
			}
			modes = append(modes, mode)
		}
		for _, mode := range modes {
			if mode != Core && cfg.Upstream == nil {
				return nil, fmt.Errorf("migrate: %s: mode %s needs the old server's URL (GATEWAY_%s_UPSTREAM)", name, mode, strings.ToUpper(name))
			}
			shadowing = shadowing || mode == Shadow
		}
		for _, op := range cfg.Wire.Operations() {
			if op.Unsafe != "" && cfg.ModeOf(op.Name) != Core {
				up := strings.ToUpper(name)
				m.log.Warn(fmt.Sprintf("%s %s is not served by the core: %s; keep it in core mode (GATEWAY_%s_MODES=%s=core) unless the old server was fixed", name, op.Name, op.Unsafe, up, op.Name))
			}
		}
		ds := &dialectState{name: name, wire: w, cfg: cfg, noise: newNoiseModel(cfg.Wire)}
		if cfg.Upstream != nil {
			ds.up = newUpstream(name, cfg.Upstream, transport, o.Timeout, o.TrustedProxies, m.met, m.log)
			m.met.preset(name)
			rollout, err := m.addTracks(ds)
			if err != nil {
				return nil, err
			}
			shadowing = shadowing || rollout
		} else if len(cfg.Rollout) > 0 {
			return nil, fmt.Errorf("migrate: %s: a rollout needs the old server (GATEWAY_%s_UPSTREAM)", name, strings.ToUpper(name))
		}
		m.dialects[name] = ds
	}
	if shadowing {
		m.shadow = newShadowQueue(m, o.ShadowQueue, o.ShadowWorkers)
	}
	if len(m.ctl.tracks) > 0 {
		m.ctl.start()
	}
	return m, nil
}

// addTracks makes a dialect's rollout tracks: one for the operations
// that follow the dialect's mode, one per operation with a mode of its
// own. It reports whether any walks a schedule.
func (m *Migrator) addTracks(ds *dialectState) (bool, error) {
	cfg := ds.cfg
	if err := CheckSteps(cfg.Rollout); err != nil {
		return false, fmt.Errorf("migrate: %s rollout: %w", ds.name, err)
	}
	ds.tracks = map[string]*liveTrack{}
	rollout := false
	for _, op := range Ops(cfg.Wire) {
		own := ""
		if _, found := cfg.Modes[op]; found {
			own = op
		}
		key := trackKey(ds.name, own)
		t := m.ctl.tracks[key]
		if t == nil {
			t = &liveTrack{key: key, dialect: ds.name, op: own, mode: cfg.ModeOf(op), initial: cfg.SplitPercent}
			if t.mode == Split && len(cfg.Rollout) > 0 {
				t.steps = cfg.Rollout
				t.initial = cfg.Rollout[0]
			}
			m.ctl.add(t)
		}
		t.ops = append(t.ops, op)
		ds.tracks[op] = t
		rollout = rollout || t.rollout()
	}
	if len(cfg.Rollout) > 0 && !rollout {
		return false, fmt.Errorf("migrate: %s has a rollout schedule but no operation in split mode (GATEWAY_%s_MODE=split)", ds.name, strings.ToUpper(ds.name))
	}
	return rollout, nil
}

// CheckSteps checks a rollout schedule: rising percentages from 1 to 100.
func CheckSteps(steps []int) error {
	for i, s := range steps {
		if s < 1 || s > 100 {
			return fmt.Errorf("step %d is not 1-100", s)
		}
		if i > 0 && s <= steps[i-1] {
			return fmt.Errorf("steps must rise: %d after %d", s, steps[i-1])
		}
	}
	return nil
}

// Status is the migration's state as GET /migration answers it: the
// shared record, and what this instance learnt of each operation's noise
// (fields compared by shape), by track.
type Status struct {
	*State
	Noise map[string][]string `json:"noise,omitempty"`
}

// Status brings the shared state up to date (this instance's counts
// included) and returns it.
func (m *Migrator) Status(ctx context.Context) (*Status, error) {
	if err := m.ctl.sync(ctx, nil); err != nil {
		return nil, err
	}
	return m.status(), nil
}

// Control applies an operator's command to the shared state; every
// instance follows at its next poll, this one at once.
func (m *Migrator) Control(ctx context.Context, cmd Command) (*Status, error) {
	if err := m.ctl.sync(ctx, cmd.Apply); err != nil {
		return nil, err
	}
	m.log.Info("migration: operator command", "action", cmd.Action, "target", cmd.Target, "reason", cmd.Reason)
	return m.status(), nil
}

func (m *Migrator) status() *Status {
	m.ctl.mu.Lock()
	st := m.ctl.last
	m.ctl.mu.Unlock()
	if st == nil {
		st = &State{Tracks: map[string]*Track{}}
	}
	s := &Status{State: st, Noise: map[string][]string{}}
	for _, name := range sortedKeys(m.dialects) {
		for op, fields := range m.dialects[name].noise.noise() {
			s.Noise[name+"."+op] = fields
		}
	}
	return s
}

// Close stops the shadow workers; requests still queued are dropped. The
// gateway must not serve requests any more. A nil Migrator does nothing.
func (m *Migrator) Close() {
	if m == nil {
		return
	}
	if m.shadow != nil {
		m.shadow.close()
	}
	if len(m.ctl.tracks) > 0 {
		m.ctl.close()
	}
}

// Describe lists, for the start-up log, each dialect's modes.
func (m *Migrator) Describe() []slog.Attr {
	var attrs []slog.Attr
	for name, ds := range m.dialects {
		desc := string(ds.cfg.ModeOf(""))
		if ds.cfg.ModeOf("") == Split {
			desc += " " + strconv.Itoa(ds.cfg.SplitPercent) + "% core"
			if len(ds.cfg.Rollout) > 0 {
				desc += " (rollout " + fmt.Sprint(ds.cfg.Rollout) + ")"
			}
		}
		for op, mode := range ds.cfg.Modes {
			desc += ", " + op + "=" + string(mode)
		}
		if ds.up != nil {
			desc += ", old server " + ds.up.target.Redacted()
		}
		attrs = append(attrs, slog.String(name, desc))
	}
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].Key < attrs[j].Key })
	return attrs
}

// Wrap is the gateway.Options.Wrap hook: it returns next itself for a
// route that stays with the core (no mode but Core for any of its
// operations, and no lazy migration), so a dialect without a migration
// setting costs nothing.
func (m *Migrator) Wrap(d gateway.Dialect, rt gateway.Route, next http.Handler) http.Handler {
	ds := m.dialects[d.Name()]
	if ds == nil {
		return next
	}
	involved := false
	ops := rt.Ops
	if ops == nil {
		ops = []string{rt.Op}
	}
	for _, op := range ops {
		involved = involved || ds.cfg.ModeOf(op) != Core || (ds.up != nil && ds.wire.ops[op].Login)
	}
	if !involved {
		return next
	}
	return &route{m: m, ds: ds, d: d, rt: rt, next: next}
}
