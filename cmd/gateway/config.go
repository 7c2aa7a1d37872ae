package main

import (
	"net/netip"
	"slices"

	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"legacyauth/core/limits"
	"legacyauth/core/postgres"
	"legacyauth/gateway"
	"legacyauth/gateway/migrate"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Config is every setting of the gateway. It is read in one place (here,
// from flags and their GATEWAY_* environment equivalents; flags win) and
// handed to build.
type Config struct {
	Listen          string
	Store           string // memdb or postgres
	DataDir         string
	PostgresURL     string
	PostgresSchema  string
	RedisURL        string
	RedisPrefix     string
	Secret          string // hex; empty: generated once in DataDir
	SMSWebhook      string
	SMSTimeout      time.Duration
	SMS             SMSConfig
	CodeTTL         time.Duration
	SessionTTL      time.Duration
	MaxSessions     int // live sessions per user; a login beyond revokes the oldest
	AvatarGrace     time.Duration
	ShutdownTimeout time.Duration
	HashConcurrency int           // core.Config.HashConcurrency; 0: its default (GOMAXPROCS-1)
	HashWait        time.Duration // core.Config.HashWait
	// Server time-outs: see net/http.Server.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	LogFormat         string // json or text
	LogLevel          string

	// Dialects are the settings of each dialect in dialectKinds, by name.
	Dialects map[string]*DialectConfig
	// Limits are the rate limits and locks; LimitsOff disables them all.
	Limits         limits.Config
	LimitsOff      bool
	TrustedProxies []netip.Prefix

	// PostgresExecMode is pgx's query exec mode (postgres.Options.ExecMode).
	PostgresExecMode string
	// ShutdownDrain is how long /readyz answers 503 before the listener
	// closes, so that a load balancer stops sending first.
	ShutdownDrain time.Duration

	// AdminListen is the admin listener's address (/metrics, /healthz,
	// /readyz, the admin API); empty when it is off.
	AdminListen string
	// AdminToken guards the admin API; empty: no admin API.
	AdminToken string
	// AuditLog is where audit records go: "" (the main log, each record
	// marked "audit":true), "stderr", "stdout" or a file path.
	AuditLog string
	// AuditRetention is how long the store keeps audit events.
	AuditRetention time.Duration
	// ClientVersionHeader names the header metrics read the client version
	// from (empty: User-Agent); ClientVersionLabels bounds that label.
	ClientVersionHeader string
	ClientVersionLabels int

	// Migration from the old servers (see gateway/migrate): each dialect's
	// mode and old server are in its DialectConfig; these are shared.
	UpstreamTimeout   time.Duration
	ShadowSideEffects bool
	ShadowQueue       int
	ShadowWorkers     int
	// Rollout: how split tracks walk their schedules (migrate.RolloutOptions).
	RolloutPoll             time.Duration
	RolloutMinTime          time.Duration
	RolloutMinRequests      int
	RolloutMaxMismatch      float64
	RolloutMaxErrorIncrease float64
}

// DialectConfig places one dialect.
type DialectConfig struct {
	Enabled    bool
	Prefix     string
	CodeLength int // digits of the codes this dialect's sends ask for
	// Deprecation signals, off while zero: the Deprecation (RFC 9745) and
	// Sunset (RFC 8594) response headers and a Link to the migration notes.
	DeprecatedAt    time.Time
	Sunset          time.Time
	DeprecationLink string
	// Migration: who answers the dialect (and per operation), its old
	// server, and in split mode the share of phones the core serves.
	Mode         migrate.Mode
	Modes        map[string]migrate.Mode
	Upstream     *url.URL
	SplitPercent int
	Rollout      []int // the split schedule; empty: none
	// Switches are the dialect's own settings (dialectKind.switches).
	Switches map[string]bool
}

// setting is one row of the configuration table: a flag, its environment
// variable, its default and its help. --help prints the table.
type setting struct {
	flag, env, def, help string
	set                  func(string) error
}

func settings(c *Config) []setting {
	rows := append(baseSettings(c), smsSettings(c)...)
	date := func(p *time.Time) func(string) error {
		return func(v string) error {
			if v == "" {
				*p = time.Time{}
				return nil
			}
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return fmt.Errorf("want an RFC 3339 time such as 2027-01-01T00:00:00Z")
			}
			*p = t
			return nil
		}
	}
	for _, k := range dialectKinds {
		d, up := c.Dialects[k.name], strings.ToUpper(k.name)
		rows = append(rows,
			setting{k.name + "-deprecated-at", "GATEWAY_" + up + "_DEPRECATED_AT", "", "when " + k.name + " was deprecated (RFC 3339); sends a Deprecation header (RFC 9745) on its replies", date(&d.DeprecatedAt)},
			setting{k.name + "-sunset", "GATEWAY_" + up + "_SUNSET", "", "when " + k.name + " will be switched off (RFC 3339); sends a Sunset header (RFC 8594)", date(&d.Sunset)},
			setting{k.name + "-deprecation-link", "GATEWAY_" + up + "_DEPRECATION_LINK", "", "URL of the migration notes, sent as Link rel=\"deprecation\" with either header", func(v string) error {
				if v != "" && !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
					return fmt.Errorf("want an http(s) URL")
				}
				d.DeprecationLink = v
				return nil
			}},
		)
	}
	for _, k := range dialectKinds {
		d, up := c.Dialects[k.name], strings.ToUpper(k.name)
		rows = append(rows,
			setting{k.name + "-mode", "GATEWAY_" + up + "_MODE", "core", "who answers " + k.name + ": core (the gateway), proxy (its old server, unchanged), shadow (the old server, and the core in the background to compare) or split (a share of phones the core, the rest the old server)", func(v string) error {
				m, err := migrate.ParseMode(v)
				d.Mode = m
				return err
			}},
			setting{k.name + "-modes", "GATEWAY_" + up + "_MODES", "", "per-operation modes overriding --" + k.name + "-mode, e.g. " + k.modesExample, func(v string) error {
				m, err := migrate.ParseModes(wireOf(k), v)
				d.Modes = m
				return err
			}},
			setting{k.name + "-upstream", "GATEWAY_" + up + "_UPSTREAM", "", "URL of " + k.name + "'s old server (e.g. http://old:8080) for proxy, shadow and split; in core mode, logins of phones the core does not know are tried there and the users migrated", func(v string) error {
				u, err := migrate.ParseUpstream(v)
				d.Upstream = u
				return err
			}},
			setting{k.name + "-split-percent", "GATEWAY_" + up + "_SPLIT_PERCENT", "0", "in split mode, the share of phones (0-100, stable per phone) the core serves; the others go to the old server", func(v string) error {
				n, err := strconv.Atoi(v)
				if err == nil && (n < 0 || n > 100) {
					err = fmt.Errorf("want 0 to 100")
				}
				d.SplitPercent = n
				return err
			}},
			setting{k.name + "-rollout", "GATEWAY_" + up + "_ROLLOUT", "", "in split mode, the rollout schedule, e.g. 1,5,25,50,100: the split starts at the first step and advances while the gates hold (--rollout-*); the state is shared through the store", func(v string) error {
				steps, err := migrate.ParseSteps(v)
				d.Rollout = steps
				return err
			}},
		)
	}
	c.Limits = limits.Defaults()
	for _, r := range c.Limits.Rules() {
		rows = append(rows, setting{
			flag: "limit-" + strings.ReplaceAll(r.Name, "_", "-"),
			env:  "GATEWAY_LIMIT_" + strings.ToUpper(r.Name),
			def:  r.String(),
			help: r.About,
			set: func(v string) error {
				parsed, err := limits.ParseRule(r.Name, v)
				parsed.About = r.About
				*r = parsed
				return err
			},
		})
	}
	return withSecretFiles(append(rows,
		setting{"limits", "GATEWAY_LIMITS", "on", `"off" disables every limit, for local testing only (warned at start-up)`, func(v string) error {
			switch v {
			case "on", "true":
				c.LimitsOff = false
			case "off", "false":
				c.LimitsOff = true
			default:
				return fmt.Errorf("want on or off")
			}
			return nil
		}},
		setting{"trusted-proxies", "GATEWAY_TRUSTED_PROXIES", "", "comma-separated CIDRs of proxies whose X-Forwarded-For/X-Real-IP is believed; the client is the rightmost hop not among them", func(v string) error {
			p, err := gateway.ParseProxies(v)
			c.TrustedProxies = p
			return err
		}},
		setting{"upstream-timeout", "GATEWAY_UPSTREAM_TIMEOUT", "10s", "time an old server has to answer; then the client gets the dialect's server-error reply", dur(&c.UpstreamTimeout)},
		setting{"shadow-side-effects", "GATEWAY_SHADOW_SIDE_EFFECTS", "false", "also shadow the operations that act (send or verify a code, register, reset a password, upload): each then acts on both sides", boolean(&c.ShadowSideEffects)},
		setting{"shadow-queue", "GATEWAY_SHADOW_QUEUE", "1000", "shadowed requests waiting for a worker; more are dropped (and counted), never waited for", positive(&c.ShadowQueue, 1_000_000)},
		setting{"shadow-workers", "GATEWAY_SHADOW_WORKERS", "2", "goroutines replaying shadowed requests through the core", positive(&c.ShadowWorkers, 256)},
		setting{"rollout-poll", "GATEWAY_ROLLOUT_POLL", "5s", "how often each instance reads the shared migration state (percentages, pauses) and adds its counts to it", dur(&c.RolloutPoll)},
		setting{"rollout-min-time", "GATEWAY_ROLLOUT_MIN_TIME", "10m", "least time a rollout step lasts before the split advances", dur(&c.RolloutMinTime)},
		setting{"rollout-min-requests", "GATEWAY_ROLLOUT_MIN_REQUESTS", "1000", "least requests (over every instance) a rollout step sees before the split advances", positive(&c.RolloutMinRequests, 1_000_000_000)},
		setting{"rollout-max-mismatch", "GATEWAY_ROLLOUT_MAX_MISMATCH", "0.005", "gate: the highest shadow mismatch rate of an operation in a step (0.005: 0.5%); above it the split falls back and the rollout pauses", fraction(&c.RolloutMaxMismatch)},
		setting{"rollout-max-error-increase", "GATEWAY_ROLLOUT_MAX_ERROR_INCREASE", "0.001", "gate: how far the core's server-error rate of an operation may exceed the old server's in a step (0.001: 0.1 percentage points)", fraction(&c.RolloutMaxErrorIncrease)},
	))
}

