package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Ids the gateway makes are 24 lower-case hex digits, distinct, sharing
// the process's prefix; a client's token id is kept (TestClientRequestID
// has the rule).
func TestRequestID(t *testing.T) {
	seen := map[string]bool{}
	r := httptest.NewRequest("GET", "/", nil)
	for range 1000 {
		id := requestID(r)
		if len(id) != 24 || id[:12] != string(idPrefix[:]) {
			t.Fatalf("id %q: want 24 hex digits starting with %s", id, idPrefix[:])
		}
		for _, c := range id {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				t.Fatalf("id %q: not hex", id)
			}
		}
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
	}
	r.Header.Set("X-Request-ID", "abc-123")
	if id := requestID(r); id != "abc-123" {
		t.Errorf("client id not kept: %q", id)
	}
	r.Header.Set("X-Request-ID", "abc 123")
	if id := requestID(r); id == "abc 123" {
		t.Errorf("id with a space kept")
	}
}

// A shared header value survives Add, Set and Del on a reply's header.
func TestHeaderValueShared(t *testing.T) {
	v := HeaderValue("no-store")
	h := http.Header{"Cache-Control": v}
	h.Add("Cache-Control", "private")
	h2 := http.Header{"Cache-Control": v}
	h2.Set("Cache-Control", "max-age=1")
	h2.Del("Cache-Control")
	if len(v) != 1 || cap(v) != 1 || v[0] != "no-store" {
		t.Fatalf("shared value changed: %q (cap %d)", v, cap(v))
	}
	if got := h.Values("Cache-Control"); len(got) != 2 || got[0] != "no-store" || got[1] != "private" {
		t.Fatalf("Add on a shared value: %q", got)
	}
}
