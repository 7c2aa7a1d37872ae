package postgres

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"legacyauth/core"

	"github.com/jackc/pgx/v5"
)

// validAvatarName bounds what reaches the database; core only makes names
// of 32 hex digits and an extension.
func validAvatarName(name string) bool {
	return name != "" && len(name) <= 255 && utf8.ValidString(name) && !strings.ContainsRune(name, 0)
}

// PutAvatar stores the image and its content type in one row. core names
// every image anew; storing a name again replaces the image (a retried
// write is harmless).
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
		_, err := c.Exec(ctx, `INSERT INTO avatars (name, content_type, data) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET content_type = EXCLUDED.content_type, data = EXCLUDED.data`,
			name, contentType, data)
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
