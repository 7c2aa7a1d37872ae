package postgres

import (
	"context"
	"time"

	"legacyauth/core"

	"github.com/jackc/pgx/v5"
)

// CreateUsers stores many new users (without sessions) with one INSERT in
// one transaction, for bulk imports (core.UserBatchCreator). errs[i] is
// AlreadyRegistered when users[i]'s phone is taken, by a stored user or an
// earlier one of the batch; the others are stored. err fails the whole
// batch (nothing stored).
func (s *Store) CreateUsers(ctx context.Context, users []*core.User) (errs []error, err error) {
	const op = "postgres.CreateUsers"
	n := len(users)
	cols := struct {
		id, phone, hash, name, nickname, gender, avatar, device []string
		created, updated, lastLogin                             []time.Time
		source, lastAddr                                        []string
	}{}
	seen := make(map[string]bool, n) // phones of the batch sent so far
	var rows []int                   // indexes sent to the server
	errs = make([]error, n)
	for i, u := range users {
		if u == nil || u.ID == "" || u.Phone == "" {
			return nil, core.E(op, core.Invalid, "a user needs an id and a phone")
		}
		if seen[u.Phone] {
			errs[i] = core.E(op, core.AlreadyRegistered, "phone already registered")
			continue
		}
		seen[u.Phone] = true
		rows = append(rows, i)
		cols.id, cols.phone, cols.hash = append(cols.id, u.ID), append(cols.phone, u.Phone), append(cols.hash, u.PasswordHash)
		cols.name, cols.nickname, cols.gender = append(cols.name, u.Name), append(cols.nickname, u.Nickname), append(cols.gender, u.Gender)
		cols.avatar, cols.device = append(cols.avatar, u.Avatar), append(cols.device, u.DeviceID)
		cols.created, cols.updated = append(cols.created, u.CreatedAt), append(cols.updated, u.UpdatedAt)
		cols.source, cols.lastLogin, cols.lastAddr = append(cols.source, u.Source), append(cols.lastLogin, lastLogin(u.LastLoginAt)), append(cols.lastAddr, u.LastLoginAddress)
	}
	if len(rows) == 0 {
		return errs, nil
	}
	stored := make(map[string]bool, len(rows))
	err = s.tx(ctx, op, func(ctx context.Context, tx pgx.Tx) error {
		// A taken phone is skipped, not an error; a taken id (a broken id
		// generator) still fails the whole statement.
		r, err := tx.Query(ctx, "INSERT INTO users ("+userColumns+") "+
			"SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::text[], $12::timestamptz[], $13::text[]) "+
			"ON CONFLICT (phone) DO NOTHING RETURNING phone",
			cols.id, cols.phone, cols.hash, cols.name, cols.nickname, cols.gender, cols.avatar, cols.device, cols.created, cols.updated,
			cols.source, cols.lastLogin, cols.lastAddr)
		if err != nil {
			return err
		}
		phones, err := pgx.CollectRows(r, pgx.RowTo[string])
		for _, p := range phones {
			stored[p] = true
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, i := range rows {
		if !stored[users[i].Phone] {
			errs[i] = core.E(op, core.AlreadyRegistered, "phone already registered")
		}
	}
	return errs, nil
}
