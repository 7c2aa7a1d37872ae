package memdb

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/internal/testkit"
)

var (
	ctx = context.Background()
	t0  = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
)

func testOpts(logs *testkit.Buffer, clk *testkit.Clock) Options {
	o := Options{SweepInterval: -1} // tests sweep by hand, with an injected clock
	if logs != nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if clk != nil {
		o.Now = clk.Now
	}
	return o
}

func mustOpen(t testing.TB, dir string, o Options) *Store {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func mustClose(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func user(i int) *core.User {
	return &core.User{
		ID:           fmt.Sprintf("%032x", i+1),
		Phone:        phone(i),
		PasswordHash: fmt.Sprintf("$argon2id$v=19$m=19456,t=2,p=1$salt%d$key%d", i, i),
		Profile:      core.Profile{Name: fmt.Sprintf("name %d", i), Nickname: "nick", Gender: "1", Avatar: "/avatars/x.png"},
		DeviceID:     fmt.Sprintf("device-%d", i),
		CreatedAt:    t0,
		UpdatedAt:    t0,
	}
}

func phone(i int) string { return fmt.Sprintf("+86138%08d", i) }

func tokenHash(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func session(u *core.User, tok string, ttl time.Duration) *core.Session {
	return &core.Session{TokenHash: tokenHash(tok), UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(ttl)}
}

func wantKind(t testing.TB, err error, k core.Kind) {
	t.Helper()
	var ce *core.Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v (%T), want a *core.Error of kind %v", err, err, k)
	}
	if ce.Kind != k {
		t.Fatalf("got kind %v (%v), want %v", ce.Kind, err, k)
	}
}

func sameUser(t testing.TB, got, want *core.User) {
	t.Helper()
	g, w := *got, *want
	if !g.CreatedAt.Equal(w.CreatedAt) || !g.UpdatedAt.Equal(w.UpdatedAt) {
		t.Fatalf("times: got %v/%v, want %v/%v", g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt)
	}
	g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	// The last login moves with every login: the cases that check it
	// compare it themselves.
	g.LastLoginAt, g.LastLoginAddress, w.LastLoginAt, w.LastLoginAddress = time.Time{}, "", time.Time{}, ""
	if g != w {
		t.Fatalf("user:\n got %+v\nwant %+v", g, w)
	}
}

func getUser(t testing.TB, s *Store, ph string) *core.User {
	t.Helper()
	u, err := s.UserByPhone(ctx, ph)
	if err != nil {
		t.Fatalf("UserByPhone(%s): %v", ph, err)
	}
	return u
}

func liveSession(t testing.TB, s *Store, tok string, now time.Time) *core.Session {
	t.Helper()
	sess, _, err := s.Session(ctx, tokenHash(tok), now)
	if err != nil {
		t.Fatalf("Session(%s): %v", tok, err)
	}
	return sess
}

// waitCompaction waits for a running compaction to finish.
func waitCompaction(t testing.TB, s *Store) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.wmu.Lock()
		c := s.compacting
		s.wmu.Unlock()
		if !c {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("compaction did not finish")
		}
		time.Sleep(time.Millisecond)
	}
}

func asCore(err error, ce **core.Error) bool { return errors.As(err, ce) }

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
