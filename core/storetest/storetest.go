// Package storetest is the contract of core.Store and core.EphemeralStore
// as a test suite: every implementation runs the same cases with the same
// expectations, from its own tests:
//
//	func TestContract(t *testing.T) {
//		storetest.Store(t, func(t *testing.T) core.Store { ... })
//		storetest.Ephemeral(t, func(t *testing.T) core.EphemeralStore { ... })
//	}
//
// open must return a fresh, empty store and arrange (with t.Cleanup) for
// its release; a case may close the store itself first, so a second Close
// must be harmless.
//
// The cases check what core/store.go documents: every method, every error
// kind named there, atomicity, and the races the documentation rules out
// (one phone registered by many at once, one code or ticket used by many
// at once). Behaviour the documentation leaves open (how UpdatedAt moves
// on a login, which kind refuses a malformed argument) is not checked.
//
// Times are microsecond-aligned: a store may keep times at microsecond
// precision (PostgreSQL's timestamptz does). They lie a day ahead of the
// wall clock, so that a store's own sweeper, running on the real clock,
// never removes a record a case still expects.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"legacyauth/internal/testkit"
	"slices"
	"sync"
	"testing"
	"time"

	"legacyauth/core"
)

// Concurrency is how many goroutines race in the concurrent cases.
const Concurrency = 32

var (
	ctx = context.Background()
	// t0 is the suite's "now": in the future, microsecond-aligned, with a
	// sub-second part so that losing it shows.
	t0 = time.Now().UTC().Add(24 * time.Hour).Truncate(time.Second).Add(123456 * time.Microsecond)
)

