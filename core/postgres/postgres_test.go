package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/core/storetest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const urlEnv = "GATEWAY_TEST_POSTGRES_URL"

var ctx = context.Background()

// testURL returns the server the tests use. Without one they skip; with
// one, a server that does not answer fails them.
func testURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(urlEnv)
	if u == "" {
		tb.Skip("set GATEWAY_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL tests")
	}
	return u
}

// admin runs fn on a connection of its own, outside any store.
func admin(tb testing.TB, fn func(c *pgx.Conn) error) {
	tb.Helper()
	c2, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(c2, testURL(tb))
	if err != nil {
		tb.Fatalf("connecting to %s: %v", urlEnv, err)
	}
	defer c.Close(ctx)
	if err := fn(c); err != nil {
		tb.Fatal(err)
	}
}

// newSchema returns a random schema name, dropped with everything in it
// when the test ends. create makes it now (empty); otherwise Open does.
func newSchema(tb testing.TB, create bool) string {
	tb.Helper()
	testURL(tb)
	var b [8]byte
	rand.Read(b[:])
	name := "test_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{name}.Sanitize()
	if create {
		admin(tb, func(c *pgx.Conn) error { _, err := c.Exec(ctx, "CREATE SCHEMA "+ident); return err })
	}
	tb.Cleanup(func() {
		admin(tb, func(c *pgx.Conn) error { _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+ident+" CASCADE"); return err })
	})
	return name
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testOptions(schema string) Options {
	return Options{Logger: quietLogger(), Schema: schema, SweepInterval: -1}
}

// openStore opens a store on the test server with o (whose Schema names
// the schema); it is closed before the schema is dropped (cleanups run
// last first).
func openStore(tb testing.TB, o Options) *Store {
	tb.Helper()
	s, err := Open(ctx, testURL(tb), o)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func freshStore(tb testing.TB) *Store {
	tb.Helper()
	schema := newSchema(tb, true)
	return openStore(tb, testOptions(schema))
}

func wantKind(tb testing.TB, err error, k core.Kind) {
	tb.Helper()
	var ce *core.Error
	if !errors.As(err, &ce) {
		tb.Fatalf("got %v (%T), want a *core.Error of kind %v", err, err, k)
	}
	if ce.Kind != k {
		tb.Fatalf("got kind %v (%v), want %v", ce.Kind, err, k)
	}
}

func TestContract(t *testing.T) {
	testURL(t)
	t.Run("Store", func(t *testing.T) {
		storetest.Store(t, func(t *testing.T) core.Store { return freshStore(t) })
	})
	t.Run("Ephemeral", func(t *testing.T) {
		storetest.Ephemeral(t, func(t *testing.T) core.EphemeralStore { return freshStore(t) })
	})
}

var (
	t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)
)

func user(i int) *core.User {
	return &core.User{
		ID: fmt.Sprintf("%032x", i+1), Phone: fmt.Sprintf("+86138%08d", i), PasswordHash: "$argon2id$x",
		DeviceID: "d", CreatedAt: t0, UpdatedAt: t0,
	}
}

func session(u *core.User, tok string) *core.Session {
	return &core.Session{TokenHash: sha256.Sum256([]byte(tok)), UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
}

func count(tb testing.TB, s *Store, query string, args ...any) int {
	tb.Helper()
	var n int
	err := s.withConn(ctx, "test", func(ctx context.Context, c *pgx.Conn) error {
		return c.QueryRow(ctx, query, args...).Scan(&n)
	})
	if err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestMigrationFiles(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].version != 1 || ms[0].name != "0001_init" {
		t.Fatalf("migrations %+v", ms)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].version <= ms[i-1].version {
			t.Fatalf("migrations out of order: %s after %s", ms[i].name, ms[i-1].name)
		}
	}
}

