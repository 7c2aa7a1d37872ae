package memdb

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"legacyauth/core"
)

// avatarTmpPrefix marks files being written; valid names never start with
// a dot, so a temp file can never be served, and Open removes leftovers.
const avatarTmpPrefix = ".tmp-"

// safeAvatarName is a second line of defence behind core's validation:
// the name must stay inside the avatars directory.
func safeAvatarName(name string) bool {
	return name != "" && !strings.HasPrefix(name, ".") && !strings.ContainsAny(name, "/\\\x00") &&
		!strings.Contains(name, "..") && len(name) <= 255
}

// PutAvatar writes the image to a temp file, fsyncs it and renames it into
// place, then fsyncs the directory: a crash leaves the whole image or none.
// The content type is not stored: Avatar derives it from the extension.
func (s *Store) PutAvatar(ctx context.Context, name, contentType string, data []byte) (err error) {
	const op = "memdb.PutAvatar"
	if s.closed.Load() {
		return errClosed(op)
	}
	if !safeAvatarName(name) {
		return core.E(op, core.Invalid, "bad avatar name")
	}
	if err := ctx.Err(); err != nil {
		return core.Wrap(op, core.Unavailable, err)
	}
	dir := filepath.Join(s.dir, avatarDir)
	f, err := os.CreateTemp(dir, avatarTmpPrefix+"*")
	if err != nil {
		return core.Wrap(op, core.Unavailable, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return core.Wrap(op, core.Unavailable, err)
	}
	if err := f.Sync(); err != nil {
		return core.Wrap(op, core.Unavailable, err)
	}
	if err := f.Close(); err != nil {
		return core.Wrap(op, core.Unavailable, err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return core.Wrap(op, core.Unavailable, err)
	}
	if err := syncDir(dir); err != nil {
		return core.Wrap(op, core.Unavailable, err)
	}
	return nil
}

// Avatar opens a stored image; the caller closes body.
func (s *Store) Avatar(ctx context.Context, name string) (string, io.ReadCloser, error) {
	const op = "memdb.Avatar"
	if s.closed.Load() {
		return "", nil, errClosed(op)
	}
	if !safeAvatarName(name) {
		return "", nil, core.E(op, core.NotFound, "no such avatar")
	}
	f, err := os.Open(filepath.Join(s.dir, avatarDir, name))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil, core.E(op, core.NotFound, "no such avatar")
	}
	if err != nil {
		return "", nil, core.Wrap(op, core.Unavailable, err)
	}
	ext := path.Ext(name)
	for ct, e := range core.AvatarTypes {
		if e == ext {
			return ct, f, nil
		}
	}
	// An extension core does not know: sniff, like core did when storing.
	var head [512]byte
	n, _ := io.ReadFull(f, head[:])
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return "", nil, core.Wrap(op, core.Unavailable, err)
	}
	return http.DetectContentType(head[:n]), f, nil
}
