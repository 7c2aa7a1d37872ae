package migrate

import (
	"bytes"
	"net/http"
)

// captureLimit bounds the copy of a reply kept to compare it.
const captureLimit = 64 << 10

// captureWriter passes a reply through and keeps its status and the start
// of its body.
type captureWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	body   bytes.Buffer
}

func (c *captureWriter) WriteHeader(code int) {
	if code >= 200 && !c.wrote {
		c.status, c.wrote = code, true
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if !c.wrote {
		c.status, c.wrote = http.StatusOK, true
	}
	if room := captureLimit - c.body.Len(); room > 0 {
		c.body.Write(b[:min(room, len(b))])
	}
	return c.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes).
func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// recorder is a ResponseWriter that keeps a reply instead of sending it:
// the old server's during lazy migration, the core's in a shadow replay.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if room := captureLimit - r.body.Len(); room > 0 {
		r.body.Write(b[:min(room, len(b))])
	}
	return len(b), nil
}

// statusWriter passes a reply through and keeps its status.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
