package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"legacyauth/core"
)

// The admin API's user endpoints (docs/operations.md, "Support"): show,
// unlock, logout everywhere, delete, and the audit trail of a phone. Each
// is an admin action, itself recorded in the audit trail.

// userRoutes are the user endpoints of the admin API (adminRoutes): one
// per userActions entry.
func userRoutes(a *app) []adminRoute {
	var routes []adminRoute
	for _, name := range slices.Sorted(maps.Keys(userActions)) {
		act := userActions[name]
		routes = append(routes, adminRoute{act.method + " /users/{phone}" + act.suffix, adminUserHandler(func(ctx context.Context, phone string, r *http.Request) (any, error) {
			days := 0
			if v := r.URL.Query().Get("days"); v != "" && name == "audit" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return nil, core.E("admin.audit", core.Invalid, "days must be a positive number")
				}
				days = n
			}
			return act.run(ctx, a.Service, phone, days)
		})})
	}
	return routes
}

// adminUserHandler runs fn for the request's phone as the "admin-api"
// actor from the operator's address, and answers JSON: the result, or
// {"error": kind, "message": ...} with 400, 404, 503 or 500.
func adminUserHandler(fn func(ctx context.Context, phone string, r *http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := core.WithAuditActor(r.Context(), "admin-api")
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			ctx = core.WithClientIP(ctx, host)
		}
		res, err := fn(ctx, r.PathValue("phone"), r)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if err != nil {
			w.WriteHeader(adminStatus(err))
			_ = json.NewEncoder(w).Encode(adminError(err))
			return
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	})
}

func adminStatus(err error) int {
	switch core.KindOf(err) {
	case core.Invalid:
		return http.StatusBadRequest
	case core.NotRegistered, core.NotFound:
		return http.StatusNotFound
	case core.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// adminError is an error's reply: its kind, and core's message for the
// kinds an operator acts on (no store internals).
func adminError(err error) map[string]string {
	k := core.KindOf(err)
	msg := "internal error; see the gateway's log"
	var ce *core.Error
	if k != core.Internal && errors.As(err, &ce) && ce.Msg != "" {
		msg = ce.Msg
	}
	return map[string]string{"error": k.String(), "message": msg}
}

// newAuditLog builds the audit sink: records to the stream GATEWAY_AUDIT_LOG
// names, and events to the durable store for the admin API's queries.
func newAuditLog(cfg *Config, log *slog.Logger, st *stores, now func() time.Time) (*core.AuditLog, error) {
	alog := log
	switch cfg.AuditLog {
	case "":
	case "stderr":
		alog = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	case "stdout":
		alog = slog.New(slog.NewJSONHandler(os.Stdout, nil))
	default:
		f, err := os.OpenFile(cfg.AuditLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("audit log (GATEWAY_AUDIT_LOG): %w", err)
		}
		st.closers = append(st.closers, f)
		alog = slog.New(slog.NewJSONHandler(f, nil))
	}
	store, _ := st.durable.(core.AuditStore)
	a := core.NewAuditLog(core.AuditLogOptions{
		Log: alog, Store: store, Retention: cfg.AuditRetention, Now: now,
		Errors: func(err error) { log.Error("audit: storing events failed", "err", err) },
	})
	st.closers = append(st.closers, a) // closed before the stores: it writes to them
	return a, nil
}

// importMigrated is the migration layer's import: users it takes over at
// their first login are recorded as lazily migrated.
func importMigrated(svc *core.Service) func(context.Context, core.ImportRequest) (*core.User, error) {
	return func(ctx context.Context, req core.ImportRequest) (*core.User, error) {
		req.Source = core.SourceMigrated
		return svc.ImportUser(ctx, req)
	}
}