// Store runs the core.Store contract; each case gets a store from open.
func Store(t *testing.T, open func(t *testing.T) core.Store) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, s core.Store)
	}{
		{"Users", testUsers},
		{"CreateUserAtomic", testCreateUserAtomic},
		{"ConcurrentCreateSamePhone", testConcurrentCreateSamePhone},
		{"ConcurrentCreateDistinctPhones", testConcurrentCreateDistinctPhones},
		{"RecordLogin", testRecordLogin},
		{"SetPasswordRevokesSessions", testSetPassword},
		{"SessionCap", testSessionCap},
		{"ConcurrentLoginsKeepCap", testConcurrentLoginsKeepCap},
		{"Sessions", testSessions},
		{"Avatars", testAvatars},
		{"UnusedAvatars", testUnusedAvatars},
		{"TouchRacesDeletion", testTouchRacesDeletion},
		{"Ping", func(t *testing.T, s core.Store) { noErr(t, s.Ping(ctx), "Ping") }},
		{"CanceledContext", testStoreCanceled},
		{"Closed", testStoreClosed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

// Ephemeral runs the core.EphemeralStore contract; each case gets a store
// from open.
func Ephemeral(t *testing.T, open func(t *testing.T) core.EphemeralStore) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, s core.EphemeralStore)
	}{
		{"Codes", testCodes},
		{"CodeBurn", testCodeBurn},
		{"CodesPerPhone", testCodesPerPhone},
		{"ConcurrentRightCode", testConcurrentRightCode},
		{"ConcurrentWrongCodes", testConcurrentWrongCodes},
		{"Tickets", testTickets},
		{"ConcurrentTakeTicket", testConcurrentTakeTicket},
		{"WrongTicketKeepsIt", testWrongTicketKeepsIt},
		{"Flows", testFlows},
		{"CanceledContext", testEphemeralCanceled},
		{"Closed", testEphemeralClosed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

// ---- helpers ----

func user(i int) *core.User {
	return &core.User{
		ID:           fmt.Sprintf("%032x", i+1),
		Phone:        phone(i),
		PasswordHash: fmt.Sprintf("$argon2id$v=19$m=19456,t=2,p=1$salt%d$key%d", i, i),
		Profile:      core.Profile{Name: fmt.Sprintf("name %d 张伟", i), Nickname: "nick", Gender: "1", Avatar: "/avatars/x.png"},
		DeviceID:     fmt.Sprintf("device-%d", i),
		CreatedAt:    t0,
		UpdatedAt:    t0,
	}
}

func phone(i int) string { return fmt.Sprintf("+86138%08d", i) }

func tokenHash(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func session(u *core.User, tok string, created time.Time, ttl time.Duration) *core.Session {
	return &core.Session{TokenHash: tokenHash(tok), UserID: u.ID, CreatedAt: created, ExpiresAt: created.Add(ttl)}
}

func wantKind(t *testing.T, err error, k core.Kind, what string) {
	t.Helper()
	var ce *core.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: got %v (%T), want a *core.Error of kind %v", what, err, err, k)
	}
	if ce.Kind != k {
		t.Fatalf("%s: got kind %v (%v), want %v", what, ce.Kind, err, k)
	}
}

// wantRefused expects an error (an *core.Error) of any kind but not.
func wantRefused(t *testing.T, err error, not core.Kind, what string) {
	t.Helper()
	var ce *core.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: got %v (%T), want a *core.Error", what, err, err)
	}
	if ce.Kind == not {
		t.Fatalf("%s: got kind %v (%v)", what, ce.Kind, err)
	}
}

func noErr(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func sameUser(t *testing.T, got, want *core.User, what string) {
	t.Helper()
	g, w := *got, *want
	if !g.CreatedAt.Equal(w.CreatedAt) || !g.UpdatedAt.Equal(w.UpdatedAt) {
		t.Fatalf("%s: times: got %v/%v, want %v/%v", what, g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt)
	}
	g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	// The last login moves with every login: the cases that check it
	// compare it themselves.
	g.LastLoginAt, g.LastLoginAddress, w.LastLoginAt, w.LastLoginAddress = time.Time{}, "", time.Time{}, ""
	if g != w {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func getUser(t *testing.T, s core.Store, ph string) *core.User {
	t.Helper()
	u, err := s.UserByPhone(ctx, ph)
	if err != nil {
		t.Fatalf("UserByPhone(%s): %v", ph, err)
	}
	return u
}

func noUser(t *testing.T, s core.Store, u *core.User, what string) {
	t.Helper()
	_, err := s.UserByID(ctx, u.ID)
	wantKind(t, err, core.NotRegistered, what+": UserByID")
}

// live returns the live session of tok, after checking that the user
// Session returns with it is its user as UserByID has it.
func live(t *testing.T, s core.Store, tok string, now time.Time) *core.Session {
	t.Helper()
	sess, u, err := s.Session(ctx, tokenHash(tok), now)
	if err != nil {
		t.Fatalf("Session(%s) at %v: %v", tok, now, err)
	}
	if u == nil {
		t.Fatalf("Session(%s): no user", tok)
	}
	want, err := s.UserByID(ctx, sess.UserID)
	noErr(t, err, "UserByID(the session's user)")
	sameUser(t, u, want, "Session("+tok+")'s user")
	return sess
}

func gone(t *testing.T, s core.Store, tok string, now time.Time) {
	t.Helper()
	_, _, err := s.Session(ctx, tokenHash(tok), now)
	wantKind(t, err, core.Unauthorized, "Session("+tok+")")
}

func sameSession(t *testing.T, got, want *core.Session) {
	t.Helper()
	if got.TokenHash != want.TokenHash || got.UserID != want.UserID || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("session:\n got %+v\nwant %+v", got, want)
	}
}

// ---- core.Store ----

func testUsers(t *testing.T, s core.Store) {
	u := user(1)
	sess := session(u, "tok1", t0, time.Hour)
	noErr(t, s.CreateUser(ctx, u, sess), "CreateUser")
	sameUser(t, getUser(t, s, u.Phone), u, "by phone")
	byID, err := s.UserByID(ctx, u.ID)
	noErr(t, err, "UserByID")
	sameUser(t, byID, u, "by id")
	sameSession(t, live(t, s, "tok1", t0), sess)

	// Callers get copies: changing what they got or gave changes nothing.
	byID.PasswordHash = "changed"
	u.Name = "changed"
	sameUser(t, getUser(t, s, user(1).Phone), user(1), "after changing copies")

	// A user without a session, with an empty profile.
	bare := user(2)
	bare.Profile, bare.DeviceID = core.Profile{}, ""
	noErr(t, s.CreateUser(ctx, bare, nil), "CreateUser without a session")
	sameUser(t, getUser(t, s, bare.Phone), bare, "bare user")

	_, err = s.UserByPhone(ctx, phone(3))
	wantKind(t, err, core.NotRegistered, "UserByPhone(unknown)")
	_, err = s.UserByID(ctx, user(3).ID)
	wantKind(t, err, core.NotRegistered, "UserByID(unknown)")

	// The phone is unique, whatever the id; a refused user leaves nothing.
	dup := user(3)
	dup.Phone = phone(1)
	wantKind(t, s.CreateUser(ctx, dup, session(dup, "tok3", t0, time.Hour)), core.AlreadyRegistered, "CreateUser(taken phone)")
	noUser(t, s, dup, "refused user")
	gone(t, s, "tok3", t0)
	wantKind(t, s.CreateUser(ctx, dup, nil), core.AlreadyRegistered, "CreateUser(taken phone, no session)")
	sameUser(t, getUser(t, s, phone(1)), user(1), "owner of the taken phone")

	// Times keep their instant whatever the zone they come in.
	zoned := user(4)
	zoned.CreatedAt = t0.In(time.FixedZone("UTC+8", 8*3600))
	zoned.UpdatedAt = t0.Add(time.Minute).In(time.FixedZone("UTC-5", -5*3600))
	noErr(t, s.CreateUser(ctx, zoned, nil), "CreateUser(zoned times)")
	sameUser(t, getUser(t, s, zoned.Phone), zoned, "zoned times")
}

// CreateUser is atomic: a refused session refuses the user.
func testCreateUserAtomic(t *testing.T, s core.Store) {
	u := user(1)
	noErr(t, s.CreateUser(ctx, u, session(u, "tok1", t0, time.Hour)), "CreateUser")

	// A token hash that already exists (a broken generator) must not
	// overwrite another user's session, nor leave a user without it.
	v := user(2)
	wantRefused(t, s.CreateUser(ctx, v, session(v, "tok1", t0, 2*time.Hour)), core.AlreadyRegistered, "CreateUser(reused token hash)")
	noUser(t, s, v, "user of a refused session")
	_, err := s.UserByPhone(ctx, v.Phone)
	wantKind(t, err, core.NotRegistered, "UserByPhone(user of a refused session)")
	if got := live(t, s, "tok1", t0); got.UserID != u.ID || !got.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("the first session was changed: %+v", got)
	}

	// A session of another user is refused with the user.
	w := user(3)
	wantRefused(t, s.CreateUser(ctx, w, session(user(4), "tok4", t0, time.Hour)), core.AlreadyRegistered, "CreateUser(another user's session)")
	noUser(t, s, w, "user with another user's session")
	gone(t, s, "tok4", t0)

	// The refused phones are still free.
	noErr(t, s.CreateUser(ctx, v, session(v, "tok2", t0, time.Hour)), "CreateUser after a refusal")
	noErr(t, s.CreateUser(ctx, w, nil), "CreateUser after a refusal")
}

func testConcurrentCreateSamePhone(t *testing.T, s core.Store) {
	const n = Concurrency
	errs := make([]error, n)
	users := make([]*core.User, n)
	for i := range users {
		users[i] = user(100 + i) // distinct ids and sessions, same phone
		users[i].Phone = phone(7)
	}
	testkit.Together(n, func(i int) {
		errs[i] = s.CreateUser(ctx, users[i], session(users[i], fmt.Sprint("race", i), t0, time.Hour))
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
		wantKind(t, err, core.AlreadyRegistered, fmt.Sprintf("CreateUser %d", i))
	}
	if winner < 0 {
		t.Fatal("nobody won")
	}
	sameUser(t, getUser(t, s, phone(7)), users[winner], "the winner")
	for i := range n {
		_, _, err := s.Session(ctx, tokenHash(fmt.Sprint("race", i)), t0)
		if (err == nil) != (i == winner) {
			t.Fatalf("session of %d (winner %d): %v", i, winner, err)
		}
		if i != winner {
			noUser(t, s, users[i], fmt.Sprintf("loser %d", i))
		}
	}
}

func testConcurrentCreateDistinctPhones(t *testing.T, s core.Store) {
	const n = Concurrency
	errs := make([]error, n)
	testkit.Together(n, func(i int) {
		u := user(i)
		errs[i] = s.CreateUser(ctx, u, session(u, fmt.Sprint("tok", i), t0, time.Hour))
	})
	for i, err := range errs {
		noErr(t, err, fmt.Sprintf("CreateUser %d", i))
		sameUser(t, getUser(t, s, phone(i)), user(i), fmt.Sprintf("user %d", i))
		live(t, s, fmt.Sprint("tok", i), t0)
	}
}

func testRecordLogin(t *testing.T, s core.Store) {
	u := user(1)
	noErr(t, s.CreateUser(ctx, u, session(u, "first", t0, time.Hour)), "CreateUser")
	later := t0.Add(time.Hour)

	// Same device, no new hash: the session is stored, the user kept.
	s1 := session(u, "a", later, time.Hour)
	noErr(t, s.RecordLogin(ctx, u.ID, u.PasswordHash, u.DeviceID, "", s1), "RecordLogin")
	got := getUser(t, s, u.Phone)
	if got.DeviceID != u.DeviceID || got.PasswordHash != u.PasswordHash {
		t.Fatalf("after a plain login: %+v", got)
	}
	sameSession(t, live(t, s, "a", later), s1)

	// A new device and a re-hashed password are stored with the session.
	s2 := session(u, "b", later, time.Hour)
	noErr(t, s.RecordLogin(ctx, u.ID, u.PasswordHash, "new-device", "new-hash", s2), "RecordLogin(new device and hash)")
	got = getUser(t, s, u.Phone)
	if got.DeviceID != "new-device" || got.PasswordHash != "new-hash" {
		t.Fatalf("after a login from a new device with a new hash: %+v", got)
	}
	if got.ID != u.ID || got.Profile != u.Profile || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Fatalf("a login changed the account: %+v", got)
	}
	live(t, s, "first", t0) // earlier sessions stay
	live(t, s, "a", later)
	sameSession(t, live(t, s, "b", later), s2)

	// A new device alone keeps the hash.
	noErr(t, s.RecordLogin(ctx, u.ID, "new-hash", "third-device", "", session(u, "c", later, time.Hour)), "RecordLogin(new device)")
	if got := getUser(t, s, u.Phone); got.DeviceID != "third-device" || got.PasswordHash != "new-hash" {
		t.Fatalf("after a login from another device: %+v", got)
	}

	// An unknown user: NotRegistered, and its session is not stored.
	ghost := user(2)
	wantKind(t, s.RecordLogin(ctx, ghost.ID, ghost.PasswordHash, "d", "", session(ghost, "ghost", later, time.Hour)), core.NotRegistered, "RecordLogin(unknown user)")
	gone(t, s, "ghost", later)

	// Atomic: a refused session (its hash exists) changes nothing.
	wantRefused(t, s.RecordLogin(ctx, u.ID, "new-hash", "fourth-device", "fourth-hash", session(u, "a", later, 5*time.Hour)), core.NotRegistered, "RecordLogin(reused token hash)")
	if got := getUser(t, s, u.Phone); got.DeviceID != "third-device" || got.PasswordHash != "new-hash" {
		t.Fatalf("a refused login changed the user: %+v", got)
	}
	sameSession(t, live(t, s, "a", later), s1)

	// A login whose password was checked against a hash that is no longer
	// stored (a reset came first) writes nothing and keeps no session.
	wantKind(t, s.RecordLogin(ctx, u.ID, u.PasswordHash, "fifth-device", "", session(u, "late", later, time.Hour)), core.WrongPassword, "RecordLogin(stale checked hash)")
	gone(t, s, "late", later)
	if got := getUser(t, s, u.Phone); got.DeviceID != "third-device" || got.PasswordHash != "new-hash" {
		t.Fatalf("a login with a stale hash changed the user: %+v", got)
	}
}

func testSetPassword(t *testing.T, s core.Store) {
	u, v := user(1), user(2)
	noErr(t, s.CreateUser(ctx, u, session(u, "u1", t0, time.Hour)), "CreateUser")
	noErr(t, s.CreateUser(ctx, v, session(v, "v1", t0, time.Hour)), "CreateUser")
	noErr(t, s.RecordLogin(ctx, u.ID, u.PasswordHash, u.DeviceID, "", session(u, "u2", t0, 2*time.Hour)), "RecordLogin")
	noErr(t, s.RecordLogin(ctx, u.ID, u.PasswordHash, u.DeviceID, "", session(u, "u3", t0, 3*time.Hour)), "RecordLogin")
	later := t0.Add(time.Minute)
	noErr(t, s.SetPassword(ctx, u.ID, "reset-hash", later), "SetPassword")
	want := *u
	want.PasswordHash, want.UpdatedAt = "reset-hash", later
	sameUser(t, getUser(t, s, u.Phone), &want, "after the reset")
	for _, tok := range []string{"u1", "u2", "u3"} {
		gone(t, s, tok, t0) // every session of the user is revoked
	}
	live(t, s, "v1", t0) // another user's session survives
	sameUser(t, getUser(t, s, v.Phone), v, "another user")

	// A login after the reset works as before.
	noErr(t, s.RecordLogin(ctx, u.ID, "reset-hash", u.DeviceID, "", session(u, "u4", later, time.Hour)), "RecordLogin after the reset")
	live(t, s, "u4", later)

	wantKind(t, s.SetPassword(ctx, user(3).ID, "h", later), core.NotRegistered, "SetPassword(unknown user)")
}

// capped is a session that asks the store to keep at most n.
func capped(sess *core.Session, n int) *core.Session {
	sess.KeepAtMost = n
	return sess
}

// KeepAtMost revokes the oldest live sessions of the user, in the write
// that adds one, and nothing else.
func testSessionCap(t *testing.T, s core.Store) {
	u, v := user(1), user(2)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	noErr(t, s.CreateUser(ctx, u, capped(session(u, "s0", at(0), time.Hour), 3)), "CreateUser")
	noErr(t, s.CreateUser(ctx, v, session(v, "other", at(0), time.Hour)), "CreateUser")
	// A session that has expired by the next login takes no place.
	noErr(t, s.RecordLogin(ctx, u.ID, u.PasswordHash, "", "", capped(session(u, "short", at(1), time.Second), 3)), "RecordLogin(short)")
	for i := 1; i <= 4; i++ {
		noErr(t, s.RecordLogin(ctx, u.ID, u.PasswordHash, "", "", capped(session(u, fmt.Sprint("s", i), at(i+1), time.Hour), 3)), fmt.Sprint("RecordLogin ", i))
	}
	now := at(5)
	gone(t, s, "short", now)
	for _, tok := range []string{"s0", "s1"} {
		gone(t, s, tok, now) // the oldest
	}
	for _, tok := range []string{"s2", "s3", "s4"} {
		live(t, s, tok, now)
	}
	live(t, s, "other", now) // another user's sessions are not counted

	// A refused login (the password changed) revokes nothing.
	wantKind(t, s.RecordLogin(ctx, u.ID, "stale-hash", "", "", capped(session(u, "late", at(7), time.Hour), 1)), core.WrongPassword, "RecordLogin(stale hash)")
	for _, tok := range []string{"s2", "s3", "s4"} {
		live(t, s, tok, now)
	}
	// No cap: nothing is revoked. A cap of one keeps only the new session.
	noErr(t, s.RecordLogin(ctx, u.ID, u.PasswordHash, "", "", session(u, "s5", at(8), time.Hour)), "RecordLogin(no cap)")
	for _, tok := range []string{"s2", "s3", "s4", "s5"} {
		live(t, s, tok, at(8))
	}
	noErr(t, s.RecordLogin(ctx, u.ID, u.PasswordHash, "", "", capped(session(u, "only", at(9), time.Hour), 1)), "RecordLogin(cap 1)")
	for _, tok := range []string{"s2", "s3", "s4", "s5"} {
		gone(t, s, tok, at(9))
	}
	live(t, s, "only", at(9))
}

// Concurrent logins of one user never leave more than KeepAtMost live.
func testConcurrentLoginsKeepCap(t *testing.T, s core.Store) {
	const keep, n = 5, Concurrency
	u := user(1)
	noErr(t, s.CreateUser(ctx, u, capped(session(u, "first", t0, time.Hour), keep)), "CreateUser")
	errs := make([]error, n)
	testkit.Together(n, func(i int) {
		sess := capped(session(u, fmt.Sprint("race", i), t0.Add(time.Duration(i+1)*time.Second), time.Hour), keep)
		errs[i] = s.RecordLogin(ctx, u.ID, u.PasswordHash, "", "", sess)
	})
	liveN := 0
	now := t0.Add(time.Duration(n+1) * time.Second)
	for i, err := range errs {
		noErr(t, err, fmt.Sprint("RecordLogin ", i))
		if _, _, err := s.Session(ctx, tokenHash(fmt.Sprint("race", i)), now); err == nil {
			liveN++
		}
	}
	if _, _, err := s.Session(ctx, tokenHash("first"), now); err == nil {
		liveN++
	}
	if liveN != keep {
		t.Fatalf("%d concurrent logins left %d live sessions, want %d", n, liveN, keep)
	}
}

func testSessions(t *testing.T, s core.Store) {
	u := user(1)
	sess := session(u, "tok", t0, time.Hour)
	noErr(t, s.CreateUser(ctx, u, sess), "CreateUser")
	noErr(t, s.RecordLogin(ctx, u.ID, u.PasswordHash, u.DeviceID, "", session(u, "other", t0, 2*time.Hour)), "RecordLogin")
	exp := sess.ExpiresAt

	// Live before ExpiresAt, expired from ExpiresAt on: the store decides
	// by the now it is given, not by its own clock.
	sameSession(t, live(t, s, "tok", t0), sess)
	sameSession(t, live(t, s, "tok", t0.Add(-24*time.Hour)), sess)
	live(t, s, "tok", exp.Add(-time.Microsecond))
	gone(t, s, "tok", exp)
	gone(t, s, "tok", exp.Add(time.Hour))
	gone(t, s, "nope", t0)

	noErr(t, s.DeleteSession(ctx, tokenHash("tok")), "DeleteSession")
	gone(t, s, "tok", t0)
	live(t, s, "other", t0) // only that one
	noErr(t, s.DeleteSession(ctx, tokenHash("tok")), "DeleteSession(deleted)")
	noErr(t, s.DeleteSession(ctx, tokenHash("never")), "DeleteSession(unknown)")
	if _, err := s.UserByID(ctx, u.ID); err != nil {
		t.Fatalf("deleting sessions removed the user: %v", err)
	}
}

func testAvatars(t *testing.T, s core.Store) {
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 100)...)
	big := make([]byte, 1<<20)
	rand.Read(big)
	jpeg := append([]byte("\xff\xd8\xff\xe0"), big...)
	pngName := fmt.Sprintf("%032x.png", 1)
	jpegName := fmt.Sprintf("%032x.jpg", 2)
	noErr(t, s.PutAvatar(ctx, pngName, "image/png", png), "PutAvatar(png)")
	noErr(t, s.PutAvatar(ctx, jpegName, "image/jpeg", jpeg), "PutAvatar(jpeg)")
	read := func(name, wantCT string, want []byte) {
		t.Helper()
		ct, body, err := s.Avatar(ctx, name)
		noErr(t, err, "Avatar("+name+")")
		b, err := io.ReadAll(body)
		noErr(t, err, "reading the avatar")
		noErr(t, body.Close(), "closing the avatar")
		if ct != wantCT || !bytes.Equal(b, want) {
			t.Fatalf("Avatar(%s) = %s, %d bytes; want %s, %d bytes", name, ct, len(b), wantCT, len(want))
		}
	}
	read(pngName, "image/png", png)
	read(jpegName, "image/jpeg", jpeg)
	read(pngName, "image/png", png) // read twice
	_, _, err := s.Avatar(ctx, fmt.Sprintf("%032x.png", 3))
	wantKind(t, err, core.NotFound, "Avatar(unknown)")
}

