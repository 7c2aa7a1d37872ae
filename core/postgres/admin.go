package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"legacyauth/core"

	"github.com/jackc/pgx/v5"
)

// Operators' writes (account deletion, logout everywhere) and the audit
// trail (migrations/0004_admin_audit.sql).

// CountSessions counts the user's sessions live at now.
func (s *Store) CountSessions(ctx context.Context, userID string, now time.Time) (int, error) {
	const op = "postgres.CountSessions"
	var n int
	err := s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT count(*) FROM sessions WHERE user_id = $1 AND expires_at > $2", userID, now).Scan(&n)
	})
	return n, err
}

// RevokeSessions deletes every session of the user.
func (s *Store) RevokeSessions(ctx context.Context, userID string) (int, error) {
	const op = "postgres.RevokeSessions"
	var n int
	err := s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		tag, err := c.Exec(ctx, "DELETE FROM sessions WHERE user_id = $1", userID)
		n = int(tag.RowsAffected())
		return err
	})
	return n, err
}

// DeleteUser deletes the user; its sessions go with it (ON DELETE CASCADE).
// In the same statement its avatar loses in_use, which the sweep skips for
// good once set: if DeleteAvatar then fails (or another user still names
// the image), the sweep collects it once it is unreferenced.
func (s *Store) DeleteUser(ctx context.Context, userID string) (*core.User, error) {
	const op = "postgres.DeleteUser"
	var u *core.User
	err := s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		var err error
		u, err = scanUser(c.QueryRow(ctx, `WITH u AS (DELETE FROM users WHERE id = $1 RETURNING `+userColumns+`),
			a AS (UPDATE avatars SET in_use = false FROM u WHERE u.avatar <> '' AND avatars.name = `+avatarRef+`)
			SELECT `+userColumns+` FROM u`, userID))
		if errors.Is(err, pgx.ErrNoRows) {
			return core.E(op, core.NotRegistered, "no such user")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// DeleteAvatar deletes the image unless a user's avatar names it, in one
// statement.
func (s *Store) DeleteAvatar(ctx context.Context, name string) (bool, error) {
	const op = "postgres.DeleteAvatar"
	var n int64
	err := s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		tag, err := c.Exec(ctx, `DELETE FROM avatars WHERE name = $1 AND NOT EXISTS (
			SELECT 1 FROM users u WHERE u.avatar <> '' AND `+avatarRef+` = $1)`, name)
		n = tag.RowsAffected()
		return err
	})
	return n > 0, err
}

// DeletePhone deletes the phone's code, tickets and flows in one
// transaction.
func (s *Store) DeletePhone(ctx context.Context, phone string) error {
	const op = "postgres.DeletePhone"
	return s.tx(ctx, op, func(ctx context.Context, tx pgx.Tx) error {
		for _, q := range []string{"DELETE FROM codes WHERE phone = $1", "DELETE FROM tickets WHERE phone = $1", "DELETE FROM flows WHERE phone = $1"} {
			if _, err := tx.Exec(ctx, q, phone); err != nil {
				return err
			}
		}
		return nil
	})
}

var _ core.AuditStore = (*Store)(nil)

// AppendAudit inserts events in one statement.
func (s *Store) AppendAudit(ctx context.Context, events []core.AuditEvent) error {
	const op = "postgres.AppendAudit"
	if len(events) == 0 {
		return nil
	}
	at, keys, docs := make([]time.Time, len(events)), make([]string, len(events)), make([]string, len(events))
	for i := range events {
		e := &events[i]
		if e.PhoneKey == "" {
			return core.E(op, core.Invalid, "an audit event needs a phone key")
		}
		b, err := json.Marshal(e)
		if err != nil {
			return core.Wrap(op, core.Internal, err)
		}
		at[i], keys[i], docs[i] = e.Time, e.PhoneKey, string(b)
	}
	return s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "INSERT INTO audit_events (at, phone_key, event) SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::jsonb[])", at, keys, docs)
		return err
	})
}

// AuditEvents reads a phone key's events at or after since, oldest first.
func (s *Store) AuditEvents(ctx context.Context, phoneKey string, since time.Time) ([]core.AuditEvent, error) {
	const op = "postgres.AuditEvents"
	out := []core.AuditEvent{}
	err := s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		rows, err := c.Query(ctx, "SELECT event::text FROM audit_events WHERE phone_key = $1 AND at >= $2 ORDER BY at, id", phoneKey, since)
		if err != nil {
			return err
		}
		docs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, d := range docs {
			var e core.AuditEvent
			if err := json.Unmarshal([]byte(d), &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteAuditBefore deletes the events older than before.
func (s *Store) DeleteAuditBefore(ctx context.Context, before time.Time) (int, error) {
	const op = "postgres.DeleteAuditBefore"
	var n int64
	err := s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		tag, err := c.Exec(ctx, "DELETE FROM audit_events WHERE at < $1", before)
		n = tag.RowsAffected()
		return err
	})
	return int(n), err
}
