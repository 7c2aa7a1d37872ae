// Package loadgen is a small closed-loop HTTP/1.1 load generator for the
// gateway's benchmarks (perf_test.go).
//
// Each of Config.Conns keep-alive connections sends one request, reads the
// whole response, and sends the next at once: the offered load is whatever
// the server can take, and latency includes the time a request waits
// behind the others (closed loop). Requests are pre-encoded bytes and
// responses are parsed in place, so the generator allocates nothing per
// request and leaves as much CPU as possible to the server when both run
// in one process on the same cores.
//
// A request is counted when it completes inside the measured window
// (which opens when the warm-up ends), whenever it started: completions
// per second of window is then an unbiased throughput even when the window
// is only a few latencies long (a login takes 100 ms), and its latency is
// one sample. Every error (I/O, a malformed response, a
// failed Check) is counted, warm-up included: a benchmark should treat any
// error as a failed run.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Config describes one run.
type Config struct {
	Addr     string        // host:port of the server
	Conns    int           // concurrent connections, one request in flight on each
	Warmup   time.Duration // run before the window opens, not counted
	Duration time.Duration // the measured window
	// Requests are complete HTTP/1.1 requests (see Request). Connection i
	// sends Requests[i%len(Requests)] over and over.
	Requests [][]byte
	// Check validates a response (body is only valid during the call); nil
	// accepts any status below 400.
	Check func(status int, body []byte) error
	// Timeout bounds one request; default 10 s.
	Timeout time.Duration
}

// Result is what a run measured.
type Result struct {
	Requests   int64         // successful requests completed inside the window
	Total      int64         // successful requests over the whole run, warm-up included
	Errors     int64         // failed requests over the whole run, warm-up included
	FirstError error         // the first of them
	Dials      int64         // connections opened (Conns unless the server closed some)
	Window     time.Duration // length of the measured window
	latencies  []time.Duration
}

// Merge pools the results of several runs (rounds alternated with another
// target, so that both see the same machine) as one: counts and windows
// add up, latencies are pooled, the first error is the first run's.
func Merge(rs ...*Result) *Result {
	m := &Result{}
	for _, r := range rs {
		m.Requests += r.Requests
		m.Total += r.Total
		m.Errors += r.Errors
		m.Dials += r.Dials
		m.Window += r.Window
		if m.FirstError == nil {
			m.FirstError = r.FirstError
		}
		m.latencies = append(m.latencies, r.latencies...)
	}
	slices.Sort(m.latencies)
	return m
}

// Throughput is Requests per second of the window.
func (r *Result) Throughput() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Window.Seconds()
}

// Quantile returns the latency below which a fraction q of the counted
// requests completed (nearest rank); 0 when none was counted.
func (r *Result) Quantile(q float64) time.Duration {
	n := len(r.latencies)
	if n == 0 {
		return 0
	}
	i := int(q*float64(n)+0.999999999) - 1
	return r.latencies[min(max(i, 0), n-1)]
}

// Mean is the mean latency of the counted requests.
func (r *Result) Mean() time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range r.latencies {
		sum += d
	}
	return sum / time.Duration(len(r.latencies))
}

