package memdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unsafe"

	"legacyauth/core"

	"github.com/hashicorp/go-memdb"
)

// Memory is what limits how many users one process holds, so records are
// kept encoded: a user is one 16-byte struct and one string holding its
// fields in the log's encoding, decoded on each read (a few hundred ns).
// Index keys point into that string instead of being copies.

// userRec is a user as stored: the fields of a put-user mutation (without
// the tag). Immutable once inserted; an update inserts a new record.
type userRec struct{ enc string }

// userFields is a decoded user.
type userFields struct {
	id, phone, hash, name, nickname, gender, avatar, device string
	created, updated                                        int64 // see toNanos
	// The extras put-user-2 adds (a put-user record has them empty).
	source, lastAddr string
	lastLogin        int64 // 0 when none (the Unix epoch is never a login)
}

// sessRec is a session as stored. key is the user id followed by the
// 32-byte token hash: both indexes point into it.
type sessRec struct {
	key              string
	created, expires int64
}

func (r *userRec) fields() userFields {
	d := decoder{s: r.enc}
	return d.user() // well-formed: checked when the record was built
}

// id and phone are the index keys, read on every insert and lookup: the
// fast paths handle one-byte lengths (every id and phone) inline.
func (r *userRec) id() string {
	if n := int(r.enc[0]); n < 0x80 && 1+n <= len(r.enc) {
		return r.enc[1 : 1+n]
	}
	d := decoder{s: r.enc}
	return d.str()
}

func (r *userRec) phone() string {
	if n := int(r.enc[0]); n < 0x80 && 1+n < len(r.enc) {
		if s := r.enc[1+n:]; s[0] < 0x80 && 1+int(s[0]) <= len(s) {
			return s[1 : 1+int(s[0])]
		}
	}
	d := decoder{s: r.enc}
	d.str()
	return d.str()
}

func (f *userFields) toCore() *core.User {
	return &core.User{
		ID:               f.id,
		Phone:            f.phone,
		PasswordHash:     f.hash,
		Profile:          core.Profile{Name: f.name, Nickname: f.nickname, Gender: f.gender, Avatar: f.avatar},
		DeviceID:         f.device,
		CreatedAt:        fromNanos(f.created),
		UpdatedAt:        fromNanos(f.updated),
		Source:           f.source,
		LastLoginAt:      lastLoginTime(f.lastLogin),
		LastLoginAddress: f.lastAddr,
	}
}

func lastLoginTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return fromNanos(n)
}

func lastLoginNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return toNanos(t)
}

func userFromCore(u *core.User) *userFields {
	return &userFields{
		id: u.ID, phone: u.Phone, hash: u.PasswordHash,
		name: u.Name, nickname: u.Nickname, gender: u.Gender, avatar: u.Avatar,
		device: u.DeviceID, created: toNanos(u.CreatedAt), updated: toNanos(u.UpdatedAt),
		source: u.Source, lastAddr: u.LastLoginAddress, lastLogin: lastLoginNanos(u.LastLoginAt),
	}
}

func (r *sessRec) hash() string   { return r.key[len(r.key)-32:] }
func (r *sessRec) userID() string { return r.key[:len(r.key)-32] }

func (r *sessRec) toCore() *core.Session {
	s := &core.Session{UserID: r.userID(), CreatedAt: fromNanos(r.created), ExpiresAt: fromNanos(r.expires)}
	copy(s.TokenHash[:], r.hash())
	return s
}

func sessKey(userID string, h *[32]byte) string { return userID + string(h[:]) }

