package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"legacyauth/gateway/migrate"
)

// The migration's state on the admin listener (admin token required):
// GET /migration answers migrate.Status; POST /migration takes a
// migrate.Command ({"action":"pause"|"resume"|"set","target":"apiv4.login",
// "percent":25}) and answers the new status. `gateway migrate` is their
// client.

func migrationStatusHandler(a *app) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Migrator == nil {
			writeAdminJSON(w, http.StatusNotFound, map[string]string{"error": "no dialect has an old server (GATEWAY_<DIALECT>_UPSTREAM): nothing is being migrated"})
			return
		}
		st, err := a.Migrator.Status(r.Context())
		if err != nil {
			writeAdminJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the migration state is not readable: " + err.Error()})
			return
		}
		writeAdminJSON(w, http.StatusOK, st)
	})
}

func migrationControlHandler(a *app) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Migrator == nil {
			writeAdminJSON(w, http.StatusNotFound, map[string]string{"error": "no dialect has an old server: nothing is being migrated"})
			return
		}
		var cmd migrate.Command
		d := json.NewDecoder(io.LimitReader(r.Body, 4096))
		d.DisallowUnknownFields()
		if err := d.Decode(&cmd); err != nil {
			writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": "want {\"action\":\"pause|resume|set\",\"target\":\"<dialect>[.<op>]\",\"percent\":N}: " + err.Error()})
			return
		}
		st, err := a.Migrator.Control(r.Context(), cmd)
		if err != nil {
			writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeAdminJSON(w, http.StatusOK, st)
	})
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

const migrateUsage = `Usage: gateway migrate [--admin URL] [--json] status
       gateway migrate [--admin URL] [--reason TEXT] pause|resume [<dialect>[.<op>]]
       gateway migrate [--admin URL] [--reason TEXT] set <dialect>[.<op>] <percent>

Reads or steers the migration of a running gateway through its admin API
(GET and POST /migration on the admin listener), with the token in
GATEWAY_ADMIN_TOKEN. Every instance follows within --rollout-poll.

  status   per dialect and operation: mode, step and percent, the step's
           requests and errors on each side, shadow comparisons,
           mismatches by kind and the last masked samples, lazily
           migrated users, users seen only on the old server, and why a
           rollout paused
  pause    stop a rollout's steps (all tracks, a dialect's, or one)
  resume   continue from the current percentage with a fresh step
  set      put a split at a percentage (pauses a scheduled rollout there)
`

// migrateCommand is `gateway migrate`.
func migrateCommand(ctx context.Context, args []string, e env) error {
	fs := flag.NewFlagSet("gateway migrate", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	adminURL := fs.String("admin", "", "admin listener URL (default: http:// and GATEWAY_ADMIN_LISTEN, else http://127.0.0.1:9090)")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	reason := fs.String("reason", "", "why, recorded with pause, resume and set")
	fs.Usage = func() { fmt.Fprint(e.stderr, migrateUsage) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return fmt.Errorf("migrate: want status, pause, resume or set")
	}
	// The token and the admin address come from the configuration, as
	// every command's do: GATEWAY_ADMIN_TOKEN or its _FILE, a config file.
	cfg, err := parseConfig(nil, e.getenv, io.Discard)
	if err != nil {
		return err
	}
	base := *adminURL
	if base == "" {
		if base, err = adminBaseURL(cfg); err != nil {
			return fmt.Errorf("migrate: %w; or give --admin URL", err)
		}
	}
	token := cfg.AdminToken
	if token == "" {
		return fmt.Errorf("migrate: set GATEWAY_ADMIN_TOKEN (or GATEWAY_ADMIN_TOKEN_FILE) to the gateway's admin token")
	}
	var cmd *migrate.Command
	switch action := rest[0]; action {
	case "status":
		if len(rest) != 1 {
			return fmt.Errorf("migrate status takes no argument")
		}
	case "pause", "resume":
		if len(rest) > 2 {
			return fmt.Errorf("migrate %s takes at most a track: <dialect>[.<op>]", action)
		}
		cmd = &migrate.Command{Action: action, Reason: *reason}
		if len(rest) == 2 {
			cmd.Target = rest[1]
		}
	case "set":
		if len(rest) != 3 {
			return fmt.Errorf("migrate set takes a track and a percentage: set apiv4.login 25")
		}
		n, err := strconv.Atoi(strings.TrimSuffix(rest[2], "%"))
		if err != nil || n < 0 || n > 100 {
			return fmt.Errorf("migrate set: want a percentage from 0 to 100, not %q", rest[2])
		}
		cmd = &migrate.Command{Action: "set", Target: rest[1], Percent: &n, Reason: *reason}
	default:
		fs.Usage()
		return fmt.Errorf("migrate: unknown action %q", action)
	}
	method, body := http.MethodGet, []byte(nil)
	if cmd != nil {
		body, _ = json.Marshal(cmd)
		method = http.MethodPost
	}
	status, raw, err := adminCall(ctx, base, token, method, "/migration", body)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if status != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("migrate: %s", e.Error)
		}
		return fmt.Errorf("migrate: the admin API answered %d %s: %s", status, http.StatusText(status), bytes.TrimSpace(raw))
	}
	if *asJSON {
		_, err := e.stdout.Write(raw)
		return err
	}
	var st migrate.Status
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("migrate: an unreadable status: %w", err)
	}
	printMigrationStatus(e.stdout, &st)
	return nil
}

