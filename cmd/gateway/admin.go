package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"legacyauth/gateway/metrics"
)

// The admin listener (GATEWAY_ADMIN_LISTEN, loopback by default) serves
// what operators and load balancers need and the public must not reach:
// /metrics, /healthz, /readyz, and with GATEWAY_ADMIN_TOKEN the admin API
// (pprof, and what changes state). None of these is routed on the public
// listener, where they get the unknown-route 404.

// newMetrics builds the metrics the configuration asks for.
func newMetrics(cfg *Config) *metrics.Metrics {
	return metrics.New(metrics.Options{ClientVersionHeader: cfg.ClientVersionHeader, ClientVersionLabels: cfg.ClientVersionLabels})
}

// adminRoute is an endpoint of the admin API: served only when an admin
// token is set, and only to a request that carries it.
type adminRoute struct {
	pattern string // http.ServeMux's, e.g. "GET /migration"
	handler http.Handler
}

// adminRoutes are the admin API's endpoints. pprof's handlers are mounted
// here explicitly, behind the token: a profile shows the command line
// and memory, secrets included. (The package's init also registers them
// on http.DefaultServeMux, whatever the import; no server here serves
// that mux: both listeners have their own handler, so that registration
// is unreachable.)
func adminRoutes(a *app) []adminRoute {
	return append([]adminRoute{
		{"/debug/pprof/", http.HandlerFunc(pprof.Index)}, // also the named profiles: heap, goroutine, block, mutex, allocs, threadcreate
		{"/debug/pprof/cmdline", http.HandlerFunc(pprof.Cmdline)},
		{"/debug/pprof/profile", http.HandlerFunc(pprof.Profile)},
		{"/debug/pprof/symbol", http.HandlerFunc(pprof.Symbol)},
		{"/debug/pprof/trace", http.HandlerFunc(pprof.Trace)},
		{"GET /migration", migrationStatusHandler(a)},
		{"POST /migration", migrationControlHandler(a)},
	}, userRoutes(a)...)
}

// adminHandler routes the admin listener: /metrics, /healthz and /readyz
// for everyone who reaches it; the admin API (routes) for requests with
// "Authorization: Bearer <token>", and not at all without a token.
func adminHandler(m *metrics.Metrics, checks map[string]func(context.Context) error, token string, routes []adminRoute) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	health := healthHandler(checks)
	mux.Handle("GET /healthz", health)
	mux.Handle("GET /readyz", health)
	if token != "" {
		for _, r := range routes {
			mux.Handle(r.pattern, requireToken(token, r.handler))
		}
	}
	return mux
}

// requireToken answers 401 unless the request carries the admin token.
func requireToken(token string, h http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// Compared as digests: constant time whatever the lengths.
		if sum := sha256.Sum256([]byte(got)); !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gateway admin"`)
			http.Error(w, "an admin token is required (Authorization: Bearer ...)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// adminWriteTimeout bounds a reply on the admin listener. It is longer than
// the public one: a CPU profile or trace streams for as long as asked
// (?seconds=N), and pprof refuses N at or over the server's WriteTimeout.
const adminWriteTimeout = 5 * time.Minute

// newAdminServer is the admin listener's server; nil when it is off.
func newAdminServer(cfg *Config, h http.Handler, log *slog.Logger) *http.Server {
	if cfg.AdminListen == "" {
		return nil
	}
	srv := newHTTPServer(cfg, h, log)
	srv.Addr = cfg.AdminListen
	srv.WriteTimeout = max(cfg.WriteTimeout, adminWriteTimeout)
	return srv
}

// startAdmin binds the admin listener and serves it in the background;
// a failure to bind is returned, a later one sent on errc.
func startAdmin(srv *http.Server, errc chan<- error, log *slog.Logger) error {
	if srv == nil {
		log.Info("admin listener off: no /metrics, /healthz, /readyz or pprof")
		return nil
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("admin listener on %s (GATEWAY_ADMIN_LISTEN): %w", srv.Addr, err)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("admin listener: %w", err)
		}
	}()
	log.Info("admin listening", "addr", ln.Addr().String())
	return nil
}

// stopAdmin shuts the admin listener down once the public one has drained
// (so a draining instance can still be scraped), and closes it when a
// long profile outlasts ctx.
func stopAdmin(ctx context.Context, srv *http.Server) {
	if srv == nil {
		return
	}
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
}

// healthHandler serves /healthz (the process answers) and /readyz (every
// store answers within a second); a load balancer takes an instance out
// while /readyz fails, and it comes back by itself.
func healthHandler(checks map[string]func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		res := map[string]string{}
		status := http.StatusOK
		for name, check := range checks {
			if err := check(ctx); err != nil {
				res[name] = "unavailable"
				status = http.StatusServiceUnavailable
			} else {
				res[name] = "ok"
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(res)
	})
	return mux
}
