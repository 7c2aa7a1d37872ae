package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"legacyauth/core"
	"legacyauth/core/limits"
)

// userActions are the user operations of the admin API (userRoutes) and
// of `gateway user ACTION PHONE` (against the store directly, or through
// the API with --admin): method and path suffix of the endpoint, and what
// it runs. days is the audit query's window (0: the retention).
var userActions = map[string]struct {
	method, suffix, summary string
	run                     func(ctx context.Context, svc *core.Service, phone string, days int) (any, error)
}{
	"show": {http.MethodGet, "", "show an account: registration, last login (address masked), sessions, locks, source, hash format",
		func(ctx context.Context, svc *core.Service, phone string, _ int) (any, error) {
			return svc.UserInfo(ctx, phone)
		}},
	"unlock": {http.MethodPost, "/unlock", "clear a phone's login and code locks",
		func(ctx context.Context, svc *core.Service, phone string, _ int) (any, error) {
			return map[string]bool{"unlocked": true}, svc.Unlock(ctx, phone)
		}},
	"logout": {http.MethodPost, "/logout", "revoke every session of an account",
		func(ctx context.Context, svc *core.Service, phone string, _ int) (any, error) {
			n, err := svc.RevokeAllSessions(ctx, phone)
			return map[string]int{"revoked_sessions": n}, err
		}},
	"delete": {http.MethodDelete, "", "delete an account: user, sessions, avatar, pending codes and flows",
		func(ctx context.Context, svc *core.Service, phone string, _ int) (any, error) {
			return map[string]bool{"deleted": true}, svc.AdminDeleteUser(ctx, phone)
		}},
	"audit": {http.MethodGet, "/audit", "list a phone's audit events of the last --days days",
		func(ctx context.Context, svc *core.Service, phone string, days int) (any, error) {
			ev, err := svc.AuditTrail(ctx, phone, days)
			return map[string]any{"events": ev}, err
		}},
}

// userCommand runs `gateway user ACTION [--admin URL] [--days N] PHONE
// [gateway flags]`: against a running gateway's admin API with --admin
// (the token from GATEWAY_ADMIN_TOKEN or _FILE), or against the store the
// configuration names (the embedded store only while no gateway runs).
// It prints the admin API's JSON.
func userCommand(action string) func(ctx context.Context, args []string, e env) error {
	return func(ctx context.Context, args []string, e env) error {
		act := userActions[action]
		fs := flag.NewFlagSet("gateway user "+action, flag.ContinueOnError)
		fs.SetOutput(e.stderr)
		admin := fs.String("admin", "", "URL of a running gateway's admin listener (e.g. http://127.0.0.1:9090); the token is GATEWAY_ADMIN_TOKEN or GATEWAY_ADMIN_TOKEN_FILE. Without it the configured store is opened directly")
		days := fs.Int("days", 0, "audit: the last N days (default: the retention, GATEWAY_AUDIT_RETENTION)")
		fs.Usage = func() {
			fmt.Fprintf(e.stderr, "usage: gateway user %s [--admin URL] [--days N] PHONE [gateway flags, e.g. --store postgres --postgres-url URL]\n%s\n", action, act.summary)
			fs.PrintDefaults()
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
		if fs.NArg() < 1 {
			fs.Usage()
			return fmt.Errorf("user %s: a phone is required", action)
		}
		phone, rest := fs.Arg(0), fs.Args()[1:]
		cfg, err := parseConfig(rest, e.getenv, e.stderr)
		if err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
		if *admin != "" {
			return userViaAdmin(ctx, *admin, cfg.AdminToken, act.method, phone, act.suffix, *days, e.stdout)
		}
		return userDirect(ctx, cfg, action, phone, *days, e)
	}
}

// userViaAdmin calls the admin API and prints its reply.
func userViaAdmin(ctx context.Context, base, token, method, phone, suffix string, days int, out io.Writer) error {
	path := "/users/" + url.PathEscape(phone) + suffix
	if days > 0 {
		path += "?days=" + strconv.Itoa(days)
	}
	status, body, err := adminCall(ctx, base, token, method, path, nil)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("admin API: %d %s: %s", status, http.StatusText(status), strings.TrimSpace(string(body)))
	}
	_, err = out.Write(body)
	return err
}

// userDirect opens the configured stores (and limits: with Redis they are
// the running gateways' own) and runs the action as the "cli" actor.
func userDirect(ctx context.Context, cfg *Config, action, phone string, days int, e env) error {
	log, lw := newLogger(cfg, e.stderr)
	defer lw.Close()
	svc, st, err := openCore(ctx, cfg, log, overrides{}, func(st *stores, c *core.Config) {
		if !cfg.LimitsOff {
			c.Guard = limits.New(st.limiter, st.events, cfg.Limits, nil, log)
		}
	})
	if err != nil {
		if cfg.Store == "memdb" && core.KindOf(errors.Unwrap(err)) == core.Unavailable {
			return fmt.Errorf("user %s: the embedded store in %s is locked by a running gateway: stop it first, or run this against it with --admin URL (%w)", action, cfg.DataDir, err)
		}
		return err
	}
	ctx = core.WithAuditActor(ctx, "cli")
	if action == "unlock" && cfg.RedisURL == "" {
		fmt.Fprintln(e.stderr, "note: without GATEWAY_REDIS_URL the locks live in the gateway's memory; use --admin URL to clear a running gateway's")
	}
	res, err := userActions[action].run(ctx, svc, phone, days)
	if cerr := st.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("user %s: closing the stores: %w", action, cerr)
	}
	if err != nil {
		b, _ := json.Marshal(adminError(err))
		return fmt.Errorf("user %s: %s", action, b)
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// userArgs is the usage line of every user command.
const userArgs = "[--admin URL] [--days N] PHONE [gateway flags]"
