// Package postgres implements core.Store and core.EphemeralStore on
// PostgreSQL, so that any number of gateway instances can share users,
// sessions, avatars, codes, tickets and flows.
//
// # Schema
//
// The tables live in Options.Schema (default public), which every
// connection puts alone on its search_path. The SQL migrations in
// migrations/ are embedded in the binary and applied by Open, each in
// order and once: schema_migrations lists the applied versions, and the
// whole run is one transaction holding pg_advisory_xact_lock on a key
// derived from the schema name, so instances starting together migrate one
// after the other and the later ones find nothing to do. The migration SQL
// is itself idempotent (IF NOT EXISTS).
//
//	users            id text PK, phone text UNIQUE (users_phone_key),
//	                 password_hash, name, nickname, gender, avatar,
//	                 device_id text, created_at, updated_at timestamptz
//	sessions         token_hash bytea PK (32 bytes), user_id → users ON
//	                 DELETE CASCADE, created_at, expires_at timestamptz;
//	                 indexes on user_id and expires_at
//	avatars          name text PK, content_type text, data bytea
//	codes            phone text PK, purpose smallint, mac bytea (32 bytes),
//	                 expires_at timestamptz, attempts int, burned bool
//	tickets          (phone, purpose) PK, hash bytea (32 bytes), expires_at
//	flows            id text PK, phone, ticket text, expires_at
//
// # Atomicity
//
// CreateUser (user and first session), RecordLogin (device, re-hash and
// session, under the user's row lock) and SetPassword (hash and the
// deletion of every session) each run in one transaction. A taken phone
// is detected from the unique violation of users_phone_key (SQLSTATE
// 23505), never by a prior lookup, so concurrent registrations of one phone
// have exactly one winner. CheckCode reads the code with SELECT ... FOR
// UPDATE and consumes it or counts the attempt in the same transaction:
// concurrent checks from any instance are serialized, a code matches once,
// and no wrong try is lost. The MACs are compared in Go, in constant time.
// TakeTicket is a single conditional DELETE ... RETURNING.
//
// # Time
//
// Times are timestamptz, which keeps microseconds: sub-microsecond parts
// are truncated when stored, and expiry is decided by the caller's now
// against the stored value (expired from ExpiresAt on). Reads ignore
// expired rows; a sweeper goroutine (Options.SweepInterval, stopped by
// Close) deletes them in batches. Every instance may sweep.
//
// # Errors and timeouts
//
// Every call, the wait for a connection included, is bounded by
// Options.OpTimeout: a server that is down, unreachable or silent answers
// core.Unavailable in that time, as do connection errors, server shutdown,
// too many connections, serialization failures and a closed Store.
// Anything unexpected is core.Internal. Server errors are reported by
// SQLSTATE and object names only: PostgreSQL's message and detail can
// quote values, and phones and secrets never appear in error text.
//
// # Connections
//
// pgxpool (Options.MaxConns, or the pool_max_conns URL parameter): idle
// connections are pinged after a second of idleness before reuse and
// closed after five minutes. The URL takes every
// pgx parameter, e.g. default_query_exec_mode=exec behind PgBouncer in
// transaction mode.
package postgres
