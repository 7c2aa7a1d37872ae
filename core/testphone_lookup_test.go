package core_test

import (
	"context"
	"testing"

	"legacyauth/core"
)

// lookupCounter is a Guard that counts registration look-ups and allows
// everything.
type lookupCounter struct{ lookups int }

func (g *lookupCounter) AllowLookup(context.Context) error     { g.lookups++; return nil }
func (*lookupCounter) AllowSend(context.Context, string) error { return nil }
func (*lookupCounter) AllowUpload(context.Context) error       { return nil }
func (*lookupCounter) BeginCodeCheck(context.Context, string) (core.Attempt, error) {
	return noAttempt{}, nil
}
func (*lookupCounter) BeginLogin(context.Context, string, string) (core.Attempt, error) {
	return noAttempt{}, nil
}

type noAttempt struct{}

func (noAttempt) Succeeded(context.Context) {}
func (noAttempt) Failed(context.Context)    {}
func (noAttempt) Cancel(context.Context)    {}

// Test numbers are exempt from the per-address look-up limit (whether one
// is registered tells nothing about a user; contract verify looks up many
// from one address); every other phone is still counted.
func TestTestPhonesSkipLookupLimit(t *testing.T) {
	guard := &lookupCounter{}
	h := newHarness(t, func(c *core.Config) {
		c.TestPhones = []core.TestPhone{{Pattern: "+8613800000xxx", Code: "246810"}}
		c.Guard = guard
	})
	ctx := context.Background()
	test, real := "13800000123", phoneN(7001)
	for _, phone := range []string{test, real} {
		guard.lookups = 0
		if _, err := h.svc.IsRegistered(ctx, phone); err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.SendCode(ctx, core.SendCodeRequest{Phone: phone, Purpose: core.PurposeRegister, Dialect: "test"}); err != nil {
			t.Fatal(err)
		}
		code := "246810"
		if phone == real {
			code = h.sms.Last()
		}
		if _, err := h.svc.Register(ctx, core.RegisterRequest{Phone: phone, Password: "abc12345", Proof: core.Proof{Code: code}}); err != nil {
			t.Fatalf("register %s: %v", phone, err)
		}
		want := 3
		if phone == test {
			want = 0
		}
		if guard.lookups != want {
			t.Errorf("%s: %d look-ups counted, want %d", phone, guard.lookups, want)
		}
	}
}