// Request encodes an HTTP/1.1 request. header may be nil; Content-Length
// is added when there is a body or the method is POST, PUT or PATCH.
func Request(method, host, target string, header http.Header, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, host)
	for _, k := range slices.Sorted(maps.Keys(header)) {
		for _, v := range header[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if len(body) > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// Run drives the server for cfg.Warmup+cfg.Duration and returns what the
// window measured. It fails only on a bad configuration or when ctx ends;
// request failures are counted in the Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Conns <= 0 || cfg.Duration <= 0 || len(cfg.Requests) == 0 || cfg.Addr == "" {
		return nil, errors.New("loadgen: Addr, Conns, Duration and Requests are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Check == nil {
		cfg.Check = func(status int, _ []byte) error {
			if status >= 400 {
				return fmt.Errorf("status %d", status)
			}
			return nil
		}
	}
	begin := time.Now()
	w := window{start: begin.Add(cfg.Warmup), end: begin.Add(cfg.Warmup + cfg.Duration)}
	workers := make([]worker, cfg.Conns)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func(wk *worker, req []byte) {
			defer wg.Done()
			wk.run(ctx, cfg, req, w)
		}(&workers[i], cfg.Requests[i%len(cfg.Requests)])
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := &Result{Window: w.end.Sub(w.start)}
	for i := range workers {
		wk := &workers[i]
		res.Requests += int64(len(wk.lat))
		res.Total += wk.ok
		res.Errors += wk.errors
		res.Dials += wk.dials
		if res.FirstError == nil && wk.firstErr != nil {
			res.FirstError = wk.firstErr
		}
		res.latencies = append(res.latencies, wk.lat...)
	}
	slices.Sort(res.latencies)
	return res, nil
}

type window struct{ start, end time.Time }

// worker is one connection's loop; its fields are only touched by its
// goroutine until Run's wg.Wait.
type worker struct {
	lat      []time.Duration
	ok       int64
	errors   int64
	firstErr error
	dials    int64
}

func (wk *worker) fail(err error) {
	wk.errors++
	if wk.firstErr == nil {
		wk.firstErr = err
	}
}

func (wk *worker) run(ctx context.Context, cfg Config, req []byte, w window) {
	var (
		conn net.Conn
		rd   *reader
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	d := net.Dialer{Timeout: cfg.Timeout}
	for ctx.Err() == nil {
		t0 := time.Now()
		if !t0.Before(w.end) {
			return
		}
		if conn == nil {
			c, err := d.DialContext(ctx, "tcp", cfg.Addr)
			if err != nil {
				wk.fail(fmt.Errorf("dial: %w", err))
				time.Sleep(10 * time.Millisecond) // no busy loop against a refusing port
				continue
			}
			wk.dials++
			// One deadline for the whole run: no per-request timer work.
			_ = c.SetDeadline(w.end.Add(cfg.Timeout))
			conn = c
			if rd == nil {
				rd = newReader(c)
			} else {
				rd.reset(c)
			}
			t0 = time.Now()
		}
		var (
			status int
			body   []byte
			closed bool
		)
		_, err := conn.Write(req)
		if err == nil {
			status, body, closed, err = rd.response()
		}
		if err == nil {
			err = cfg.Check(status, body)
		}
		t1 := time.Now()
		if err != nil {
			wk.fail(err)
			conn.Close()
			conn = nil
			continue
		}
		wk.ok++
		if !t1.Before(w.start) && !t1.After(w.end) {
			wk.lat = append(wk.lat, t1.Sub(t0))
		}
		if closed {
			conn.Close()
			conn = nil
		}
	}
}

// reader parses HTTP/1.1 responses in place.
type reader struct {
	br   *bufio.Reader
	body []byte
}

func newReader(r io.Reader) *reader { return &reader{br: bufio.NewReaderSize(r, 16<<10)} }

func (rd *reader) reset(r io.Reader) { rd.br.Reset(r) }

var errMalformed = errors.New("loadgen: malformed response")

// response reads one response. body is valid until the next call. closed
// reports that the server ends the connection after it.
func (rd *reader) response() (status int, body []byte, closed bool, err error) {
	for {
		status, body, closed, err = rd.one()
		// 1xx responses (100 Continue) precede the real one.
		if err != nil || status >= 200 {
			return status, body, closed, err
		}
	}
}

func (rd *reader) one() (status int, body []byte, closed bool, err error) {
	line, err := rd.line()
	if err != nil {
		return 0, nil, false, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, nil, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	status, err = atoi(line[9:12])
	if err != nil {
		return 0, nil, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	closed = line[7] == '0' // HTTP/1.0 closes unless told otherwise; the generator never asks
	length, chunked := -1, false
	for {
		h, err := rd.line()
		if err != nil {
			return 0, nil, false, err
		}
		if len(h) == 0 {
			break
		}
		colon := bytes.IndexByte(h, ':')
		if colon <= 0 {
			return 0, nil, false, fmt.Errorf("%w: header %q", errMalformed, h)
		}
		name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = atoi(value); err != nil {
				return 0, nil, false, fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closed = bytes.EqualFold(value, []byte("close"))
		}
	}
	rd.body = rd.body[:0]
	switch {
	case status < 200 || status == http.StatusNoContent || status == http.StatusNotModified:
	case chunked:
		if err := rd.chunks(); err != nil {
			return 0, nil, false, err
		}
	case length >= 0:
		rd.body = slices.Grow(rd.body, length)[:length]
		if _, err := io.ReadFull(rd.br, rd.body); err != nil {
			return 0, nil, false, err
		}
	default: // the body runs to the end of the connection
		b, err := io.ReadAll(rd.br)
		if err != nil {
			return 0, nil, false, err
		}
		rd.body, closed = b, true
	}
	return status, rd.body, closed, nil
}

func (rd *reader) chunks() error {
	for {
		line, err := rd.line()
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 31)
		if err != nil {
			return fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		if n == 0 {
			for { // trailers, then the empty line
				t, err := rd.line()
				if err != nil {
					return err
				}
				if len(t) == 0 {
					return nil
				}
			}
		}
		off := len(rd.body)
		rd.body = slices.Grow(rd.body, int(n))[:off+int(n)]
		if _, err := io.ReadFull(rd.br, rd.body[off:]); err != nil {
			return err
		}
		if crlf, err := rd.line(); err != nil || len(crlf) != 0 {
			return fmt.Errorf("%w: chunk not followed by CRLF", errMalformed)
		}
	}
}

// line returns the next line without its CRLF; valid until the next read.
func (rd *reader) line() ([]byte, error) {
	l, err := rd.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, fmt.Errorf("%w: line longer than %d bytes", errMalformed, rd.br.Size())
	}
	if err != nil {
		if err == io.EOF && len(l) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	l = l[:len(l)-1]
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	return l, nil
}

// atoi reads a non-negative decimal without allocating.
func atoi(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 18 {
		return 0, errMalformed
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errMalformed
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}