func baseSettings(c *Config) []setting {
	digits := func(p *int) func(string) error {
		return func(v string) error {
			n, err := strconv.Atoi(v)
			if err == nil && (n < 4 || n > 10) {
				err = fmt.Errorf("want 4 to 10")
			}
			*p = n
			return err
		}
	}
	rows := []setting{
		{"listen", "GATEWAY_LISTEN", ":8080", "address the public HTTP server listens on", str(&c.Listen)},
		{"config", "GATEWAY_CONFIG", "", "YAML configuration file (see config.example.yaml); flags and environment override it", func(string) error { return nil }},
		{"store", "GATEWAY_STORE", "memdb", "durable store: memdb (embedded, one instance) or postgres (several instances)", func(v string) error {
			if v != "memdb" && v != "postgres" {
				return fmt.Errorf("want memdb or postgres")
			}
			c.Store = v
			return nil
		}},
		{"data-dir", "GATEWAY_DATA_DIR", "./data", "directory of the embedded store (log, snapshots, avatars, secret)", str(&c.DataDir)},
		{"postgres-url", "GATEWAY_POSTGRES_URL", "", "PostgreSQL connection URL, for GATEWAY_STORE=postgres (e.g. postgres://user@host:5432/db)", str(&c.PostgresURL)},
		{"postgres-schema", "GATEWAY_POSTGRES_SCHEMA", "public", "PostgreSQL schema the gateway's tables live in (created and migrated at start)", str(&c.PostgresSchema)},
		{"postgres-exec-mode", "GATEWAY_POSTGRES_EXEC_MODE", "", "pgx's query exec mode: cache_statement, cache_describe, describe_exec, exec or simple_protocol; empty: pgx's default (cache_statement). Behind PgBouncer in transaction pooling use simple_protocol, exec or cache_describe", func(v string) error {
			if _, ok := postgres.ExecModes[v]; v != "" && !ok {
				return fmt.Errorf("want cache_statement, cache_describe, describe_exec, exec or simple_protocol")
			}
			c.PostgresExecMode = v
			return nil
		}},
		{"redis-url", "GATEWAY_REDIS_URL", "", "Redis URL: redis://host:6379/0, a Cluster redis://node1:6379?addr=node2:6379, or Sentinel redis://sentinel1:26379/0?master_name=mymaster&addr=sentinel2:26379 (see docs/operations.md); when set, codes, tickets, legacy flows and rate-limit counters live there, shared by every instance", str(&c.RedisURL)},
		{"redis-prefix", "GATEWAY_REDIS_PREFIX", "gateway:", "prefix of every Redis key the gateway writes", str(&c.RedisPrefix)},
		{"secret", "GATEWAY_SECRET", "", "hex key (32+ bytes) for code MACs; empty: generated once and kept in the data directory", func(v string) error {
			if v != "" {
				if b, err := hex.DecodeString(v); err != nil || len(b) < 32 {
					return fmt.Errorf("want at least 32 hex-encoded bytes")
				}
			}
			c.Secret = v
			return nil
		}},
		{"sms-webhook", "GATEWAY_SMS_WEBHOOK", "", "URL codes are POSTed to as JSON; empty: codes are written to the log (development only)", str(&c.SMSWebhook)},
		{"sms-timeout", "GATEWAY_SMS_TIMEOUT", "5s", "time each SMS provider (the webhook included) has to answer one send", dur(&c.SMSTimeout)},
		{"code-ttl", "GATEWAY_CODE_TTL", "5m", "lifetime of a verification code", dur(&c.CodeTTL)},
		{"session-ttl", "GATEWAY_SESSION_TTL", "720h", "lifetime of a login session (token)", dur(&c.SessionTTL)},
		{"max-sessions", "GATEWAY_MAX_SESSIONS", "20", "live sessions per user; a login beyond it revokes the user's oldest session", positive(&c.MaxSessions, 10000)},
		{"hash-concurrency", "GATEWAY_HASH_CONCURRENCY", "auto", "password hashes (argon2id, 19 MiB each) computed at once; auto: one fewer than the cores (GOMAXPROCS), at least 1, so that a login storm leaves a core to every other request", func(v string) error {
			if v == "auto" {
				c.HashConcurrency = 0
				return nil
			}
			return positive(&c.HashConcurrency, 1024)(v)
		}},
		{"hash-wait", "GATEWAY_HASH_WAIT", "1s", "longest a login, registration or reset waits for a hash slot; past it the request is shed: the dialect's busy reply (/v1: 503) with Retry-After", dur(&c.HashWait)},
		{"avatar-grace", "GATEWAY_AVATAR_GRACE", "24h", "how long an uploaded avatar no user references is kept before it is deleted (at least 10m: an upload must outlive the registration that uses it)", func(v string) error {
			if err := dur(&c.AvatarGrace)(v); err != nil {
				return err
			}
			if c.AvatarGrace < 10*time.Minute {
				return fmt.Errorf("want at least 10m")
			}
			return nil
		}},
		{"shutdown-timeout", "GATEWAY_SHUTDOWN_TIMEOUT", "15s", "time in-flight requests get to finish on SIGTERM/SIGINT", dur(&c.ShutdownTimeout)},
		{"shutdown-drain", "GATEWAY_SHUTDOWN_DRAIN", "5s", "on SIGTERM/SIGINT, how long /readyz answers 503 while requests are still served, before the listener closes: a load balancer's time to stop sending (0s: close at once)", func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fmt.Errorf("want a duration of 0s or more")
			}
			c.ShutdownDrain = d
			return nil
		}},
		{"read-header-timeout", "GATEWAY_READ_HEADER_TIMEOUT", "5s", "time a client has to send its request headers (cuts off slow-loris clients)", dur(&c.ReadHeaderTimeout)},
		{"read-timeout", "GATEWAY_READ_TIMEOUT", "30s", "time a client has to send a whole request, body included", dur(&c.ReadTimeout)},
		{"write-timeout", "GATEWAY_WRITE_TIMEOUT", "30s", "time to write a reply", dur(&c.WriteTimeout)},
		{"idle-timeout", "GATEWAY_IDLE_TIMEOUT", "120s", "time an idle keep-alive connection stays open", dur(&c.IdleTimeout)},
		{"admin-token", "GATEWAY_ADMIN_TOKEN", "", "bearer token of the admin API on the admin listener (pprof, migration, users); at least 16 characters; empty: no admin API, only /healthz, /readyz and /metrics", func(v string) error {
			if v != "" && len(v) < 16 {
				return fmt.Errorf("want at least 16 characters")
			}
			c.AdminToken = v
			return nil
		}},
		{"audit-log", "GATEWAY_AUDIT_LOG", "", `where audit records (logins, locks, resets, deletions, admin actions) are written as JSON lines: empty for the main log (marked "audit":true), "stderr", "stdout", or a file path (appended to)`, str(&c.AuditLog)},
		{"audit-retention", "GATEWAY_AUDIT_RETENTION", "2160h", "how long the store keeps audit events for the admin API's queries (default 90 days); older ones are deleted hourly", func(v string) error {
			if err := dur(&c.AuditRetention)(v); err != nil {
				return err
			}
			if c.AuditRetention < 24*time.Hour {
				return fmt.Errorf("want at least 24h")
			}
			return nil
		}},
		{"admin-listen", "GATEWAY_ADMIN_LISTEN", "127.0.0.1:9090", `address of the admin listener (/metrics, /healthz, /readyz, /debug/pprof/), never on the public one; "off" (or an empty flag) disables it`, func(v string) error {
			if v == "off" {
				v = ""
			}
			c.AdminListen = v
			return nil
		}},
		{"log-format", "GATEWAY_LOG_FORMAT", "auto", "log format: json, text, or auto (text when standard error is a terminal, JSON otherwise)", func(v string) error {
			if v != "json" && v != "text" && v != "auto" {
				return fmt.Errorf("want json, text or auto")
			}
			c.LogFormat = v
			return nil
		}},
		{"log-level", "GATEWAY_LOG_LEVEL", "info", "log level: debug, info, warn or error", func(v string) error {
			switch v {
			case "debug", "info", "warn", "error":
				c.LogLevel = v
				return nil
			}
			return fmt.Errorf("want debug, info, warn or error")
		}},
		{"client-version-header", "GATEWAY_CLIENT_VERSION_HEADER", "", "request header holding the client version for metrics (e.g. X-App-Version); empty: the first product token of User-Agent (Name/1.2.3)", str(&c.ClientVersionHeader)},
		{"client-version-labels", "GATEWAY_CLIENT_VERSION_LABELS", "20", `distinct client versions per dialect that get their own metrics label; later ones are counted as "other"`, positive(&c.ClientVersionLabels, 1000)},
	}
	for _, k := range dialectKinds {
		d := &DialectConfig{Switches: map[string]bool{}}
		if c.Dialects == nil {
			c.Dialects = map[string]*DialectConfig{}
		}
		c.Dialects[k.name] = d
		up := strings.ToUpper(k.name)
		rows = append(rows,
			setting{k.name, "GATEWAY_" + up, "true", "serve the " + k.name + " dialect", boolean(&d.Enabled)},
			setting{k.name + "-prefix", "GATEWAY_" + up + "_PREFIX", k.prefix, "mount prefix of " + k.name, prefix(&d.Prefix)},
			setting{k.name + "-code-length", "GATEWAY_" + up + "_CODE_LENGTH", strconv.Itoa(k.codeLength), "digits of " + possessive(k.name) + " SMS codes (" + k.codeNote + ")", digits(&d.CodeLength)},
		)
		for _, sw := range k.switches {
			rows = append(rows, setting{k.name + "-" + sw.name, "GATEWAY_" + up + "_" + strings.ToUpper(strings.ReplaceAll(sw.name, "-", "_")), "false", sw.help, func(v string) error {
				var on bool
				err := boolean(&on)(v)
				d.Switches[sw.name] = on
				return err
			}})
		}
	}
	return rows
}

