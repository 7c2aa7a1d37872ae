package memdb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	iradix "github.com/hashicorp/go-immutable-radix"
	"github.com/hashicorp/go-memdb"
)

// Snapshot framing tags; distinct from the mutation tags.
const (
	tagSnapHeader  byte = 0x80
	tagSnapTrailer byte = 0x81
	tagUserOrder   byte = 0x82 // positions of users, in user id order
	tagSessOrder   byte = 0x83 // positions of sessions, in user id ‖ hash order
	snapMagic           = "legacyauth/memdb snapshot"
	// snapVersion 2 writes users as put-user-2 and adds the audit events
	// (mPutAudit frames, after the orders) and their count to the
	// trailer; version 1 snapshots are still read.
	snapVersion = 2
)

// orderChunk is the number of positions per order frame; a variable so
// that tests can make several frames out of few records.
var orderChunk = 16384

var errAborted = errors.New("compaction aborted by Close")

// A snapshot lists users in phone order and sessions in hash order, then
// the order of each by its other key as a list of positions. Open thus
// inserts every table in its key order without sorting anything (sorting
// 1M phones costs ~0.6 s): see the comment on the tables.

// snapData is a loaded snapshot: each table's records in its key order.
type snapData struct {
	next         uint64 // the first log segment the snapshot does not cover
	phones       []*userRec
	users        []*userRec  // by id
	sessions     []*sessRec  // by hash
	userSessions []*sessRec  // by user id ‖ hash
	audit        []*auditRec // by key
}

