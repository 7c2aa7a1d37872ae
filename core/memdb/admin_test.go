package memdb

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/core/storetest"
)

func TestAdminContract(t *testing.T) {
	open := func(t *testing.T) *Store {
		s, err := Open(t.TempDir(), testOpts(nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	storetest.Admin(t, func(t *testing.T) core.Store { return open(t) })
	storetest.EphemeralAdmin(t, func(t *testing.T) core.EphemeralStore { return open(t) })
	storetest.Audit(t, func(t *testing.T) core.AuditStore { return open(t) })
}

// A log written before put-user-2 (tag 1 records) still replays; the user
// comes back without a source or last login, and a login then adds them.
func TestReplayOldUserRecords(t *testing.T) {
	dir := t.TempDir()
	var b batch
	b.b = append(b.b, mPutUser)
	for _, s := range []string{"u1", "+8613800000001", "$argon2id$x", "n", "", "1", "", "dev"} {
		b.str(s)
	}
	b.times(toNanos(time.Unix(100, 0)), toNanos(time.Unix(100, 0)))
	f, err := createSegment(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(appendFrame(nil, b.b)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s, err := Open(dir, testOpts(nil, nil))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	u, err := s.UserByPhone(context.Background(), "+8613800000001")
	if err != nil || u.ID != "u1" || u.DeviceID != "dev" || u.Source != "" || !u.LastLoginAt.IsZero() {
		t.Fatalf("old record: %+v, %v", u, err)
	}
	at := time.Unix(200, 0)
	sess := &core.Session{TokenHash: [32]byte{1}, UserID: "u1", CreatedAt: at, ExpiresAt: at.Add(time.Hour), Address: "192.0.2.7"}
	if err := s.RecordLogin(context.Background(), "u1", "$argon2id$x", "", "", sess); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir, testOpts(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err = s.UserByPhone(context.Background(), "+8613800000001")
	if err != nil || !u.LastLoginAt.Equal(at) || u.LastLoginAddress != "192.0.2.7" || u.Name != "n" {
		t.Fatalf("after a login and a reopen: %+v, %v", u, err)
	}
}

// Audit events survive a snapshot (compaction) and a reopen, and so do
// deletions; after a deletion and a compaction no file of the store holds
// the phone.
func TestAuditAndDeletionSurviveCompaction(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	opts := testOpts(nil, nil)
	opts.SnapshotRecords = 1 << 30
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	const phone = "+8613912345678"
	now := time.Now()
	u := &core.User{ID: "u1", Phone: phone, PasswordHash: "$argon2id$x", CreatedAt: now, UpdatedAt: now, Source: core.SourceImported}
	if err := s.CreateUser(ctx, u, &core.Session{TokenHash: [32]byte{9}, UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	key := "k1"
	if err := s.AppendAudit(ctx, []core.AuditEvent{{Time: now, Type: core.AuditAdmin, Action: "delete", Outcome: "ok", PhoneKey: key, Phone: core.MaskPhone(phone)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	s.Close() // DeleteUser compacted
	for _, name := range listFiles(t, dir) {
		b, _ := os.ReadFile(name)
		for _, p := range []string{phone, core.LocalPhone(phone)} {
			if bytes.Contains(b, []byte(p)) {
				t.Errorf("%s still holds the deleted phone", name)
			}
		}
	}
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.UserByPhone(ctx, phone); core.KindOf(err) != core.NotRegistered {
		t.Fatalf("the deleted user came back: %v", err)
	}
	ev, err := s.AuditEvents(ctx, key, now.Add(-time.Hour))
	if err != nil || len(ev) != 1 || ev[0].Action != "delete" {
		t.Fatalf("audit after the snapshot: %+v, %v", ev, err)
	}
}

func listFiles(t *testing.T, dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if len(out) == 0 {
		t.Fatal("no files")
	}
	return out
}