// possessive is "name's", or "name'" after an s.
func possessive(name string) string {
	if strings.HasSuffix(name, "s") {
		return name + "'"
	}
	return name + "'s"
}

// prefix takes a mount prefix: a path beginning with "/".
func prefix(p *string) func(string) error {
	return func(v string) error {
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf(`want a path beginning with "/", such as /api/v4.0`)
		}
		*p = v
		return nil
	}
}

// parseConfig reads defaults, then the configuration file (--config or
// GATEWAY_CONFIG), then the environment, then flags.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	c := &Config{}
	rows := settings(c)
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, s := range rows {
		if err := s.set(s.def); err != nil {
			return nil, fmt.Errorf("default of %s: %w", s.flag, err)
		}
	}
	if file := configFileArg(args, getenv); file != "" {
		if err := applyFile(file, rows); err != nil {
			return nil, err
		}
	}
	// A refused secret is named, never quoted: the error reaches a log.
	var secretErr error
	for _, s := range rows {
		secret := slices.Contains(secretSettings, s.flag)
		if v, ok := lookup(getenv, s.env); ok {
			if err := s.set(v); err != nil {
				if secret {
					return nil, fmt.Errorf("%s: %w", s.env, err)
				}
				return nil, fmt.Errorf("%s=%q: %w", s.env, v, err)
			}
		}
		set := s.set
		if secret { // the flag package would quote the value
			set = func(v string) error {
				if err := s.set(v); err != nil && secretErr == nil {
					secretErr = fmt.Errorf("--%s: %w", s.flag, err)
				}
				return nil
			}
		}
		fs.Func(s.flag, s.help, set)
	}
	fs.Usage = func() { usage(stderr, rows) }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if secretErr != nil {
		return nil, secretErr
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, c.validate()
}

