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
}
