package memdb

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"legacyauth/core"

	"github.com/hashicorp/go-memdb"
)

// readTxn returns a read transaction: a snapshot that holds no lock, so
// reads never wait for writers.
func (s *Store) readTxn(op string) (*memdb.Txn, error) {
	if s.closed.Load() {
		return nil, errClosed(op)
	}
	return s.db.Txn(false), nil
}

func lookupUser(txn *memdb.Txn, table, key string) (*userRec, error) {
	return first[userRec](txn, table, key)
}

// lookupSession finds a session by hash; h is only read during the call.
func lookupSession(txn *memdb.Txn, h *[32]byte) (*sessRec, error) {
	return first[sessRec](txn, tSessions, view(h[:]))
}

// CreateUser stores u and, when sess is not nil, its first session.
func (s *Store) CreateUser(ctx context.Context, u *core.User, sess *core.Session) error {
	const op = "memdb.CreateUser"
	if u == nil || u.ID == "" || u.Phone == "" {
		return core.E(op, core.Invalid, "a user needs an id and a phone")
	}
	if sess != nil && sess.UserID != u.ID {
		return core.E(op, core.Invalid, "the session belongs to another user")
	}
	return s.write(ctx, op, func(txn *memdb.Txn, b *batch) error {
		// Checked inside the write transaction, and writers are serialized:
		// no other CreateUser can take the phone between this check and the
		// commit. go-memdb would not refuse the insert (go-memdb#7).
		if old, err := lookupUser(txn, tPhones, u.Phone); err != nil {
			return core.Wrap(op, core.Internal, err)
		} else if old != nil {
			return core.E(op, core.AlreadyRegistered, "phone already registered")
		}
		if old, err := lookupUser(txn, tUsers, u.ID); err != nil {
			return core.Wrap(op, core.Internal, err)
		} else if old != nil {
			return core.E(op, core.Internal, "user id already exists") // a broken id generator, not the caller's fault
		}
		b.putUser(userFromCore(u))
		if sess != nil {
			if err := addSession(op, txn, b, sess); err != nil {
				return err
			}
		}
		return nil
	})
}

// addSession encodes sess and the revocation of the user's sessions beyond
// sess.KeepAtMost. Writers are serialized, so the count cannot change
// between this read and the commit.
func addSession(op string, txn *memdb.Txn, b *batch, sess *core.Session) error {
	if err := checkNewSession(op, txn, sess); err != nil {
		return err
	}
	if sess.KeepAtMost > 0 {
		ss, err := userSessions(txn, sess.UserID)
		if err != nil {
			return core.Wrap(op, core.Internal, err)
		}
		now := toNanos(sess.CreatedAt)
		live := ss[:0]
		for _, r := range ss {
			if r.expires <= now {
				b.delSession((*[32]byte)([]byte(r.hash()))) // dead already; no need to keep it
			} else {
				live = append(live, r)
			}
		}
		// The oldest go first; the token hash breaks ties as PostgreSQL's
		// ORDER BY does, so both stores revoke the same ones.
		slices.SortFunc(live, func(a, b *sessRec) int {
			return cmp.Or(cmp.Compare(a.created, b.created), strings.Compare(a.hash(), b.hash()))
		})
		for len(live) > sess.KeepAtMost-1 {
			b.delSession((*[32]byte)([]byte(live[0].hash())))
			live = live[1:]
		}
	}
	b.putSession(sessKey(sess.UserID, &sess.TokenHash), toNanos(sess.CreatedAt), toNanos(sess.ExpiresAt))
	return nil
}

func checkNewSession(op string, txn *memdb.Txn, sess *core.Session) error {
	old, err := lookupSession(txn, &sess.TokenHash)
	if err != nil {
		return core.Wrap(op, core.Internal, err)
	}
	if old != nil {
		return core.E(op, core.Internal, "session token hash already exists")
	}
	return nil
}

// UserByPhone finds a user by phone.
func (s *Store) UserByPhone(ctx context.Context, phone string) (*core.User, error) {
	return s.userBy("memdb.UserByPhone", tPhones, phone)
}

// UserByID finds a user by id.
func (s *Store) UserByID(ctx context.Context, id string) (*core.User, error) {
	return s.userBy("memdb.UserByID", tUsers, id)
}

func (s *Store) userBy(op, table, key string) (*core.User, error) {
	txn, err := s.readTxn(op)
	if err != nil {
		return nil, err
	}
	r, err := lookupUser(txn, table, key)
	if err != nil {
		return nil, core.Wrap(op, core.Internal, err)
	}
	if r == nil {
		return nil, core.E(op, core.NotRegistered, "no such user")
	}
	f := r.fields()
	return f.toCore(), nil
}

// RecordLogin stores the login's device, time and address and its
// session, and newHash if set. UpdatedAt moves (to the session's creation time) only when the device
// or the hash changes. An empty deviceID keeps the stored one.
func (s *Store) RecordLogin(ctx context.Context, userID, checkedHash, deviceID, newHash string, sess *core.Session) error {
	const op = "memdb.RecordLogin"
	if sess != nil && sess.UserID != userID {
		return core.E(op, core.Invalid, "the session belongs to another user")
	}
	return s.write(ctx, op, func(txn *memdb.Txn, b *batch) error {
		old, err := existingUser(op, txn, userID)
		if err != nil {
			return err
		}
		f := old.fields()
		if f.hash != checkedHash {
			return core.E(op, core.WrongPassword, "the password changed during the login")
		}
		nu := f
		if deviceID != "" {
			nu.device = deviceID
		}
		if newHash != "" {
			nu.hash = newHash
		}
		now := s.opts.Now()
		if sess != nil {
			now = sess.CreatedAt
			nu.lastAddr = sess.Address
		}
		if nu.device != f.device || nu.hash != f.hash {
			nu.updated = toNanos(now)
		}
		// Written on every login: the last login's time and address move.
		nu.lastLogin = lastLoginNanos(now)
		b.putUser(&nu)
		if sess != nil {
			return addSession(op, txn, b, sess)
		}
		return nil
	})
}

