package redis

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/internal/testkit"
)

func TestCodes(t *testing.T) {
	s := openTest(t, Options{})
	const ph = "+8613800000001"
	exp := t0.Add(5 * time.Minute)
	check := func(now time.Time, want core.CodeCheck, guesses ...string) {
		t.Helper()
		var macs [][32]byte
		for _, g := range guesses {
			macs = append(macs, mac(g))
		}
		got, err := s.CheckCode(ctx, ph, macs, now, 3)
		if err != nil || got != want {
			t.Fatalf("CheckCode(%v) = %v, %v; want %v", guesses, got, err, want)
		}
	}
	put := func() {
		t.Helper()
		if err := s.PutCode(ctx, &core.Code{Phone: ph, Purpose: core.PurposeRegister, MAC: mac("right"), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}

	check(t0, core.CodeNone, "right")
	put()
	check(t0, core.CodeMismatch, "wrong")
	check(t0, core.CodeMismatch) // no candidate at all: a wrong try too
	check(t0, core.CodeMatched, "wrong", "right")
	check(t0, core.CodeNone, "right") // consumed

	put()
	check(t0, core.CodeMatched, "right", "wrong") // any candidate, first or last

	// The maxAttempts-th wrong try burns the code; burned stays burned,
	// even for the right code, until the code expires or is replaced.
	put()
	check(t0, core.CodeMismatch, "w1")
	check(t0, core.CodeMismatch, "w2")
	check(t0, core.CodeBurned, "w3")
	check(t0, core.CodeBurned, "right")
	check(t0, core.CodeBurned, "w4")
	check(exp, core.CodeStale, "right")

	// A new code replaces a burned one and its attempts.
	put()
	check(t0, core.CodeMismatch, "w1")
	check(t0, core.CodeMismatch, "w2")
	check(t0, core.CodeMatched, "right")

	// Stale from ExpiresAt on, to the nanosecond; a stale check changes
	// nothing (no attempt counted, not consumed).
	put()
	check(exp.Add(-time.Nanosecond), core.CodeMismatch, "w1")
	check(exp, core.CodeStale, "right")
	check(exp.Add(time.Hour), core.CodeStale, "w2")
	check(exp.Add(-time.Nanosecond), core.CodeMismatch, "w2")
	check(exp.Add(-time.Nanosecond), core.CodeMatched, "right")

	// Codes of other phones are separate.
	put()
	if got, err := s.CheckCode(ctx, "+8613800000002", [][32]byte{mac("right")}, t0, 3); err != nil || got != core.CodeNone {
		t.Fatalf("other phone: %v, %v", got, err)
	}
	check(t0, core.CodeMatched, "right")
}

func TestCodeCarriesAttemptsAndBurned(t *testing.T) {
	s := openTest(t, Options{})
	const ph = "+8613800000003"
	exp := t0.Add(time.Minute)
	if err := s.PutCode(ctx, &core.Code{Phone: ph, MAC: mac("right"), ExpiresAt: exp, Attempts: 4}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.CheckCode(ctx, ph, [][32]byte{mac("x")}, t0, 5); err != nil || got != core.CodeBurned {
		t.Fatalf("5th try after 4 stored = %v, %v; want burned", got, err)
	}
	if err := s.PutCode(ctx, &core.Code{Phone: ph, MAC: mac("right"), ExpiresAt: exp, Burned: true}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.CheckCode(ctx, ph, [][32]byte{mac("right")}, t0, 5); err != nil || got != core.CodeBurned {
		t.Fatalf("stored burned = %v, %v; want burned", got, err)
	}
	// maxAttempts of 1 (or less) burns on the first wrong try.
	if err := s.PutCode(ctx, &core.Code{Phone: ph, MAC: mac("right"), ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.CheckCode(ctx, ph, [][32]byte{mac("x")}, t0, 1); err != nil || got != core.CodeBurned {
		t.Fatalf("maxAttempts 1 = %v, %v; want burned", got, err)
	}
}

// TestCheckCodeRace races many checks of the right code, as from several
// gateway instances: exactly one matches.
func TestCheckCodeRace(t *testing.T) {
	s := openTest(t, Options{})
	// A second Store over the same keys: another gateway instance.
	s2 := openTest(t, Options{Prefix: s.prefix})
	const ph, n = "+8613800000004", 64
	for round := range 5 {
		if err := s.PutCode(ctx, &core.Code{Phone: ph, MAC: mac("right"), ExpiresAt: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		var matched, none, other atomic.Int32
		testkit.Together(n, func(i int) {
			st := s
			if i%2 == 1 {
				st = s2
			}
			got, err := st.CheckCode(ctx, ph, [][32]byte{mac("wrong-purpose"), mac("right")}, t0, 3)
			switch {
			case err != nil:
				t.Error(err)
			case got == core.CodeMatched:
				matched.Add(1)
			case got == core.CodeNone:
				none.Add(1)
			default:
				other.Add(1)
			}
		})
		if matched.Load() != 1 || none.Load() != n-1 || other.Load() != 0 {
			t.Fatalf("round %d: %d matched, %d none, %d other; want exactly one match", round, matched.Load(), none.Load(), other.Load())
		}
	}
}

// TestWrongCodeRace races wrong guesses: every one is counted, so exactly
// maxAttempts-1 answer mismatch and the rest burned, and the right code
// is refused afterwards.
func TestWrongCodeRace(t *testing.T) {
	s := openTest(t, Options{})
	const ph, n, maxAttempts = "+8613800000005", 40, 5
	if err := s.PutCode(ctx, &core.Code{Phone: ph, MAC: mac("right"), ExpiresAt: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var mismatch, burned atomic.Int32
	testkit.Together(n, func(i int) {
		got, err := s.CheckCode(ctx, ph, [][32]byte{mac(fmt.Sprint("wrong", i))}, t0, maxAttempts)
		switch {
		case err != nil:
			t.Error(err)
		case got == core.CodeMismatch:
			mismatch.Add(1)
		case got == core.CodeBurned:
			burned.Add(1)
		default:
			t.Errorf("got %v", got)
		}
	})
	if mismatch.Load() != maxAttempts-1 || burned.Load() != n-maxAttempts+1 {
		t.Fatalf("%d mismatch, %d burned; want %d and %d", mismatch.Load(), burned.Load(), maxAttempts-1, n-maxAttempts+1)
	}
	if got, err := s.CheckCode(ctx, ph, [][32]byte{mac("right")}, t0, maxAttempts); err != nil || got != core.CodeBurned {
		t.Fatalf("right code after the burn = %v, %v", got, err)
	}
}

func TestTickets(t *testing.T) {
	s := openTest(t, Options{})
	const ph = "+8613800000006"
	exp := t0.Add(10 * time.Minute)
	h := mac("ticket")
	put := func(p core.Purpose, hash [32]byte) {
		t.Helper()
		if err := s.PutTicket(ctx, &core.Ticket{Hash: hash, Phone: ph, Purpose: p, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	take := func(p core.Purpose, hash *[32]byte, now time.Time, want bool) {
		t.Helper()
		err := s.TakeTicket(ctx, ph, p, hash, now)
		switch {
		case want && err != nil:
			t.Fatalf("TakeTicket(%v) = %v; want it taken", p, err)
		case !want && core.KindOf(err) != core.Unauthorized:
			t.Fatalf("TakeTicket(%v) = %v; want Unauthorized", p, err)
		}
	}
	wrong := mac("other")

	take(core.PurposeReset, &h, t0, false) // none
	put(core.PurposeReset, h)
	take(core.PurposeRegister, &h, t0, false) // another purpose
	take(core.PurposeAny, nil, t0, false)
	take(core.PurposeReset, &wrong, t0, false) // a wrong hash leaves it
	take(core.PurposeReset, &h, t0, true)
	take(core.PurposeReset, &h, t0, false) // one use
	take(core.PurposeReset, nil, t0, false)

	put(core.PurposeReset, h)
	take(core.PurposeReset, nil, t0, true) // nil: any hash
	take(core.PurposeReset, nil, t0, false)

	// Expired from ExpiresAt on, and then removed.
	put(core.PurposeRegister, h)
	take(core.PurposeRegister, &h, exp, false)
	take(core.PurposeRegister, &h, t0, false) // gone

	put(core.PurposeRegister, h)
	take(core.PurposeRegister, &h, exp.Add(-time.Nanosecond), true)

	// Replacing: the latest ticket of a phone and purpose wins.
	put(core.PurposeRegister, h)
	put(core.PurposeRegister, wrong)
	take(core.PurposeRegister, &h, t0, false)
	take(core.PurposeRegister, &wrong, t0, true)

	// Each purpose has its own ticket, unknown ones included.
	put(core.PurposeAny, h)
	put(core.PurposeRegister, h)
	put(core.Purpose(7), h)
	take(core.Purpose(8), nil, t0, false)
	take(core.PurposeAny, &h, t0, true)
	take(core.PurposeRegister, &h, t0, true)
	take(core.Purpose(7), &h, t0, true)
}

func TestTakeTicketRace(t *testing.T) {
	s := openTest(t, Options{})
	s2 := openTest(t, Options{Prefix: s.prefix})
	const ph, n = "+8613800000007", 64
	h := mac("ticket")
	for round := range 5 {
		if err := s.PutTicket(ctx, &core.Ticket{Hash: h, Phone: ph, Purpose: core.PurposeReset, ExpiresAt: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		var won, lost atomic.Int32
		testkit.Together(n, func(i int) {
			st, hash := s, &h
			if i%2 == 1 {
				st, hash = s2, nil
			}
			err := st.TakeTicket(ctx, ph, core.PurposeReset, hash, t0)
			switch {
			case err == nil:
				won.Add(1)
			case core.KindOf(err) == core.Unauthorized:
				lost.Add(1)
			default:
				t.Error(err)
			}
		})
		if won.Load() != 1 || lost.Load() != n-1 {
			t.Fatalf("round %d: %d won, %d lost; want exactly one winner", round, won.Load(), lost.Load())
		}
	}
}

func TestFlows(t *testing.T) {
	s := openTest(t, Options{})
	exp := t0.Add(30 * time.Minute)
	f := &core.Flow{ID: "cookie-1", Phone: "+8613800000008", ExpiresAt: exp}
	if _, err := s.Flow(ctx, f.ID, t0); core.KindOf(err) != core.NotFound {
		t.Fatalf("missing flow: %v", err)
	}
	if err := s.PutFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	got, err := s.Flow(ctx, f.ID, t0)
	if err != nil || *got != *f {
		t.Fatalf("Flow = %+v, %v; want %+v", got, err, f)
	}
	got.Phone = "changed" // the caller's copy
	if again, _ := s.Flow(ctx, f.ID, t0); again.Phone != f.Phone {
		t.Fatal("the returned flow is shared")
	}

	// Replace, with a ticket and an ExpiresAt in another zone.
	f2 := &core.Flow{ID: f.ID, Phone: f.Phone, Ticket: "tkt", ExpiresAt: exp.Add(time.Minute).In(time.FixedZone("CST", 8*3600))}
	if err := s.PutFlow(ctx, f2); err != nil {
		t.Fatal(err)
	}
	got, err = s.Flow(ctx, f.ID, exp) // the new expiry applies
	if err != nil || got.Ticket != "tkt" || !got.ExpiresAt.Equal(f2.ExpiresAt) || got.Phone != f.Phone || got.ID != f.ID {
		t.Fatalf("replaced flow = %+v, %v", got, err)
	}
	if _, err := s.Flow(ctx, f.ID, f2.ExpiresAt); core.KindOf(err) != core.NotFound {
		t.Fatalf("flow at its ExpiresAt: %v; want NotFound", err)
	}
	if _, err := s.Flow(ctx, f.ID, f2.ExpiresAt.Add(-time.Nanosecond)); err != nil {
		t.Fatalf("flow a nanosecond before expiry: %v", err)
	}

	if err := s.DeleteFlow(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Flow(ctx, f.ID, t0); core.KindOf(err) != core.NotFound {
		t.Fatalf("deleted flow: %v", err)
	}
	if err := s.DeleteFlow(ctx, f.ID); err != nil {
		t.Fatalf("deleting a missing flow: %v", err)
	}
}

func TestInvalid(t *testing.T) {
	s := openTest(t, Options{})
	for name, err := range map[string]error{
		"nil code":     s.PutCode(ctx, nil),
		"code phone":   s.PutCode(ctx, &core.Code{}),
		"nil ticket":   s.PutTicket(ctx, nil),
		"ticket phone": s.PutTicket(ctx, &core.Ticket{}),
		"nil flow":     s.PutFlow(ctx, nil),
		"flow id":      s.PutFlow(ctx, &core.Flow{Phone: "+8613800000009"}),
	} {
		if core.KindOf(err) != core.Invalid {
			t.Errorf("%s: %v; want Invalid", name, err)
		}
	}
	if n := countKeys(t, s, s.prefix+"*"); n != 0 {
		t.Fatalf("%d keys written by invalid calls", n)
	}
}

// TestTTL checks that every record expires in Redis: exactly at ExpiresAt
// by Options.Now (codes a minute later, to answer "stale"), and a minute
// from now when that clock is past ExpiresAt.
func TestTTL(t *testing.T) {
	clock := testkit.NewClock(t0)
	s := openTest(t, Options{Now: clock.Now})
	const ph = "+8613800000010"
	pttl := func(key string) time.Duration {
		t.Helper()
		d, err := s.client.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	near := func(what string, got, want time.Duration) {
		t.Helper()
		if got > want || got < want-5*time.Second {
			t.Errorf("%s: PTTL %v; want about %v", what, got, want)
		}
	}
	if err := s.PutCode(ctx, &core.Code{Phone: ph, MAC: mac("c"), ExpiresAt: t0.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTicket(ctx, &core.Ticket{Phone: ph, Purpose: core.PurposeReset, Hash: mac("t"), ExpiresAt: t0.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFlow(ctx, &core.Flow{ID: "f", Phone: ph, ExpiresAt: t0.Add(30 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	near("code", pttl(s.codeKey(ph)), 5*time.Minute+staleFor)
	near("ticket", pttl(s.ticketKey(ph, core.PurposeReset)), 10*time.Minute)
	near("flow", pttl(s.flowKey("f")), 30*time.Minute)

	// A wrong try keeps the code's TTL.
	if _, err := s.CheckCode(ctx, ph, [][32]byte{mac("x")}, t0, 3); err != nil {
		t.Fatal(err)
	}
	near("code after a try", pttl(s.codeKey(ph)), 5*time.Minute+staleFor)

	// Records written already expired by the store's clock live a minute.
	clock.Advance(time.Hour)
	if err := s.PutCode(ctx, &core.Code{Phone: ph, MAC: mac("c"), ExpiresAt: t0.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTicket(ctx, &core.Ticket{Phone: ph, Purpose: core.PurposeReset, Hash: mac("t"), ExpiresAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFlow(ctx, &core.Flow{ID: "f", Phone: ph, ExpiresAt: t0}); err != nil {
		t.Fatal(err)
	}
	near("expired code", pttl(s.codeKey(ph)), staleFor)
	near("expired ticket", pttl(s.ticketKey(ph, core.PurposeReset)), staleFor)
	near("expired flow", pttl(s.flowKey("f")), staleFor)
	if got, err := s.CheckCode(ctx, ph, [][32]byte{mac("c")}, clock.Now(), 3); err != nil || got != core.CodeStale {
		t.Fatalf("expired code = %v, %v; want stale", got, err)
	}

	// Whatever the test's clock, nothing is kept without a TTL.
	iter := s.client.Scan(ctx, 0, s.prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		if d := pttl(iter.Val()); d <= 0 {
			t.Errorf("a key has no TTL (%v)", d)
		}
	}
}

// TestKeyLayout pins the documented key names, which operators rely on.
func TestKeyLayout(t *testing.T) {
	s := &Store{prefix: "gateway:"}
	for got, want := range map[string]string{
		s.codeKey("+8613800000000"):                      "gateway:code:+8613800000000",
		s.ticketKey("+8613800000000", core.PurposeReset): "gateway:ticket:reset:+8613800000000",
		s.ticketKey("+8613800000000", core.Purpose(9)):   "gateway:ticket:9:+8613800000000",
		s.flowKey("abc"):                                 "gateway:flow:abc",
	} {
		if got != want {
			t.Errorf("key %q; want %q", got, want)
		}
	}
	if !strings.HasPrefix(defaultPrefix, "gateway:") {
		t.Fatal("the default prefix changed")
	}
}
