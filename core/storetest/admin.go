package storetest

import (
	"fmt"
	"testing"
	"time"

	"legacyauth/core"
)

// Admin runs the contract of the operators' Store methods (last login,
// session count and revocation, account and avatar deletion); each case
// gets a store from open.
func Admin(t *testing.T, open func(t *testing.T) core.Store) {
	t.Helper()
	for _, c := range []struct {
		name string
		run  func(t *testing.T, s core.Store)
	}{
		{"LastLoginAndSource", testLastLogin},
		{"CountAndRevokeSessions", testRevokeSessions},
		{"DeleteUser", testDeleteUser},
		{"DeleteAvatar", testDeleteAvatar},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

// EphemeralAdmin runs the contract of EphemeralStore.DeletePhone.
func EphemeralAdmin(t *testing.T, open func(t *testing.T) core.EphemeralStore) {
	t.Helper()
	t.Run("DeletePhone", func(t *testing.T) { testDeletePhone(t, open(t)) })
}

// Audit runs the core.AuditStore contract.
func Audit(t *testing.T, open func(t *testing.T) core.AuditStore) {
	t.Helper()
	t.Run("AppendQueryPrune", func(t *testing.T) { testAudit(t, open(t)) })
}

func testLastLogin(t *testing.T, s core.Store) {
	u := user(1)
	u.Source, u.LastLoginAt, u.LastLoginAddress = core.SourceRegistered, t0, "192.0.2.1"
	noErr(t, s.CreateUser(ctx, u, session(u, "a", t0, time.Hour)), "CreateUser")
	got := getUser(t, s, u.Phone)
	if got.Source != core.SourceRegistered || !got.LastLoginAt.Equal(t0) || got.LastLoginAddress != "192.0.2.1" {
		t.Fatalf("after CreateUser: source %q, last login %v from %q", got.Source, got.LastLoginAt, got.LastLoginAddress)
	}
	later := t0.Add(time.Hour)
	sess := session(u, "b", later, time.Hour)
	sess.Address = "2001:db8::1"
	noErr(t, s.RecordLogin(ctx, u.ID, u.PasswordHash, "", "", sess), "RecordLogin")
	got = getUser(t, s, u.Phone)
	if got.Source != core.SourceRegistered || !got.LastLoginAt.Equal(later) || got.LastLoginAddress != "2001:db8::1" {
		t.Fatalf("after RecordLogin: source %q, last login %v from %q", got.Source, got.LastLoginAt, got.LastLoginAddress)
	}
	// An imported user without a login has none.
	v := user(2)
	v.Source = core.SourceMigrated
	noErr(t, s.CreateUser(ctx, v, nil), "CreateUser")
	if got := getUser(t, s, v.Phone); got.Source != core.SourceMigrated || !got.LastLoginAt.IsZero() || got.LastLoginAddress != "" {
		t.Fatalf("imported user: source %q, last login %v from %q", got.Source, got.LastLoginAt, got.LastLoginAddress)
	}
}

func testRevokeSessions(t *testing.T, s core.Store) {
	u, v := user(1), user(2)
	noErr(t, s.CreateUser(ctx, u, session(u, "a", t0, time.Hour)), "CreateUser")
	noErr(t, s.CreateUser(ctx, v, session(v, "v", t0, time.Hour)), "CreateUser")
	noErr(t, s.RecordLogin(ctx, u.ID, u.PasswordHash, "", "", session(u, "b", t0, time.Hour)), "RecordLogin")
	noErr(t, s.RecordLogin(ctx, u.ID, u.PasswordHash, "", "", session(u, "old", t0.Add(-2*time.Hour), time.Hour)), "RecordLogin")
	n, err := s.CountSessions(ctx, u.ID, t0)
	noErr(t, err, "CountSessions")
	if n != 2 {
		t.Fatalf("CountSessions = %d, want 2 (the expired one does not count)", n)
	}
	n, err = s.RevokeSessions(ctx, u.ID)
	noErr(t, err, "RevokeSessions")
	if n != 3 {
		t.Fatalf("RevokeSessions = %d, want 3", n)
	}
	gone(t, s, "a", t0)
	gone(t, s, "b", t0)
	if n, _ := s.CountSessions(ctx, u.ID, t0); n != 0 {
		t.Fatalf("CountSessions after RevokeSessions = %d", n)
	}
	live(t, s, "v", t0) // another user's stays
	n, err = s.RevokeSessions(ctx, u.ID)
	if err != nil || n != 0 {
		t.Fatalf("RevokeSessions again = %d, %v; want 0, nil", n, err)
	}
}

func testDeleteUser(t *testing.T, s core.Store) {
	u, v := user(1), user(2)
	noErr(t, s.CreateUser(ctx, u, session(u, "a", t0, time.Hour)), "CreateUser")
	noErr(t, s.CreateUser(ctx, v, session(v, "v", t0, time.Hour)), "CreateUser")
	noErr(t, s.RecordLogin(ctx, u.ID, u.PasswordHash, "", "", session(u, "b", t0, time.Hour)), "RecordLogin")
	got, err := s.DeleteUser(ctx, u.ID)
	noErr(t, err, "DeleteUser")
	if got == nil || got.ID != u.ID || got.Phone != u.Phone || got.Avatar != u.Avatar {
		t.Fatalf("DeleteUser returned %+v", got)
	}
	noUser(t, s, u, "after DeleteUser")
	if _, err := s.UserByID(ctx, u.ID); core.KindOf(err) != core.NotRegistered {
		t.Fatalf("UserByID after DeleteUser: %v", err)
	}
	gone(t, s, "a", t0)
	gone(t, s, "b", t0)
	if n, _ := s.CountSessions(ctx, u.ID, t0); n != 0 {
		t.Fatalf("CountSessions after DeleteUser = %d", n)
	}
	live(t, s, "v", t0)
	sameUser(t, getUser(t, s, v.Phone), v, "the other user")
	_, err = s.DeleteUser(ctx, u.ID)
	wantKind(t, err, core.NotRegistered, "DeleteUser again")
	// The phone is free again.
	w := user(3)
	w.Phone = u.Phone
	noErr(t, s.CreateUser(ctx, w, nil), "CreateUser with the deleted user's phone")
}

func testDeleteAvatar(t *testing.T, s core.Store) {
	used, unused := fmt.Sprintf("%032x.png", 1), fmt.Sprintf("%032x.png", 2)
	png := []byte("\x89PNG\r\n\x1a\n")
	noErr(t, s.PutAvatar(ctx, used, "image/png", png), "PutAvatar")
	noErr(t, s.PutAvatar(ctx, unused, "image/png", png), "PutAvatar")
	u := user(1)
	u.Avatar = "/v1/avatars/" + used
	noErr(t, s.CreateUser(ctx, u, nil), "CreateUser")
	ok, err := s.DeleteAvatar(ctx, used)
	if err != nil || ok {
		t.Fatalf("DeleteAvatar(referenced) = %v, %v; want false, nil", ok, err)
	}
	if _, body, err := s.Avatar(ctx, used); err != nil {
		t.Fatalf("a referenced avatar went: %v", err)
	} else {
		body.Close()
	}
	ok, err = s.DeleteAvatar(ctx, unused)
	if err != nil || !ok {
		t.Fatalf("DeleteAvatar(unreferenced) = %v, %v; want true, nil", ok, err)
	}
	if _, _, err := s.Avatar(ctx, unused); core.KindOf(err) != core.NotFound {
		t.Fatalf("Avatar after DeleteAvatar: %v", err)
	}
	ok, err = s.DeleteAvatar(ctx, fmt.Sprintf("%032x.png", 3))
	if err != nil || ok {
		t.Fatalf("DeleteAvatar(missing) = %v, %v; want false, nil", ok, err)
	}
	// Once its user is deleted, the image can go.
	_, err = s.DeleteUser(ctx, u.ID)
	noErr(t, err, "DeleteUser")
	if ok, err := s.DeleteAvatar(ctx, used); err != nil || !ok {
		t.Fatalf("DeleteAvatar after its user's deletion = %v, %v; want true, nil", ok, err)
	}
}

func testDeletePhone(t *testing.T, s core.EphemeralStore) {
	a, b := phone(1), phone(2)
	exp := t0.Add(time.Hour)
	for _, p := range []string{a, b} {
		noErr(t, s.PutCode(ctx, &core.Code{Phone: p, Purpose: core.PurposeDelete, MAC: mac("c" + p), ExpiresAt: exp}), "PutCode")
		for _, pu := range []core.Purpose{core.PurposeRegister, core.PurposeReset, core.PurposeDelete} {
			noErr(t, s.PutTicket(ctx, &core.Ticket{Hash: mac("t" + p), Phone: p, Purpose: pu, ExpiresAt: exp}), "PutTicket")
		}
		noErr(t, s.PutFlow(ctx, &core.Flow{ID: "flow1" + p[1:], Phone: p, ExpiresAt: exp}), "PutFlow")
		noErr(t, s.PutFlow(ctx, &core.Flow{ID: "flow2" + p[1:], Phone: p, ExpiresAt: exp}), "PutFlow")
	}
	noErr(t, s.DeletePhone(ctx, a), "DeletePhone")
	if res, err := s.CheckCode(ctx, a, [][32]byte{mac("c" + a)}, t0, 5); err != nil || res != core.CodeNone {
		t.Fatalf("the deleted phone's code: %v, %v", res, err)
	}
	h := mac("t" + a)
	for _, pu := range []core.Purpose{core.PurposeRegister, core.PurposeReset, core.PurposeDelete} {
		wantKind(t, s.TakeTicket(ctx, a, pu, &h, t0), core.Unauthorized, "the deleted phone's ticket")
	}
	for _, id := range []string{"flow1" + a[1:], "flow2" + a[1:]} {
		_, err := s.Flow(ctx, id, t0)
		wantKind(t, err, core.NotFound, "the deleted phone's flow")
	}
	// The other phone keeps everything.
	if res, err := s.CheckCode(ctx, b, [][32]byte{mac("c" + b)}, t0, 5); err != nil || res != core.CodeMatched {
		t.Fatalf("another phone's code: %v, %v", res, err)
	}
	hb := mac("t" + b)
	noErr(t, s.TakeTicket(ctx, b, core.PurposeDelete, &hb, t0), "another phone's ticket")
	if _, err := s.Flow(ctx, "flow1"+b[1:], t0); err != nil {
		t.Fatalf("another phone's flow: %v", err)
	}
	noErr(t, s.DeletePhone(ctx, phone(3)), "DeletePhone of a phone with nothing pending")
}

func testAudit(t *testing.T, s core.AuditStore) {
	ka, kb := fmt.Sprintf("%064x", 1), fmt.Sprintf("%064x", 2)
	ev := func(key string, at time.Time, typ core.AuditType) core.AuditEvent {
		return core.AuditEvent{Time: at, Type: typ, Outcome: core.AuditOK, Dialect: "v1", Phone: "138****0001", PhoneKey: key,
			UserID: "u1", Address: "192.0.2.1", Device: "dev", Action: "", Detail: "d"}
	}
	old := t0.Add(-100 * 24 * time.Hour)
	noErr(t, s.AppendAudit(ctx, []core.AuditEvent{
		ev(ka, old, core.AuditRegistered), ev(ka, t0, core.AuditLogin), ev(kb, t0, core.AuditLogin),
	}), "AppendAudit")
	noErr(t, s.AppendAudit(ctx, []core.AuditEvent{ev(ka, t0.Add(time.Second), core.AuditAccountDeleted)}), "AppendAudit")
	noErr(t, s.AppendAudit(ctx, nil), "AppendAudit(nil)")
	got, err := s.AuditEvents(ctx, ka, old)
	noErr(t, err, "AuditEvents")
	if len(got) != 3 || got[0].Type != core.AuditRegistered || got[1].Type != core.AuditLogin || got[2].Type != core.AuditAccountDeleted {
		t.Fatalf("AuditEvents = %+v, want registered, login, account_deleted", got)
	}
	want := ev(ka, t0, core.AuditLogin)
	g := got[1]
	if !g.Time.Equal(want.Time) {
		t.Fatalf("time %v, want %v", g.Time, want.Time)
	}
	g.Time = want.Time
	if g != want {
		t.Fatalf("event:\n got %+v\nwant %+v", g, want)
	}
	got, err = s.AuditEvents(ctx, ka, t0.Add(-time.Hour))
	noErr(t, err, "AuditEvents")
	if len(got) != 2 {
		t.Fatalf("AuditEvents since an hour ago: %d events, want 2", len(got))
	}
	n, err := s.DeleteAuditBefore(ctx, t0.Add(-90*24*time.Hour))
	noErr(t, err, "DeleteAuditBefore")
	if n != 1 {
		t.Fatalf("DeleteAuditBefore deleted %d, want 1", n)
	}
	if got, _ := s.AuditEvents(ctx, ka, old); len(got) != 2 {
		t.Fatalf("after pruning: %d events, want 2", len(got))
	}
	if got, _ := s.AuditEvents(ctx, kb, old); len(got) != 1 || got[0].PhoneKey != kb {
		t.Fatalf("the other key's events: %+v", got)
	}
	if got, err := s.AuditEvents(ctx, fmt.Sprintf("%064x", 3), old); err != nil || len(got) != 0 {
		t.Fatalf("an unknown key: %v, %v", got, err)
	}
}
