package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"legacyauth/core"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"
)

// Options configure a Store. Zero values take the defaults.
type Options struct {
	// Logger receives migration notes and background errors (a failed
	// sweep). Default slog.Default().
	Logger *slog.Logger
	// Schema holds the tables; it is created if missing. Tests isolate
	// themselves in a schema of their own. Default "public".
	Schema string
	// OpTimeout bounds every store call, waiting for a connection
	// included, so that an outage answers core.Unavailable in bounded time
	// instead of hanging. It also bounds connecting in Open. Default 2s.
	OpTimeout time.Duration
	// MigrateTimeout bounds the migrations in Open, waiting for another
	// instance that is migrating included. Default one minute.
	MigrateTimeout time.Duration
	// Now is the sweeper's clock: rows expired at Now are deleted. It must
	// be the clock core uses (core.Config.Now). Default time.Now.
	Now func() time.Time
	// SweepInterval is how often expired codes, tickets, flows and
	// sessions are deleted. Default one minute; negative disables the
	// sweeper (reads ignore expired rows either way).
	SweepInterval time.Duration
	// AvatarGrace is how long an uploaded avatar no user references is
	// kept (see core.Store.DeleteUnusedAvatars); the sweeper deletes it
	// after that. Default 24 hours; negative keeps every upload.
	AvatarGrace time.Duration
	// MaxConns bounds the open connections. Default: the pool_max_conns
	// parameter of the URL if present, else the greater of 4 and
	// GOMAXPROCS (pgxpool's default).
	MaxConns int
	// ExecMode is pgx's query exec mode (pgx.QueryExecMode), by name:
	// cache_statement (pgx's default: named prepared statements, cached per
	// connection), cache_describe, describe_exec, exec or simple_protocol.
	// Empty: the URL's default_query_exec_mode parameter if any, else pgx's
	// default. Behind PgBouncer in transaction pooling mode (which hands
	// each transaction any server connection and, before 1.21, keeps no
	// prepared statement) use exec, simple_protocol or cache_describe;
	// describe_exec and cache_statement fail there. See ExecModes.
	ExecMode string
}

// ExecModes are the names Options.ExecMode accepts, and their modes.
var ExecModes = map[string]pgx.QueryExecMode{
	"cache_statement": pgx.QueryExecModeCacheStatement,
	"cache_describe":  pgx.QueryExecModeCacheDescribe,
	"describe_exec":   pgx.QueryExecModeDescribeExec,
	"exec":            pgx.QueryExecModeExec,
	"simple_protocol": pgx.QueryExecModeSimpleProtocol,
}

// Store implements core.Store and core.EphemeralStore on PostgreSQL. It is
// safe for concurrent use, and any number of gateway instances may share
// one database.
type Store struct {
	opts   Options
	log    *slog.Logger
	pool   *pgxpool.Pool
	closed atomic.Bool
	stop   chan struct{} // closed by Close: stops the sweeper
	wg     sync.WaitGroup
}

var (
	_ core.Store          = (*Store)(nil)
	_ core.EphemeralStore = (*Store)(nil)
)

// Open connects to the database at url (a postgres:// URL or a key=value
// DSN, as pgx accepts), applies the pending migrations and starts the
// sweeper. A malformed url or option is Invalid; a server that does not
// answer within OpTimeout is Unavailable; a failed migration is Internal.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	const op = "postgres.Open"
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Schema == "" {
		opts.Schema = "public"
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = 2 * time.Second
	}
	if opts.MigrateTimeout <= 0 {
		opts.MigrateTimeout = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.AvatarGrace == 0 {
		opts.AvatarGrace = core.DefaultAvatarGrace
	}
	if len(opts.Schema) > 63 || strings.ContainsRune(opts.Schema, 0) || !utf8.ValidString(opts.Schema) {
		return nil, core.E(op, core.Invalid, "bad schema name")
	}
	pcfg, err := pgxpool.ParseConfig(url) // honours pool_max_conns and never sends it to the server
	if err != nil {
		// pgx redacts the password from its parse errors.
		return nil, &core.Error{Op: op, Kind: core.Invalid, Msg: "bad PostgreSQL URL", Err: err}
	}
	if opts.MaxConns > 0 {
		pcfg.MaxConns = int32(opts.MaxConns)
	}
	if opts.ExecMode != "" {
		mode, ok := ExecModes[opts.ExecMode]
		if !ok {
			return nil, core.E(op, core.Invalid, "unknown query exec mode (want cache_statement, cache_describe, describe_exec, exec or simple_protocol)")
		}
		pcfg.ConnConfig.DefaultQueryExecMode = mode
	}
	pcfg.MaxConnIdleTime = 5 * time.Minute
	cfg := pcfg.ConnConfig
	// Every connection resolves unqualified names in the schema only.
	cfg.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "legacyauth"
	}
	if cfg.ConnectTimeout <= 0 || cfg.ConnectTimeout > opts.OpTimeout {
		cfg.ConnectTimeout = opts.OpTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg) // connects lazily
	if err != nil {
		return nil, &core.Error{Op: op, Kind: core.Invalid, Msg: "bad PostgreSQL settings", Err: err}
	}
	s := &Store{opts: opts, log: opts.Logger, pool: pool, stop: make(chan struct{})}

	cctx, cancel := context.WithTimeout(ctx, opts.OpTimeout)
	c, err := s.pool.Acquire(cctx)
	cancel()
	if err != nil {
		s.pool.Close()
		return nil, s.fail(op, err)
	}
	cctx, cancel = context.WithTimeout(ctx, opts.OpTimeout)
	err = checkSearchPath(cctx, c.Conn(), opts.Schema)
	cancel()
	if err != nil {
		c.Release()
		s.pool.Close()
		return nil, err
	}
	mctx, cancel := context.WithTimeout(ctx, opts.MigrateTimeout)
	err = migrate(mctx, c.Conn(), opts.Schema, s.log)
	cancel()
	c.Release()
	if err != nil {
		s.pool.Close()
		return nil, s.fail(op, err)
	}
	if opts.SweepInterval > 0 {
		s.wg.Add(1)
		go s.sweeper(opts.SweepInterval)
	}
	return s, nil
}