// zeroNanos stands for the zero time.Time, which has no Unix nanosecond value.
const zeroNanos = math.MinInt64

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// toNanos keeps 8 bytes per time instead of time.Time's 24. UnixNano is
// undefined outside 1678–2262, hence the clamp.
func toNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return zeroNanos
	case t.Before(minTime):
		return math.MinInt64 + 1
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == zeroNanos {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Mutation tags. Append-only: logs written by older versions must replay.
const (
	mPutUser         byte = 1
	mPutSession      byte = 2
	mDelSession      byte = 3
	mDelUserSessions byte = 4
	// mPutUser2 is put-user followed by source, last login address and
	// last login time (varint, 0 for none). Users are kept in memory in
	// this form, and written so; put-user records of older logs and
	// snapshots are read with empty extras.
	mPutUser2 byte = 5
	mDelUser  byte = 6 // userID: the user, its phone and every session
	mPutAudit byte = 7 // audit key ‖ JSON event (audit.go)
	mDelAudit byte = 8 // audit key
)

// batch encodes the mutations of one atomic write. The second time of a
// record is stored as a difference from the first (usually 0, or small),
// which saves 8 bytes a record. The arithmetic wraps, so any pair of
// values round-trips.
type batch struct{ b []byte }

func (e *batch) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *batch) times(first, second int64) {
	e.b = binary.AppendVarint(e.b, first)
	e.b = binary.AppendVarint(e.b, second-first)
}

func (e *batch) putUser(u *userFields) {
	e.b = append(e.b, mPutUser2)
	for _, s := range [...]string{u.id, u.phone, u.hash, u.name, u.nickname, u.gender, u.avatar, u.device} {
		e.str(s)
	}
	e.times(u.created, u.updated)
	e.userExtras(u)
}

func (e *batch) userExtras(u *userFields) {
	e.str(u.source)
	e.str(u.lastAddr)
	e.b = binary.AppendVarint(e.b, u.lastLogin)
}

// putUserRec re-emits a stored user as is (for snapshots).
func (e *batch) putUserRec(r *userRec) {
	e.b = append(e.b, mPutUser2)
	e.b = append(e.b, r.enc...)
}

func (e *batch) delUser(userID string) {
	e.b = append(e.b, mDelUser)
	e.str(userID)
}

// putSession's layout puts the user id right before the hash, so that the
// stored key is one contiguous piece of the payload.
func (e *batch) putSession(key string, created, expires int64) {
	e.b = append(e.b, mPutSession)
	e.b = binary.AppendUvarint(e.b, uint64(len(key)-32))
	e.b = append(e.b, key...)
	e.times(created, expires)
}

func (e *batch) delSession(h *[32]byte) {
	e.b = append(e.b, mDelSession)
	e.b = append(e.b, h[:]...)
}

func (e *batch) delUserSessions(userID string) {
	e.b = append(e.b, mDelUserSessions)
	e.str(userID)
}

var errShort = errors.New("truncated mutation")

// decoder reads an encoding held in a string. Decoded strings are
// substrings: callers that keep one must make sure s is theirs to keep.
type decoder struct {
	s   string
	off int
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || d.off >= len(d.s) {
		d.err = errShort
		return 0
	}
	c := d.s[d.off]
	d.off++
	return c
}

func (d *decoder) uvarint() uint64 {
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		c := d.byte()
		if d.err != nil {
			return 0
		}
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x
		}
	}
	d.err = errors.New("varint overflows 64 bits")
	return 0
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (d *decoder) times() (int64, int64) {
	a := d.varint()
	return a, a + d.varint()
}

func (d *decoder) bytes(n uint64) string {
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.s)-d.off) {
		d.err = errShort
		return ""
	}
	s := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}

func (d *decoder) str() string { return d.bytes(d.uvarint()) }

// user decodes a put-user-2 body (records keep that form).
func (d *decoder) user() (u userFields) {
	u = d.userV1()
	u.source, u.lastAddr = d.str(), d.str()
	u.lastLogin = d.varint()
	return u
}

func (d *decoder) userV1() (u userFields) {
	for _, p := range [...]*string{&u.id, &u.phone, &u.hash, &u.name, &u.nickname, &u.gender, &u.avatar, &u.device} {
		*p = d.str()
	}
	u.created, u.updated = d.times()
	return u
}