// printMigrationStatus writes a status for people: a block per track.
func printMigrationStatus(w io.Writer, st *migrate.Status) {
	if st.State == nil || len(st.Tracks) == 0 {
		fmt.Fprintln(w, "no migration track: no dialect has an old server")
		return
	}
	keys := make([]string, 0, len(st.Tracks))
	for k := range st.Tracks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, key := range keys {
		t := st.Tracks[key]
		if i > 0 {
			fmt.Fprintln(w)
		}
		head := fmt.Sprintf("%s: %s", key, t.Mode)
		if t.Mode == migrate.Split {
			head += fmt.Sprintf(", %d%% to the core", t.Percent)
			if len(t.Steps) > 0 {
				head += fmt.Sprintf(", step %s of %v since %s", t.StepLabel(), t.Steps, t.Since.UTC().Format(time.RFC3339))
			}
		}
		switch {
		case t.Paused:
			head += "\n  PAUSED: " + t.Reason
		case t.Complete:
			head += "\n  complete: every step passed"
		}
		fmt.Fprintln(w, head)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  op\tstep: core req\tcore err\told req\told err\tcompared\tmismatched\ttotal: compared\tmismatched\tlazily migrated\tonly on old server")
		for _, op := range t.Ops {
			s, tot := t.Step[op], t.Total[op]
			if s == nil {
				s = &migrate.Counts{}
			}
			if tot == nil {
				tot = &migrate.Counts{}
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", op, s.CoreRequests, s.CoreErrors, s.OldRequests, s.OldErrors,
				s.Compares, s.Mismatches, tot.Compares, tot.Mismatches, tot.LazyMigrated, tot.OldOnly)
		}
		tw.Flush()
		for _, op := range t.Ops {
			if tot := t.Total[op]; tot != nil && len(tot.Kinds) > 0 {
				kinds := make([]string, 0, len(tot.Kinds))
				for k := range tot.Kinds {
					kinds = append(kinds, k)
				}
				sort.Strings(kinds)
				parts := make([]string, len(kinds))
				for i, k := range kinds {
					parts[i] = fmt.Sprintf("%s ×%d", k, tot.Kinds[k])
				}
				fmt.Fprintf(w, "  mismatches of %s: %s\n", op, strings.Join(parts, ", "))
			}
			if n := st.Noise[t.Dialect+"."+op]; len(n) > 0 {
				fmt.Fprintf(w, "  noise of %s (compared by shape): %s\n", op, strings.Join(n, ", "))
			}
		}
		if len(t.Samples) > 0 {
			fmt.Fprintln(w, "  last mismatches:")
			for _, s := range t.Samples {
				fmt.Fprintf(w, "    %s %s %s phone %s request %s\n      old  %d %s: %s\n      core %d %s: %s\n",
					s.At.UTC().Format(time.RFC3339), s.Op, s.Kind, orDash(s.Phone), orDash(s.RequestID),
					s.OldStatus, s.OldOutcome, s.OldBody, s.CoreStatus, s.CoreOutcome, s.CoreBody)
			}
		}
		if n := len(t.History); n > 0 {
			h := t.History[n-1]
			fmt.Fprintf(w, "  last change: %s %d%% -> %d%%: %s\n", h.At.UTC().Format(time.RFC3339), h.From, h.To, h.Why)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
