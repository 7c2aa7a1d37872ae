package postgres

import (
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
	o := testOptions(newSchema(t, true))
	o.Now, o.SweepInterval, o.AvatarGrace = clock.Now, 10*time.Millisecond, time.Hour
	s := openStore(t, o)
	used, unused := fmt.Sprintf("%032x.png", 1), fmt.Sprintf("%032x.png", 2)
	for _, n := range []string{used, unused} {
		must(t, s.PutAvatar(ctx, n, "image/png", []byte("\x89PNG\r\n\x1a\n")))
	}
	u := &core.User{ID: fmt.Sprintf("%032x", 1), Phone: "+8613800000001", PasswordHash: "h",
		Profile: core.Profile{Avatar: "/v1/avatars/" + used}, CreatedAt: clock.Now(), UpdatedAt: clock.Now()}
	must(t, s.CreateUser(ctx, u, nil))
	exists := func(name string) bool {
		_, body, err := s.Avatar(ctx, name)
		if err == nil {
			body.Close()
		}
		return err == nil
	}
	time.Sleep(100 * time.Millisecond) // several ticks within the grace period
	if !exists(unused) || !exists(used) {
		t.Fatalf("an avatar was deleted within its grace period: used %v, unused %v", exists(used), exists(unused))
	}
	clock.Advance(61 * time.Minute)
	for deadline := time.Now().Add(5 * time.Second); exists(unused); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the unused avatar outlived its grace period")
		}
	}
	if !exists(used) {
		t.Fatal("the sweeper deleted an avatar a user references")
	}
}