// noExtras is what a put-user record lacks of a put-user-2 one: two
// empty strings and a zero time.
const noExtras = "\x00\x00\x00"

// userRec decodes a put-user-2 body (v2) or a put-user one into a record
// that owns its memory, in the put-user-2 form.
func (d *decoder) userRec(v2 bool) (*userRec, error) {
	start := d.off
	var u userFields
	if v2 {
		u = d.user()
	} else {
		u = d.userV1()
	}
	if d.err != nil {
		return nil, d.err
	}
	if u.id == "" || u.phone == "" {
		return nil, errors.New("user without id or phone")
	}
	if !v2 {
		return &userRec{enc: d.s[start:d.off] + noExtras}, nil // a new string: owns its memory
	}
	return &userRec{enc: strings.Clone(d.s[start:d.off])}, nil
}

// sessRec decodes a put-session body into a record that owns its memory.
func (d *decoder) sessRec() (*sessRec, error) {
	n := d.uvarint()
	key := d.bytes(n + 32)
	created, expires := d.times()
	if d.err != nil {
		return nil, d.err
	}
	if n == 0 {
		return nil, errors.New("session without user id")
	}
	return &sessRec{key: strings.Clone(key), created: created, expires: expires}, nil
}

// view reads p as a string without copying; nothing decoded from it may
// be kept (records clone what they keep).
func view(p []byte) string { return unsafe.String(unsafe.SliceData(p), len(p)) }

// errConflict reports a batch that would break an invariant the write
// paths check first (unique phone); in a log it means corruption.
type errConflict struct{ msg string }

func (e *errConflict) Error() string { return e.msg }

// apply decodes a batch and applies it to txn. Live writes and replay both
// go through here, so what is replayed is exactly what was committed.
func apply(txn *memdb.Txn, payload []byte) error {
	if len(payload) == 0 {
		return errors.New("empty batch")
	}
	d := decoder{s: view(payload)}
	for d.off < len(d.s) {
		at := d.off
		tag := d.byte()
		var err error
		switch tag {
		case mPutUser, mPutUser2:
			var u *userRec
			if u, err = d.userRec(tag == mPutUser2); err == nil {
				err = putUser(txn, u)
			}
		case mDelUser:
			id := d.str()
			if err = d.err; err == nil {
				err = delUser(txn, id)
			}
		case mPutAudit:
			var a *auditRec
			if a, err = d.auditRec(); err == nil {
				err = putAudit(txn, a)
			}
		case mDelAudit:
			key := d.str()
			if err = d.err; err == nil {
				err = delAudit(txn, key)
			}
		case mPutSession:
			var s *sessRec
			if s, err = d.sessRec(); err == nil {
				err = putSession(txn, s)
			}
		case mDelSession:
			h := d.bytes(32)
			if err = d.err; err == nil {
				err = delSession(txn, h)
			}
		case mDelUserSessions:
			id := d.str()
			if err = d.err; err == nil {
				err = delUserSessions(txn, id)
			}
		default:
			return fmt.Errorf("unknown mutation tag %d at byte %d", tag, at)
		}
		if err != nil {
			return fmt.Errorf("mutation %d at byte %d: %w", tag, at, err)
		}
	}
	return nil
}

func putUser(txn *memdb.Txn, u *userRec) error {
	id, phone := u.id(), u.phone()
	// go-memdb has no unique secondary indexes (go-memdb#7); the phone
	// table's primary key gives uniqueness, but an insert would silently
	// replace another user's entry, so check first.
	if other, err := first[userRec](txn, tPhones, phone); err != nil {
		return err
	} else if other != nil && other.id() != id {
		return &errConflict{"phone belongs to another user"}
	}
	old, err := first[userRec](txn, tUsers, id)
	if err != nil {
		return err
	}
	if old != nil && old.phone() != phone {
		if err := txn.Delete(tPhones, old); err != nil {
			return err
		}
	}
	if err := txn.Insert(tUsers, u); err != nil {
		return err
	}
	return txn.Insert(tPhones, u)
}

