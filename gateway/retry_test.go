package gateway

import (
	"net/http/httptest"
	"testing"
	"time"

	"legacyauth/core"
)

func TestSetRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", time.Second: "1", 1001 * time.Millisecond: "2", time.Minute: "60"} {
		rec := httptest.NewRecorder()
		SetRetryAfter(rec, &core.Error{Kind: core.RateLimited, RetryAfter: d})
		if got := rec.Header().Get("Retry-After"); got != want {
			t.Errorf("RetryAfter %v: header %q, want %q", d, got, want)
		}
	}
	rec := httptest.NewRecorder()
	SetRetryAfter(rec, core.E("x", core.CodeWrong, ""))
	if got := rec.Header().Get("Retry-After"); got != "" {
		t.Errorf("a CodeWrong reply got Retry-After %q", got)
	}
	// A request shed for want of a hash slot asks for a wait; a store
	// that did not answer does not.
	rec = httptest.NewRecorder()
	SetRetryAfter(rec, core.Wrap("outer", core.Internal, &core.Error{Kind: core.Unavailable, RetryAfter: time.Second}))
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Errorf("a shed reply got Retry-After %q, want 1", got)
	}
	rec = httptest.NewRecorder()
	SetRetryAfter(rec, core.E("x", core.Unavailable, "store down"))
	if got := rec.Header().Get("Retry-After"); got != "" {
		t.Errorf("a store failure got Retry-After %q", got)
	}
}
