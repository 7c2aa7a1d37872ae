package memdb

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"legacyauth/core"
	"legacyauth/internal/testkit"
)

// logWith writes n users into a fresh store and returns its directory and
// its (only) segment.
func logWith(t *testing.T, n int) (string, string) {
	t.Helper()
	dir := t.TempDir()
	s := mustOpen(t, dir, testOpts(nil, nil))
	for i := range n {
		if err := s.CreateUser(ctx, user(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, s)
	seqs, err := listSegments(dir)
	if err != nil || len(seqs) != 1 {
		t.Fatalf("segments %v, %v", seqs, err)
	}
	return dir, filepath.Join(dir, segName(seqs[0]))
}

// frameStarts returns the offset of every frame in a segment.
func frameStarts(t *testing.T, path string) []int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	fr := newFrameReader(f, st.Size())
	var starts []int64
	for {
		at := fr.off
		if _, err := fr.next(); err == io.EOF {
			return starts
		} else if err != nil {
			t.Fatal(err)
		}
		starts = append(starts, at)
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	f.ReadAt(b[:], off)
	b[0] ^= 0x40
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

// checkRecovered opens dir and expects users 0..n-1 and nothing else of
// the first total, a warning in the log, and a store that takes writes and
// reopens cleanly.
func checkRecovered(t *testing.T, dir string, n, total int, wantWarning bool) {
	t.Helper()
	logs := &testkit.Buffer{}
	s := mustOpen(t, dir, testOpts(logs, nil))
	for i := range total {
		_, err := s.UserByPhone(ctx, phone(i))
		if i < n && err != nil {
			t.Fatalf("user %d lost: %v", i, err)
		}
		if i >= n {
			wantKind(t, err, core.NotRegistered)
		}
	}
	if got := strings.Contains(logs.String(), "torn record"); got != wantWarning {
		t.Fatalf("warning logged: %v, want %v:\n%s", got, wantWarning, logs)
	}
	if err := s.CreateUser(ctx, user(1000), nil); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	logs = &testkit.Buffer{}
	s = mustOpen(t, dir, testOpts(logs, nil))
	defer s.Close()
	if strings.Contains(logs.String(), "torn") {
		t.Fatalf("second open still found damage:\n%s", logs)
	}
	getUser(t, s, phone(1000))
	if n > 0 {
		getUser(t, s, phone(n-1))
	}
}

func TestTornTail(t *testing.T) {
	for _, cut := range []int64{1, 4, 7, 8, 9, 30} {
		dir, seg := logWith(t, 10)
		starts := frameStarts(t, seg)
		last := starts[len(starts)-1]
		if err := os.Truncate(seg, last+cut); err != nil {
			t.Fatal(err)
		}
		checkRecovered(t, dir, 9, 10, true)
		if st, _ := os.Stat(seg); st.Size() < last {
			t.Fatalf("cut %d: truncated to %d, before the last good record end %d", cut, st.Size(), last)
		}
	}
}

func TestFlippedByteInLastRecord(t *testing.T) {
	for _, at := range []int64{0, 2, 5, 8, 20, -1} { // length, CRC, payload, last byte
		dir, seg := logWith(t, 10)
		starts := frameStarts(t, seg)
		off := starts[len(starts)-1] + at
		if at < 0 {
			st, _ := os.Stat(seg)
			off = st.Size() - 1
		}
		flipByte(t, seg, off)
		checkRecovered(t, dir, 9, 10, true)
	}
}

func TestGarbageTail(t *testing.T) {
	// A file system may extend a file whose data never reached the disk.
	dir, seg := logWith(t, 10)
	f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(make([]byte, 4096))
	f.Close()
	checkRecovered(t, dir, 10, 10, true)
}

func TestEmptyLog(t *testing.T) {
	dir, seg := logWith(t, 0)
	if st, _ := os.Stat(seg); st.Size() != 0 {
		t.Fatalf("size %d", st.Size())
	}
	checkRecovered(t, dir, 0, 1, false)
}

func TestCorruptionInTheMiddle(t *testing.T) {
	for _, at := range []int64{0, 5, 20} {
		dir, seg := logWith(t, 10)
		starts := frameStarts(t, seg)
		flipByte(t, seg, starts[3]+at)
		before, _ := os.ReadFile(seg)
		_, err := Open(dir, testOpts(nil, nil))
		wantKind(t, err, core.Internal)
		if !strings.Contains(err.Error(), "valid record follows") || !strings.Contains(err.Error(), segName(1)) {
			t.Fatalf("unclear error: %v", err)
		}
		after, _ := os.ReadFile(seg)
		if string(before) != string(after) {
			t.Fatal("a refused open changed the log")
		}
	}
}

func TestCorruptNonLastSegment(t *testing.T) {
	dir, seg := logWith(t, 5)
	os.Truncate(seg, frameStarts(t, seg)[4]+3)
	var b batch
	b.putUser(userFromCore(user(5)))
	os.WriteFile(filepath.Join(dir, segName(2)), appendFrame(nil, b.b), 0o600)
	_, err := Open(dir, testOpts(nil, nil))
	wantKind(t, err, core.Internal)
	if !strings.Contains(err.Error(), "not the last segment") {
		t.Fatalf("unclear error: %v", err)
	}
}

func TestUndecodableRecord(t *testing.T) {
	// A valid frame whose payload is not a known mutation: a newer format
	// or a bug, never a torn write.
	dir, seg := logWith(t, 3)
	f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(appendFrame(nil, []byte{99, 1, 2, 3}))
	f.Close()
	_, err := Open(dir, testOpts(nil, nil))
	wantKind(t, err, core.Internal)
	if !strings.Contains(err.Error(), "unknown mutation") {
		t.Fatalf("unclear error: %v", err)
	}
}

func TestDamagedSnapshot(t *testing.T) {
	dir := t.TempDir()
	o := testOpts(nil, nil)
	o.SnapshotRecords = 5
	s := mustOpen(t, dir, o)
	for i := range 7 {
		if err := s.CreateUser(ctx, user(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	waitCompaction(t, s)
	mustClose(t, s)
	snap := filepath.Join(dir, snapName)
	good, _ := os.ReadFile(snap)
	for name, damage := range map[string]func(){
		"flipped": func() { flipByte(t, snap, int64(len(good)/2)) },
		"short":   func() { os.Truncate(snap, int64(len(good)-3)) },
		"no trailer": func() {
			starts := frameStarts(t, snap)
			os.Truncate(snap, starts[len(starts)-1])
		},
	} {
		os.WriteFile(snap, good, 0o600)
		damage()
		_, err := Open(dir, o)
		wantKind(t, err, core.Internal)
		if !strings.Contains(err.Error(), "snapshot") {
			t.Fatalf("%s: unclear error: %v", name, err)
		}
	}
	os.WriteFile(snap, good, 0o600)
	s = mustOpen(t, dir, o)
	defer s.Close()
	for i := range 7 {
		sameUser(t, getUser(t, s, phone(i)), user(i))
	}
}

func TestLockedDir(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOpts(nil, nil))
	_, err := Open(dir, testOpts(nil, nil))
	wantKind(t, err, core.Unavailable)
	mustClose(t, s)
	s = mustOpen(t, dir, testOpts(nil, nil))
	mustClose(t, s)
}

// TestSnapshotChecks feeds hand-made snapshots with valid checksums but
// broken invariants: Open must refuse them rather than build bad tables.
func TestSnapshotChecks(t *testing.T) {
	frame := func(fill func(b *batch)) []byte {
		var b batch
		fill(&b)
		return appendFrame(nil, b.b)
	}
	header := frame(func(b *batch) {
		b.b = append(b.b, tagSnapHeader)
		b.str(snapMagic)
		b.b = append(b.b, snapVersion, 1)
	})
	putUser := func(id, phone string) []byte {
		return frame(func(b *batch) { b.putUser(&userFields{id: id, phone: phone}) })
	}
	positions := func(tag byte, ps ...byte) []byte {
		return frame(func(b *batch) { b.b = append(append(b.b, tag), ps...) })
	}
	trailer := func(users, sessions byte) []byte {
		return frame(func(b *batch) { b.b = append(b.b, tagSnapTrailer, users, sessions, 0) }) // no audit events
	}
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for name, snap := range map[string][]byte{
		"good":              cat(header, putUser("b", "+1"), putUser("a", "+2"), positions(tagUserOrder, 1, 0), trailer(2, 0)),
		"same phone":        cat(header, putUser("a", "+1"), putUser("b", "+1"), positions(tagUserOrder, 0, 1), trailer(2, 0)),
		"same id":           cat(header, putUser("a", "+1"), putUser("a", "+2"), positions(tagUserOrder, 0, 1), trailer(2, 0)),
		"ids out of order":  cat(header, putUser("b", "+1"), putUser("a", "+2"), positions(tagUserOrder, 0, 1), trailer(2, 0)),
		"repeated position": cat(header, putUser("b", "+1"), putUser("a", "+2"), positions(tagUserOrder, 1, 1), trailer(2, 0)),
		"missing position":  cat(header, putUser("b", "+1"), putUser("a", "+2"), positions(tagUserOrder, 1), trailer(2, 0)),
		"frames misplaced":  cat(header, putUser("b", "+1"), positions(tagUserOrder, 0), putUser("a", "+2"), trailer(2, 0)),
		"wrong count":       cat(header, putUser("b", "+1"), positions(tagUserOrder, 0), trailer(2, 0)),
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, snapName), snap, 0o600)
		f, _ := createSegment(dir, 1)
		f.Close()
		s, err := Open(dir, testOpts(nil, nil))
		if name == "good" {
			if err != nil {
				t.Fatalf("good snapshot: %v", err)
			}
			getUser(t, s, "+2")
			if u, err := s.UserByID(ctx, "b"); err != nil || u.Phone != "+1" {
				t.Fatalf("UserByID(b) = %+v, %v", u, err)
			}
			s.Close()
			continue
		}
		if err == nil {
			s.Close()
			t.Fatalf("%s: opened", name)
		}
		t.Logf("%s: %v", name, err)
		wantKind(t, err, core.Internal)
	}
}