// Migrations applied twice, by a second Open or by running them again on
// a migrated schema, change nothing.
func TestMigrationsTwice(t *testing.T) {
	schema := newSchema(t, true)
	ms, _ := migrations()
	s := openStore(t, testOptions(schema))
	u := user(1)
	if err := s.CreateUser(ctx, u, session(u, "tok")); err != nil {
		t.Fatal(err)
	}
	versions := func() int { return count(t, s, "SELECT count(*) FROM schema_migrations") }
	if n := versions(); n != len(ms) {
		t.Fatalf("%d migrations recorded, want %d", n, len(ms))
	}

	err := s.withConn(ctx, "test", func(ctx context.Context, c *pgx.Conn) error { return migrate(ctx, c, schema, quietLogger()) })
	if err != nil {
		t.Fatalf("migrating again: %v", err)
	}
	s2 := openStore(t, testOptions(schema))
	if n := versions(); n != len(ms) {
		t.Fatalf("%d migrations recorded after migrating again, want %d", n, len(ms))
	}
	if _, _, err := s2.Session(ctx, session(u, "tok").TokenHash, t0); err != nil {
		t.Fatalf("data lost by migrating again: %v", err)
	}
	// Even the SQL itself is idempotent: a schema whose bookkeeping was
	// lost is migrated again without error.
	if err := s.withConn(ctx, "test", func(ctx context.Context, c *pgx.Conn) error {
		if _, err := c.Exec(ctx, "DELETE FROM schema_migrations"); err != nil {
			return err
		}
		return migrate(ctx, c, schema, quietLogger())
	}); err != nil {
		t.Fatalf("re-running the migration SQL: %v", err)
	}
	if n := versions(); n != len(ms) {
		t.Fatalf("%d migrations recorded, want %d", n, len(ms))
	}
	if _, err := s2.UserByPhone(ctx, u.Phone); err != nil {
		t.Fatal(err)
	}
}

