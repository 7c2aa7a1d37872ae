package memdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"legacyauth/core"

	"github.com/hashicorp/go-memdb"
)

// Options configure a Store. Zero values take the defaults.
type Options struct {
	// Logger receives warnings (a dropped torn record) and background
	// errors (a failed compaction). Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of the expiry sweeper and of the snapshot, which
	// leaves out sessions expired at Now. It must be the clock core uses
	// (core.Config.Now). Default time.Now.
	Now func() time.Time
	// SnapshotRecords compacts the log once this many records were written
	// since the last snapshot. Default 25000: replaying a record costs
	// ~25 µs at 1M users (random-order inserts), so this bounds the log's
	// share of start-up to well under a second.
	SnapshotRecords int
	// SnapshotBytes compacts the log once it holds this many bytes since
	// the last snapshot. Default 16 MiB.
	SnapshotBytes int64
	// SweepInterval is how often expired sessions, codes, tickets and flows
	// are removed. Default one minute; negative disables the sweeper.
	SweepInterval time.Duration
	// AvatarGrace is how long an uploaded avatar no user references is
	// kept (see core.Store.DeleteUnusedAvatars); the sweeper deletes it
	// after that. Default 24 hours; negative keeps every upload.
	AvatarGrace time.Duration
	// NoSync skips fsync on writes. Only for benchmarks: an acknowledged
	// write can then be lost by a power failure (not by a process crash).
	NoSync bool
}

const (
	snapName    = "snapshot"
	snapTmpName = "snapshot.tmp"
	avatarDir   = "avatars"
)

// Store implements core.Store and core.EphemeralStore. It is safe for
// concurrent use.
type Store struct {
	dir  string
	opts Options
	log  *slog.Logger
	db   *memdb.MemDB
	lock *os.File

	closed atomic.Bool
	// failed holds the error of a log write that could not be undone or
	// fsynced: writes are refused until the store is reopened. Atomic so
	// that Ping does not wait behind a write's fsync.
	failed atomic.Pointer[error]
	stop   chan struct{} // closed by Close: stops the sweeper and a compaction
	wg     sync.WaitGroup

	// avatarMu makes TouchAvatar and a deletion by DeleteUnusedAvatars
	// exclusive, so a touched avatar is never deleted under the user that
	// is about to reference it. avatarSweptAt is the sweeper's own.
	avatarMu      sync.Mutex
	avatarSweptAt time.Time

	// wmu serializes writers, so the log order is the commit order. It
	// guards every field below.
	wmu        sync.Mutex
	seg        *os.File // current log segment, opened O_APPEND
	segSeq     uint64
	segBytes   int64 // size of the current segment up to its last good frame
	sinceSnap  int   // records written since the last snapshot
	sinceBytes int64 // bytes written since the last snapshot
	compacting bool
	retryAt    time.Time // no compaction before this after a failure
	bat        batch     // reused encode buffer
	frame      []byte    // reused frame buffer

	eph ephemeral
}

var (
	_ core.Store          = (*Store)(nil)
	_ core.EphemeralStore = (*Store)(nil)
)

