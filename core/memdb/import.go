package memdb

import (
	"context"

	"legacyauth/core"

	"github.com/hashicorp/go-memdb"
)

// CreateUsers stores many new users (without sessions) in one logged and
// fsynced write, for bulk imports (core.UserBatchCreator): one fsync per
// batch instead of one per user. errs[i] is AlreadyRegistered when
// users[i]'s phone is taken, by a stored user or an earlier one of the
// batch; the others are stored. err fails the whole batch.
func (s *Store) CreateUsers(ctx context.Context, users []*core.User) (errs []error, err error) {
	const op = "memdb.CreateUsers"
	for _, u := range users {
		if u == nil || u.ID == "" || u.Phone == "" {
			return nil, core.E(op, core.Invalid, "a user needs an id and a phone")
		}
	}
	errs = make([]error, len(users))
	err = s.write(ctx, op, func(txn *memdb.Txn, b *batch) error {
		// The batch is applied only after this function returns, so users
		// taken earlier in it are tracked here.
		phones := make(map[string]bool, len(users))
		ids := make(map[string]bool, len(users))
		for i, u := range users {
			errs[i] = nil
			if old, err := lookupUser(txn, tPhones, u.Phone); err != nil {
				return core.Wrap(op, core.Internal, err)
			} else if old != nil || phones[u.Phone] {
				errs[i] = core.E(op, core.AlreadyRegistered, "phone already registered")
				continue
			}
			if old, err := lookupUser(txn, tUsers, u.ID); err != nil {
				return core.Wrap(op, core.Internal, err)
			} else if old != nil || ids[u.ID] {
				return core.E(op, core.Internal, "user id already exists") // a broken id generator
			}
			phones[u.Phone], ids[u.ID] = true, true
			b.putUser(userFromCore(u))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}