// Instances that start together on a fresh schema all succeed: the
// advisory lock makes them migrate one after the other.
func TestOpenRace(t *testing.T) {
	testURL(t)
	for _, existing := range []bool{false, true} {
		t.Run(fmt.Sprintf("schema exists=%v", existing), func(t *testing.T) {
			schema := newSchema(t, existing)
			const n = 4
			stores := make([]*Store, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					stores[i], errs[i] = Open(ctx, testURL(t), testOptions(schema))
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("Open %d: %v", i, err)
				}
				t.Cleanup(func() { stores[i].Close() })
			}
			ms, _ := migrations()
			if got := count(t, stores[0], "SELECT count(*) FROM schema_migrations"); got != len(ms) {
				t.Fatalf("%d migrations recorded, want %d", got, len(ms))
			}
			u := user(1)
			if err := stores[1].CreateUser(ctx, u, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := stores[n-1].UserByPhone(ctx, u.Phone); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Two instances on one database: the races of the contract, across them.
func TestTwoInstances(t *testing.T) {
	schema := newSchema(t, true)
	a := openStore(t, testOptions(schema))
	b := openStore(t, testOptions(schema))
	stores := [2]*Store{a, b}
	const n = 16

	errs := make([]error, n)
	race(n, func(i int) {
		u := user(100 + i)
		u.Phone = user(1).Phone
		errs[i] = stores[i%2].CreateUser(ctx, u, session(u, fmt.Sprint("race", i)))
	})
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			wantKind(t, err, core.AlreadyRegistered)
		}
	}
	if won != 1 {
		t.Fatalf("%d instances registered one phone", won)
	}

	mac := sha256.Sum256([]byte("code"))
	if err := a.PutCode(ctx, &core.Code{Phone: "p", MAC: mac, ExpiresAt: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	res := make([]core.CodeCheck, n)
	race(n, func(i int) { res[i], errs[i] = stores[i%2].CheckCode(ctx, "p", [][32]byte{mac}, t0, 5) })
	matched := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if res[i] == core.CodeMatched {
			matched++
		}
	}
	if matched != 1 {
		t.Fatalf("%d instances consumed one code", matched)
	}

	if err := b.PutTicket(ctx, &core.Ticket{Hash: mac, Phone: "p", Purpose: core.PurposeReset, ExpiresAt: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	race(n, func(i int) { errs[i] = stores[i%2].TakeTicket(ctx, "p", core.PurposeReset, &mac, t0) })
	won = 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			wantKind(t, err, core.Unauthorized)
		}
	}
	if won != 1 {
		t.Fatalf("%d instances took one ticket", won)
	}
}

func race(n int, f func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { <-start; f(i) })
	}
	close(start)
	wg.Wait()
}

func TestOpenRefusesBadOptions(t *testing.T) {
	_, err := Open(ctx, "postgres://postgres@127.0.0.1:5432/test?sslmode=nonsense", Options{Logger: quietLogger()})
	wantKind(t, err, core.Invalid)
	_, err = Open(ctx, "postgres://u:secret-pw@127.0.0.1:5432/test?pool_max_conns=x", Options{Logger: quietLogger()})
	wantKind(t, err, core.Invalid)
	_, err = Open(ctx, "postgres://u:secret-pw@127.0.0.1:5432/test?sslmode=nonsense", Options{Logger: quietLogger()})
	if err == nil || strings.Contains(err.Error(), "secret-pw") {
		t.Fatalf("the password shows in %v", err)
	}
	_, err = Open(ctx, "postgres://127.0.0.1:1/x", Options{Schema: strings.Repeat("s", 64)})
	wantKind(t, err, core.Invalid)
}

// pgxpool's pool_max_conns parameter is honoured and not sent to the
// server (which would refuse an unknown parameter).
func TestPoolMaxConns(t *testing.T) {
	schema := newSchema(t, true)
	url := testURL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	s, err := Open(ctx, url+sep+"pool_max_conns=2", testOptions(schema))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := s.pool.Config().MaxConns; n != 2 {
		t.Fatalf("pool of %d", n)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// More callers than connections wait their turn.
	errs := make([]error, 8)
	race(8, func(i int) { errs[i] = s.CreateUser(ctx, user(i), session(user(i), fmt.Sprint(i))) })
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// bounded runs f, which must return within limit, and returns its error.
func bounded(t *testing.T, limit time.Duration, what string, f func() error) error {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- f() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(limit + 10*time.Second):
		t.Fatalf("%s hangs", what)
	}
	if el := time.Since(start); el > limit {
		t.Fatalf("%s took %v, want at most %v", what, el, limit)
	}
	return err
}

// An unreachable server is Unavailable within about OpTimeout: a closed
// port, and a server that accepts connections and never answers.
func TestUnreachable(t *testing.T) {
	const opTimeout = 500 * time.Millisecond
	o := Options{Logger: quietLogger(), OpTimeout: opTimeout}
	err := bounded(t, opTimeout+time.Second, "Open(closed port)", func() error {
		_, err := Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable", o)
		return err
	})
	wantKind(t, err, core.Unavailable)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // accepted, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	url := fmt.Sprintf("postgres://postgres@%s/test?sslmode=disable&connect_timeout=60", ln.Addr())
	err = bounded(t, opTimeout+time.Second, "Open(silent server)", func() error {
		_, err := Open(ctx, url, o)
		return err
	})
	wantKind(t, err, core.Unavailable)
}

// proxy forwards TCP to the test server, and can stop forwarding (an
// outage where packets are lost: nothing answers, nothing is refused).
type proxy struct {
	ln     net.Listener
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go p.pipe(up, c)
			go p.pipe(c, up)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.frozen.Store(false)
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for n > 0 && p.frozen.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// An outage after Open: every call answers Unavailable within about
// OpTimeout, and the store recovers when the server is back.
func TestOutage(t *testing.T) {
	base := testURL(t)
	cfg, err := pgconn.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)))
	schema := newSchema(t, true)
	url := strings.Replace(base, net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)), p.ln.Addr().String(), 1)
	if url == base {
		t.Skipf("cannot route %s through the proxy", urlEnv)
	}
	const opTimeout = 500 * time.Millisecond
	o := testOptions(schema)
	o.OpTimeout = opTimeout
	s, err := Open(ctx, url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	u := user(1)
	if err := s.CreateUser(ctx, u, session(u, "tok")); err != nil {
		t.Fatal(err)
	}

	p.frozen.Store(true)
	h := session(u, "tok").TokenHash
	calls := map[string]func() error{
		"Ping":        func() error { return s.Ping(ctx) },
		"UserByPhone": func() error { _, err := s.UserByPhone(ctx, u.Phone); return err },
		"CreateUser":  func() error { return s.CreateUser(ctx, user(2), nil) },
		"SetPassword": func() error { return s.SetPassword(ctx, u.ID, "h", t0) },
		"Session":     func() error { _, _, err := s.Session(ctx, h, t0); return err },
		"CheckCode":   func() error { _, err := s.CheckCode(ctx, "p", nil, t0, 3); return err },
	}
	for name, call := range calls {
		err := bounded(t, opTimeout+time.Second, name+" during an outage", call)
		t.Logf("%s: %v", name, err)
		wantKind(t, err, core.Unavailable)
		if strings.Contains(err.Error(), u.Phone) {
			t.Errorf("the phone shows in %v", err)
		}
	}

	p.frozen.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the store did not recover")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := s.UserByPhone(ctx, u.Phone); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	// The password was not changed by the call that timed out... or was,
	// if the server committed it before the outage cut the answer: both
	// are allowed, a timeout means "not known". The sessions agree with it.
	got, _ := s.UserByPhone(ctx, u.Phone)
	_, _, err = s.Session(ctx, h, t0)
	if (got.PasswordHash == "h") != (err != nil) {
		t.Fatalf("hash %q but session error %v: SetPassword was half applied", got.PasswordHash, err)
	}
}

