package gateway

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A client's X-Request-ID is kept only when it is a short token (a UUID,
// say); anything else (a phone number, spaces, a long text) is replaced
// by a generated id, in the reply and in the log line alike.
func TestClientRequestID(t *testing.T) {
	logs := &lockedBuffer{}
	g := New(Options{Mounts: []Mount{{Dialect: varsDialect{}, Prefix: "/p"}}, Log: slog.New(slog.NewJSONHandler(logs, nil))})
	srv := httptest.NewServer(g)
	defer srv.Close()
	for _, c := range []struct {
		id   string
		keep bool
	}{
		{"550e8400-e29b-41d4-a716-446655440000", true}, // its last group is 12 decimal digits
		{"f47ac10b-58cc-4372-a567-0e02b2c3d479", true},
		{"abc-123", true},
		{"req_2026.12.06-a", true},
		{strings.Repeat("a", 64), true},
		{"13800000001", false},      // a mainland mobile
		{"8613800000001", false},    // with the country code
		{"+8613800000001", false},   // E.164
		{"user-13800000001", false}, // inside a token
		{"abc 123", false},
		{"abc\t123", false},
		{strings.Repeat("a", 65), false},
		{strings.Repeat("a", 128), false},
		{`"},{"admin":true`, false},
		{"x;y", false},
	} {
		logs.mu.Lock()
		logs.b.Reset()
		logs.mu.Unlock()
		req, _ := http.NewRequest("GET", srv.URL+"/p/literal", nil)
		req.Header.Set("X-Request-ID", c.id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("X-Request-ID")
		var line struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(strings.TrimSpace(logs.String())), &line); err != nil {
			t.Fatalf("%q: log line %q: %v", c.id, logs.String(), err)
		}
		if line.RequestID != got {
			t.Errorf("%q: the log says %q, the reply %q", c.id, line.RequestID, got)
		}
		switch {
		case c.keep && got != c.id:
			t.Errorf("%q: replaced by %q", c.id, got)
		case !c.keep && (got == c.id || len(got) != 24 || got[:12] != string(idPrefix[:])):
			t.Errorf("%q: reply carries %q, want a generated id", c.id, got)
		case !c.keep && strings.Contains(logs.String(), "13800000001"):
			t.Errorf("%q: the phone reached the log: %s", c.id, logs.String())
		}
	}
}

// Checking a client's id allocates nothing: it runs on every request.
func TestClientRequestIDAllocs(t *testing.T) {
	for _, id := range []string{"550e8400-e29b-41d4-a716-446655440000", "13800000001", "abc 123"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Request-ID", id)
		var kept string
		if n := testing.AllocsPerRun(100, func() {
			if v := r.Header["X-Request-Id"]; len(v) > 0 && tokenID(v[0]) {
				kept = v[0]
			}
		}); n != 0 {
			t.Errorf("%q: %v allocations", id, n)
		}
		_ = kept
	}
}
