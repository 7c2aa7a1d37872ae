// Package logwriter takes the log's write(2) off the request path (see Writer).
package logwriter

import (
	"io"
	"sync"
	"time"
)

// Writer takes the log's write(2) off the request path. slog's handlers
// hold their mutex across the write to their io.Writer, so with one line
// per request every request queued behind every other request's system
// call (98 % of the process's lock contention). Write only appends the
// line to a buffer; a goroutine writes what has accumulated, in one call,
// lingerFor after the first pending line: lines reach the file
// within about that long, and under load a write(2) carries hundreds of
// them rather than a few (a write per few requests cost more than a
// microsecond of CPU per request).
//
// No line is ever dropped: when maxPending bytes are pending, Write
// waits for the writer goroutine (backpressure). Flush writes everything
// pending and returns once it is written; Close flushes and stops the
// goroutine, after which Write writes through.
type Writer struct {
	w io.Writer

	wmu sync.Mutex // serializes writes to w (the goroutine's and Flush's)

	mu      sync.Mutex
	drained sync.Cond // signalled each time the pending bytes were taken
	buf     []byte    // pending lines
	spare   []byte    // the buffer last written, reused
	closed  bool

	closeOnce sync.Once
	wake      chan struct{} // cap 1: there is something to write
	stop      chan struct{}
	done      chan struct{}
}

const (
	maxPending = 1 << 20              // how many bytes may wait before Write blocks
	lingerFor  = 2 * time.Millisecond // how long the first pending line waits for company
)

func New(w io.Writer) *Writer {
	l := &Writer{w: w, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	l.drained.L = &l.mu
	go l.run()
	return l
}

func (l *Writer) Write(p []byte) (int, error) {
	l.mu.Lock()
	for !l.closed && len(l.buf) > 0 && len(l.buf)+len(p) > maxPending {
		l.drained.Wait()
	}
	if l.closed {
		l.mu.Unlock()
		l.wmu.Lock()
		defer l.wmu.Unlock()
		return l.w.Write(p)
	}
	wasEmpty := len(l.buf) == 0
	l.buf = append(l.buf, p...)
	l.mu.Unlock()
	if wasEmpty {
		select {
		case l.wake <- struct{}{}:
		default: // already woken
		}
	}
	return len(p), nil
}

func (l *Writer) run() {
	defer close(l.done)
	timer := time.NewTimer(lingerFor)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-l.wake:
			timer.Reset(lingerFor)
			select {
			case <-timer.C:
			case <-l.stop: // close writes what is pending
				return
			}
			l.Flush()
		case <-l.stop:
			return
		}
	}
}

// Flush writes every line written before it was called.
func (l *Writer) Flush() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	b := l.buf
	l.buf = l.spare[:0]
	l.spare = nil
	l.drained.Broadcast()
	l.mu.Unlock()
	if len(b) == 0 {
		l.mu.Lock()
		l.spare = b
		l.mu.Unlock()
		return nil
	}
	_, err := l.w.Write(b)
	if cap(b) > 4*maxPending {
		b = nil // do not keep a buffer grown by one huge line
	}
	l.mu.Lock()
	l.spare = b[:0]
	l.mu.Unlock()
	return err
}

// Close writes what is pending and stops the goroutine; later writes go
// straight to the underlying writer. It is safe to call more than once.
func (l *Writer) Close() error {
	var err error
	l.closeOnce.Do(func() { err = l.close() })
	return err
}

func (l *Writer) close() error {
	close(l.stop)
	<-l.done
	// Holding wmu while closing: a Write that finds the writer closed
	// writes through only after the pending lines.
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	l.closed = true
	b := l.buf
	l.buf, l.spare = nil, nil
	l.drained.Broadcast()
	l.mu.Unlock()
	if len(b) == 0 {
		return nil
	}
	_, err := l.w.Write(b)
	return err
}