// A caller's deadline shorter than OpTimeout is kept.
func TestCallerDeadline(t *testing.T) {
	s := freshStore(t)
	c, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	_, err := s.UserByPhone(c, "+8613800000001")
	wantKind(t, err, core.Unavailable)
}

func TestSweep(t *testing.T) {
	s := freshStore(t)
	now := t0.Add(time.Hour)
	for i := range 3 {
		u := user(i)
		sess := session(u, fmt.Sprint("tok", i))
		sess.ExpiresAt = now.Add(time.Duration(i-1) * time.Minute) // expired, expiring at now, live
		if err := s.CreateUser(ctx, u, sess); err != nil {
			t.Fatal(err)
		}
	}
	// More expired sessions than one batch.
	err := s.withConn(ctx, "test", func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
			SELECT sha256(i::text::bytea), $1, $2, $2 FROM generate_series(1, 2500) AS i`, user(0).ID, t0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, exp := range []time.Time{now.Add(-time.Minute), now, now.Add(time.Minute)} {
		ph := fmt.Sprint("p", i)
		must(t, s.PutCode(ctx, &core.Code{Phone: ph, ExpiresAt: exp}))
		must(t, s.PutTicket(ctx, &core.Ticket{Phone: ph, ExpiresAt: exp}))
		must(t, s.PutFlow(ctx, &core.Flow{ID: ph, Phone: ph, ExpiresAt: exp}))
	}
	n, err := s.sweep(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(2500 + 4*2); n != want {
		t.Fatalf("swept %d rows, want %d", n, want)
	}
	for _, table := range sweepTables {
		if got := count(t, s, "SELECT count(*) FROM "+table); got != 1 {
			t.Fatalf("%d rows left in %s, want the live one", got, table)
		}
	}
	if got := count(t, s, "SELECT count(*) FROM users"); got != 3 {
		t.Fatalf("%d users: sweeping sessions removed users", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSweeperGoroutine(t *testing.T) {
	schema := newSchema(t, true)
	o := testOptions(schema)
	o.SweepInterval = 5 * time.Millisecond
	o.Now = func() time.Time { return t0.Add(24 * time.Hour) }
	s := openStore(t, o)
	must(t, s.PutFlow(ctx, &core.Flow{ID: "f", Phone: "p", ExpiresAt: t0}))
	deadline := time.Now().Add(10 * time.Second)
	for count(t, s, "SELECT count(*) FROM flows") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper never ran")
		}
		time.Sleep(5 * time.Millisecond)
	}
	must(t, bounded(t, 5*time.Second, "Close", s.Close))
	must(t, s.Close()) // twice is fine
	wantKind(t, s.Ping(ctx), core.Unavailable)
}

// Error texts name no phone and no secret: server errors keep their
// SQLSTATE and object names only.
func TestErrorsHideValues(t *testing.T) {
	s := freshStore(t)
	u := user(1)
	must(t, s.CreateUser(ctx, u, session(u, "tok")))
	dup := user(2)
	dup.Phone = u.Phone
	err := s.CreateUser(ctx, dup, nil)
	wantKind(t, err, core.AlreadyRegistered)
	v := user(3)
	err2 := s.CreateUser(ctx, v, session(v, "tok"))
	wantKind(t, err2, core.Internal)
	h := session(u, "tok").TokenHash
	for _, e := range []error{err, err2} {
		for _, secret := range []string{u.Phone, v.Phone, hex.EncodeToString(h[:])} {
			if strings.Contains(e.Error(), secret) {
				t.Fatalf("%q shows in %v", secret, e)
			}
		}
	}

	pe := &pgconn.PgError{Code: "23514", Message: "value +8613800000001 is bad", Detail: "Failing row contains (+8613800000001)", ConstraintName: "c"}
	got := s.fail("op", fmt.Errorf("wrapped: %w", pe))
	wantKind(t, got, core.Internal)
	if strings.Contains(got.Error(), "+86138") || !strings.Contains(got.Error(), "23514") {
		t.Fatalf("server error shown as %q", got)
	}
	var back *pgconn.PgError
	if !errors.As(got, &back) {
		t.Fatal("the server error is no longer reachable with errors.As")
	}
	for code, want := range map[string]core.Kind{"08006": core.Unavailable, "57P01": core.Unavailable, "53300": core.Unavailable, "40001": core.Unavailable, "42P01": core.Internal, "23505": core.Internal} {
		wantKind(t, s.fail("op", &pgconn.PgError{Code: code}), want)
	}
	wantKind(t, s.fail("op", io.ErrUnexpectedEOF), core.Unavailable)
	wantKind(t, s.fail("op", context.DeadlineExceeded), core.Unavailable)
	wantKind(t, s.fail("op", errors.New("something else")), core.Internal)
}

// The avatar table holds what was given, byte for byte, with its type.
func TestAvatarContentType(t *testing.T) {
	s := freshStore(t)
	must(t, s.PutAvatar(ctx, "legacy.bin", "image/gif", []byte("GIF89a...")))
	ct, body, err := s.Avatar(ctx, "legacy.bin")
	must(t, err)
	b, _ := io.ReadAll(body)
	body.Close()
	if ct != "image/gif" || string(b) != "GIF89a..." {
		t.Fatalf("got %s %q", ct, b)
	}
	// Storing a name again replaces it (a retried write).
	must(t, s.PutAvatar(ctx, "legacy.bin", "image/png", []byte("\x89PNG")))
	if ct, _, _ := s.Avatar(ctx, "legacy.bin"); ct != "image/png" {
		t.Fatalf("replaced avatar: %s", ct)
	}
	wantKind(t, s.PutAvatar(ctx, "", "image/png", nil), core.Invalid)
	_, _, err = s.Avatar(ctx, "")
	wantKind(t, err, core.NotFound)
}

// A transaction that fails half way leaves nothing, and its connection is
// not reused inside the broken transaction.
func TestFailedTransactionConnectionReuse(t *testing.T) {
	schema := newSchema(t, true)
	o := testOptions(schema)
	o.MaxConns = 1 // every call gets the same connection, if it is kept
	s := openStore(t, o)
	u := user(1)
	must(t, s.CreateUser(ctx, u, session(u, "tok")))
	for range 3 {
		v := user(2)
		err := s.CreateUser(ctx, v, session(v, "tok")) // the user row is inserted, then the session fails
		wantKind(t, err, core.Internal)
		_, err = s.UserByID(ctx, v.ID)
		wantKind(t, err, core.NotRegistered)
	}
	must(t, s.RecordLogin(ctx, u.ID, u.PasswordHash, "x", "", session(u, "tok2")))
}
