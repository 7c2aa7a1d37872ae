package memdb

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/internal/testkit"
)

func TestUsers(t *testing.T) {
	s := mustOpen(t, t.TempDir(), testOpts(nil, nil))
	defer s.Close()
	u := user(1)
	sess := session(u, "tok1", time.Hour)
	if err := s.CreateUser(ctx, u, sess); err != nil {
		t.Fatal(err)
	}
	sameUser(t, getUser(t, s, u.Phone), u)
	byID, err := s.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameUser(t, byID, u)
	if got := liveSession(t, s, "tok1", t0); got.UserID != u.ID || !got.ExpiresAt.Equal(sess.ExpiresAt) || !got.CreatedAt.Equal(t0) || got.TokenHash != sess.TokenHash {
		t.Fatalf("session %+v", got)
	}

	// Callers get copies: changing what they got or gave changes nothing.
	byID.PasswordHash = "changed"
	u.Name = "changed"
	sameUser(t, getUser(t, s, user(1).Phone), user(1))

	// A user without a session.
	if err := s.CreateUser(ctx, user(2), nil); err != nil {
		t.Fatal(err)
	}
	sameUser(t, getUser(t, s, phone(2)), user(2))

	_, err = s.UserByPhone(ctx, phone(3))
	wantKind(t, err, core.NotRegistered)
	_, err = s.UserByID(ctx, user(3).ID)
	wantKind(t, err, core.NotRegistered)

	// The phone is unique, whatever the id; a refused user leaves nothing.
	dup := user(3)
	dup.Phone = phone(1)
	wantKind(t, s.CreateUser(ctx, dup, session(dup, "tok3", time.Hour)), core.AlreadyRegistered)
	_, err = s.UserByID(ctx, dup.ID)
	wantKind(t, err, core.NotRegistered)
	_, _, err = s.Session(ctx, tokenHash("tok3"), t0)
	wantKind(t, err, core.Unauthorized)

	// A reused id is a bug, not a taken phone.
	sameID := user(4)
	sameID.ID = user(1).ID
	wantKind(t, s.CreateUser(ctx, sameID, nil), core.Internal)

	wantKind(t, s.CreateUser(ctx, &core.User{Phone: phone(5)}, nil), core.Invalid)
	wantKind(t, s.CreateUser(ctx, &core.User{ID: "x"}, nil), core.Invalid)
	wantKind(t, s.CreateUser(ctx, nil, nil), core.Invalid)
	other := session(user(9), "tok9", time.Hour)
	wantKind(t, s.CreateUser(ctx, user(5), other), core.Invalid)
	u6 := user(6)
	wantKind(t, s.CreateUser(ctx, u6, session(u6, "tok1", time.Hour)), core.Internal) // token hash collision
	_, err = s.UserByPhone(ctx, u6.Phone)
	wantKind(t, err, core.NotRegistered)
}

func TestConcurrentCreateSamePhone(t *testing.T) {
	s := mustOpen(t, t.TempDir(), testOpts(nil, nil))
	defer s.Close()
	const n = 64
	errs := make([]error, n)
	users := make([]*core.User, n)
	for i := range users {
		users[i] = user(100 + i) // distinct ids and sessions, same phone
		users[i].Phone = phone(7)
	}
	testkit.Together(n, func(i int) {
		errs[i] = s.CreateUser(ctx, users[i], session(users[i], fmt.Sprint("race", i), time.Hour))
	})
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("both %d and %d created the phone", winner, i)
			}
			winner = i
			continue
		}
		wantKind(t, err, core.AlreadyRegistered)
	}
	if winner < 0 {
		t.Fatal("nobody won")
	}
	if got := getUser(t, s, phone(7)); got.ID != user(100+winner).ID {
		t.Fatalf("phone belongs to %s, want the winner %s", got.ID, user(100+winner).ID)
	}
	for i := range n {
		_, _, err := s.Session(ctx, tokenHash(fmt.Sprint("race", i)), t0)
		if (err == nil) != (i == winner) {
			t.Fatalf("session of %d: %v", i, err)
		}
	}
}

