package core_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"legacyauth/core"
)

type traceKey struct{}

// Config.TraceHash is told of each hash and check, with the caller's
// context, and its end is called once each ends.
func TestTraceHash(t *testing.T) {
	var mu sync.Mutex
	var started, ended []string
	h := newHarness(t, func(c *core.Config) {
		c.TraceHash = func(ctx context.Context, op string) func() {
			mu.Lock()
			defer mu.Unlock()
			if ctx.Value(traceKey{}) == "login" {
				started = append(started, op)
			}
			return func() {
				mu.Lock()
				defer mu.Unlock()
				ended = append(ended, op)
			}
		}
	})
	h.register(t, phoneN(1), "password1", "d")
	if !slices.Equal(ended, []string{"hash"}) {
		t.Fatalf("registration: ended %v, want one hash", ended)
	}
	ctx := context.WithValue(context.Background(), traceKey{}, "login")
	if _, err := h.svc.Login(ctx, core.LoginRequest{Phone: phoneN(1), Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.Login(ctx, core.LoginRequest{Phone: phoneN(2), Password: "password1"}) // unknown: the dummy check
	wantKind(t, err, core.NotRegistered)
	if !slices.Equal(started, []string{"verify", "verify"}) || !slices.Equal(ended, []string{"hash", "verify", "verify"}) {
		t.Fatalf("started %v ended %v; want two checks with the login's context", started, ended)
	}
}
