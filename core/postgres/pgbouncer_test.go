package postgres

import (
	"strings"
	"sync/atomic"
	"testing"

	"legacyauth/core"
	"legacyauth/core/storetest"
	"legacyauth/internal/testkit"
	"legacyauth/internal/testservers"
)

// bouncerModes are the exec modes that work behind PgBouncer in
// transaction pooling mode.
var bouncerModes = []string{"simple_protocol", "exec", "cache_describe"}

// openBehindBouncer opens a store on a fresh schema through a PgBouncer of
// its own (transaction pooling, the schema set by connect_query).
func openBehindBouncer(tb testing.TB, mode string) *Store {
	tb.Helper()
	schema := newSchema(tb, false)
	u := testservers.PgBouncer(tb, testURL(tb), schema)
	o := testOptions(schema)
	o.ExecMode = mode
	o.MaxConns = 8
	return openStore2(tb, u, o)
}

func openStore2(tb testing.TB, url string, o Options) *Store {
	tb.Helper()
	s, err := Open(ctx, url, o)
	if err != nil {
		tb.Fatalf("Open through PgBouncer: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// TestPgBouncer runs the store suites through PgBouncer in transaction
// pooling mode: both in simple_protocol, the EphemeralStore suite in the
// other exec modes that support it (the whole of it takes 20 s a mode).
func TestPgBouncer(t *testing.T) {
	for _, mode := range bouncerModes {
		t.Run(mode, func(t *testing.T) {
			if mode == "simple_protocol" {
				t.Run("Store", func(t *testing.T) {
					storetest.Store(t, func(t *testing.T) core.Store { return openBehindBouncer(t, mode) })
				})
			}
			t.Run("Ephemeral", func(t *testing.T) {
				storetest.Ephemeral(t, func(t *testing.T) core.EphemeralStore { return openBehindBouncer(t, mode) })
			})
		})
	}
}

// TestPgBouncerDefaultModeFails shows why the setting exists: pgx's
// default (named prepared statements cached per connection) breaks behind
// PgBouncer 1.18 in transaction pooling mode once transactions move
// between server connections.
func TestPgBouncerDefaultModeFails(t *testing.T) {
	s := openBehindBouncer(t, "")
	var failed atomic.Int32
	testkit.Together(8, func(i int) {
		for range 20 {
			if _, err := s.UserByPhone(ctx, "+8613800000000"); core.KindOf(err) != core.NotRegistered {
				failed.Add(1)
			}
		}
	})
	t.Logf("%d of 160 lookups failed in pgx's default exec mode", failed.Load())
	if failed.Load() == 0 {
		t.Skip("pgx's default exec mode worked through this PgBouncer (1.21+ keeps prepared statements)")
	}
}

// TestSearchPathCheck: a pooler that drops the search_path startup
// parameter, with no server-side search_path, makes Open fail rather than
// create the tables elsewhere.
func TestSearchPathCheck(t *testing.T) {
	schema := newSchema(t, false)
	u := testservers.PgBouncer(t, testURL(t), "") // no connect_query
	o := testOptions(schema)
	o.ExecMode = "exec"
	_, err := Open(ctx, u, o)
	if core.KindOf(err) != core.Invalid || !strings.Contains(err.Error(), "search_path") {
		t.Fatalf("Open: %v; want Invalid naming the search_path", err)
	}
}

func TestExecModeInvalid(t *testing.T) {
	_, err := Open(ctx, "postgres://127.0.0.1:1/x", Options{ExecMode: "fast"})
	if core.KindOf(err) != core.Invalid {
		t.Fatalf("Open with ExecMode fast: %v; want Invalid", err)
	}
}
