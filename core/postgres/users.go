package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"legacyauth/core"

	"github.com/jackc/pgx/v5"
)

const userColumns = "id, phone, password_hash, name, nickname, gender, avatar, device_id, created_at, updated_at, source, last_login_at, last_login_address"

// userFields are the scan destinations of userColumns, in order.
func userFields(u *core.User) []any {
	return []any{&u.ID, &u.Phone, &u.PasswordHash, &u.Name, &u.Nickname, &u.Gender, &u.Avatar, &u.DeviceID, &u.CreatedAt, &u.UpdatedAt, &u.Source, &u.LastLoginAt, &u.LastLoginAddress}
}

func scanUser(row pgx.Row) (*core.User, error) {
	var u core.User
	if err := row.Scan(userFields(&u)...); err != nil {
		return nil, err
	}
	return &u, nil
}

func insertSession(ctx context.Context, op string, tx pgx.Tx, s *core.Session) error {
	_, err := tx.Exec(ctx, "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
		s.TokenHash[:], s.UserID, s.CreatedAt, s.ExpiresAt)
	if uniqueViolation(err, "sessions_pkey") {
		return core.E(op, core.Internal, "session token hash already exists") // a broken token generator
	}
	if err != nil || s.KeepAtMost <= 0 {
		return err
	}
	// The user's row is locked (RecordLogin) or not yet visible to others
	// (CreateUser), so concurrent logins of one user run this one at a
	// time. The order is memdb's: oldest first, the token hash breaking ties.
	_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2 AND (expires_at <= $3 OR token_hash NOT IN (
			SELECT token_hash FROM sessions WHERE user_id = $1 AND token_hash <> $2 AND expires_at > $3
			ORDER BY created_at DESC, token_hash DESC LIMIT $4))`,
		s.UserID, s.TokenHash[:], s.CreatedAt, s.KeepAtMost-1)
	return err
}

// CreateUser inserts u and, when sess is not nil, its first session in one
// transaction. A taken phone is found by the violation of users_phone_key,
// so two instances creating the same phone at once cannot both succeed.
func (s *Store) CreateUser(ctx context.Context, u *core.User, sess *core.Session) error {
	const op = "postgres.CreateUser"
	if u == nil || u.ID == "" || u.Phone == "" {
		return core.E(op, core.Invalid, "a user needs an id and a phone")
	}
	if sess != nil && sess.UserID != u.ID {
		return core.E(op, core.Invalid, "the session belongs to another user")
	}
	return s.tx(ctx, op, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO users ("+userColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
			u.ID, u.Phone, u.PasswordHash, u.Name, u.Nickname, u.Gender, u.Avatar, u.DeviceID, u.CreatedAt, u.UpdatedAt,
			u.Source, lastLogin(u.LastLoginAt), u.LastLoginAddress)
		switch {
		case uniqueViolation(err, "users_phone_key"):
			return core.E(op, core.AlreadyRegistered, "phone already registered")
		case uniqueViolation(err, "users_pkey"):
			return core.E(op, core.Internal, "user id already exists") // a broken id generator, not the caller's fault
		case err != nil:
			return err
		}
		if sess != nil {
			if err := insertSession(ctx, op, tx, sess); err != nil {
				return err
			}
		}
		return nil
	})
}

// UserByPhone finds a user by phone.
func (s *Store) UserByPhone(ctx context.Context, phone string) (*core.User, error) {
	return s.userBy(ctx, "postgres.UserByPhone", "SELECT "+userColumns+" FROM users WHERE phone = $1", phone)
}

// UserByID finds a user by id.
func (s *Store) UserByID(ctx context.Context, id string) (*core.User, error) {
	return s.userBy(ctx, "postgres.UserByID", "SELECT "+userColumns+" FROM users WHERE id = $1", id)
}

func (s *Store) userBy(ctx context.Context, op, query, key string) (*core.User, error) {
	var u *core.User
	err := s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		var err error
		u, err = scanUser(c.QueryRow(ctx, query, key))
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

// RecordLogin stores the login's device and session, and newHash if set,
// in one transaction that locks the user's row. UpdatedAt moves (to the
// session's creation time) only when the device or the hash changes; an
// empty deviceID keeps the stored one. This is memdb's behaviour.
func (s *Store) RecordLogin(ctx context.Context, userID, checkedHash, deviceID, newHash string, sess *core.Session) error {
	const op = "postgres.RecordLogin"
	if sess != nil && sess.UserID != userID {
		return core.E(op, core.Invalid, "the session belongs to another user")
	}
	return s.tx(ctx, op, func(ctx context.Context, tx pgx.Tx) error {
		var device, hash string
		err := tx.QueryRow(ctx, "SELECT device_id, password_hash FROM users WHERE id = $1 FOR UPDATE", userID).Scan(&device, &hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return core.E(op, core.NotRegistered, "no such user")
		}
		if err != nil {
			return err
		}
		if hash != checkedHash { // the row is locked: no reset can slip in after this
			return core.E(op, core.WrongPassword, "the password changed during the login")
		}
		newDevice, nextHash := device, hash
		if deviceID != "" {
			newDevice = deviceID
		}
		if newHash != "" {
			nextHash = newHash
		}
		now, addr := s.opts.Now(), ""
		if sess != nil {
			now, addr = sess.CreatedAt, sess.Address
		}
		// The last login moves on every login; updated_at only with the
		// device or the hash.
		if _, err := tx.Exec(ctx, `UPDATE users SET device_id = $2, password_hash = $3,
				updated_at = CASE WHEN device_id <> $2 OR password_hash <> $3 THEN $4 ELSE updated_at END,
				last_login_at = $4, last_login_address = CASE WHEN $5 THEN $6 ELSE last_login_address END WHERE id = $1`,
			userID, newDevice, nextHash, now, sess != nil, addr); err != nil {
			return err
		}
		if sess != nil {
			if err := insertSession(ctx, op, tx, sess); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetPassword replaces the hash and deletes every session of the user in
// one transaction.
func (s *Store) SetPassword(ctx context.Context, userID, hash string, now time.Time) error {
	const op = "postgres.SetPassword"
	if hash == "" {
		return core.E(op, core.Invalid, "empty password hash")
	}
	return s.tx(ctx, op, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1", userID, hash, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return core.E(op, core.NotRegistered, "no such user")
		}
		_, err = tx.Exec(ctx, "DELETE FROM sessions WHERE user_id = $1", userID)
		return err
	})
}

// Session finds a session live at now (expires_at > now) and its user, in
// one query (one round trip per authenticated request, not two).
func (s *Store) Session(ctx context.Context, tokenHash [32]byte, now time.Time) (*core.Session, *core.User, error) {
	const op = "postgres.Session"
	sess := &core.Session{TokenHash: tokenHash}
	var u core.User
	err := s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		err := c.QueryRow(ctx, "SELECT "+sessionUserColumns+", s.created_at, s.expires_at"+
			" FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2",
			tokenHash[:], now).Scan(append(userFields(&u), &sess.CreatedAt, &sess.ExpiresAt)...)
		if errors.Is(err, pgx.ErrNoRows) { // no session, an expired one, or its user gone
			return core.E(op, core.Unauthorized, "no such session")
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	sess.UserID = u.ID
	return sess, &u, nil
}

// sessionUserColumns are userColumns, of the users table aliased u.
var sessionUserColumns = "u." + strings.ReplaceAll(userColumns, ", ", ", u.")

// DeleteSession revokes a session; a missing one is not an error.
func (s *Store) DeleteSession(ctx context.Context, tokenHash [32]byte) error {
	const op = "postgres.DeleteSession"
	return s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "DELETE FROM sessions WHERE token_hash = $1", tokenHash[:])
		return err
	})
}

// lastLogin is the stored form of a last login time: the zero time as
// Go's zero instant (the column's default), not as pgx's -infinity.
func lastLogin(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}.UTC()
	}
	return t
}