// validate checks what single settings cannot: how they combine.
func (c *Config) validate() error {
	if c.Store == "postgres" && c.PostgresURL == "" {
		return fmt.Errorf("GATEWAY_STORE=postgres needs GATEWAY_POSTGRES_URL")
	}
	for name, d := range c.Dialects {
		if len(d.Rollout) > 0 && d.Upstream == nil {
			return fmt.Errorf("GATEWAY_%s_ROLLOUT needs the old server: set GATEWAY_%s_UPSTREAM", strings.ToUpper(name), strings.ToUpper(name))
		}
		if d.Upstream != nil {
			continue
		}
		modes := []migrate.Mode{d.Mode}
		for _, m := range d.Modes {
			modes = append(modes, m)
		}
		for _, m := range modes {
			if m != "" && m != migrate.Core {
				return fmt.Errorf("GATEWAY_%s_MODE(S) %s needs the old server: set GATEWAY_%s_UPSTREAM", strings.ToUpper(name), m, strings.ToUpper(name))
			}
		}
	}
	return c.validateSMS()
}

// str takes any text.
func str(p *string) func(string) error { return func(v string) error { *p = v; return nil } }

// dur parses a positive duration.
func dur(p *time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err == nil && d <= 0 {
			err = fmt.Errorf("must be positive")
		}
		*p = d
		return err
	}
}

