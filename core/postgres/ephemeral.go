package postgres

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"

	"legacyauth/core"

	"github.com/jackc/pgx/v5"
)

// PutCode stores c, replacing any code pending for its phone (and its
// attempts).
func (s *Store) PutCode(ctx context.Context, c *core.Code) error {
	const op = "postgres.PutCode"
	if c == nil || c.Phone == "" {
		return core.E(op, core.Invalid, "a code needs a phone")
	}
	return s.withConn(ctx, op, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `INSERT INTO codes (phone, purpose, mac, expires_at, attempts, burned)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (phone) DO UPDATE SET purpose = EXCLUDED.purpose, mac = EXCLUDED.mac,
				expires_at = EXCLUDED.expires_at, attempts = EXCLUDED.attempts, burned = EXCLUDED.burned`,
			c.Phone, int16(c.Purpose), c.MAC[:], c.ExpiresAt, c.Attempts, c.Burned)
		return err
	})
}

// CheckCode checks a guess against the phone's pending code in one
// transaction that locks the code's row (SELECT ... FOR UPDATE): concurrent
// checks, from any instance, are serialized, so a code is consumed once
// and every wrong try is counted. The MACs are compared here, in constant
// time, not by the server. A code is stale from its ExpiresAt on.
func (s *Store) CheckCode(ctx context.Context, phone string, macs [][32]byte, now time.Time, maxAttempts int) (core.CodeCheck, error) {
	const op = "postgres.CheckCode"
	res := core.CodeNone
	err := s.tx(ctx, op, func(ctx context.Context, tx pgx.Tx) error {
		var (
			mac      []byte
			expires  time.Time
			attempts int
			burned   bool
		)
		err := tx.QueryRow(ctx, "SELECT mac, expires_at, attempts, burned FROM codes WHERE phone = $1 FOR UPDATE", phone).
			Scan(&mac, &expires, &attempts, &burned)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			res = core.CodeNone
			return nil
		case err != nil:
			return err
		case !now.Before(expires):
			res = core.CodeStale // the sweeper deletes it
			return nil
		case burned:
			res = core.CodeBurned
			return nil
		}
		// Compare against every candidate, without stopping at a match, so
		// that timing does not tell which purpose matched.
		match := 0
		for i := range macs {
			match |= subtle.ConstantTimeCompare(mac, macs[i][:])
		}
		if match == 1 {
			tag, err := tx.Exec(ctx, "DELETE FROM codes WHERE phone = $1", phone)
			if err == nil && tag.RowsAffected() == 1 {
				res = core.CodeMatched
			}
			return err // (0 rows cannot happen under the row lock; then CodeNone)
		}
		attempts++
		res = core.CodeMismatch
		if attempts >= maxAttempts {
			burned = true
			res = core.CodeBurned
		}
		_, err = tx.Exec(ctx, "UPDATE codes SET attempts = $2, burned = $3 WHERE phone = $1", phone, attempts, burned)
		return err
	})
	if err != nil {
		return core.CodeNone, err
	}
	return res, nil
}

// PutTicket stores t, replacing any ticket of the same phone and purpose.
func (s *Store) PutTicket(ctx context.Context, t *core.Ticket) error {
	const op = "postgres.PutTicket"
	if t == nil || t.Phone == "" {
		return core.E(op, core.Invalid, "a ticket needs a phone")
	}
	return s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `INSERT INTO tickets (phone, purpose, hash, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (phone, purpose) DO UPDATE SET hash = EXCLUDED.hash, expires_at = EXCLUDED.expires_at`,
			t.Phone, int16(t.Purpose), t.Hash[:], t.ExpiresAt)
		return err
	})
}

// TakeTicket consumes the phone's ticket for exactly purpose with one
// DELETE ... RETURNING, which only one of concurrent takers can win. A
// wrong hash or an expired ticket deletes nothing (the sweeper removes
// expired ones); guessing a 128-bit ticket is hopeless, so the server's
// comparison of its SHA-256 needs no constant time.
func (s *Store) TakeTicket(ctx context.Context, phone string, purpose core.Purpose, hash *[32]byte, now time.Time) error {
	const op = "postgres.TakeTicket"
	var want []byte // NULL: any hash
	if hash != nil {
		want = hash[:]
	}
	return s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		var one int
		err := c.QueryRow(ctx, `DELETE FROM tickets
			WHERE phone = $1 AND purpose = $2 AND expires_at > $3 AND ($4::bytea IS NULL OR hash = $4::bytea)
			RETURNING 1`, phone, int16(purpose), now, want).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return core.E(op, core.Unauthorized, "no such ticket")
		}
		return err
	})
}

// PutFlow stores or replaces a flow.
func (s *Store) PutFlow(ctx context.Context, f *core.Flow) error {
	const op = "postgres.PutFlow"
	if f == nil || f.ID == "" {
		return core.E(op, core.Invalid, "a flow needs an id")
	}
	return s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `INSERT INTO flows (id, phone, ticket, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET phone = EXCLUDED.phone, ticket = EXCLUDED.ticket, expires_at = EXCLUDED.expires_at`,
			f.ID, f.Phone, f.Ticket, f.ExpiresAt)
		return err
	})
}

// Flow finds a flow live at now.
func (s *Store) Flow(ctx context.Context, id string, now time.Time) (*core.Flow, error) {
	const op = "postgres.Flow"
	f := &core.Flow{ID: id}
	err := s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		err := c.QueryRow(ctx, "SELECT phone, ticket, expires_at FROM flows WHERE id = $1 AND expires_at > $2", id, now).
			Scan(&f.Phone, &f.Ticket, &f.ExpiresAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return core.E(op, core.NotFound, "no such flow")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// DeleteFlow removes a flow; a missing one is not an error.
func (s *Store) DeleteFlow(ctx context.Context, id string) error {
	const op = "postgres.DeleteFlow"
	return s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "DELETE FROM flows WHERE id = $1", id)
		return err
	})
}
