package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded file, migrations/<version>_<name>.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order. A file
// whose name does not start with a positive version, or a version given
// twice, is a bug caught by the tests.
func migrations() ([]migration, error) {
	ents, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range ents {
		base := e.Name()
		if e.IsDir() || path.Ext(base) != ".sql" {
			continue
		}
		num, _, _ := strings.Cut(strings.TrimSuffix(base, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: the name must start with a positive version number", base)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s have the same version", other, base)
		}
		seen[v] = base
		b, err := migrationFiles.ReadFile("migrations/" + base)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: strings.TrimSuffix(base, ".sql"), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// lockKey is the advisory lock that serializes migrations of one schema
// across every instance sharing the database.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("legacyauth/core/postgres migrate\x00" + schema))
	return int64(h.Sum64())
}

// migrate creates the schema if needed and applies the migrations that
// schema_migrations does not list, all in one transaction holding an
// advisory lock on the schema: instances starting together wait for each
// other, the second finds everything applied, and a failure leaves the
// schema as it was.
func migrate(ctx context.Context, c *pgx.Conn, schema string, log *slog.Logger) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) // no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(schema)); err != nil {
		return err
	}
	// CREATE SCHEMA IF NOT EXISTS would need the CREATE privilege on the
	// database even when the schema exists.
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     NOT NULL PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return err
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return err
	}
	done := make(map[int]bool, len(applied))
	newest := 0
	for _, v := range applied {
		done[int(v)] = true
		newest = max(newest, int(v))
	}
	var ran []string
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		// No arguments: pgx sends it with the simple protocol, so a file
		// may hold several statements.
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return err
		}
		ran = append(ran, m.name)
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if len(ran) > 0 {
		log.Info("postgres: applied migrations", "schema", schema, "migrations", ran)
	}
	if len(ms) > 0 && newest > ms[len(ms)-1].version {
		log.Warn("postgres: the schema was migrated by a newer version of the gateway", "schema", schema,
			"schema_version", newest, "known_version", ms[len(ms)-1].version)
	}
	return nil
}