func TestRecordLogin(t *testing.T) {
	s := mustOpen(t, t.TempDir(), testOpts(nil, nil))
	defer s.Close()
	u := user(1)
	if err := s.CreateUser(ctx, u, nil); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Hour)
	s1 := &core.Session{TokenHash: tokenHash("a"), UserID: u.ID, CreatedAt: later, ExpiresAt: later.Add(time.Hour)}

	// Same device, no new hash: only the session is stored.
	if err := s.RecordLogin(ctx, u.ID, u.PasswordHash, u.DeviceID, "", s1); err != nil {
		t.Fatal(err)
	}
	sameUser(t, getUser(t, s, u.Phone), u)
	liveSession(t, s, "a", later)

	// New device and a re-hashed password move UpdatedAt to the login.
	s2 := &core.Session{TokenHash: tokenHash("b"), UserID: u.ID, CreatedAt: later, ExpiresAt: later.Add(time.Hour)}
	if err := s.RecordLogin(ctx, u.ID, u.PasswordHash, "new-device", "new-hash", s2); err != nil {
		t.Fatal(err)
	}
	want := *u
	want.DeviceID, want.PasswordHash, want.UpdatedAt = "new-device", "new-hash", later
	sameUser(t, getUser(t, s, u.Phone), &want)
	liveSession(t, s, "a", later) // earlier sessions stay
	liveSession(t, s, "b", later)

	// An empty device keeps the stored one.
	if err := s.RecordLogin(ctx, u.ID, "new-hash", "", "", nil); err != nil {
		t.Fatal(err)
	}
	sameUser(t, getUser(t, s, u.Phone), &want)

	wantKind(t, s.RecordLogin(ctx, user(2).ID, user(2).PasswordHash, "d", "", session(user(2), "c", time.Hour)), core.NotRegistered)
	wantKind(t, s.RecordLogin(ctx, u.ID, "new-hash", "d", "", session(user(2), "c", time.Hour)), core.Invalid)
	wantKind(t, s.RecordLogin(ctx, u.ID, "new-hash", "d", "", s1), core.Internal) // reused token hash
}