// DeleteUnusedAvatars deletes exactly the avatars touched (or stored)
// before its cut-off that no user's avatar reference ends in "/" + name.
func testUnusedAvatars(t *testing.T, s core.Store) {
	img := []byte("\x89PNG\r\n\x1a\n")
	name := func(i int) string { return fmt.Sprintf("%032x.png", i) }
	for i := 1; i <= 5; i++ {
		noErr(t, s.PutAvatar(ctx, name(i), "image/png", img), "PutAvatar")
		noErr(t, s.TouchAvatar(ctx, name(i), t0.Add(-2*time.Hour)), "TouchAvatar")
	}
	noErr(t, s.TouchAvatar(ctx, name(3), t0), "TouchAvatar(3)") // a registration is using it
	refs := map[int]string{
		1: "/v1/avatars/" + name(1),  // referenced
		2: "/static/a/" + name(2),    // referenced under another prefix
		4: name(4),                   // no "/": not a reference
		5: "/v1/avatars/x" + name(5), // another name
	}
	for i, ref := range refs {
		u := user(i)
		u.Avatar = ref
		noErr(t, s.CreateUser(ctx, u, nil), "CreateUser")
	}
	exists := func(i int) bool {
		t.Helper()
		_, body, err := s.Avatar(ctx, name(i))
		if err == nil {
			body.Close()
			return true
		}
		wantKind(t, err, core.NotFound, "Avatar("+name(i)+")")
		return false
	}
	sweep := func(before time.Time, want int, kept ...int) {
		t.Helper()
		n, err := s.DeleteUnusedAvatars(ctx, before)
		noErr(t, err, "DeleteUnusedAvatars")
		if n != want {
			t.Errorf("DeleteUnusedAvatars(%v) deleted %d, want %d", before, n, want)
		}
		for i := 1; i <= 5; i++ {
			if got, want := exists(i), slices.Contains(kept, i); got != want {
				t.Errorf("after DeleteUnusedAvatars(%v): avatar %d exists %v, want %v", before, i, got, want)
			}
		}
	}
	sweep(t0.Add(-3*time.Hour), 0, 1, 2, 3, 4, 5) // all younger
	sweep(t0.Add(-time.Hour), 2, 1, 2, 3)         // 4 and 5: unreferenced and old
	sweep(t0.Add(-time.Hour), 0, 1, 2, 3)         // nothing more
	sweep(t0.Add(time.Hour), 1, 1, 2)             // 3's grace is over too
	sweep(t0.Add(1000*time.Hour), 0, 1, 2)        // referenced: kept for ever
	wantKind(t, s.TouchAvatar(ctx, name(4), t0), core.NotFound, "TouchAvatar(deleted)")
	wantKind(t, s.TouchAvatar(ctx, name(9), t0), core.NotFound, "TouchAvatar(unknown)")
}

