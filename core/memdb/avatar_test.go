package memdb

import (
	"context"
	"fmt"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/internal/testkit"
)

// The sweeper deletes an upload no user references once the grace period
// is over, on the store's clock, and keeps a referenced one.
func TestSweeperDeletesUnusedAvatars(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s, err := Open(t.TempDir(), Options{Now: clock.Now, SweepInterval: 5 * time.Millisecond, AvatarGrace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	used, unused := fmt.Sprintf("%032x.png", 1), fmt.Sprintf("%032x.png", 2)
	for _, n := range []string{used, unused} {
		if err := s.PutAvatar(ctx, n, "image/png", []byte("\x89PNG\r\n\x1a\n")); err != nil {
			t.Fatal(err)
		}
	}
	u := &core.User{ID: fmt.Sprintf("%032x", 1), Phone: "+8613800000001", PasswordHash: "h",
		Profile: core.Profile{Avatar: "/v1/avatars/" + used}, CreatedAt: clock.Now(), UpdatedAt: clock.Now()}
	if err := s.CreateUser(ctx, u, nil); err != nil {
		t.Fatal(err)
	}
	exists := func(name string) bool {
		_, body, err := s.Avatar(ctx, name)
		if err == nil {
			body.Close()
		}
		return err == nil
	}
	time.Sleep(50 * time.Millisecond) // several ticks within the grace period
	if !exists(unused) || !exists(used) {
		t.Fatalf("an avatar was deleted within its grace period: used %v, unused %v", exists(used), exists(unused))
	}
	clock.Advance(61 * time.Minute)
	for deadline := time.Now().Add(5 * time.Second); exists(unused); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the unused avatar outlived its grace period")
		}
	}
	if !exists(used) {
		t.Fatal("the sweeper deleted an avatar a user references")
	}
}