func TestSetPasswordRevokesSessions(t *testing.T) {
	s := mustOpen(t, t.TempDir(), testOpts(nil, nil))
	defer s.Close()
	u, v := user(1), user(2)
	if err := s.CreateUser(ctx, u, session(u, "u1", time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, v, session(v, "v1", time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordLogin(ctx, u.ID, u.PasswordHash, "", "", session(u, "u2", time.Hour)); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Minute)
	if err := s.SetPassword(ctx, u.ID, "reset-hash", later); err != nil {
		t.Fatal(err)
	}
	got := getUser(t, s, u.Phone)
	if got.PasswordHash != "reset-hash" || !got.UpdatedAt.Equal(later) {
		t.Fatalf("after reset: %+v", got)
	}
	for _, tok := range []string{"u1", "u2"} {
		_, _, err := s.Session(ctx, tokenHash(tok), t0)
		wantKind(t, err, core.Unauthorized)
	}
	liveSession(t, s, "v1", t0) // another user's session survives

	wantKind(t, s.SetPassword(ctx, user(3).ID, "h", later), core.NotRegistered)
	wantKind(t, s.SetPassword(ctx, u.ID, "", later), core.Invalid)
}

func TestSessions(t *testing.T) {
	s := mustOpen(t, t.TempDir(), testOpts(nil, nil))
	defer s.Close()
	u := user(1)
	if err := s.CreateUser(ctx, u, session(u, "tok", time.Hour)); err != nil {
		t.Fatal(err)
	}
	liveSession(t, s, "tok", t0.Add(time.Hour-time.Nanosecond))
	_, _, err := s.Session(ctx, tokenHash("tok"), t0.Add(time.Hour)) // expired at its ExpiresAt
	wantKind(t, err, core.Unauthorized)
	_, _, err = s.Session(ctx, tokenHash("nope"), t0)
	wantKind(t, err, core.Unauthorized)

	if err := s.DeleteSession(ctx, tokenHash("tok")); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Session(ctx, tokenHash("tok"), t0)
	wantKind(t, err, core.Unauthorized)
	if err := s.DeleteSession(ctx, tokenHash("tok")); err != nil {
		t.Fatalf("deleting a missing session: %v", err)
	}
}

func TestZeroAndExtremeTimes(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOpts(nil, nil))
	u := user(1)
	u.CreatedAt, u.UpdatedAt = time.Time{}, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.CreateUser(ctx, u, nil); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	s = mustOpen(t, dir, testOpts(nil, nil))
	defer s.Close()
	got := getUser(t, s, u.Phone)
	if !got.CreatedAt.IsZero() || got.UpdatedAt.Year() != 2262 {
		t.Fatalf("times %v %v: want zero kept and far future clamped", got.CreatedAt, got.UpdatedAt)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOpts(nil, nil))
	var users []*core.User
	for i := range 20 {
		u := user(i)
		users = append(users, u)
		if err := s.CreateUser(ctx, u, session(u, fmt.Sprint("tok", i), time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	later := t0.Add(time.Minute)
	if err := s.RecordLogin(ctx, users[3].ID, users[3].PasswordHash, "dev-x", "rehash", &core.Session{TokenHash: tokenHash("login3"), UserID: users[3].ID, CreatedAt: later, ExpiresAt: later.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	users[3].DeviceID, users[3].PasswordHash, users[3].UpdatedAt = "dev-x", "rehash", later
	if err := s.SetPassword(ctx, users[5].ID, "reset", later); err != nil {
		t.Fatal(err)
	}
	users[5].PasswordHash, users[5].UpdatedAt = "reset", later
	if err := s.DeleteSession(ctx, tokenHash("tok7")); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)

	for round := range 2 { // and again, to replay a log that was reopened once
		s = mustOpen(t, dir, testOpts(nil, nil))
		for i, u := range users {
			sameUser(t, getUser(t, s, u.Phone), u)
			byID, err := s.UserByID(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			sameUser(t, byID, u)
			_, _, err = s.Session(ctx, tokenHash(fmt.Sprint("tok", i)), t0)
			if revoked := i == 5 || i == 7; revoked != (err != nil) {
				t.Fatalf("round %d: session %d: %v", round, i, err)
			}
		}
		liveSession(t, s, "login3", later)
		// The phone index was rebuilt: uniqueness still holds.
		wantKind(t, s.CreateUser(ctx, &core.User{ID: "other", Phone: phone(2)}, nil), core.AlreadyRegistered)
		mustClose(t, s)
	}
}

func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	logs := &testkit.Buffer{}
	o := testOpts(logs, testkit.NewClock(t0)) // the snapshot keeps sessions live at Now
	o.SnapshotRecords = 10
	s := mustOpen(t, dir, o)
	const n = 95
	for i := range n {
		u := user(i)
		if err := s.CreateUser(ctx, u, session(u, fmt.Sprint("tok", i), time.Hour)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			waitCompaction(t, s) // so that each threshold crossing compacts
		}
	}
	if err := s.SetPassword(ctx, user(4).ID, "reset", t0); err != nil {
		t.Fatal(err)
	}
	waitCompaction(t, s)
	if !strings.Contains(logs.String(), "compacted") {
		t.Fatalf("no compaction logged:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(dir, snapName)); err != nil {
		t.Fatal(err)
	}
	seqs, _ := listSegments(dir)
	if len(seqs) != 1 || seqs[0] < 9 {
		t.Fatalf("segments %v: old ones should be gone", seqs)
	}
	mustClose(t, s)

	s = mustOpen(t, dir, o)
	defer s.Close()
	for i := range n {
		want := user(i)
		if i == 4 {
			want.PasswordHash = "reset"
		}
		sameUser(t, getUser(t, s, phone(i)), want)
		_, _, err := s.Session(ctx, tokenHash(fmt.Sprint("tok", i)), t0)
		if (i == 4) != (err != nil) {
			t.Fatalf("session %d: %v", i, err)
		}
	}
}

// A crash can stop a compaction after any step; every leftover state must
// open to the same data.
func TestCompactionCrashStates(t *testing.T) {
	build := func(t *testing.T) (string, Options) {
		dir := t.TempDir()
		o := testOpts(nil, nil)
		o.SnapshotRecords = 5
		s := mustOpen(t, dir, o)
		for i := range 12 {
			if err := s.CreateUser(ctx, user(i), nil); err != nil {
				t.Fatal(err)
			}
			waitCompaction(t, s)
		}
		mustClose(t, s)
		return dir, o
	}
	check := func(t *testing.T, dir string, o Options) {
		s := mustOpen(t, dir, o)
		defer s.Close()
		for i := range 12 {
			sameUser(t, getUser(t, s, phone(i)), user(i))
		}
	}

	t.Run("leftover temp snapshot", func(t *testing.T) {
		dir, o := build(t)
		os.WriteFile(filepath.Join(dir, snapTmpName), []byte("half a snapshot"), 0o600)
		check(t, dir, o)
		if _, err := os.Stat(filepath.Join(dir, snapTmpName)); !os.IsNotExist(err) {
			t.Fatalf("temp snapshot not removed: %v", err)
		}
	})
	t.Run("old segments not yet deleted", func(t *testing.T) {
		dir, o := build(t)
		seqs, _ := listSegments(dir)
		// Recreate a segment the snapshot covers, holding a record that
		// would conflict if it were replayed.
		old := filepath.Join(dir, segName(seqs[0]-1))
		var b batch
		dup := user(99)
		dup.Phone = phone(0)
		b.putUser(userFromCore(dup))
		os.WriteFile(old, appendFrame(nil, b.b), 0o600)
		check(t, dir, o)
		if _, err := os.Stat(old); !os.IsNotExist(err) {
			t.Fatalf("covered segment not removed: %v", err)
		}
	})
	t.Run("new segment created, snapshot not renamed", func(t *testing.T) {
		dir, o := build(t)
		os.Remove(filepath.Join(dir, snapName))
		// Without the snapshot the log must be complete; it is not, since a
		// finished compaction deleted segments: this is a missing segment.
		_, err := Open(dir, o)
		wantKind(t, err, core.Internal)
		if !strings.Contains(err.Error(), "missing") {
			t.Fatalf("error %v should say a segment is missing", err)
		}
	})
	t.Run("empty next segment", func(t *testing.T) {
		dir, o := build(t)
		seqs, _ := listSegments(dir)
		f, err := createSegment(dir, seqs[len(seqs)-1]+1)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		check(t, dir, o)
	})
}

func TestRotationBeforeSnapshotRename(t *testing.T) {
	// The state after a crash between the segment switch and the snapshot
	// rename: no snapshot yet, and writes already in segment 2.
	dir := t.TempDir()
	o := testOpts(nil, nil)
	s := mustOpen(t, dir, o)
	for i := range 3 {
		if err := s.CreateUser(ctx, user(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, s)
	var b batch
	b.putUser(userFromCore(user(3)))
	if err := os.WriteFile(filepath.Join(dir, segName(2)), appendFrame(nil, b.b), 0o600); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir, o)
	for i := range 4 {
		sameUser(t, getUser(t, s, phone(i)), user(i))
	}
	if err := s.CreateUser(ctx, user(4), nil); err != nil { // appends to segment 2
		t.Fatal(err)
	}
	mustClose(t, s)
	s = mustOpen(t, dir, o)
	defer s.Close()
	sameUser(t, getUser(t, s, phone(4)), user(4))
	if s.segSeq != 2 {
		t.Fatalf("appending to segment %d, want 2", s.segSeq)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	defer func(n int) { orderChunk = n }(orderChunk)
	orderChunk = 3 // several order frames
	dir := t.TempDir()
	clk := testkit.NewClock(t0)
	o := testOpts(nil, clk)
	s := mustOpen(t, dir, o)
	const n = 10
	for i := range n {
		u := user(i)
		var sess *core.Session
		if i > 0 {
			sess = session(u, fmt.Sprint("short", i), time.Hour)
		}
		if err := s.CreateUser(ctx, u, sess); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if err := s.RecordLogin(ctx, u.ID, u.PasswordHash, "", "", session(u, fmt.Sprint("long", i), 2*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	clk.Advance(90 * time.Minute) // the short sessions expire before the snapshot
	s.wmu.Lock()
	s.sinceSnap = s.opts.SnapshotRecords
	s.maybeCompactLocked()
	s.wmu.Unlock()
	waitCompaction(t, s)
	if seqs, _ := listSegments(dir); len(seqs) != 1 || seqs[0] != 2 {
		t.Fatalf("segments %v, want only the new one", seqs)
	}
	mustClose(t, s)

	s = mustOpen(t, dir, o)
	defer s.Close()
	for i := range n {
		sameUser(t, getUser(t, s, phone(i)), user(i))
		byID, err := s.UserByID(ctx, user(i).ID)
		if err != nil {
			t.Fatal(err)
		}
		sameUser(t, byID, user(i))
		_, _, err = s.Session(ctx, tokenHash(fmt.Sprint("short", i)), t0)
		wantKind(t, err, core.Unauthorized) // left out of the snapshot
		if i > 0 {
			liveSession(t, s, fmt.Sprint("long", i), t0)
		}
	}
	// The secondary tables were rebuilt from the stored orders.
	wantKind(t, s.CreateUser(ctx, &core.User{ID: "new", Phone: phone(5)}, nil), core.AlreadyRegistered)
	if err := s.SetPassword(ctx, user(3).ID, "h", t0); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Session(ctx, tokenHash("long3"), t0)
	wantKind(t, err, core.Unauthorized)
	liveSession(t, s, "long4", t0)
}