// A touch racing a deletion: either the touch reports NotFound (the
// deletion won) or the avatar survives; never a nil touch and a deletion.
func testTouchRacesDeletion(t *testing.T, s core.Store) {
	img := []byte("\x89PNG\r\n\x1a\n")
	names := make([]string, Concurrency)
	for i := range names {
		names[i] = fmt.Sprintf("%032x.png", 100+i)
		noErr(t, s.PutAvatar(ctx, names[i], "image/png", img), "PutAvatar")
		noErr(t, s.TouchAvatar(ctx, names[i], t0.Add(-2*time.Hour)), "TouchAvatar")
	}
	touched := make([]error, len(names))
	var deleted int
	var delErr error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range names {
		wg.Go(func() {
			<-start
			touched[i] = s.TouchAvatar(ctx, names[i], t0)
		})
	}
	wg.Go(func() {
		<-start
		deleted, delErr = s.DeleteUnusedAvatars(ctx, t0.Add(-time.Hour))
	})
	close(start)
	wg.Wait()
	noErr(t, delErr, "DeleteUnusedAvatars")
	gone := 0
	for i, name := range names {
		_, body, err := s.Avatar(ctx, name)
		if err == nil {
			body.Close()
		} else {
			wantKind(t, err, core.NotFound, "Avatar")
			gone++
		}
		switch {
		case touched[i] == nil && err != nil:
			t.Errorf("%s: TouchAvatar succeeded, yet the avatar was deleted", name)
		case touched[i] != nil:
			wantKind(t, touched[i], core.NotFound, "TouchAvatar racing a deletion")
			if err == nil {
				t.Errorf("%s: TouchAvatar said NotFound, yet the avatar exists", name)
			}
		}
	}
	if gone != deleted {
		t.Errorf("DeleteUnusedAvatars reported %d deleted, %d are gone", deleted, gone)
	}
}