// fraction parses a number from 0 to 1.
func fraction(p *float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err == nil && (f < 0 || f > 1) {
			err = fmt.Errorf("want a fraction from 0 to 1, such as 0.005")
		}
		*p = f
		return err
	}
}

// boolean parses strconv.ParseBool's forms.
func boolean(p *bool) func(string) error {
	return func(v string) error { b, err := strconv.ParseBool(v); *p = b; return err }
}

// positive parses a whole number from 1 to most.
func positive(p *int, most int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err == nil && (n < 1 || n > most) {
			err = fmt.Errorf("want 1 to %d", most)
		}
		*p = n
		return err
	}
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func usage(w io.Writer, rows []setting) {
	fmt.Fprintln(w, "Usage: gateway [serve] [flags]")
	fmt.Fprintln(w, "\nEvery flag has an environment equivalent and a configuration-file key;")
	fmt.Fprintln(w, "flags win over the environment, the environment over the file. `gateway help`")
	fmt.Fprintln(w, "lists the other commands.")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nflag\tenvironment\tdefault\tmeaning")
	for _, s := range rows {
		fmt.Fprintf(tw, "--%s\t%s\t%s\t%s\n", s.flag, s.env, s.def, s.help)
	}
	tw.Flush()
}

// markdownTable renders the settings for docs/configuration.md (see TestREADMEConfigTable).
func markdownTable() string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	for _, s := range settings(&Config{}) {
		def := s.def
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | `%s` | %s |\n", s.flag, s.env, def, s.help)
	}
	return b.String()
}
