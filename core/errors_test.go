package core_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"legacyauth/core"
)

// The accessors find an *Error directly, through fmt.Errorf's %w and
// through Wrap, and answer the zero value for other errors.
func TestErrorAccessors(t *testing.T) {
	lim := &core.Limit{}
	e := &core.Error{Kind: core.RateLimited, RetryAfter: 2 * time.Second, Limit: lim}
	for _, err := range []error{e, fmt.Errorf("ctx: %w", e), core.Wrap("outer", core.Internal, e), errors.Join(errors.New("x"), e)} {
		if k := core.KindOf(err); k != core.RateLimited {
			t.Errorf("KindOf(%v) = %v", err, k)
		}
		if d := core.RetryAfterOf(err); d != 2*time.Second {
			t.Errorf("RetryAfterOf(%v) = %v", err, d)
		}
		if l := core.LimitOf(err); l != lim {
			t.Errorf("LimitOf(%v) = %v", err, l)
		}
	}
	for _, err := range []error{nil, errors.New("plain"), fmt.Errorf("ctx: %w", errors.New("plain")), (*core.Error)(nil)} {
		if k, d, l := core.KindOf(err), core.RetryAfterOf(err), core.LimitOf(err); k != core.Internal || d != 0 || l != nil {
			t.Errorf("%v: KindOf %v, RetryAfterOf %v, LimitOf %v", err, k, d, l)
		}
	}
	if n := testing.AllocsPerRun(100, func() { core.KindOf(e) }); n != 0 {
		t.Errorf("KindOf(*Error) allocates %v times", n)
	}
}

// TestParseKind: every kind's name parses back to it; other names do not.
func TestParseKind(t *testing.T) {
	for _, k := range core.Kinds() {
		if got, ok := core.ParseKind(k.String()); !ok || got != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", k.String(), got, ok, k)
		}
	}
	for _, name := range []string{"", "ok", "kind(99)", "Invalid"} {
		if k, ok := core.ParseKind(name); ok {
			t.Errorf("ParseKind(%q) = %v, want none", name, k)
		}
	}
}