// A canceled context answers in time: the call either completed or
// reports Unavailable, never another kind.
func testStoreCanceled(t *testing.T, s core.Store) {
	u := user(1)
	noErr(t, s.CreateUser(ctx, u, session(u, "tok", t0, time.Hour)), "CreateUser")
	c, cancel := context.WithCancel(ctx)
	cancel()
	for name, call := range storeCalls(c, u) {
		if err := call(s); err != nil {
			wantKind(t, err, core.Unavailable, name+" with a canceled context")
		}
	}
}

// A closed store cannot answer: every call is Unavailable.
func testStoreClosed(t *testing.T, s core.Store) {
	u := user(1)
	noErr(t, s.CreateUser(ctx, u, session(u, "tok", t0, time.Hour)), "CreateUser")
	noErr(t, s.Close(), "Close")
	for name, call := range storeCalls(ctx, u) {
		wantKind(t, call(s), core.Unavailable, name+" after Close")
	}
}

// storeCalls calls every method but Close with valid arguments.
func storeCalls(c context.Context, u *core.User) map[string]func(s core.Store) error {
	h := tokenHash("tok")
	v := user(2)
	avatar := fmt.Sprintf("%032x.png", 9)
	return map[string]func(s core.Store) error{
		"CreateUser":  func(s core.Store) error { return s.CreateUser(c, v, session(v, "v", t0, time.Hour)) },
		"UserByPhone": func(s core.Store) error { _, err := s.UserByPhone(c, u.Phone); return err },
		"UserByID":    func(s core.Store) error { _, err := s.UserByID(c, u.ID); return err },
		"RecordLogin": func(s core.Store) error {
			return s.RecordLogin(c, u.ID, u.PasswordHash, "d", "", session(u, "login", t0, time.Hour))
		},
		"SetPassword":   func(s core.Store) error { return s.SetPassword(c, u.ID, "h", t0) },
		"Session":       func(s core.Store) error { _, _, err := s.Session(c, h, t0); return err },
		"DeleteSession": func(s core.Store) error { return s.DeleteSession(c, h) },
		"PutAvatar":     func(s core.Store) error { return s.PutAvatar(c, avatar, "image/png", []byte("\x89PNG\r\n\x1a\n")) },
		"TouchAvatar": func(s core.Store) error {
			if err := s.TouchAvatar(c, avatar, t0); core.KindOf(err) != core.NotFound {
				return err
			}
			return nil // not stored yet: an answer
		},
		"DeleteUnusedAvatars": func(s core.Store) error { _, err := s.DeleteUnusedAvatars(c, t0); return err },
		"Avatar": func(s core.Store) error {
			_, body, err := s.Avatar(c, avatar)
			if err == nil {
				body.Close()
			}
			if core.KindOf(err) == core.NotFound {
				return nil // not stored yet: an answer
			}
			return err
		},
		"Ping": func(s core.Store) error { return s.Ping(c) },
	}
}

