package main

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

// BenchmarkHandler serves BenchmarkGateway's cheap paths in-process: the
// production handler with no socket, no net/http server and no load
// generator, one request at a time. Its ns/op and allocs/op are the
// gateway's own cost per request, the part of the loopback ratio's gap
// this project controls, measured with far less noise than the ratio
// (which moves with the machine's neighbours).
func BenchmarkHandler(b *testing.B) {
	e := startPerfEnv(b, 100_000)
	token := e.token(b, 7)
	for _, c := range perfCheapPaths(e.gwAddr, token, 1) {
		b.Run(c.name, func(b *testing.B) {
			resp, want, err := perfRoundTrip(e.gwAddr, c.reqs[0])
			if err != nil {
				b.Fatal(err)
			}
			r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(c.reqs[0])))
			if err != nil {
				b.Fatal(err)
			}
			r.RemoteAddr = "127.0.0.1:40000"
			w := &perfDiscard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.status, w.body = 0, w.body[:0]
				e.app.Handler.ServeHTTP(w, r)
			}
			if w.status != resp.StatusCode || !bytes.Equal(w.body, want) {
				b.Fatalf("got %d %q; over loopback %d %q", w.status, w.body, resp.StatusCode, want)
			}
		})
	}
}

// perfDiscard is a ResponseWriter that keeps the status and a copy of
// the body, in a buffer it reuses. Not httptest.ResponseRecorder: it
// cannot be reset between iterations and clones the header map at
// WriteHeader, so its own allocations would be counted as the gateway's.
type perfDiscard struct {
	h      http.Header
	status int
	body   []byte
}

func (w *perfDiscard) Header() http.Header { return w.h }

func (w *perfDiscard) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *perfDiscard) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, p...)
	return len(p), nil
}