// checkSearchPath makes sure unqualified names resolve in schema: the
// search_path Open asks for is a startup parameter, which a connection
// pooler may drop (PgBouncer lists it in ignore_startup_parameters). Then
// the server's own search_path must put schema first (PgBouncer's
// connect_query, or ALTER ROLE ... SET search_path), else the tables would
// be created and looked for in another schema: Open fails instead.
func checkSearchPath(ctx context.Context, c *pgx.Conn, schema string) error {
	var current, path string
	if err := c.QueryRow(ctx, "SELECT coalesce(current_schema(), ''), current_setting('search_path')").Scan(&current, &path); err != nil {
		return (&Store{}).fail("postgres.Open", err)
	}
	first, _, _ := strings.Cut(path, ",")
	first = strings.TrimSpace(first)
	if unq, ok := strings.CutPrefix(first, `"`); ok {
		first = strings.ReplaceAll(strings.TrimSuffix(unq, `"`), `""`, `"`)
	}
	if current == schema || first == schema {
		return nil
	}
	return core.E("postgres.Open", core.Invalid, fmt.Sprintf("the connection's search_path (%s) does not put the schema %q first: "+
		"behind a pooler that drops the search_path startup parameter (PgBouncer), set it on the server side "+
		"(PgBouncer's connect_query, or ALTER ROLE ... SET search_path)", path, schema))
}

// Ping reports whether the database answers within OpTimeout.
func (s *Store) Ping(ctx context.Context) error {
	const op = "postgres.Ping"
	return s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		return c.Ping(ctx)
	})
}

// Close stops the sweeper and closes the connections. Later calls return
// Unavailable; closing twice is not an error.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(s.stop)
	s.wg.Wait()
	s.pool.Close()
	return nil
}

func errClosed(op string) error { return core.E(op, core.Unavailable, "store is closed") }

// withConn runs fn on a pooled connection, the whole call (the wait for a
// connection included) bounded by OpTimeout. fn's error is classified by
// fail unless it is already an *core.Error.
func (s *Store) withConn(ctx context.Context, op string, fn func(ctx context.Context, c *pgx.Conn) error) error {
	if s.closed.Load() {
		return errClosed(op)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.OpTimeout)
	defer cancel()
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.fail(op, err)
	}
	// Release destroys a connection left inside a transaction (a failed
	// rollback) instead of handing it to the next caller.
	defer c.Release()
	return s.fail(op, fn(ctx, c.Conn()))
}

// tx runs fn in one transaction (READ COMMITTED: every statement that
// must see a consistent row locks it) and commits it. Any error rolls
// back: nothing of a failed change is visible. Not pgx.BeginFunc: when
// the rollback fails too, it returns the rollback's error in place of
// fn's, whose kind (AlreadyRegistered, ...) the caller needs.
func (s *Store) tx(ctx context.Context, op string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		if err := fn(ctx, tx); err != nil {
			// A failed rollback leaves the connection inside a
			// transaction; release then discards it.
			_ = tx.Rollback(ctx)
			return err
		}
		return tx.Commit(ctx)
	})
}

// fail turns err into an *core.Error of op. An *core.Error keeps its kind;
// a connection failure or a timeout is Unavailable; anything else is
// Internal. Server errors are reduced to their SQLSTATE and object names:
// PostgreSQL's message and detail can quote values (phones, hashes).
func (s *Store) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	if ce, ok := err.(*core.Error); ok {
		return ce
	}
	var ce *core.Error
	if errors.As(err, &ce) {
		return core.Wrap(op, ce.Kind, err)
	}
	kind := classify(err)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		err = &serverError{pe: pe}
	}
	return &core.Error{Op: op, Kind: kind, Err: err}
}

func classify(err error) core.Kind {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, puddle.ErrClosedPool) {
		return core.Unavailable
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),  // insufficient resources (too many connections, disk full)
			strings.HasPrefix(pe.Code, "57P"), // admin/crash shutdown, cannot connect now
			pe.Code == "57014",                // query canceled (statement_timeout)
			pe.Code == "55P03",                // lock not available (lock_timeout)
			pe.Code == "40001",                // serialization failure
			pe.Code == "40P01",                // deadlock detected
			pe.Code == "25006":                // read-only transaction: a standby after a failover
			return core.Unavailable
		}
		return core.Internal
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if pgconn.Timeout(err) || errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, pgconn.ErrConnClosed) { // the connection died earlier in this call
		return core.Unavailable
	}
	return core.Internal
}

// serverError is a PostgreSQL error without its message and detail.
type serverError struct{ pe *pgconn.PgError }

func (e *serverError) Error() string {
	s := "postgres: SQLSTATE " + e.pe.Code
	for _, f := range [...]struct{ k, v string }{{"table", e.pe.TableName}, {"column", e.pe.ColumnName}, {"constraint", e.pe.ConstraintName}} {
		if f.v != "" {
			s += fmt.Sprintf(" %s=%s", f.k, f.v)
		}
	}
	return s
}

// Unwrap lets callers inspect the server's error; its text is not in Error.
func (e *serverError) Unwrap() error { return e.pe }

// uniqueViolation reports whether err is a violation of the named unique
// constraint.
func uniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == constraint
}