// ---- core.EphemeralStore ----

func mac(s string) [32]byte { return sha256.Sum256([]byte(s)) }

type codeChecker struct {
	t   *testing.T
	s   core.EphemeralStore
	ph  string
	max int
}

func (cc codeChecker) check(now time.Time, want core.CodeCheck, guesses ...string) {
	cc.t.Helper()
	var macs [][32]byte
	for _, g := range guesses {
		macs = append(macs, mac(g))
	}
	got, err := cc.s.CheckCode(ctx, cc.ph, macs, now, cc.max)
	if err != nil || got != want {
		cc.t.Fatalf("CheckCode(%s, %v) at %v = %v, %v; want %v", cc.ph, guesses, now, got, err, want)
	}
}

func (cc codeChecker) put(code string, exp time.Time) {
	cc.t.Helper()
	noErr(cc.t, cc.s.PutCode(ctx, &core.Code{Phone: cc.ph, Purpose: core.PurposeRegister, MAC: mac(code), ExpiresAt: exp}), "PutCode")
}

func testCodes(t *testing.T, s core.EphemeralStore) {
	cc := codeChecker{t, s, phone(1), 3}
	exp := t0.Add(5 * time.Minute)

	cc.check(t0, core.CodeNone, "right")
	cc.put("right", exp)
	cc.check(t0, core.CodeMismatch, "wrong")
	cc.check(t0, core.CodeMismatch)                  // no candidate at all
	cc.check(t0, core.CodeMatched, "wrong", "right") // any candidate matches
	cc.check(t0, core.CodeNone, "right")             // consumed

	// A new code replaces the pending one and its attempts.
	cc.put("first", exp)
	cc.check(t0, core.CodeMismatch, "w1")
	cc.check(t0, core.CodeMismatch, "w2")
	cc.put("second", exp)
	cc.check(t0, core.CodeMismatch, "first") // replaced
	cc.check(t0, core.CodeMismatch, "w3")    // two wrong tries of the new code: not burned
	cc.check(t0, core.CodeMatched, "second")

	// Stale from ExpiresAt on, even for the right code; the store decides
	// by the now it is given.
	cc.put("right", exp)
	cc.check(exp.Add(-time.Microsecond), core.CodeMismatch, "w")
	cc.check(exp, core.CodeStale, "right")
	cc.check(exp.Add(time.Hour), core.CodeStale, "right")

	// The caller's struct is copied in.
	c := &core.Code{Phone: cc.ph, MAC: mac("right"), ExpiresAt: exp}
	noErr(t, s.PutCode(ctx, c), "PutCode")
	c.MAC = mac("other")
	cc.check(t0, core.CodeMatched, "right")
}

func testCodeBurn(t *testing.T, s core.EphemeralStore) {
	cc := codeChecker{t, s, phone(1), 3}
	exp := t0.Add(5 * time.Minute)

	// The maxAttempts-th wrong try burns the code and says so; burned
	// stays burned, even for the right code, until the code expires.
	cc.put("right", exp)
	cc.check(t0, core.CodeMismatch, "w1")
	cc.check(t0, core.CodeMismatch, "w2")
	cc.check(t0, core.CodeBurned, "w3")
	cc.check(t0, core.CodeBurned, "right")
	cc.check(t0, core.CodeBurned, "w4")
	cc.check(t0, core.CodeBurned, "right")
	cc.check(exp, core.CodeStale, "right")

	// ... or is replaced.
	cc.put("right", exp)
	cc.check(t0, core.CodeMismatch, "w1")
	cc.check(t0, core.CodeMismatch, "w2")
	cc.check(t0, core.CodeMatched, "right")

	// maxAttempts is the caller's: with 1, the first wrong try burns.
	one := codeChecker{t, s, phone(1), 1}
	one.put("right", exp)
	one.check(t0, core.CodeBurned, "w")
	one.check(t0, core.CodeBurned, "right")
}

func testCodesPerPhone(t *testing.T, s core.EphemeralStore) {
	a := codeChecker{t, s, phone(1), 2}
	b := codeChecker{t, s, phone(2), 2}
	exp := t0.Add(5 * time.Minute)
	a.put("code-a", exp)
	b.put("code-b", exp)
	a.check(t0, core.CodeMismatch, "code-b") // another phone's code
	a.check(t0, core.CodeBurned, "w")
	b.check(t0, core.CodeMismatch, "w") // b's attempts are its own
	b.check(t0, core.CodeMatched, "code-b")
	a.check(t0, core.CodeBurned, "code-a")
	codeChecker{t, s, phone(3), 2}.check(t0, core.CodeNone, "code-a")
}

