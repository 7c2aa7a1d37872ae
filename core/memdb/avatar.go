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
	"time"

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
// The file's modification time, set to the store's clock, starts the
// grace period of DeleteUnusedAvatars.
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
	now := s.opts.Now()
	if err := os.Chtimes(f.Name(), now, now); err != nil {
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

// TouchAvatar sets the image's modification time to now, under avatarMu.
func (s *Store) TouchAvatar(ctx context.Context, name string, now time.Time) error {
	const op = "memdb.TouchAvatar"
	if s.closed.Load() {
		return errClosed(op)
	}
	if !safeAvatarName(name) {
		return core.E(op, core.NotFound, "no such avatar")
	}
	if err := ctx.Err(); err != nil {
		return core.Wrap(op, core.Unavailable, err)
	}
	s.avatarMu.Lock()
	defer s.avatarMu.Unlock()
	err := os.Chtimes(filepath.Join(s.dir, avatarDir, name), now, now)
	if errors.Is(err, os.ErrNotExist) {
		return core.E(op, core.NotFound, "no such avatar")
	}
	return core.Wrap(op, core.Unavailable, err)
}

// DeleteUnusedAvatars deletes the image files modified before before that
// no user references. Only the old files are looked up among the users,
// and each is checked again under avatarMu just before it goes, so a
// concurrent TouchAvatar wins.
func (s *Store) DeleteUnusedAvatars(ctx context.Context, before time.Time) (int, error) {
	const op = "memdb.DeleteUnusedAvatars"
	if s.closed.Load() {
		return 0, errClosed(op)
	}
	dir := filepath.Join(s.dir, avatarDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, core.Wrap(op, core.Unavailable, err)
	}
	old := map[string]bool{} // name -> referenced
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), avatarTmpPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(before) {
			old[e.Name()] = false
		}
	}
	if len(old) == 0 {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, core.Wrap(op, core.Unavailable, err)
	}
	txn, err := s.readTxn(op)
	if err != nil {
		return 0, err
	}
	it, err := txn.Get(tUsers, "id")
	if err != nil {
		return 0, core.Wrap(op, core.Internal, err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		a := raw.(*userRec).fields().avatar
		if i := strings.LastIndexByte(a, '/'); i >= 0 {
			if _, ok := old[a[i+1:]]; ok {
				old[a[i+1:]] = true
			}
		}
	}
	n := 0
	for name, referenced := range old {
		if referenced {
			continue
		}
		if err := ctx.Err(); err != nil {
			return n, core.Wrap(op, core.Unavailable, err)
		}
		if s.deleteIfOlder(filepath.Join(dir, name), before) {
			n++
		}
	}
	if n > 0 {
		if err := syncDir(dir); err != nil {
			return n, core.Wrap(op, core.Unavailable, err)
		}
	}
	return n, nil
}

// deleteIfOlder removes the file when it is still older than before: a
// TouchAvatar since the listing keeps it.
func (s *Store) deleteIfOlder(file string, before time.Time) bool {
	s.avatarMu.Lock()
	defer s.avatarMu.Unlock()
	fi, err := os.Lstat(file)
	if err != nil || !fi.ModTime().Before(before) {
		return false
	}
	return os.Remove(file) == nil
}

// sweepAvatars runs DeleteUnusedAvatars from the sweeper, at most every
// eighth of the grace period (and hourly at most): every pass lists the
// whole avatars directory.
func (s *Store) sweepAvatars(now time.Time) {
	grace := s.opts.AvatarGrace
	if grace < 0 || now.Sub(s.avatarSweptAt) < min(grace/8, time.Hour) {
		return
	}
	s.avatarSweptAt = now
	n, err := s.DeleteUnusedAvatars(context.Background(), now.Add(-grace))
	switch {
	case err != nil && core.KindOf(err) != core.Unavailable:
		s.log.Error("memdb: deleting unused avatars", "err", err)
	case err != nil:
		s.log.Warn("memdb: deleting unused avatars", "err", err)
	case n > 0:
		s.log.Info("memdb: deleted unused avatars", "avatars", n, "grace", grace)
	}
}
