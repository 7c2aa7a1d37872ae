package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func addr(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	if cfg.Conns == 0 {
		cfg.Conns = 3
	}
	if cfg.Duration == 0 {
		cfg.Duration = 150 * time.Millisecond
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestRunCountsRequestsAndLatencies(t *testing.T) {
	var served atomic.Int64
	a := addr(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	res := run(t, Config{Addr: a, Warmup: 50 * time.Millisecond, Requests: [][]byte{Request("GET", a, "/x", nil, nil)},
		Check: func(status int, body []byte) error {
			if status != 200 || string(body) != `{"ok":true}` {
				return fmt.Errorf("got %d %q", status, body)
			}
			return nil
		}})
	if res.Errors != 0 {
		t.Fatalf("errors: %d, first %v", res.Errors, res.FirstError)
	}
	if res.Requests == 0 || res.Requests > res.Total || res.Total > served.Load() {
		t.Fatalf("counted %d requests (%d in all), the server served %d", res.Requests, res.Total, served.Load())
	}
	if res.Dials != 3 {
		t.Fatalf("dials = %d, want 3 (keep-alive)", res.Dials)
	}
	if res.Window != 150*time.Millisecond {
		t.Fatalf("window = %v", res.Window)
	}
	p50, p99, max := res.Quantile(0.5), res.Quantile(0.99), res.Quantile(1)
	if p50 <= 0 || p50 > p99 || p99 > max || res.Mean() <= 0 {
		t.Fatalf("p50 %v p99 %v max %v mean %v", p50, p99, max, res.Mean())
	}
	if got, want := res.Throughput(), float64(res.Requests)/0.15; got != want {
		t.Fatalf("throughput %v, want %v", got, want)
	}
}

func TestQuantileNearestRank(t *testing.T) {
	r := &Result{}
	for i := 1; i <= 100; i++ {
		r.latencies = append(r.latencies, time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{0: 1, 0.5: 50, 0.99: 99, 0.995: 100, 1: 100} {
		if got := r.Quantile(q); got != want {
			t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if (&Result{}).Quantile(0.5) != 0 {
		t.Error("empty result")
	}
}

func TestMerge(t *testing.T) {
	a := &Result{Requests: 2, Total: 3, Window: time.Second, latencies: []time.Duration{1, 5}}
	b := &Result{Requests: 1, Total: 1, Errors: 1, FirstError: errors.New("x"), Dials: 2, Window: time.Second, latencies: []time.Duration{3}}
	m := Merge(a, b)
	if m.Requests != 3 || m.Total != 4 || m.Errors != 1 || m.FirstError == nil || m.Dials != 2 || m.Window != 2*time.Second || m.Throughput() != 1.5 {
		t.Fatalf("%+v", m)
	}
	if m.Quantile(0.5) != 3 || m.Quantile(1) != 5 || m.Quantile(0) != 1 {
		t.Fatalf("latencies %v", m.latencies)
	}
}

func TestRequestEncoding(t *testing.T) {
	raw := Request("POST", "h:1", "/p?q=1", http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer x"}}, []byte(`{"a":"b"}`))
	want := "POST /p?q=1 HTTP/1.1\r\nHost: h:1\r\nAuthorization: Bearer x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"a\":\"b\"}"
	if string(raw) != want {
		t.Fatalf("got %q", raw)
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if req.ContentLength != 9 || req.Header.Get("Authorization") != "Bearer x" {
		t.Fatalf("parsed %+v", req)
	}
	if got := string(Request("GET", "h", "/", nil, nil)); got != "GET / HTTP/1.1\r\nHost: h\r\n\r\n" {
		t.Fatalf("GET: %q", got)
	}
}

// Chunked bodies, 204 without a body, and a server closing connections.
func TestResponseFraming(t *testing.T) {
	big := strings.Repeat("0123456789", 1000)
	a := addr(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			io.WriteString(w, big[:5000])
			w.(http.Flusher).Flush()
			io.WriteString(w, big[5000:])
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		}
	}))
	for path, want := range map[string]string{"/chunked": big, "/empty": "", "/close": "bye"} {
		res := run(t, Config{Addr: a, Conns: 2, Requests: [][]byte{Request("GET", a, path, nil, nil)},
			Check: func(status int, body []byte) error {
				if string(body) != want {
					return fmt.Errorf("%s: body of %d bytes, want %d", path, len(body), len(want))
				}
				return nil
			}})
		if res.Errors != 0 || res.Requests == 0 {
			t.Fatalf("%s: %d requests, %d errors (%v)", path, res.Requests, res.Errors, res.FirstError)
		}
		if path == "/close" && res.Dials < res.Requests {
			t.Fatalf("/close: %d dials for %d requests", res.Dials, res.Requests)
		}
		if path != "/close" && res.Dials != 2 {
			t.Fatalf("%s: %d dials", path, res.Dials)
		}
	}
}

// Raw replies the parser must accept or refuse.
func TestParse(t *testing.T) {
	cases := []struct {
		in     string
		status int
		body   string
		closed bool
		bad    bool
	}{
		{in: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", status: 200, body: "hi"},
		{in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 1\r\n\r\nx", status: 201, body: "x"},
		{in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;ext\r\nab\r\n1\r\nc\r\n0\r\nTrailer: t\r\n\r\n", status: 200, body: "abc"},
		{in: "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", status: 404, closed: true},
		{in: "HTTP/1.0 200 OK\r\n\r\nto the end", status: 200, body: "to the end", closed: true},
		{in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", bad: true},
		{in: "HTTP/1.1 2x0 OK\r\n\r\n", bad: true},
		{in: "SSH-2.0\r\n", bad: true},
		{in: "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", bad: true},
		{in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", bad: true},
	}
	for _, c := range cases {
		status, body, closed, err := newReader(strings.NewReader(c.in)).response()
		if c.bad {
			if err == nil {
				t.Errorf("%q: accepted", c.in)
			}
			continue
		}
		if err != nil || status != c.status || string(body) != c.body || closed != c.closed {
			t.Errorf("%q: got %d %q closed=%v err=%v", c.in, status, body, closed, err)
		}
	}
}

func TestFailuresAreCounted(t *testing.T) {
	a := addr(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusTeapot)
	}))
	res := run(t, Config{Addr: a, Requests: [][]byte{Request("GET", a, "/", nil, nil)}})
	if res.Errors == 0 || res.Requests != 0 || res.FirstError == nil || !strings.Contains(res.FirstError.Error(), "418") {
		t.Fatalf("requests %d errors %d first %v", res.Requests, res.Errors, res.FirstError)
	}

	// A port nobody listens on: errors, and the run still ends on time.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	start := time.Now()
	res = run(t, Config{Addr: dead, Requests: [][]byte{Request("GET", dead, "/", nil, nil)}})
	if res.Errors == 0 || res.Requests != 0 || time.Since(start) > 2*time.Second {
		t.Fatalf("dead port: requests %d errors %d after %v", res.Requests, res.Errors, time.Since(start))
	}
}

func TestConfigAndCancel(t *testing.T) {
	if _, err := Run(context.Background(), Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
	a := addr(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := Run(ctx, Config{Addr: a, Conns: 2, Duration: time.Hour, Requests: [][]byte{Request("GET", a, "/", nil, nil)}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

// The generator must not allocate per request: it shares the cores with
// the server it measures.
func TestNoAllocationsPerResponse(t *testing.T) {
	raw := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}")
	src := &repeat{b: raw}
	rd := newReader(src)
	if _, _, _, err := rd.response(); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, _, _, err := rd.response(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per response", allocs)
	}
}

// repeat yields b over and over.
type repeat struct {
	b   []byte
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}

func TestProcessCPU(t *testing.T) {
	before := ProcessCPU()
	if before == 0 {
		t.Skip("not measured on this platform")
	}
	// Spin until the process has used 10 ms more CPU: on a loaded machine
	// 20 ms of wall time may buy less, so the deadline is generous.
	for deadline := time.Now().Add(5 * time.Second); ProcessCPU() < before+10*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatalf("5 s of spinning: CPU went from %v to %v", before, ProcessCPU())
		}
	}
}