func testConcurrentRightCode(t *testing.T, s core.EphemeralStore) {
	cc := codeChecker{t, s, phone(1), 5}
	cc.put("right", t0.Add(5*time.Minute))
	const n = Concurrency
	res := make([]core.CodeCheck, n)
	errs := make([]error, n)
	testkit.Together(n, func(i int) {
		res[i], errs[i] = s.CheckCode(ctx, cc.ph, [][32]byte{mac("right")}, t0, 5)
	})
	matched := 0
	for i := range n {
		noErr(t, errs[i], fmt.Sprintf("CheckCode %d", i))
		switch res[i] {
		case core.CodeMatched:
			matched++
		case core.CodeNone: // consumed by the winner
		default:
			t.Fatalf("CheckCode %d = %v, want CodeMatched or CodeNone", i, res[i])
		}
	}
	if matched != 1 {
		t.Fatalf("%d checks matched one code, want exactly 1", matched)
	}
}

func testConcurrentWrongCodes(t *testing.T, s core.EphemeralStore) {
	const maxAttempts = 5
	cc := codeChecker{t, s, phone(1), maxAttempts}
	cc.put("right", t0.Add(5*time.Minute))
	const n = Concurrency
	res := make([]core.CodeCheck, n)
	errs := make([]error, n)
	testkit.Together(n, func(i int) {
		res[i], errs[i] = s.CheckCode(ctx, cc.ph, [][32]byte{mac(fmt.Sprint("wrong", i))}, t0, maxAttempts)
	})
	count := map[core.CodeCheck]int{}
	for i := range n {
		noErr(t, errs[i], fmt.Sprintf("CheckCode %d", i))
		count[res[i]]++
	}
	// Every wrong try is counted: exactly maxAttempts-1 mismatches, and
	// the rest (the burning try and every later one) burned.
	if count[core.CodeMismatch] != maxAttempts-1 || count[core.CodeBurned] != n-maxAttempts+1 {
		t.Fatalf("results %v: want %d mismatches and %d burned", count, maxAttempts-1, n-maxAttempts+1)
	}
	cc.check(t0, core.CodeBurned, "right")
}

func testTickets(t *testing.T, s core.EphemeralStore) {
	ph := phone(1)
	h, other := mac("ticket"), mac("other")
	exp := t0.Add(10 * time.Minute)
	put := func(p core.Purpose, hash [32]byte) {
		t.Helper()
		noErr(t, s.PutTicket(ctx, &core.Ticket{Hash: hash, Phone: ph, Purpose: p, ExpiresAt: exp}), "PutTicket")
	}
	take := func(p core.Purpose, hash *[32]byte, now time.Time) error {
		return s.TakeTicket(ctx, ph, p, hash, now)
	}

	wantKind(t, take(core.PurposeReset, &h, t0), core.Unauthorized, "TakeTicket(none)")
	put(core.PurposeReset, h)
	wantKind(t, take(core.PurposeReset, &other, t0), core.Unauthorized, "TakeTicket(wrong hash)")
	wantKind(t, take(core.PurposeRegister, &h, t0), core.Unauthorized, "TakeTicket(other purpose)") // purpose is exact
	wantKind(t, take(core.PurposeAny, &h, t0), core.Unauthorized, "TakeTicket(PurposeAny)")
	wantKind(t, s.TakeTicket(ctx, phone(2), core.PurposeReset, &h, t0), core.Unauthorized, "TakeTicket(other phone)")
	noErr(t, take(core.PurposeReset, &h, exp.Add(-time.Microsecond)), "TakeTicket")
	wantKind(t, take(core.PurposeReset, &h, t0), core.Unauthorized, "TakeTicket(used)") // one use
	wantKind(t, take(core.PurposeReset, nil, t0), core.Unauthorized, "TakeTicket(used, any hash)")

	// A nil hash takes the ticket whatever its hash; once.
	put(core.PurposeReset, h)
	noErr(t, take(core.PurposeReset, nil, t0), "TakeTicket(any hash)")
	wantKind(t, take(core.PurposeReset, nil, t0), core.Unauthorized, "TakeTicket(any hash, used)")
	wantKind(t, take(core.PurposeReset, &h, t0), core.Unauthorized, "TakeTicket(used by any hash)")

	// Expired tickets are not taken, from ExpiresAt on, with or without
	// a hash.
	put(core.PurposeRegister, h)
	wantKind(t, take(core.PurposeRegister, &h, exp), core.Unauthorized, "TakeTicket(expired)")
	wantKind(t, take(core.PurposeRegister, nil, exp.Add(time.Hour)), core.Unauthorized, "TakeTicket(expired, any hash)")

	// PutTicket replaces the ticket of the same phone and purpose only.
	put(core.PurposeRegister, h)
	put(core.PurposeRegister, other)
	put(core.PurposeReset, h)
	wantKind(t, take(core.PurposeRegister, &h, t0), core.Unauthorized, "TakeTicket(replaced)")
	noErr(t, take(core.PurposeRegister, &other, t0), "TakeTicket(replacement)")
	noErr(t, take(core.PurposeReset, &h, t0), "TakeTicket(the other purpose)")

	// The caller's struct is copied in.
	tk := &core.Ticket{Hash: h, Phone: ph, Purpose: core.PurposeAny, ExpiresAt: exp}
	noErr(t, s.PutTicket(ctx, tk), "PutTicket")
	tk.Hash, tk.ExpiresAt = other, t0
	noErr(t, take(core.PurposeAny, &h, t0.Add(time.Minute)), "TakeTicket(copied)")
}

func testConcurrentTakeTicket(t *testing.T, s core.EphemeralStore) {
	ph := phone(1)
	h := mac("ticket")
	for _, hash := range []*[32]byte{&h, nil} {
		noErr(t, s.PutTicket(ctx, &core.Ticket{Hash: h, Phone: ph, Purpose: core.PurposeReset, ExpiresAt: t0.Add(time.Minute)}), "PutTicket")
		const n = Concurrency
		errs := make([]error, n)
		testkit.Together(n, func(i int) { errs[i] = s.TakeTicket(ctx, ph, core.PurposeReset, hash, t0) })
		won := 0
		for i, err := range errs {
			if err == nil {
				won++
				continue
			}
			wantKind(t, err, core.Unauthorized, fmt.Sprintf("TakeTicket %d", i))
		}
		if won != 1 {
			t.Fatalf("%d takers won one ticket (hash given: %v), want exactly 1", won, hash != nil)
		}
	}
}