// SetPassword replaces the hash and revokes every session of the user.
func (s *Store) SetPassword(ctx context.Context, userID, hash string, now time.Time) error {
	const op = "memdb.SetPassword"
	if hash == "" {
		return core.E(op, core.Invalid, "empty password hash")
	}
	return s.write(ctx, op, func(txn *memdb.Txn, b *batch) error {
		old, err := existingUser(op, txn, userID)
		if err != nil {
			return err
		}
		nu := old.fields()
		nu.hash = hash
		nu.updated = toNanos(now)
		b.putUser(&nu)
		b.delUserSessions(userID)
		return nil
	})
}

// Session finds a live session and its user, in one read transaction.
func (s *Store) Session(ctx context.Context, tokenHash [32]byte, now time.Time) (*core.Session, *core.User, error) {
	const op = "memdb.Session"
	txn, err := s.readTxn(op)
	if err != nil {
		return nil, nil, err
	}
	r, err := lookupSession(txn, &tokenHash)
	if err != nil {
		return nil, nil, core.Wrap(op, core.Internal, err)
	}
	if r == nil || r.expires <= toNanos(now) {
		return nil, nil, core.E(op, core.Unauthorized, "no such session")
	}
	u, err := lookupUser(txn, tUsers, r.userID())
	if err != nil {
		return nil, nil, core.Wrap(op, core.Internal, err)
	}
	if u == nil {
		return nil, nil, core.E(op, core.Unauthorized, "no such session") // as PostgreSQL's join says it
	}
	f := u.fields()
	return r.toCore(), f.toCore(), nil
}

// DeleteSession revokes a session; a missing one is not an error and
// writes nothing.
func (s *Store) DeleteSession(ctx context.Context, tokenHash [32]byte) error {
	const op = "memdb.DeleteSession"
	return s.write(ctx, op, func(txn *memdb.Txn, b *batch) error {
		r, err := lookupSession(txn, &tokenHash)
		if err != nil {
			return core.Wrap(op, core.Internal, err)
		}
		if r != nil {
			b.delSession(&tokenHash)
		}
		return nil
	})
}

// Ping reports Unavailable once the store is closed or its log failed.
func (s *Store) Ping(ctx context.Context) error {
	const op = "memdb.Ping"
	if s.closed.Load() {
		return errClosed(op)
	}
	return s.failure(op)
}

// Close stops the sweeper, abandons a running compaction (the old snapshot
// and the log stay valid), and closes the files. Later calls return
// Unavailable; closing twice is not an error.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(s.stop)
	s.wg.Wait()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var err error
	if s.opts.NoSync {
		err = s.seg.Sync()
	}
	if cerr := s.seg.Close(); err == nil {
		err = cerr
	}
	if cerr := s.lock.Close(); err == nil {
		err = cerr
	}
	return core.Wrap("memdb.Close", core.Internal, err)
}

// sweepBatch bounds the deletions per write: go-immutable-radix tracks up
// to 8192 mutated nodes per transaction and falls back to a walk of the
// whole tree beyond that.
const sweepBatch = 128

// sweep removes what expired at now: codes, tickets, flows and sessions.
// Expired sessions are deleted through the log like any write so that a
// replay does not resurrect them (they would be invisible, but use memory).
func (s *Store) sweep(now time.Time) error {
	s.eph.sweep(now)
	txn, err := s.readTxn("memdb.sweep")
	if err != nil {
		return err
	}
	it, err := txn.Get(tSessions, "id")
	if err != nil {
		return err
	}
	cut := toNanos(now)
	var expired [][32]byte
	for raw := it.Next(); raw != nil && len(expired) < 1<<16; raw = it.Next() {
		if r := raw.(*sessRec); r.expires <= cut {
			expired = append(expired, [32]byte([]byte(r.hash())))
		}
	}
	for len(expired) > 0 {
		chunk := expired[:min(sweepBatch, len(expired))]
		expired = expired[len(chunk):]
		err := s.write(context.Background(), "memdb.sweep", func(txn *memdb.Txn, b *batch) error {
			for i := range chunk {
				if r, err := lookupSession(txn, &chunk[i]); err != nil {
					return core.Wrap("memdb.sweep", core.Internal, err)
				} else if r != nil {
					b.delSession(&chunk[i])
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) sweeper(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.sweep(s.opts.Now()); err != nil && core.KindOf(err) != core.Unavailable {
				s.log.Error("memdb: sweeping expired sessions", "err", err)
			}
			s.sweepAvatars(s.opts.Now())
		}
	}
}

// existingUser finds the user a write changes: NotRegistered if it is gone.
func existingUser(op string, txn *memdb.Txn, userID string) (*userRec, error) {
	old, err := lookupUser(txn, tUsers, userID)
	if err != nil {
		return nil, core.Wrap(op, core.Internal, err)
	}
	if old == nil {
		return nil, core.E(op, core.NotRegistered, "no such user")
	}
	return old, nil
}