func putSession(txn *memdb.Txn, s *sessRec) error {
	if err := delSession(txn, s.hash()); err != nil { // a replaced session may have had another user
		return err
	}
	if err := txn.Insert(tSessions, s); err != nil {
		return err
	}
	return txn.Insert(tUserSessions, s)
}

func delSession(txn *memdb.Txn, hash string) error {
	old, err := first[sessRec](txn, tSessions, hash)
	if err != nil || old == nil {
		return err
	}
	if err := txn.Delete(tSessions, old); err != nil {
		return err
	}
	return txn.Delete(tUserSessions, old)
}

func delUserSessions(txn *memdb.Txn, userID string) error {
	ss, err := userSessions(txn, userID)
	if err != nil {
		return err
	}
	for _, s := range ss {
		if err := txn.Delete(tSessions, s); err != nil {
			return err
		}
		if err := txn.Delete(tUserSessions, s); err != nil {
			return err
		}
	}
	return nil
}

// userSessions collects first: deleting while iterating a write
// transaction's index is not safe in go-memdb.
func userSessions(txn *memdb.Txn, userID string) ([]*sessRec, error) {
	it, err := txn.Get(tUserSessions, "id", userID)
	if err != nil {
		return nil, err
	}
	var out []*sessRec
	for raw := it.Next(); raw != nil; raw = it.Next() {
		// Get is a prefix scan; another user's id may start with this one.
		if s := raw.(*sessRec); s.userID() == userID {
			out = append(out, s)
		}
	}
	return out, nil
}

// first looks up key in a table's primary index.
func first[T any](txn *memdb.Txn, table, key string) (*T, error) {
	raw, err := txn.First(table, "id", key)
	if err != nil || raw == nil {
		return nil, err
	}
	return raw.(*T), nil
}

// Tables. Each secondary key is a table of its own, holding the same
// record pointers, rather than a second index of one table: go-memdb
// inserts into all of a table's indexes at once, and loading 1M users in
// key order is about five times faster than in random order
// (go-immutable-radix then finds the nodes it copies still writable), so
// Open loads each table sorted by its own key. Writers keep the tables in
// step inside one transaction.
const (
	tUsers        = "users"        // by user id
	tPhones       = "phones"       // by phone: the unique phone index
	tSessions     = "sessions"     // by token hash
	tUserSessions = "usersessions" // by user id ‖ token hash: a user's sessions
	tAudit        = "audit"        // by phone key ‖ time ‖ sequence (audit.go)
	tAuditTime    = "audittime"    // by time ‖ phone key ‖ sequence: for the retention
)

func schema() *memdb.DBSchema {
	table := func(name string, key func(any) string) *memdb.TableSchema {
		return &memdb.TableSchema{Name: name, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: strIndex(key)},
		}}
	}
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tUsers:        table(tUsers, func(o any) string { return o.(*userRec).id() }),
		tPhones:       table(tPhones, func(o any) string { return o.(*userRec).phone() }),
		tSessions:     table(tSessions, func(o any) string { return o.(*sessRec).hash() }),
		tUserSessions: table(tUserSessions, func(o any) string { return o.(*sessRec).key }),
		tAudit:        table(tAudit, func(o any) string { return o.(*auditRec).key }),
		tAuditTime:    table(tAuditTime, func(o any) string { return o.(*auditRec).timeKey }),
	}}
}

// strIndex indexes by a string the record holds, without reflection or
// copying.
type strIndex func(any) string

func (f strIndex) FromObject(o any) (bool, []byte, error) {
	return true, stringBytes(f(o)), nil
}

func (f strIndex) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("want one argument, got %d", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("want a string, got %T", args[0])
	}
	return stringBytes(s), nil
}

// stringBytes aliases s: go-immutable-radix keeps key slices as given and
// never writes to them, and the records' strings never change. Capacity
// equals length, so an append (go-memdb appends to non-unique keys; ours
// are all unique) would reallocate rather than write into s.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
