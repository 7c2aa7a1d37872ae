package memdb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const (
	frameHeader = 8
	// maxPayload bounds a frame so a corrupt length cannot make Open
	// allocate gigabytes. Real batches are a few hundred bytes.
	maxPayload = 16 << 20

	segPrefix = "wal-"
	segSuffix = ".log"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameCRC covers the length too, so a flipped length bit is caught
// without relying on the payload CRC failing by chance.
func frameCRC(hdrLen []byte, payload []byte) uint32 {
	c := crc32.Update(0, castagnoli, hdrLen)
	return crc32.Update(c, castagnoli, payload)
}

// appendFrame appends a framed payload to dst.
func appendFrame(dst, payload []byte) []byte {
	var h [frameHeader]byte
	binary.LittleEndian.PutUint32(h[:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], frameCRC(h[:4], payload))
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

func segName(seq uint64) string { return fmt.Sprintf("%s%020d%s", segPrefix, seq, segSuffix) }

// listSegments returns the sequence numbers of the log segments in dir, sorted.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, segPrefix) || !strings.HasSuffix(n, segSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, segPrefix), segSuffix), 10, 64)
		if err != nil || segName(seq) != n {
			continue // not ours
		}
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

// frameReader reads frames sequentially, tracking the offset of the end of
// the last good frame.
type frameReader struct {
	r    *bufio.Reader
	off  int64 // end of the last good frame
	buf  []byte
	size int64 // file size, to tell a short frame from a long one
}

// errTail marks a frame that cannot be read: short, oversized or with a
// bad CRC. Whether it is a harmless torn tail is decided by the caller.
type errTail struct{ why string }

func (e *errTail) Error() string { return e.why }

// next returns the next payload (valid until the following call), io.EOF
// at a clean end, or *errTail.
func (fr *frameReader) next() ([]byte, error) {
	var h [frameHeader]byte
	n, err := io.ReadFull(fr.r, h[:])
	if err == io.EOF {
		return nil, io.EOF
	}
	if err == io.ErrUnexpectedEOF {
		return nil, &errTail{fmt.Sprintf("short frame header (%d bytes)", n)}
	}
	if err != nil {
		return nil, err
	}
	ln := binary.LittleEndian.Uint32(h[:4])
	if ln == 0 || ln > maxPayload {
		return nil, &errTail{fmt.Sprintf("bad frame length %d", ln)}
	}
	if fr.off+frameHeader+int64(ln) > fr.size {
		return nil, &errTail{"frame extends past the end of the file"}
	}
	if cap(fr.buf) < int(ln) {
		fr.buf = make([]byte, ln)
	}
	p := fr.buf[:ln]
	if _, err := io.ReadFull(fr.r, p); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
			return nil, &errTail{"short frame payload"}
		}
		return nil, err
	}
	if frameCRC(h[:4], p) != binary.LittleEndian.Uint32(h[4:]) {
		return nil, &errTail{"frame checksum mismatch"}
	}
	fr.off += frameHeader + int64(ln)
	return p, nil
}

// validFrameAfter reports whether any well-formed frame starts in data
// after its first byte. It is how a bad frame in the middle of a segment
// (acknowledged writes follow it) is told from garbage at the tail (a write
// that was torn by a crash). Only run on a damaged segment.
func validFrameAfter(data []byte) (int, bool) {
	for i := 1; i+frameHeader < len(data); i++ {
		ln := binary.LittleEndian.Uint32(data[i : i+4])
		if ln == 0 || ln > maxPayload || int64(i)+frameHeader+int64(ln) > int64(len(data)) {
			continue
		}
		p := data[i+frameHeader : i+frameHeader+int(ln)]
		if frameCRC(data[i:i+4], p) == binary.LittleEndian.Uint32(data[i+4:i+8]) {
			return i, true
		}
	}
	return 0, false
}

// syncDir makes renames, creations and deletions in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// createSegment creates an empty segment and makes its directory entry
// durable before any acknowledged write can land in it.
func createSegment(dir string, seq uint64) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, segName(seq)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func newFrameReader(r io.Reader, size int64) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 1<<20), size: size}
}
