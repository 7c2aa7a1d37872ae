package logwriter

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"legacyauth/internal/testkit"
)

// slowWriter is a writer whose every write takes a while, so lines pile up.
type slowWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(200 * time.Microsecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// TestLogWriterKeepsEveryLineInOrder: concurrent writers, a slow sink and
// more bytes than the buffer holds (backpressure): after Close every line
// is there, each writer's in its order, none torn.
func TestLogWriterKeepsEveryLineInOrder(t *testing.T) {
	sink := &slowWriter{}
	lw := New(sink)
	const writers, lines = 4, 3000
	pad := strings.Repeat("x", 200) // 4*3000*~215 B > maxPending
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				if _, err := fmt.Fprintf(lw, "%d %d %s\n", w, i, pad); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(lw, "after close\n") // writes through
	next := make([]int, writers)
	got := strings.Split(strings.TrimSuffix(sink.buf.String(), "\n"), "\n")
	if len(got) != writers*lines+1 || got[len(got)-1] != "after close" {
		t.Fatalf("%d lines, last %q; want %d and the line written after Close", len(got), got[len(got)-1], writers*lines+1)
	}
	for _, l := range got[:len(got)-1] {
		var w, i int
		var p string
		if _, err := fmt.Sscanf(l, "%d %d %s", &w, &i, &p); err != nil || p != pad || i != next[w] {
			t.Fatalf("line %q: want writer %d's line %d (err %v)", l, w, next[w], err)
		}
		next[w]++
	}
}

// TestLogWriterWritesWithoutFlush: a line reaches the sink without any
// Flush or Close (the goroutine writes as soon as there is something).
func TestLogWriterWritesWithoutFlush(t *testing.T) {
	sink := &testkit.Buffer{}
	lw := New(sink)
	defer lw.Close()
	fmt.Fprintf(lw, "hello\n")
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if sink.String() == "hello\n" {
			return
		}
	}
	t.Fatalf("sink holds %q, want the line", sink.String())
}