// A take with a wrong hash leaves the ticket to its owner, even when many
// race it (apiv4's reset ticket is bound to the requester, and a stranger's
// attempt must not spend the owner's).
func testWrongTicketKeepsIt(t *testing.T, s core.EphemeralStore) {
	ph := phone(1)
	h := mac("owner")
	noErr(t, s.PutTicket(ctx, &core.Ticket{Hash: h, Phone: ph, Purpose: core.PurposeReset, ExpiresAt: t0.Add(time.Minute)}), "PutTicket")
	const n = Concurrency
	errs := make([]error, n)
	testkit.Together(n, func(i int) {
		wrong := mac(fmt.Sprint("stranger", i))
		errs[i] = s.TakeTicket(ctx, ph, core.PurposeReset, &wrong, t0)
	})
	for i, err := range errs {
		wantKind(t, err, core.Unauthorized, fmt.Sprintf("TakeTicket(wrong hash %d)", i))
	}
	noErr(t, s.TakeTicket(ctx, ph, core.PurposeReset, &h, t0), "TakeTicket(owner, after the strangers)")
	wantKind(t, s.TakeTicket(ctx, ph, core.PurposeReset, &h, t0), core.Unauthorized, "TakeTicket(owner, again)")
}

func testFlows(t *testing.T, s core.EphemeralStore) {
	exp := t0.Add(time.Minute)
	f := &core.Flow{ID: "f1", Phone: phone(1), ExpiresAt: exp}
	_, err := s.Flow(ctx, "f1", t0)
	wantKind(t, err, core.NotFound, "Flow(none)")
	noErr(t, s.PutFlow(ctx, f), "PutFlow")
	f.Ticket = "changed by the caller"
	got, err := s.Flow(ctx, "f1", t0)
	noErr(t, err, "Flow")
	if got.ID != "f1" || got.Phone != phone(1) || got.Ticket != "" || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("Flow = %+v", got)
	}

	// Replaced, with a new ticket and a new expiry.
	got.Ticket = "ticket"
	got.ExpiresAt = exp.Add(time.Hour)
	noErr(t, s.PutFlow(ctx, got), "PutFlow(replace)")
	got.Ticket = "changed again"
	again, err := s.Flow(ctx, "f1", exp)
	noErr(t, err, "Flow(replaced)")
	if again.Ticket != "ticket" || !again.ExpiresAt.Equal(exp.Add(time.Hour)) {
		t.Fatalf("replaced flow: %+v", again)
	}

	// Expired from ExpiresAt on, by the now given.
	noErr(t, s.PutFlow(ctx, &core.Flow{ID: "f2", Phone: phone(2), ExpiresAt: exp}), "PutFlow")
	if _, err := s.Flow(ctx, "f2", exp.Add(-time.Microsecond)); err != nil {
		t.Fatalf("Flow before expiry: %v", err)
	}
	_, err = s.Flow(ctx, "f2", exp)
	wantKind(t, err, core.NotFound, "Flow(expired)")

	noErr(t, s.PutFlow(ctx, &core.Flow{ID: "f3", Phone: phone(3), ExpiresAt: exp}), "PutFlow")
	noErr(t, s.DeleteFlow(ctx, "f1"), "DeleteFlow")
	_, err = s.Flow(ctx, "f1", t0)
	wantKind(t, err, core.NotFound, "Flow(deleted)")
	if _, err := s.Flow(ctx, "f3", t0); err != nil {
		t.Fatalf("deleting f1 removed f3: %v", err)
	}
	noErr(t, s.DeleteFlow(ctx, "f1"), "DeleteFlow(deleted)")
	noErr(t, s.DeleteFlow(ctx, "never"), "DeleteFlow(unknown)")
}

// ephemeralCalls calls every method with valid arguments.
func ephemeralCalls(c context.Context) map[string]func(s core.EphemeralStore) error {
	h := mac("ticket")
	ph := phone(1)
	return map[string]func(s core.EphemeralStore) error{
		"PutCode": func(s core.EphemeralStore) error {
			return s.PutCode(c, &core.Code{Phone: ph, MAC: mac("c"), ExpiresAt: t0.Add(time.Minute)})
		},
		"CheckCode": func(s core.EphemeralStore) error {
			_, err := s.CheckCode(c, ph, [][32]byte{mac("x")}, t0, 3)
			return err
		},
		"PutTicket": func(s core.EphemeralStore) error {
			return s.PutTicket(c, &core.Ticket{Hash: h, Phone: ph, ExpiresAt: t0.Add(time.Minute)})
		},
		"TakeTicket": func(s core.EphemeralStore) error {
			err := s.TakeTicket(c, ph, core.PurposeAny, &h, t0)
			if core.KindOf(err) == core.Unauthorized {
				return nil // no ticket: an answer
			}
			return err
		},
		"PutFlow": func(s core.EphemeralStore) error {
			return s.PutFlow(c, &core.Flow{ID: "f", Phone: ph, ExpiresAt: t0.Add(time.Minute)})
		},
		"Flow": func(s core.EphemeralStore) error {
			_, err := s.Flow(c, "f", t0)
			if core.KindOf(err) == core.NotFound {
				return nil
			}
			return err
		},
		"DeleteFlow": func(s core.EphemeralStore) error { return s.DeleteFlow(c, "f") },
	}
}

func testEphemeralCanceled(t *testing.T, s core.EphemeralStore) {
	c, cancel := context.WithCancel(ctx)
	cancel()
	for name, call := range ephemeralCalls(c) {
		if err := call(s); err != nil {
			wantKind(t, err, core.Unavailable, name+" with a canceled context")
		}
	}
}

// The interface has no Close; a store that has one (a shared
// implementation) cannot answer once closed.
func testEphemeralClosed(t *testing.T, s core.EphemeralStore) {
	cl, ok := s.(io.Closer)
	if !ok {
		t.Skip("the store has no Close method")
	}
	noErr(t, cl.Close(), "Close")
	for name, call := range ephemeralCalls(ctx) {
		wantKind(t, call(s), core.Unavailable, name+" after Close")
	}
}