// loadSnapshot loads the snapshot in f into db, which must be empty, and
// returns the sequence number of the first log segment it does not cover.
func loadSnapshot(db *memdb.MemDB, f *os.File) (uint64, error) {
	sd, err := readSnapshot(f)
	if err != nil {
		return 0, err
	}
	if bulkOK && !noBulk {
		// Each tree on its own goroutine: they share nothing.
		trees := map[string]*iradix.Tree{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		build := func(table string, n int, key func(int) string, val func(int) any) {
			wg.Go(func() {
				t := buildTree(n, func(i int) []byte { return stringBytes(key(i)) }, val)
				mu.Lock()
				trees[table] = t
				mu.Unlock()
			})
		}
		build(tPhones, len(sd.phones), func(i int) string { return sd.phones[i].phone() }, func(i int) any { return sd.phones[i] })
		build(tUsers, len(sd.users), func(i int) string { return sd.users[i].id() }, func(i int) any { return sd.users[i] })
		build(tSessions, len(sd.sessions), func(i int) string { return sd.sessions[i].hash() }, func(i int) any { return sd.sessions[i] })
		build(tUserSessions, len(sd.userSessions), func(i int) string { return sd.userSessions[i].key }, func(i int) any { return sd.userSessions[i] })
		wg.Wait()
		if err := installTrees(db, trees); err != nil {
			return 0, err
		}
		if err := loadAudit(db, sd.audit); err != nil {
			return 0, err
		}
		return sd.next, nil
	}
	txn := db.Txn(true)
	defer txn.Abort()
	for _, l := range []struct {
		table string
		n     int
		rec   func(int) any
	}{
		{tPhones, len(sd.phones), func(i int) any { return sd.phones[i] }},
		{tUsers, len(sd.users), func(i int) any { return sd.users[i] }},
		{tSessions, len(sd.sessions), func(i int) any { return sd.sessions[i] }},
		{tUserSessions, len(sd.userSessions), func(i int) any { return sd.userSessions[i] }},
	} {
		for i := range l.n {
			if err := txn.Insert(l.table, l.rec(i)); err != nil {
				return 0, err
			}
		}
	}
	txn.Commit()
	if err := loadAudit(db, sd.audit); err != nil {
		return 0, err
	}
	return sd.next, nil
}

// loadAudit inserts the snapshot's audit events: few next to the users,
// so plain inserts.
func loadAudit(db *memdb.MemDB, recs []*auditRec) error {
	if len(recs) == 0 {
		return nil
	}
	txn := db.Txn(true)
	defer txn.Abort()
	for _, a := range recs {
		if err := putAudit(txn, a); err != nil {
			return err
		}
	}
	txn.Commit()
	return nil
}

// noBulk makes tests load snapshots with ordinary inserts.
var noBulk = false

func readSnapshot(f *os.File) (*snapData, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	fr := newFrameReader(f, st.Size())
	p, err := fr.next()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	d := decoder{s: string(p)}
	if d.byte() != tagSnapHeader || d.str() != snapMagic || d.err != nil {
		return nil, errors.New("not a snapshot")
	}
	version := d.uvarint()
	if version != 1 && version != snapVersion {
		return nil, fmt.Errorf("unsupported snapshot version %d", version)
	}
	next := d.uvarint()
	if d.err != nil || next == 0 {
		return nil, fmt.Errorf("bad header: %v", d.err)
	}
	var (
		users              []*userRec
		sessions           []*sessRec
		userOrd, sessOrd   order
		byID               []*userRec
		byUser             []*sessRec
		audit              []*auditRec
		phase              byte // the last tag seen: frames come grouped, in tag order
		lastPhone, lastKey string
	)
	for {
		p, err := fr.next()
		if err != nil {
			// The snapshot was fsynced before it was renamed into place, so
			// any damage is the disk's, not a crash's.
			return nil, fmt.Errorf("at offset %d: %w (the snapshot is damaged; refusing to start)", fr.off, err)
		}
		at := fr.off - int64(len(p)) - frameHeader
		tag := p[0]
		d := decoder{s: view(p[1:])}
		if snapRank(tag) == 0 || snapRank(tag) < snapRank(phase) {
			return nil, fmt.Errorf("record at offset %d: unexpected tag %d after %d", at, tag, phase)
		}
		phase = tag
		switch tag {
		case mPutUser, mPutUser2:
			u, err := d.userRec(tag == mPutUser2)
			if err == nil && d.off != len(d.s) {
				err = errors.New("trailing bytes")
			}
			if err == nil && len(users) > 0 && lastPhone >= u.phone() {
				err = errors.New("users out of phone order")
			}
			if err != nil {
				return nil, fmt.Errorf("record at offset %d: %w", at, err)
			}
			users = append(users, u)
			lastPhone = u.phone()
		case mPutSession:
			s, err := d.sessRec()
			if err == nil && d.off != len(d.s) {
				err = errors.New("trailing bytes")
			}
			if err == nil && len(sessions) > 0 && sessions[len(sessions)-1].hash() >= s.hash() {
				err = errors.New("sessions out of hash order")
			}
			if err != nil {
				return nil, fmt.Errorf("record at offset %d: %w", at, err)
			}
			sessions = append(sessions, s)
		case tagUserOrder:
			err := userOrd.load(&d, len(users), func(i int) error {
				u := users[i]
				if userOrd.n > 1 && lastKey >= u.id() {
					return errors.New("users out of id order")
				}
				lastKey = u.id()
				if byID == nil {
					byID = make([]*userRec, 0, len(users))
				}
				byID = append(byID, u)
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("record at offset %d: %w", at, err)
			}
		case tagSessOrder:
			if sessOrd.n == 0 {
				lastKey = ""
			}
			err := sessOrd.load(&d, len(sessions), func(i int) error {
				s := sessions[i]
				if sessOrd.n > 1 && lastKey >= s.key {
					return errors.New("sessions out of user order")
				}
				lastKey = s.key
				if byUser == nil {
					byUser = make([]*sessRec, 0, len(sessions))
				}
				byUser = append(byUser, s)
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("record at offset %d: %w", at, err)
			}
		case mPutAudit:
			a, err := d.auditRec()
			if err == nil && d.off != len(d.s) {
				err = errors.New("trailing bytes")
			}
			if err == nil && len(audit) > 0 && audit[len(audit)-1].key >= a.key {
				err = errors.New("audit events out of order")
			}
			if err != nil {
				return nil, fmt.Errorf("record at offset %d: %w", at, err)
			}
			audit = append(audit, a)
		case tagSnapTrailer:
			wu, ws := d.uvarint(), d.uvarint()
			if d.err != nil || wu != uint64(len(users)) || ws != uint64(len(sessions)) {
				return nil, fmt.Errorf("trailer counts %d users and %d sessions, read %d and %d", wu, ws, len(users), len(sessions))
			}
			if version >= 2 {
				if wa := d.uvarint(); d.err != nil || wa != uint64(len(audit)) {
					return nil, fmt.Errorf("trailer counts %d audit events, read %d (%v)", wa, len(audit), d.err)
				}
			}
			if userOrd.n != len(users) || sessOrd.n != len(sessions) {
				return nil, fmt.Errorf("orders cover %d users and %d sessions of %d and %d", userOrd.n, sessOrd.n, len(users), len(sessions))
			}
			if _, err := fr.next(); err != io.EOF {
				return nil, fmt.Errorf("data after the trailer at offset %d", fr.off)
			}
			return &snapData{next: next, phones: users, users: byID, sessions: sessions, userSessions: byUser, audit: audit}, nil
		}
	}
}

func snapRank(tag byte) int {
	switch tag {
	case mPutUser, mPutUser2:
		return 1
	case mPutSession:
		return 2
	case tagUserOrder:
		return 3
	case tagSessOrder:
		return 4
	case mPutAudit:
		return 5
	case tagSnapTrailer:
		return 6
	}
	return 0
}

// order reads position lists, checking that they form a permutation.
type order struct {
	seen []bool
	n    int
}

func (o *order) load(d *decoder, size int, insert func(int) error) error {
	if o.seen == nil {
		o.seen = make([]bool, size)
	}
	for d.off < len(d.s) {
		i := d.uvarint()
		if d.err != nil {
			return d.err
		}
		if i >= uint64(size) || o.seen[i] {
			return fmt.Errorf("bad position %d of %d", i, size)
		}
		o.seen[i] = true
		o.n++
		if err := insert(int(i)); err != nil {
			return err
		}
	}
	return nil
}

// maybeCompactLocked starts a compaction when enough was logged since the
// last snapshot. Called with wmu held.
func (s *Store) maybeCompactLocked() {
	if s.compacting || s.closed.Load() || s.failed.Load() != nil ||
		s.sinceSnap < s.opts.SnapshotRecords && s.sinceBytes < s.opts.SnapshotBytes ||
		time.Now().Before(s.retryAt) {
		return
	}
	next := s.segSeq + 1
	f, err := createSegment(s.dir, next)
	if err != nil {
		s.log.Error("memdb: cannot start a log segment; compaction postponed", "segment", segName(next), "err", err)
		os.Remove(filepath.Join(s.dir, segName(next))) // O_EXCL would refuse it next time
		s.retryAt = time.Now().Add(time.Minute)
		return
	}
	f.Close()
	seg, err := os.OpenFile(filepath.Join(s.dir, segName(next)), os.O_WRONLY|os.O_APPEND, 0)
	if err == nil && s.opts.NoSync {
		err = s.seg.Sync() // the snapshot will cover this segment, so it must be on disk
	}
	if err != nil {
		s.log.Error("memdb: cannot switch log segment; compaction postponed", "segment", segName(next), "err", err)
		if seg != nil {
			seg.Close()
		}
		s.retryAt = time.Now().Add(time.Minute)
		return
	}
	if err := s.seg.Close(); err != nil {
		s.log.Warn("memdb: closing a full log segment", "segment", segName(s.segSeq), "err", err)
	}
	s.seg, s.segSeq, s.segBytes = seg, next, 0
	s.sinceSnap, s.sinceBytes = 0, 0
	// Taken under wmu right at the switch: exactly segments < next.
	snap := s.db.Txn(false)
	s.compacting = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		start := time.Now()
		users, sessions, err := s.writeSnapshot(snap, next)
		s.wmu.Lock()
		s.compacting = false
		if err != nil && err != errAborted {
			s.retryAt = time.Now().Add(time.Minute)
		}
		s.wmu.Unlock()
		switch {
		case err == errAborted:
		case err != nil:
			s.log.Error("memdb: compaction failed; the log keeps growing until a later one succeeds", "err", err)
		default:
			s.log.Debug("memdb: compacted", "users", users, "sessions", sessions, "took", time.Since(start))
		}
	}()
}

// writeSnapshot writes the state of snap, which covers segments < next, and
// then deletes those segments. Each step is crash-safe: see the package doc.
func (s *Store) writeSnapshot(snap *memdb.Txn, next uint64) (users, sessions uint64, err error) {
	tmp := filepath.Join(s.dir, snapTmpName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	var b batch
	var frame []byte
	put := func() error {
		frame = appendFrame(frame[:0], b.b)
		_, err := w.Write(frame)
		b.b = b.b[:0]
		return err
	}
	b.b = append(b.b, tagSnapHeader)
	b.str(snapMagic)
	b.b = binary.AppendUvarint(b.b, snapVersion)
	b.b = binary.AppendUvarint(b.b, next)
	if err := put(); err != nil {
		return 0, 0, err
	}
	userPos := map[*userRec]uint32{}
	it, err := snap.Get(tPhones, "id")
	if err != nil {
		return 0, 0, err
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if users%4096 == 0 && s.stopped() {
			return 0, 0, errAborted
		}
		u := raw.(*userRec)
		userPos[u] = uint32(users)
		b.putUserRec(u)
		if err := put(); err != nil {
			return 0, 0, err
		}
		users++
	}
	sessPos := map[*sessRec]uint32{}
	now := toNanos(s.opts.Now())
	it, err = snap.Get(tSessions, "id")
	if err != nil {
		return 0, 0, err
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if sessions%4096 == 0 && s.stopped() {
			return 0, 0, errAborted
		}
		r := raw.(*sessRec)
		if r.expires <= now {
			continue // expired: the log's deletions would be no-ops for it
		}
		sessPos[r] = uint32(sessions)
		b.putSession(r.key, r.created, r.expires)
		if err := put(); err != nil {
			return 0, 0, err
		}
		sessions++
	}
	writeOrder := func(tag byte, table string, pos func(any) (uint32, bool)) error {
		it, err := snap.Get(table, "id")
		if err != nil {
			return err
		}
		n := 0
		for raw := it.Next(); raw != nil; raw = it.Next() {
			p, ok := pos(raw)
			if !ok {
				continue
			}
			if n%orderChunk == 0 {
				if n > 0 {
					if err := put(); err != nil {
						return err
					}
				}
				if s.stopped() {
					return errAborted
				}
				b.b = append(b.b, tag)
			}
			b.b = binary.AppendUvarint(b.b, uint64(p))
			n++
		}
		if n > 0 {
			return put()
		}
		return nil
	}
	if err := writeOrder(tagUserOrder, tUsers, func(raw any) (uint32, bool) {
		p, ok := userPos[raw.(*userRec)]
		return p, ok
	}); err != nil {
		return 0, 0, err
	}
	if err := writeOrder(tagSessOrder, tUserSessions, func(raw any) (uint32, bool) {
		p, ok := sessPos[raw.(*sessRec)]
		return p, ok
	}); err != nil {
		return 0, 0, err
	}
	var audits uint64
	it, err = snap.Get(tAudit, "id")
	if err != nil {
		return 0, 0, err
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		b.putAuditRec(raw.(*auditRec))
		if err := put(); err != nil {
			return 0, 0, err
		}
		audits++
	}
	b.b = append(b.b, tagSnapTrailer)
	b.b = binary.AppendUvarint(b.b, users)
	b.b = binary.AppendUvarint(b.b, sessions)
	b.b = binary.AppendUvarint(b.b, audits)
	if err := put(); err != nil {
		return 0, 0, err
	}
	if err := w.Flush(); err != nil {
		return 0, 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, 0, err
	}
	if err := f.Close(); err != nil {
		return 0, 0, err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, snapName)); err != nil {
		return 0, 0, err
	}
	if err := syncDir(s.dir); err != nil {
		return 0, 0, err
	}
	// Only now are the old segments redundant. A crash before their
	// deletion is harmless: Open deletes segments the snapshot covers.
	seqs, err := listSegments(s.dir)
	if err != nil {
		return users, sessions, err
	}
	for _, seq := range seqs {
		if seq < next {
			if err := os.Remove(filepath.Join(s.dir, segName(seq))); err != nil {
				return users, sessions, err
			}
		}
	}
	return users, sessions, nil
}

func (s *Store) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}
