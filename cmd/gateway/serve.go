package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"legacyauth/core"
	"legacyauth/core/limits"
	"legacyauth/gateway"
	"legacyauth/gateway/metrics"
	"legacyauth/gateway/migrate"
	"legacyauth/gateway/tracing"
	v1 "legacyauth/gateway/v1"
	"legacyauth/internal/logwriter"
)

// newLogger returns the logger writing to w through a logwriter.Writer (the
// log's write(2) off the request path), which the caller must Close at
// exit to write the last lines.
func newLogger(cfg *Config, w io.Writer) (*slog.Logger, *logwriter.Writer) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	lw := logwriter.New(w)
	if cfg.LogFormat == "text" || cfg.LogFormat == "auto" && isTerminal(w) {
		return slog.New(slog.NewTextHandler(lw, opts)), lw
	}
	return slog.New(jsonLogHandler{slog.NewJSONHandler(lw, opts), lw}), lw
}

// jsonLogHandler is slog's JSONHandler and its writer, to which the
// gateway writes its request lines directly (gateway.Options.RequestLog):
// the same bytes, at a fraction of slog's per-record cost.
type jsonLogHandler struct {
	*slog.JSONHandler
	w io.Writer
}

// requestLogOf returns the writer the gateway may write request lines to,
// or nil when they must go through log.
func requestLogOf(log *slog.Logger) io.Writer {
	if h, ok := log.Handler().(jsonLogHandler); ok {
		return h.w
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal), where
// people read logs; JSON is for log collectors.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// overrides replace parts of the production wiring in tests.
type overrides struct {
	Sender core.Sender
	Now    func() time.Time
	Hash   core.HashParams
	// Tracing is where spans go; nil: no traces (serve passes the
	// provider the OTEL_* environment asks for: startTracing).
	Tracing trace.TracerProvider
	// ObserveHashWait is told of every wait for a hash slot, after the
	// metrics (core.Config.ObserveHashWait).
	ObserveHashWait func(wait time.Duration, shed bool)
}

// app is the wired gateway.
type app struct {
	Handler http.Handler // the public listener's
	Admin   http.Handler // the admin listener's: /metrics, /healthz, /readyz, pprof
	Metrics *metrics.Metrics
	Service *core.Service
	Gateway *gateway.Gateway
	Limits  *limits.Limits // nil when limits are off
	// Migrator is the migration layer; nil when every dialect is served
	// by the core alone.
	Migrator *migrate.Migrator
	stores   *stores
}

func (a *app) Close() error {
	a.Migrator.Close()
	return a.stores.Close()
}

// build wires stores -> core -> dialects -> gateway from the configuration.
// It is the one place that knows every package.
func build(cfg *Config, log *slog.Logger, o overrides) (*app, error) {
	m := newMetrics(cfg)
	tr := tracing.New(o.Tracing) // nil when off: no hook, no wrapper
	sender := o.Sender
	if sender == nil {
		ch, err := newSender(cfg, log, m, tr)
		if err != nil {
			return nil, err
		}
		sender = ch
	}
	if n := countTestPhones(cfg.SMS.TestPhones); n > 0 {
		log.Warn("GATEWAY_TEST_PHONES: numbers with a fixed code that is never sent and no SMS limit", "numbers", n)
	}
	var lim *limits.Limits
	svc, st, err := openCore(context.Background(), cfg, log, o, func(st *stores, c *core.Config) {
		c.Sender = m.Sender(sender)
		c.TestPhones, c.SMSCountries = cfg.SMS.TestPhones, cfg.SMS.Countries
		c.ObserveHashWait = m.Hashing()
		if then := o.ObserveHashWait; then != nil {
			first := c.ObserveHashWait
			c.ObserveHashWait = func(d time.Duration, shed bool) { first(d, shed); then(d, shed) }
		}
		st.instrument(cfg, m)
		st.trace(cfg, tr, c)
		if cfg.LimitsOff {
			log.Warn("GATEWAY_LIMITS=off: no rate limit or brute-force lock is applied. Local testing only.")
		} else {
			lim = limits.New(st.limiter, st.events, cfg.Limits, o.Now, log)
		}
		m.Limits(lim)
		c.Guard = guardOf(lim)
	})
	if err != nil {
		return nil, err
	}
	var mounts []gateway.Mount
	for _, k := range dialectKinds {
		if d := cfg.Dialects[k.name]; d.Enabled {
			mounts = append(mounts, gateway.Mount{Dialect: k.mount(svc, d, log), Prefix: d.Prefix, Headers: deprecationHeaders(d)})
		}
	}
	mig, err := newMigrator(cfg, log, m, svc, st.durable, st.state, lim, mounts)
	if err != nil {
		st.Close()
		return nil, err
	}
	api := v1.New(svc, log)
	gw := gateway.New(gateway.Options{
		Mounts:     mounts,
		V1:         api,
		Log:        log,
		RequestLog: requestLogOf(log),
		NotFound: func(w http.ResponseWriter, r *http.Request) {
			v1.WriteProblem(w, http.StatusNotFound, "unknown_route", "Not Found", "no dialect serves this path and method")
		},
		TrustedProxies: cfg.TrustedProxies,
		Admit:          admitOf(lim),
		RejectV1:       func(w http.ResponseWriter, r *http.Request, err error) { v1.WriteError(w, err) },
		Observe:        m.ObserveRequest,
		Trace:          tr.RequestHook(),
		Wrap:           wrapOf(mig),
	})
	m.DetectionFailures(gw.DetectionFailures)
	m.Readiness(st.checks)
	// The gateway is the whole public handler: a ServeMux in front would
	// redirect paths with dot segments before any dialect or limit saw them.
	a := &app{Handler: gw, Metrics: m, Service: svc, Gateway: gw, Limits: lim, Migrator: mig, stores: st}
	if cfg.AdminToken == "" && cfg.AdminListen != "" {
		log.Info("admin API off: GATEWAY_ADMIN_TOKEN is empty, so the admin listener serves only /healthz, /readyz and /metrics")
	}
	a.Admin = adminHandler(m, st.checks, cfg.AdminToken, adminRoutes(a))
	return a, nil
}

// guardOf and admitOf keep a nil *Limits (limits off) from becoming a
// non-nil interface holding nil.
func guardOf(l *limits.Limits) core.Guard {
	if l == nil {
		return nil
	}
	return l
}

func admitOf(l *limits.Limits) func(context.Context) error {
	if l == nil {
		return nil
	}
	return l.AllowRequest
}

// deprecationHeaders are the signals an operator turns on for a dialect
// that is being retired: Deprecation (RFC 9745, "@" and Unix seconds),
// Sunset (RFC 8594, an HTTP-date) and a Link to the migration notes.
func deprecationHeaders(d *DialectConfig) http.Header {
	h := http.Header{}
	if !d.DeprecatedAt.IsZero() {
		h.Set("Deprecation", "@"+strconv.FormatInt(d.DeprecatedAt.Unix(), 10))
	}
	if !d.Sunset.IsZero() {
		h.Set("Sunset", d.Sunset.UTC().Format(http.TimeFormat))
	}
	if len(h) == 0 {
		return nil
	}
	if d.DeprecationLink != "" {
		h.Set("Link", "<"+d.DeprecationLink+`>; rel="deprecation"`)
	}
	return h
}

func loadSecret(cfg *Config) ([]byte, error) {
	if cfg.Secret != "" {
		return hex.DecodeString(cfg.Secret)
	}
	if cfg.Store != "memdb" {
		// A code sent by one instance is checked by another: they must share the key.
		return nil, fmt.Errorf("GATEWAY_SECRET is required with GATEWAY_STORE=%s: every instance must use the same code secret", cfg.Store)
	}
	return core.LoadOrCreateSecret(filepath.Join(cfg.DataDir, "secret"))
}

// newHTTPServer sets every time-out, so a slow or silent client (slow
// loris) cannot hold a connection and its goroutine forever.
func newHTTPServer(cfg *Config, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              cfg.Listen,
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    16 << 10, // the old apps send a handful of short headers
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// serve runs the gateway until ctx is done; the log's last lines are
// written (lw closed) before it returns.
func serve(ctx context.Context, cfg *Config, log *slog.Logger, lw *logwriter.Writer) error {
	defer lw.Close()
	tp, stopTracing, err := startTracing(ctx, os.Getenv, log)
	if err != nil {
		return err
	}
	defer func() { // after the listeners and stores: the last spans are flushed
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopTracing(flushCtx)
	}()
	a, err := build(cfg, log, overrides{Tracing: tp})
	if err != nil {
		return err
	}
	var draining atomic.Bool // set at the start of shutdown
	srv, admin := newHTTPServer(cfg, drainable(a.Handler, &draining), log), newAdminServer(cfg, unreadyWhen(a.Admin, &draining), log)
	// Bind both listeners before saying so: a taken port is an error at
	// start, not a line saying "listening" followed by one.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		a.Close()
		return fmt.Errorf("listen on %s (GATEWAY_LISTEN): %w", cfg.Listen, err)
	}
	errc := make(chan error, 2)
	if err := startAdmin(admin, errc, log); err != nil {
		ln.Close()
		a.Close()
		return err
	}
	go func() { errc <- srv.Serve(ln) }()
	log.LogAttrs(context.Background(), slog.LevelInfo, "gateway listening", startupAttrs(cfg, a, ln.Addr().String())...)
	select {
	case err := <-errc:
		srv.Close()
		stopAdmin(context.Background(), admin)
		a.Close()
		return err
	case <-ctx.Done():
	}
	// Unready first, close later: a load balancer polling /readyz stops
	// sending here while the listener still serves whatever it sends until
	// it notices.
	draining.Store(true)
	if cfg.ShutdownDrain > 0 {
		log.Info("shutting down: /readyz answers 503, still serving while load balancers drain this instance", "drain", cfg.ShutdownDrain.String())
		time.Sleep(cfg.ShutdownDrain)
	}
	log.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	stopAdmin(shutdownCtx, admin)
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	log.Info("stopped")
	return err
}

// drainable asks clients to close their connection after each reply once
// draining is set (Connection: close), so that keep-alive clients and
// connection-level balancers move to another instance before the listener
// closes, instead of finding an idle connection closed under them.
func drainable(h http.Handler, draining *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// unreadyWhen answers /readyz with 503 {"shutdown":"draining"} once
// draining is set, whatever the stores say; every other path is h's.
func unreadyWhen(h http.Handler, draining *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && draining.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"shutdown":"draining"}`+"\n")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// startupAttrs describe what serves: version, address, store, mounts with
// their modes, and whether limits are on.
func startupAttrs(cfg *Config, a *app, addr string) []slog.Attr {
	attrs := []slog.Attr{slog.String("version", version), slog.String("addr", addr), slog.String("store", cfg.Store)}
	if cfg.Store == "memdb" {
		attrs = append(attrs, slog.String("data_dir", cfg.DataDir))
	} else {
		attrs = append(attrs, slog.String("postgres_schema", cfg.PostgresSchema))
	}
	if cfg.RedisURL != "" {
		attrs = append(attrs, slog.String("redis_prefix", cfg.RedisPrefix))
	}
	var mounts []string
	for _, k := range dialectKinds {
		if d := cfg.Dialects[k.name]; d.Enabled {
			mode := string(d.Mode)
			if mode == "" {
				mode = "core"
			}
			mounts = append(mounts, k.name+"="+d.Prefix+" ("+mode+")")
		}
	}
	mounts = append(mounts, "v1=/v1 (core)")
	attrs = append(attrs, slog.String("mounts", strings.Join(mounts, ", ")), slog.Bool("limits", a.Limits != nil))
	return attrs
}