// Open loads the store in dir, creating it if needed. See the package
// documentation for the files and the recovery rules. A damaged log or
// snapshot that cannot be repaired safely is an Internal error; a directory
// already open in another process is Unavailable.
func Open(dir string, opts Options) (*Store, error) {
	const op = "memdb.Open"
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SnapshotRecords <= 0 {
		opts.SnapshotRecords = 25_000
	}
	if opts.SnapshotBytes <= 0 {
		opts.SnapshotBytes = 16 << 20
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.AvatarGrace == 0 {
		opts.AvatarGrace = core.DefaultAvatarGrace
	}
	if err := os.MkdirAll(filepath.Join(dir, avatarDir), 0o700); err != nil {
		return nil, core.Wrap(op, core.Unavailable, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, core.Wrap(op, core.Unavailable, err)
	}
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		lock.Close()
		return nil, core.Wrap(op, core.Internal, err)
	}
	// A Snapshot of an empty MemDB is an independent, writable MemDB that
	// tracks no watch channels (the store uses no watches): commits do not
	// collect and close them, and bulk-loaded nodes need none (bulk.go).
	db = db.Snapshot()
	s := &Store{dir: dir, opts: opts, log: opts.Logger, db: db, lock: lock, stop: make(chan struct{})}
	s.eph.init()
	if err := s.recover(); err != nil {
		lock.Close()
		return nil, core.Wrap(op, core.Internal, err)
	}
	s.wmu.Lock()
	s.maybeCompactLocked() // a long log left by the previous run
	s.wmu.Unlock()
	if opts.SweepInterval > 0 {
		s.wg.Add(1)
		go s.sweeper(opts.SweepInterval)
	}
	return s, nil
}

// recover loads the snapshot and replays the log into memdb in one
// transaction, then opens the last segment for appending.
func (s *Store) recover() error {
	if err := os.Remove(filepath.Join(s.dir, snapTmpName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.removeAvatarTemps()
	next := uint64(1)
	haveSnap := false
	if f, err := os.Open(filepath.Join(s.dir, snapName)); err == nil {
		next, err = loadSnapshot(s.db, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", filepath.Join(s.dir, snapName), err)
		}
		haveSnap = true
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	seqs, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	var live []uint64
	for _, seq := range seqs {
		if seq < next {
			// Covered by the snapshot: a crash came between its rename and
			// the deletion of the segments it replaced.
			if err := os.Remove(filepath.Join(s.dir, segName(seq))); err != nil {
				return err
			}
			continue
		}
		live = append(live, seq)
	}
	for i, seq := range live {
		if seq != next+uint64(i) {
			return fmt.Errorf("log segment %s is missing (snapshot present: %v); refusing to start without it", segName(next+uint64(i)), haveSnap)
		}
	}
	txn := s.db.Txn(true)
	defer txn.Abort()
	if len(live) == 0 && haveSnap {
		// The segment a snapshot names is created (and the directory
		// fsynced) before the snapshot is renamed into place.
		return fmt.Errorf("log segment %s named by the snapshot is missing; refusing to start without it", segName(next))
	}
	for i, seq := range live {
		n, size, err := s.replaySegment(txn, seq, i == len(live)-1)
		if err != nil {
			return err
		}
		s.sinceSnap += n
		s.sinceBytes += size
		s.segBytes = size
	}
	txn.Commit()
	if len(live) == 0 {
		f, err := createSegment(s.dir, next)
		if err != nil {
			return err
		}
		f.Close()
		live = append(live, next)
	}
	s.segSeq = live[len(live)-1]
	s.seg, err = os.OpenFile(filepath.Join(s.dir, segName(s.segSeq)), os.O_WRONLY|os.O_APPEND, 0)
	return err
}

// replaySegment applies one segment and returns its record count and its
// size once any torn tail is cut.
func (s *Store) replaySegment(txn *memdb.Txn, seq uint64, last bool) (int, int64, error) {
	name := segName(seq)
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_RDWR, 0)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	fr := newFrameReader(f, st.Size())
	n := 0
	for {
		p, err := fr.next()
		if err == io.EOF {
			return n, fr.off, nil
		}
		var te *errTail
		if errors.As(err, &te) {
			rest := make([]byte, st.Size()-fr.off)
			if _, err := f.ReadAt(rest, fr.off); err != nil {
				return 0, 0, err
			}
			if i, ok := validFrameAfter(rest); ok {
				return 0, 0, fmt.Errorf("log segment %s: %s at offset %d, but a valid record follows at offset %d: "+
					"acknowledged writes would be lost by dropping it; refusing to start (restore a backup, or truncate the file at %d to accept the loss)",
					name, te.why, fr.off, fr.off+int64(i), fr.off)
			}
			if !last {
				return 0, 0, fmt.Errorf("log segment %s: %s at offset %d, and it is not the last segment; refusing to start", name, te.why, fr.off)
			}
			s.log.Warn("memdb: dropping a torn record at the end of the log; that write was never acknowledged",
				"segment", name, "offset", fr.off, "dropped_bytes", st.Size()-fr.off, "reason", te.why)
			if err := f.Truncate(fr.off); err != nil {
				return 0, 0, err
			}
			if err := f.Sync(); err != nil {
				return 0, 0, err
			}
			return n, fr.off, nil
		}
		if err != nil {
			return 0, 0, err
		}
		if err := apply(txn, p); err != nil {
			return 0, 0, fmt.Errorf("log segment %s: record at offset %d: %w; refusing to start", name, fr.off-int64(len(p))-frameHeader, err)
		}
		n++
	}
}

func (s *Store) removeAvatarTemps() {
	ents, err := os.ReadDir(filepath.Join(s.dir, avatarDir))
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), avatarTmpPrefix) {
			os.Remove(filepath.Join(s.dir, avatarDir, e.Name()))
		}
	}
}

func errClosed(op string) error { return core.E(op, core.Unavailable, "store is closed") }

// write runs one atomic, durable change. build validates against the write
// transaction (without changing it) and encodes the change into b; the
// change is then applied with the replay code, logged and fsynced, and only
// then committed. An empty batch changes nothing.
func (s *Store) write(ctx context.Context, op string, build func(txn *memdb.Txn, b *batch) error) error {
	if err := ctx.Err(); err != nil {
		return core.Wrap(op, core.Unavailable, err)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Load() {
		return errClosed(op)
	}
	if err := s.failure(op); err != nil {
		return err
	}
	txn := s.db.Txn(true)
	defer txn.Abort() // no-op after Commit
	s.bat.b = s.bat.b[:0]
	if err := build(txn, &s.bat); err != nil {
		return err
	}
	if len(s.bat.b) == 0 {
		return nil
	}
	if err := apply(txn, s.bat.b); err != nil {
		return core.Wrap(op, core.Internal, err)
	}
	if err := s.appendLocked(s.bat.b); err != nil {
		return core.Wrap(op, core.Unavailable, err)
	}
	txn.Commit()
	if cap(s.bat.b) > 64<<10 {
		s.bat.b, s.frame = nil, nil // do not pin a large sweep batch
	}
	s.maybeCompactLocked()
	return nil
}

func (s *Store) fail(err error) { s.failed.CompareAndSwap(nil, &err) }

func (s *Store) failure(op string) error {
	if p := s.failed.Load(); p != nil {
		return &core.Error{Op: op, Kind: core.Unavailable, Msg: "the log cannot be written; reopen the store", Err: *p}
	}
	return nil
}

// appendLocked writes one frame and fsyncs it.
func (s *Store) appendLocked(payload []byte) error {
	s.frame = appendFrame(s.frame[:0], payload)
	if _, err := s.seg.Write(s.frame); err != nil {
		// Cut a partial frame so that later frames do not follow garbage;
		// if that fails too, the log's state is unknown.
		serr := s.seg.Truncate(s.segBytes)
		if serr == nil {
			serr = s.seg.Sync()
		}
		if serr != nil {
			s.fail(errors.Join(err, serr))
		}
		return err
	}
	if !s.opts.NoSync {
		if err := s.seg.Sync(); err != nil {
			// After a failed fsync the kernel may have dropped the dirty
			// pages and a retry can "succeed" without them (fsyncgate).
			s.fail(err)
			return err
		}
	}
	s.sinceSnap++
	s.sinceBytes += int64(len(s.frame))
	s.segBytes += int64(len(s.frame))
	return nil
}
