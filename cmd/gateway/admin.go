package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"legacyauth/gateway/metrics"
)

// The admin listener (GATEWAY_ADMIN_LISTEN, loopback by default) serves
// what operators and load balancers need and the public must not reach:
// /metrics, /healthz, /readyz and the pprof profiles. None of these is
// routed on the public listener, where they get the unknown-route 404.

// newMetrics builds the metrics the configuration asks for.
func newMetrics(cfg *Config) *metrics.Metrics {
	return metrics.New(metrics.Options{ClientVersionHeader: cfg.ClientVersionHeader, ClientVersionLabels: cfg.ClientVersionLabels})
}

// adminHandler routes the admin endpoints. pprof's handlers are mounted
// here explicitly. (The package's init also registers them on
// http.DefaultServeMux, whatever the import; no server here serves that
// mux: both listeners have their own handler, so that registration is
// unreachable.)
func adminHandler(m *metrics.Metrics, checks map[string]func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	health := healthHandler(checks)
	mux.Handle("GET /healthz", health)
	mux.Handle("GET /readyz", health)
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also the named profiles: heap, goroutine, block, mutex, allocs, threadcreate
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
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
