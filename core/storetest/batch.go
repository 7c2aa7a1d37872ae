package storetest

import (
	"fmt"
	"testing"

	"legacyauth/core"
)

// UserBatch runs the contract of core.UserBatchCreator, for stores that
// implement it; open returns a fresh, empty one.
func UserBatch(t *testing.T, open func(t *testing.T) core.Store) {
	t.Helper()
	batchUser := func(i int) *core.User {
		return &core.User{
			ID: fmt.Sprintf("%032x", 0xba7c4000+i), Phone: fmt.Sprintf("+86139%08d", i),
			PasswordHash: fmt.Sprintf("$legacy$plain$pw%d", i),
			Profile:      core.Profile{Name: fmt.Sprintf("user %d", i), Gender: "1"},
			DeviceID:     "dev", CreatedAt: t0, UpdatedAt: t0,
		}
	}
	t.Run("CreateUsers", func(t *testing.T) {
		s := open(t)
		bc, ok := s.(core.UserBatchCreator)
		if !ok {
			t.Fatalf("%T is not a core.UserBatchCreator", s)
		}
		noErr(t, s.CreateUser(ctx, batchUser(0), nil), "batch")
		dup := batchUser(2)
		dup.ID = fmt.Sprintf("%032x", 0xba7c5000)
		users := []*core.User{batchUser(0), batchUser(1), batchUser(2), dup, batchUser(3)}
		users[0].ID = fmt.Sprintf("%032x", 0xba7c6000) // another user, same phone as the stored one
		errs, err := bc.CreateUsers(ctx, users)
		noErr(t, err, "batch")
		if len(errs) != len(users) {
			t.Fatalf("%d errors for %d users", len(errs), len(users))
		}
		for i, want := range []bool{false, true, true, false, true} {
			if want {
				noErr(t, errs[i], "batch")
				continue
			}
			wantKind(t, errs[i], core.AlreadyRegistered, fmt.Sprintf("user %d", i))
		}
		for _, i := range []int{1, 2, 3} {
			want := batchUser(i)
			got, err := s.UserByPhone(ctx, want.Phone)
			noErr(t, err, "batch")
			if got.ID != want.ID || got.PasswordHash != want.PasswordHash || got.Name != want.Name || got.Gender != "1" || got.DeviceID != "dev" || !got.CreatedAt.Equal(t0) {
				t.Errorf("stored %+v, want %+v", got, want)
			}
			if _, err := s.UserByID(ctx, want.ID); err != nil {
				t.Errorf("UserByID(%s): %v", want.ID, err)
			}
		}
		if _, err := s.UserByID(ctx, dup.ID); core.KindOf(err) != core.NotRegistered {
			t.Errorf("the batch's second user of one phone was stored: %v", err)
		}
		// Again: all taken, nothing changes.
		errs, err = bc.CreateUsers(ctx, []*core.User{batchUser(1), batchUser(3)})
		noErr(t, err, "batch")
		for _, e := range errs {
			wantKind(t, e, core.AlreadyRegistered, "again")
		}
		errs, err = bc.CreateUsers(ctx, nil)
		if err != nil || len(errs) != 0 {
			t.Errorf("empty batch: %v, %v", errs, err)
		}
	})
}
