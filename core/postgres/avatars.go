package postgres

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"legacyauth/core"

	"github.com/jackc/pgx/v5"
)

// validAvatarName bounds what reaches the database; core only makes names
// of 32 hex digits and an extension.
func validAvatarName(name string) bool {
	return name != "" && len(name) <= 255 && utf8.ValidString(name) && !strings.ContainsRune(name, 0)
}

// PutAvatar stores the image and its content type in one row; touched_at,
// the store's clock, starts its grace period. core names every image anew;
// storing a name again replaces the image (a retried write is harmless).
func (s *Store) PutAvatar(ctx context.Context, name, contentType string, data []byte) error {
	const op = "postgres.PutAvatar"
	if !validAvatarName(name) {
		return core.E(op, core.Invalid, "bad avatar name")
	}
	if contentType == "" {
		contentType = http.DetectContentType(data)
	}
	if data == nil {
		data = []byte{} // NOT NULL
	}
	return s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		now := s.opts.Now()
		_, err := c.Exec(ctx, `INSERT INTO avatars (name, content_type, data, created_at, touched_at) VALUES ($1, $2, $3, $4, $4)
			ON CONFLICT (name) DO UPDATE SET content_type = EXCLUDED.content_type, data = EXCLUDED.data, touched_at = EXCLUDED.touched_at`,
			name, contentType, data, now)
		return err
	})
}

// Avatar reads a stored image. The whole image (at most
// core.MaxAvatarBytes) is read in the call, so the body holds no
// connection; the caller closes it all the same.
func (s *Store) Avatar(ctx context.Context, name string) (string, io.ReadCloser, error) {
	const op = "postgres.Avatar"
	if !validAvatarName(name) {
		if s.closed.Load() {
			return "", nil, errClosed(op)
		}
		return "", nil, core.E(op, core.NotFound, "no such avatar")
	}
	var (
		ct   string
		data []byte
	)
	err := s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		err := c.QueryRow(ctx, "SELECT content_type, data FROM avatars WHERE name = $1", name).Scan(&ct, &data)
		if errors.Is(err, pgx.ErrNoRows) {
			return core.E(op, core.NotFound, "no such avatar")
		}
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return ct, io.NopCloser(bytes.NewReader(data)), nil
}

// TouchAvatar moves touched_at to now. A sweep deleting the row at the same
// time either commits first (the update finds no row: NotFound) or sees the
// new touched_at when it rechecks the row, and keeps it.
func (s *Store) TouchAvatar(ctx context.Context, name string, now time.Time) error {
	const op = "postgres.TouchAvatar"
	if !validAvatarName(name) {
		if s.closed.Load() {
			return errClosed(op)
		}
		return core.E(op, core.NotFound, "no such avatar")
	}
	return s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		tag, err := c.Exec(ctx, "UPDATE avatars SET touched_at = $2 WHERE name = $1", name, now)
		if err == nil && tag.RowsAffected() == 0 {
			return core.E(op, core.NotFound, "no such avatar")
		}
		return err
	})
}

// avatarRef is the name a user's avatar reference ends in, as indexed by
// users_avatar_name_idx (0002_avatar_sweep.sql): the text after the last
// "/", NULL without one.
const avatarRef = `substring(u.avatar from '/([^/]*)$')`

// DeleteUnusedAvatars first marks in_use the candidates (not in use,
// touched before before) that a user references, so no later pass looks at
// them again, then deletes the other candidates a batch per statement. The
// DELETE repeats the candidate test outside its subquery: a row touched
// since is rechecked there (READ COMMITTED) and kept.
func (s *Store) DeleteUnusedAvatars(ctx context.Context, before time.Time) (int, error) {
	const op = "postgres.DeleteUnusedAvatars"
	err := s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `UPDATE avatars a SET in_use = true WHERE NOT a.in_use AND a.touched_at < $1
			AND EXISTS (SELECT 1 FROM users u WHERE u.avatar <> '' AND `+avatarRef+` = a.name)`, before)
		return err
	})
	if err != nil {
		return 0, err
	}
	q := `DELETE FROM avatars WHERE NOT in_use AND touched_at < $1 AND name IN (
		SELECT a.name FROM avatars a WHERE NOT a.in_use AND a.touched_at < $1
		AND NOT EXISTS (SELECT 1 FROM users u WHERE u.avatar <> '' AND ` + avatarRef + ` = a.name)
		LIMIT ` + strconv.Itoa(sweepBatch) + `)`
	total := 0
	for {
		var n int64
		err := s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
			tag, err := c.Exec(ctx, q, before)
			n = tag.RowsAffected()
			return err
		})
		total += int(n)
		if err != nil || n < sweepBatch {
			return total, err
		}
	}
}
