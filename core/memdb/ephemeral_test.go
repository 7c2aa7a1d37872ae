package memdb

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/internal/testkit"
)

func mac(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func TestCodes(t *testing.T) {
	s := mustOpen(t, t.TempDir(), testOpts(nil, nil))
	defer s.Close()
	const ph = "+8613800000001"
	exp := t0.Add(5 * time.Minute)
	check := func(now time.Time, want core.CodeCheck, guesses ...string) {
		t.Helper()
		var macs [][32]byte
		for _, g := range guesses {
			macs = append(macs, mac(g))
		}
		got, err := s.CheckCode(ctx, ph, macs, now, 3)
		if err != nil || got != want {
			t.Fatalf("CheckCode(%v) = %v, %v; want %v", guesses, got, err, want)
		}
	}
	put := func() {
		t.Helper()
		if err := s.PutCode(ctx, &core.Code{Phone: ph, Purpose: core.PurposeRegister, MAC: mac("right"), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}

	check(t0, core.CodeNone, "right")
	put()
	check(t0, core.CodeMismatch, "wrong")
	check(t0, core.CodeMatched, "wrong", "right") // any candidate matches
	check(t0, core.CodeNone, "right")             // consumed

	// The third wrong try burns the code; burned stays burned, even for
	// the right code, until the code expires.
	put()
	check(t0, core.CodeMismatch, "w1")
	check(t0, core.CodeMismatch, "w2")
	check(t0, core.CodeBurned, "w3")
	check(t0, core.CodeBurned, "right")
	check(t0, core.CodeBurned, "w4")
	check(exp, core.CodeStale, "right")

	// A new code replaces a burned one and its attempts.
	put()
	check(t0, core.CodeMismatch, "w1")
	check(t0, core.CodeMismatch, "w2")
	check(t0, core.CodeMatched, "right")

	// Expired: stale even for the right code, and from ExpiresAt on.
	put()
	check(exp.Add(-time.Nanosecond), core.CodeMismatch, "w")
	check(exp, core.CodeStale, "right")

	// The caller's struct is copied in.
	c := &core.Code{Phone: ph, MAC: mac("right"), ExpiresAt: exp}
	s.PutCode(ctx, c)
	c.MAC = mac("other")
	check(t0, core.CodeMatched, "right")

	wantKind(t, s.PutCode(ctx, &core.Code{}), core.Invalid)
}

func TestTickets(t *testing.T) {
	s := mustOpen(t, t.TempDir(), testOpts(nil, nil))
	defer s.Close()
	const ph = "+8613800000001"
	h, other := mac("ticket"), mac("other")
	exp := t0.Add(10 * time.Minute)
	put := func(p core.Purpose) {
		t.Helper()
		if err := s.PutTicket(ctx, &core.Ticket{Hash: h, Phone: ph, Purpose: p, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}

	wantKind(t, s.TakeTicket(ctx, ph, core.PurposeReset, &h, t0), core.Unauthorized)
	put(core.PurposeReset)
	wantKind(t, s.TakeTicket(ctx, ph, core.PurposeReset, &other, t0), core.Unauthorized)
	wantKind(t, s.TakeTicket(ctx, ph, core.PurposeRegister, &h, t0), core.Unauthorized) // purpose is exact
	wantKind(t, s.TakeTicket(ctx, "+8613800000002", core.PurposeReset, &h, t0), core.Unauthorized)
	if err := s.TakeTicket(ctx, ph, core.PurposeReset, &h, t0); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.TakeTicket(ctx, ph, core.PurposeReset, &h, t0), core.Unauthorized) // one use

	put(core.PurposeReset)
	if err := s.TakeTicket(ctx, ph, core.PurposeReset, nil, t0); err != nil { // any hash
		t.Fatal(err)
	}
	wantKind(t, s.TakeTicket(ctx, ph, core.PurposeReset, nil, t0), core.Unauthorized)

	put(core.PurposeRegister)
	wantKind(t, s.TakeTicket(ctx, ph, core.PurposeRegister, &h, exp), core.Unauthorized) // expired
	put(core.PurposeRegister)
	put(core.PurposeReset) // a different purpose does not replace it
	if err := s.TakeTicket(ctx, ph, core.PurposeRegister, &h, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.TakeTicket(ctx, ph, core.PurposeReset, &h, t0); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.PutTicket(ctx, &core.Ticket{}), core.Invalid)
}

func TestFlows(t *testing.T) {
	s := mustOpen(t, t.TempDir(), testOpts(nil, nil))
	defer s.Close()
	f := &core.Flow{ID: "f1", Phone: "+8613800000001", ExpiresAt: t0.Add(time.Minute)}
	_, err := s.Flow(ctx, "f1", t0)
	wantKind(t, err, core.NotFound)
	if err := s.PutFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	f.Ticket = "changed by the caller"
	got, err := s.Flow(ctx, "f1", t0)
	if err != nil || got.Ticket != "" || got.Phone != f.Phone {
		t.Fatalf("Flow = %+v, %v", got, err)
	}
	got.Ticket = "t"
	if err := s.PutFlow(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Flow(ctx, "f1", t0); again.Ticket != "t" {
		t.Fatalf("replaced flow: %+v", again)
	}
	_, err = s.Flow(ctx, "f1", t0.Add(time.Minute))
	wantKind(t, err, core.NotFound)
	if err := s.DeleteFlow(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Flow(ctx, "f1", t0)
	wantKind(t, err, core.NotFound)
	if err := s.DeleteFlow(ctx, "f1"); err != nil {
		t.Fatalf("deleting a missing flow: %v", err)
	}
	wantKind(t, s.PutFlow(ctx, &core.Flow{}), core.Invalid)
}

func TestSweep(t *testing.T) {
	dir := t.TempDir()
	clk := testkit.NewClock(t0)
	o := testOpts(nil, clk)
	s := mustOpen(t, dir, o)
	for i := range 300 { // more than one sweep batch
		u := user(i)
		ttl := time.Hour
		if i%3 == 0 {
			ttl = 2 * time.Hour
		}
		if err := s.CreateUser(ctx, u, session(u, string(rune('a'+i%26))+u.ID, ttl)); err != nil {
			t.Fatal(err)
		}
	}
	s.PutCode(ctx, &core.Code{Phone: "p1", ExpiresAt: t0.Add(time.Minute)})
	s.PutCode(ctx, &core.Code{Phone: "p2", ExpiresAt: t0.Add(3 * time.Hour)})
	s.PutTicket(ctx, &core.Ticket{Phone: "p1", ExpiresAt: t0.Add(time.Minute)})
	s.PutFlow(ctx, &core.Flow{ID: "f1", ExpiresAt: t0.Add(time.Minute)})
	s.PutFlow(ctx, &core.Flow{ID: "f2", ExpiresAt: t0.Add(3 * time.Hour)})

	countSessions := func() int {
		it, _ := s.db.Txn(false).Get(tSessions, "id")
		n := 0
		for raw := it.Next(); raw != nil; raw = it.Next() {
			n++
		}
		return n
	}
	if err := s.sweep(clk.Now()); err != nil {
		t.Fatal(err)
	}
	if n := countSessions(); n != 300 {
		t.Fatalf("%d sessions before expiry", n)
	}
	clk.Advance(time.Hour)
	if err := s.sweep(clk.Now()); err != nil {
		t.Fatal(err)
	}
	if n := countSessions(); n != 100 {
		t.Fatalf("%d sessions after the first hour, want 100", n)
	}
	s.eph.mu.Lock()
	nc, nt, nf := len(s.eph.codes), len(s.eph.tickets), len(s.eph.flows)
	s.eph.mu.Unlock()
	if nc != 1 || nt != 0 || nf != 1 {
		t.Fatalf("after sweep: %d codes, %d tickets, %d flows; want 1, 0, 1", nc, nt, nf)
	}
	mustClose(t, s)

	// The deletions were logged: a replay does not bring them back.
	s = mustOpen(t, dir, o)
	defer s.Close()
	if n := countSessions(); n != 100 {
		t.Fatalf("%d sessions after reopen, want 100", n)
	}
}

func TestSweeperGoroutine(t *testing.T) {
	// The real ticker, with the clock far ahead: only checks that the
	// goroutine runs and stops with Close.
	clk := testkit.NewClock(t0.Add(24 * time.Hour))
	o := testOpts(nil, clk)
	o.SweepInterval = time.Millisecond
	s := mustOpen(t, t.TempDir(), o)
	s.PutFlow(ctx, &core.Flow{ID: "f", ExpiresAt: t0})
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.eph.mu.Lock()
		n := len(s.eph.flows)
		s.eph.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sweeper never ran")
		}
		time.Sleep(time.Millisecond)
	}
	mustClose(t, s)
}

func TestAvatars(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOpts(nil, nil))
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 100)...)
	name := strings.Repeat("a", 32) + ".png"
	if err := s.PutAvatar(ctx, name, "image/png", png); err != nil {
		t.Fatal(err)
	}
	read := func(s *Store, name string) (string, []byte) {
		t.Helper()
		ct, body, err := s.Avatar(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		defer body.Close()
		b, _ := io.ReadAll(body)
		return ct, b
	}
	if ct, b := read(s, name); ct != "image/png" || !bytes.Equal(b, png) {
		t.Fatalf("got %s, %d bytes", ct, len(b))
	}
	// An extension core does not name is sniffed.
	if err := s.PutAvatar(ctx, "legacy.bin", "image/png", png); err != nil {
		t.Fatal(err)
	}
	if ct, _ := read(s, "legacy.bin"); ct != "image/png" {
		t.Fatalf("sniffed %s", ct)
	}
	_, _, err := s.Avatar(ctx, strings.Repeat("b", 32)+".png")
	wantKind(t, err, core.NotFound)
	for _, bad := range []string{"", "../x.png", "a/b.png", "..", ".tmp-1", "a\\b", "x..png"} {
		wantKind(t, s.PutAvatar(ctx, bad, "image/png", png), core.Invalid)
		_, _, err := s.Avatar(ctx, bad)
		wantKind(t, err, core.NotFound)
	}
	mustClose(t, s)

	// Leftover temp files of an interrupted write are removed on Open.
	tmp := filepath.Join(dir, avatarDir, avatarTmpPrefix+"123")
	os.WriteFile(tmp, []byte("half"), 0o600)
	s = mustOpen(t, dir, testOpts(nil, nil))
	defer s.Close()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("temp avatar not removed: %v", err)
	}
	if _, b := read(s, name); !bytes.Equal(b, png) {
		t.Fatal("avatar lost on reopen")
	}
}

func TestClosed(t *testing.T) {
	s := mustOpen(t, t.TempDir(), testOpts(nil, nil))
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	u := user(1)
	if err := s.CreateUser(ctx, u, nil); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	h := tokenHash("x")
	var err error
	for name, call := range map[string]func() error{
		"Ping":          func() error { return s.Ping(ctx) },
		"CreateUser":    func() error { return s.CreateUser(ctx, user(2), nil) },
		"UserByPhone":   func() error { _, err = s.UserByPhone(ctx, u.Phone); return err },
		"UserByID":      func() error { _, err = s.UserByID(ctx, u.ID); return err },
		"RecordLogin":   func() error { return s.RecordLogin(ctx, u.ID, u.PasswordHash, "d", "", nil) },
		"SetPassword":   func() error { return s.SetPassword(ctx, u.ID, "h", t0) },
		"Session":       func() error { _, _, err = s.Session(ctx, h, t0); return err },
		"DeleteSession": func() error { return s.DeleteSession(ctx, h) },
		"PutAvatar":     func() error { return s.PutAvatar(ctx, "a.png", "image/png", []byte("x")) },
		"Avatar":        func() error { _, _, err = s.Avatar(ctx, "a.png"); return err },
		"PutCode":       func() error { return s.PutCode(ctx, &core.Code{Phone: "p"}) },
		"CheckCode":     func() error { _, err = s.CheckCode(ctx, "p", nil, t0, 3); return err },
		"PutTicket":     func() error { return s.PutTicket(ctx, &core.Ticket{Phone: "p"}) },
		"TakeTicket":    func() error { return s.TakeTicket(ctx, "p", core.PurposeAny, nil, t0) },
		"PutFlow":       func() error { return s.PutFlow(ctx, &core.Flow{ID: "f"}) },
		"Flow":          func() error { _, err = s.Flow(ctx, "f", t0); return err },
		"DeleteFlow":    func() error { return s.DeleteFlow(ctx, "f") },
		"sweep":         func() error { return s.sweep(t0) },
	} {
		err := call()
		var ce *core.Error
		if err == nil || !asCore(err, &ce) || ce.Kind != core.Unavailable {
			t.Errorf("%s after Close: %v, want Unavailable", name, err)
		}
	}
}

func TestCanceledContext(t *testing.T) {
	s := mustOpen(t, t.TempDir(), testOpts(nil, nil))
	defer s.Close()
	c, cancel := contextWithCancel()
	cancel()
	wantKind(t, s.CreateUser(c, user(1), nil), core.Unavailable)
	_, err := s.UserByPhone(ctx, phone(1))
	wantKind(t, err, core.NotRegistered)
}

func TestFailedLogRefusesWrites(t *testing.T) {
	s := mustOpen(t, t.TempDir(), testOpts(nil, nil))
	defer s.Close()
	if err := s.CreateUser(ctx, user(1), nil); err != nil {
		t.Fatal(err)
	}
	// Pull the file out from under the store: the write fails and must
	// not become visible.
	s.wmu.Lock()
	s.seg.Close()
	s.wmu.Unlock()
	wantKind(t, s.CreateUser(ctx, user(2), nil), core.Unavailable)
	_, err := s.UserByPhone(ctx, phone(2))
	wantKind(t, err, core.NotRegistered)
	wantKind(t, s.Ping(ctx), core.Unavailable)
	wantKind(t, s.CreateUser(ctx, user(3), nil), core.Unavailable)
	getUser(t, s, phone(1)) // reads still work
}
