package memdb

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"legacyauth/core"

	"github.com/hashicorp/go-memdb"
)

// Operators' writes (account deletion, logout everywhere) and the audit
// trail. Audit events are records of their own table, logged and
// snapshotted like users: the key is phone key ‖ NUL ‖ time ‖ 8 random
// bytes (so a phone's events are one prefix, in time order), the time
// index time ‖ random ‖ phone key; the value is the event's JSON.

// CountSessions counts the user's sessions live at now.
func (s *Store) CountSessions(ctx context.Context, userID string, now time.Time) (int, error) {
	const op = "memdb.CountSessions"
	txn, err := s.readTxn(op)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, core.Wrap(op, core.Unavailable, err)
	}
	ss, err := userSessions(txn, userID)
	if err != nil {
		return 0, core.Wrap(op, core.Internal, err)
	}
	n, cut := 0, toNanos(now)
	for _, r := range ss {
		if r.expires > cut {
			n++
		}
	}
	return n, nil
}

// RevokeSessions deletes every session of the user.
func (s *Store) RevokeSessions(ctx context.Context, userID string) (int, error) {
	const op = "memdb.RevokeSessions"
	n := 0
	err := s.write(ctx, op, func(txn *memdb.Txn, b *batch) error {
		ss, err := userSessions(txn, userID)
		if err != nil {
			return core.Wrap(op, core.Internal, err)
		}
		if n = len(ss); n > 0 {
			b.delUserSessions(userID)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// DeleteUser removes the user, its phone entry and its sessions in one
// logged mutation, then compacts: once that is done, neither the
// snapshot nor the log holds the account.
func (s *Store) DeleteUser(ctx context.Context, userID string) (*core.User, error) {
	const op = "memdb.DeleteUser"
	var u *core.User
	err := s.write(ctx, op, func(txn *memdb.Txn, b *batch) error {
		old, err := existingUser(op, txn, userID)
		if err != nil {
			return err
		}
		f := old.fields()
		u = f.toCore()
		b.delUser(userID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The log still holds the user's earlier records: compact now, so
	// that after the snapshot no file holds the deleted account, and wait
	// for it a while (a CLI deletion closes the store right after).
	s.compactAndWait(ctx, 30*time.Second)
	return u, nil
}

// compactAndWait starts a compaction (after the running one, if any) and
// waits until it is done, at most limit: past it, it goes on in the
// background.
func (s *Store) compactAndWait(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	started := false
	for time.Now().Before(deadline) && ctx.Err() == nil && !s.closed.Load() {
		s.wmu.Lock()
		busy := s.compacting
		if !busy && !started {
			s.sinceSnap = max(s.sinceSnap, s.opts.SnapshotRecords)
			s.maybeCompactLocked()
			started, busy = true, s.compacting
		}
		s.wmu.Unlock()
		if started && !busy {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// DeleteAvatar removes the image file unless a user references it; the
// check and the removal hold avatarMu, as the sweep's do.
func (s *Store) DeleteAvatar(ctx context.Context, name string) (bool, error) {
	const op = "memdb.DeleteAvatar"
	if s.closed.Load() {
		return false, errClosed(op)
	}
	if !safeAvatarName(name) {
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, core.Wrap(op, core.Unavailable, err)
	}
	txn, err := s.readTxn(op)
	if err != nil {
		return false, err
	}
	it, err := txn.Get(tUsers, "id")
	if err != nil {
		return false, core.Wrap(op, core.Internal, err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		f := raw.(*userRec).fields()
		if strings.HasSuffix(f.avatar, "/"+name) {
			return false, nil
		}
	}
	dir := filepath.Join(s.dir, avatarDir)
	s.avatarMu.Lock()
	err = os.Remove(filepath.Join(dir, name))
	s.avatarMu.Unlock()
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, core.Wrap(op, core.Unavailable, err)
	}
	if err := syncDir(dir); err != nil {
		return true, core.Wrap(op, core.Unavailable, err)
	}
	return true, nil
}

// DeletePhone drops the phone's code, tickets and flows.
func (s *Store) DeletePhone(ctx context.Context, phone string) error {
	const op = "memdb.DeletePhone"
	if s.closed.Load() {
		return errClosed(op)
	}
	s.eph.mu.Lock()
	defer s.eph.mu.Unlock()
	delete(s.eph.codes, phone)
	for k := range s.eph.tickets {
		if k.phone == phone {
			delete(s.eph.tickets, k)
		}
	}
	for id, f := range s.eph.flows {
		if f.Phone == phone {
			delete(s.eph.flows, id)
		}
	}
	return nil
}

func delUser(txn *memdb.Txn, userID string) error {
	old, err := first[userRec](txn, tUsers, userID)
	if err != nil || old == nil {
		return err
	}
	if err := txn.Delete(tUsers, old); err != nil {
		return err
	}
	if err := txn.Delete(tPhones, old); err != nil {
		return err
	}
	return delUserSessions(txn, userID)
}

// auditRec is a stored audit event.
type auditRec struct {
	key, timeKey string
	enc          string // JSON
}

var _ core.AuditStore = (*Store)(nil)

// auditTime is the sortable form of a time in keys: big-endian, sign bit
// flipped.
func auditTime(t time.Time) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(toNanos(t))^1<<63)
	return string(b[:])
}

func newAuditRec(key, enc string) (*auditRec, error) {
	i := strings.IndexByte(key, 0)
	if i < 0 || len(key)-i-1 != 16 {
		return nil, errors.New("bad audit key")
	}
	return &auditRec{key: key, timeKey: key[i+1:] + key[:i], enc: enc}, nil
}

func (a *auditRec) time() time.Time {
	return fromNanos(int64(binary.BigEndian.Uint64([]byte(a.timeKey[:8])) ^ 1<<63))
}

func (e *batch) putAudit(key, enc string) {
	e.b = append(e.b, mPutAudit)
	e.str(key)
	e.str(enc)
}

func (e *batch) putAuditRec(a *auditRec) { e.putAudit(a.key, a.enc) }

func (e *batch) delAudit(key string) {
	e.b = append(e.b, mDelAudit)
	e.str(key)
}

func (d *decoder) auditRec() (*auditRec, error) {
	key, enc := d.str(), d.str()
	if d.err != nil {
		return nil, d.err
	}
	return newAuditRec(strings.Clone(key), strings.Clone(enc))
}

func putAudit(txn *memdb.Txn, a *auditRec) error {
	if err := txn.Insert(tAudit, a); err != nil {
		return err
	}
	return txn.Insert(tAuditTime, a)
}

func delAudit(txn *memdb.Txn, key string) error {
	old, err := first[auditRec](txn, tAudit, key)
	if err != nil || old == nil {
		return err
	}
	if err := txn.Delete(tAudit, old); err != nil {
		return err
	}
	return txn.Delete(tAuditTime, old)
}

// AppendAudit logs and stores events in one write.
func (s *Store) AppendAudit(ctx context.Context, events []core.AuditEvent) error {
	const op = "memdb.AppendAudit"
	if len(events) == 0 {
		return nil
	}
	type rec struct{ key, enc string }
	recs := make([]rec, len(events))
	for i := range events {
		e := &events[i]
		if e.PhoneKey == "" || strings.IndexByte(e.PhoneKey, 0) >= 0 {
			return core.E(op, core.Invalid, "an audit event needs a phone key")
		}
		enc, err := json.Marshal(e)
		if err != nil {
			return core.Wrap(op, core.Internal, err)
		}
		var r [8]byte
		_, _ = rand.Read(r[:])
		recs[i] = rec{e.PhoneKey + "\x00" + auditTime(e.Time) + string(r[:]), string(enc)}
	}
	return s.write(ctx, op, func(txn *memdb.Txn, b *batch) error {
		for _, r := range recs {
			b.putAudit(r.key, r.enc)
		}
		return nil
	})
}

// AuditEvents reads a phone key's events at or after since, oldest first.
func (s *Store) AuditEvents(ctx context.Context, phoneKey string, since time.Time) ([]core.AuditEvent, error) {
	const op = "memdb.AuditEvents"
	txn, err := s.readTxn(op)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, core.Wrap(op, core.Unavailable, err)
	}
	it, err := txn.Get(tAudit, "id", phoneKey+"\x00")
	if err != nil {
		return nil, core.Wrap(op, core.Internal, err)
	}
	out := []core.AuditEvent{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		a := raw.(*auditRec)
		if a.time().Before(since) {
			continue
		}
		var e core.AuditEvent
		if err := json.Unmarshal([]byte(a.enc), &e); err != nil {
			return nil, core.Wrap(op, core.Internal, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// DeleteAuditBefore removes the events older than before, sweepBatch per
// logged write.
func (s *Store) DeleteAuditBefore(ctx context.Context, before time.Time) (int, error) {
	const op = "memdb.DeleteAuditBefore"
	txn, err := s.readTxn(op)
	if err != nil {
		return 0, err
	}
	it, err := txn.Get(tAuditTime, "id")
	if err != nil {
		return 0, core.Wrap(op, core.Internal, err)
	}
	cut := auditTime(before)
	var keys []string
	for raw := it.Next(); raw != nil && len(keys) < 1<<16; raw = it.Next() {
		a := raw.(*auditRec)
		if a.timeKey[:8] >= cut {
			break
		}
		keys = append(keys, a.key)
	}
	n := 0
	for len(keys) > 0 {
		chunk := keys[:min(sweepBatch, len(keys))]
		keys = keys[len(chunk):]
		err := s.write(ctx, op, func(txn *memdb.Txn, b *batch) error {
			for _, k := range chunk {
				if old, err := first[auditRec](txn, tAudit, k); err != nil {
					return core.Wrap(op, core.Internal, err)
				} else if old != nil {
					b.delAudit(k)
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(chunk)
	}
	return n, nil
}
