// Package logtest is the conformance suite of limits.Log: every store
// behind the rolling windows (limits.MemoryLog, core/redis's EventLog)
// runs it, so that they answer alike.
//
// Times are whole milliseconds: a store may keep no finer ones (Redis
// keeps Unix milliseconds).
package logtest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"legacyauth/core/limits"
)

// T0 is the suite's clock: a fixed instant, whole milliseconds.
var T0 = time.Date(2026, 3, 1, 12, 59, 30, 0, time.UTC)

// Run runs every case of the suite, each as a subtest on a fresh Log
// from newLog (which may skip the test, and must keep each Log's keys
// apart from every other's).
func Run(t *testing.T, newLog func(t *testing.T) limits.Log) {
	for _, c := range []struct {
		name string
		f    func(*testing.T, limits.Log)
	}{
		{"Quota", testQuota},
		{"Window", testWindow},
		{"OutOfOrder", testOutOfOrder},
		{"Force", testForce},
		{"Backoff", testBackoff},
		{"BackoffLeavesWindow", testBackoffLeavesWindow},
		{"Return", testReturn},
		{"Clear", testClear},
		{"KeysApart", testKeysApart},
		{"Remember", testRemember},
		{"RememberMax", testRememberMax},
		{"ConcurrentTake", testConcurrentTake},
		{"ConcurrentTakeAndReturn", testConcurrentTakeAndReturn},
	} {
		t.Run(c.name, func(t *testing.T) { c.f(t, newLog(t)) })
	}
}

var ctx = context.Background()

// take takes an event with a fresh id and returns the verdict.
func take(t *testing.T, l limits.Log, key string, g limits.Gate, now time.Time) limits.Taken {
	t.Helper()
	res, err := l.Take(ctx, key, newID(), g, now)
	if err != nil {
		t.Fatalf("Take(%s) at %s: %v", key, now.Format("15:04:05.000"), err)
	}
	return res
}

var ids atomic.Int64

func newID() string { return "id" + strconv.FormatInt(ids.Add(1), 10) }

// wantTaken fails unless res admitted the event with count events in the
// window.
func wantTaken(t *testing.T, what string, res limits.Taken, count int64) {
	t.Helper()
	if !res.OK || res.Count != count {
		t.Fatalf("%s: %+v, want admitted with count %d", what, res, count)
	}
}

// wantRefused fails unless res refused the event, with count events in
// the window and the gate opening at retryAt.
func wantRefused(t *testing.T, what string, res limits.Taken, count int64, retryAt time.Time) {
	t.Helper()
	if res.OK || res.Count != count || !res.RetryAt.Equal(retryAt) {
		t.Fatalf("%s: OK %v, count %d, retry at %s; want refused, count %d, retry at %s",
			what, res.OK, res.Count, res.RetryAt.Format("15:04:05.000"), count, retryAt.Format("15:04:05.000"))
	}
}

// testQuota: a plain gate admits Quota events in any window, and refuses
// the next until the oldest leaves it.
func testQuota(t *testing.T, l limits.Log) {
	g := limits.Gate{Window: time.Hour, Quota: 3}
	for i := range 3 {
		wantTaken(t, fmt.Sprintf("event %d", i+1), take(t, l, "q", g, T0.Add(time.Duration(i)*time.Second)), int64(i+1))
	}
	wantRefused(t, "4th event", take(t, l, "q", g, T0.Add(10*time.Second)), 3, T0.Add(time.Hour))
	wantRefused(t, "a millisecond before the oldest leaves", take(t, l, "q", g, T0.Add(time.Hour-time.Millisecond)), 3, T0.Add(time.Hour))
	// A refusal records nothing: the gate opens when the oldest leaves.
	wantTaken(t, "when the oldest leaves", take(t, l, "q", g, T0.Add(time.Hour)), 3)
	wantRefused(t, "and the next", take(t, l, "q", g, T0.Add(time.Hour)), 3, T0.Add(time.Hour+time.Second))
}

// testWindow: an event counts for exactly the window after it happened,
// wherever the window falls (no fixed boundaries: T0 is 30 s before a
// whole hour).
func testWindow(t *testing.T, l limits.Log) {
	g := limits.Gate{Window: time.Minute, Quota: 1}
	wantTaken(t, "first", take(t, l, "w", g, T0), 1)
	wantRefused(t, "past the hour", take(t, l, "w", g, T0.Add(31*time.Second)), 1, T0.Add(time.Minute))
	wantRefused(t, "a millisecond before", take(t, l, "w", g, T0.Add(time.Minute-time.Millisecond)), 1, T0.Add(time.Minute))
	wantTaken(t, "a window later", take(t, l, "w", g, T0.Add(time.Minute)), 1)
}

// testOutOfOrder: events may arrive out of time order (instances, or
// goroutines that read the clock before they got the lock); each still
// leaves the window exactly its window after it happened, and the gate
// opens when the oldest leaves.
func testOutOfOrder(t *testing.T, l limits.Log) {
	g := limits.Gate{Window: time.Hour, Quota: 2}
	wantTaken(t, "at T0+10s", take(t, l, "o", g, T0.Add(10*time.Second)), 1)
	wantTaken(t, "at T0+5s, taken later", take(t, l, "o", g, T0.Add(5*time.Second)), 2)
	wantRefused(t, "full", take(t, l, "o", g, T0.Add(time.Minute)), 2, T0.Add(time.Hour+5*time.Second))
	wantTaken(t, "once the T0+5s event left", take(t, l, "o", g, T0.Add(time.Hour+7*time.Second)), 2)
	wantRefused(t, "full again", take(t, l, "o", g, T0.Add(time.Hour+7*time.Second)), 2, T0.Add(time.Hour+10*time.Second))
}

// testForce: a forced event (dry-run) is recorded even when refused, and
// counts against the next.
func testForce(t *testing.T, l limits.Log) {
	g := limits.Gate{Window: time.Hour, Quota: 1}
	f := g
	f.Force = true
	wantTaken(t, "first", take(t, l, "f", f, T0), 1)
	wantRefused(t, "forced second", take(t, l, "f", f, T0.Add(time.Minute)), 2, T0.Add(time.Hour))
	wantRefused(t, "unforced third", take(t, l, "f", g, T0.Add(time.Hour)), 1, T0.Add(time.Hour+time.Minute))
}

// testBackoff: past Quota, each event waits Backoff·2^(k-1), at most
// MaxBackoff, after the newest: the login back-off (1, 2, 4, 8, 15, 15
// minutes after 5 failures).
func testBackoff(t *testing.T, l limits.Log) {
	g := limits.Gate{Window: time.Hour, Quota: 5, Backoff: time.Minute, MaxBackoff: 15 * time.Minute}
	now := T0
	for i := range 5 {
		wantTaken(t, fmt.Sprintf("event %d", i+1), take(t, l, "b", g, now), int64(i+1))
	}
	for i, wait := range []time.Duration{1, 2, 4, 8, 15, 15} {
		wait *= time.Minute
		n := int64(5 + i)
		what := fmt.Sprintf("after %d events", n)
		wantRefused(t, what, take(t, l, "b", g, now), n, now.Add(wait))
		wantRefused(t, what+", a millisecond before the wait ends", take(t, l, "b", g, now.Add(wait-time.Millisecond)), n, now.Add(wait))
		now = now.Add(wait)
		wantTaken(t, what+", once the wait is over", take(t, l, "b", g, now), n+1)
	}
}

// testBackoffLeavesWindow: the back-off counts only the events still in
// the window, so it winds down as they leave; a fixed lock (Backoff ==
// MaxBackoff) is the code lock.
func testBackoffLeavesWindow(t *testing.T, l limits.Log) {
	g := limits.Gate{Window: time.Hour, Quota: 2, Backoff: 15 * time.Minute, MaxBackoff: 15 * time.Minute}
	wantTaken(t, "1", take(t, l, "c", g, T0), 1)
	wantTaken(t, "2", take(t, l, "c", g, T0.Add(time.Second)), 2)
	wantRefused(t, "3", take(t, l, "c", g, T0.Add(2*time.Second)), 2, T0.Add(time.Second+15*time.Minute))
	wantTaken(t, "3 after the lock", take(t, l, "c", g, T0.Add(time.Second+15*time.Minute)), 3)
	wantRefused(t, "4", take(t, l, "c", g, T0.Add(20*time.Minute)), 3, T0.Add(time.Second+30*time.Minute))
	// An hour and a second after T0 the first two have left: 1 event, under
	// the quota again.
	wantTaken(t, "once two have left", take(t, l, "c", g, T0.Add(time.Hour+time.Second)), 2)
}

// testReturn: a returned event no longer counts; returning an unknown
// id, or in an unknown key, is no error.
func testReturn(t *testing.T, l limits.Log) {
	g := limits.Gate{Window: time.Hour, Quota: 2}
	if _, err := l.Take(ctx, "r", "a", g, T0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Take(ctx, "r", "b", g, T0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "full", take(t, l, "r", g, T0.Add(time.Minute)), 2, T0.Add(time.Hour))
	if err := l.Return(ctx, "r", "a"); err != nil {
		t.Fatalf("Return: %v", err)
	}
	wantTaken(t, "after a Return", take(t, l, "r", g, T0.Add(time.Minute)), 2)
	// The oldest is now b: the gate opens when b leaves.
	wantRefused(t, "full again", take(t, l, "r", g, T0.Add(time.Minute)), 2, T0.Add(time.Hour+time.Second))
	for _, c := range [][2]string{{"r", "a"}, {"r", "nobody"}, {"nothing-here", "x"}} {
		if err := l.Return(ctx, c[0], c[1]); err != nil {
			t.Errorf("Return(%s, %s): %v, want nil", c[0], c[1], err)
		}
	}
	wantRefused(t, "a second Return of a changes nothing", take(t, l, "r", g, T0.Add(time.Minute)), 2, T0.Add(time.Hour+time.Second))
}

// testClear: Clear forgets one key's events, and only that key's.
func testClear(t *testing.T, l limits.Log) {
	g := limits.Gate{Window: time.Hour, Quota: 1, Backoff: time.Minute, MaxBackoff: time.Minute}
	wantTaken(t, "x", take(t, l, "x", g, T0), 1)
	wantTaken(t, "y", take(t, l, "y", g, T0), 1)
	if err := l.Clear(ctx, "x"); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	wantTaken(t, "x after Clear", take(t, l, "x", g, T0), 1)
	wantRefused(t, "y after x's Clear", take(t, l, "y", g, T0), 1, T0.Add(time.Minute))
	if err := l.Clear(ctx, "never-used"); err != nil {
		t.Errorf("Clear of an unknown key: %v", err)
	}
}

// testKeysApart: keys that share a prefix or differ only in a suffix are
// separate logs; sets and logs do not mix.
func testKeysApart(t *testing.T, l limits.Log) {
	g := limits.Gate{Window: time.Hour, Quota: 1}
	for _, k := range []string{"login_phone:+8613800000001", "login_phone:+8613800000001|a:192.0.2.1", "login_phone:+86138000000011", "login_ip:2001:db8:1:200::/56"} {
		wantTaken(t, k, take(t, l, k, g, T0), 1)
	}
	if err := l.Remember(ctx, "known:+8613800000001", "a:192.0.2.1", T0, time.Hour, 4); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "login_phone after a Remember elsewhere", take(t, l, "login_phone:+8613800000001", g, T0), 1, T0.Add(time.Hour))
}

func knows(t *testing.T, l limits.Log, key, member string, now time.Time, keep time.Duration) bool {
	t.Helper()
	ok, err := l.Knows(ctx, key, member, now, keep)
	if err != nil {
		t.Fatalf("Knows(%s, %s): %v", key, member, err)
	}
	return ok
}

// testRemember: a member is known for keep after it was last remembered,
// and only in its own key.
func testRemember(t *testing.T, l limits.Log) {
	keep := 30 * 24 * time.Hour
	if knows(t, l, "k", "d:dev", T0, keep) {
		t.Fatal("an empty set knows d:dev")
	}
	if err := l.Remember(ctx, "k", "d:dev", T0, keep, 16); err != nil {
		t.Fatalf("Remember: %v", err)
	}
	for _, c := range []struct {
		key, member string
		at          time.Time
		want        bool
	}{
		{"k", "d:dev", T0, true},
		{"k", "d:dev", T0.Add(keep - time.Millisecond), true},
		{"k", "d:dev", T0.Add(keep), false},
		{"k", "d:other", T0, false},
		{"k", "a:dev", T0, false},
		{"k2", "d:dev", T0, false},
	} {
		if got := knows(t, l, c.key, c.member, c.at, keep); got != c.want {
			t.Errorf("Knows(%s, %s) at T0+%v = %v, want %v", c.key, c.member, c.at.Sub(T0), got, c.want)
		}
	}
	// Remembering again renews the member.
	if err := l.Remember(ctx, "k", "d:dev", T0.Add(24*time.Hour), keep, 16); err != nil {
		t.Fatal(err)
	}
	if !knows(t, l, "k", "d:dev", T0.Add(keep), keep) {
		t.Error("a renewed member is forgotten at its first keep's end")
	}
	if knows(t, l, "k", "d:dev", T0.Add(keep+24*time.Hour), keep) {
		t.Error("a renewed member is known past its second keep")
	}
}

// testRememberMax: a set keeps only its max newest members; renewing one
// makes it the newest.
func testRememberMax(t *testing.T, l limits.Log) {
	keep := time.Hour
	remember := func(m string, at time.Time) {
		t.Helper()
		if err := l.Remember(ctx, "m", m, at, keep, 3); err != nil {
			t.Fatalf("Remember(%s): %v", m, err)
		}
	}
	for i, m := range []string{"a", "b", "c"} {
		remember(m, T0.Add(time.Duration(i)*time.Second))
	}
	remember("a", T0.Add(3*time.Second)) // a is the newest now
	remember("d", T0.Add(4*time.Second)) // b, the oldest, goes
	now := T0.Add(5 * time.Second)
	for m, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if got := knows(t, l, "m", m, now, keep); got != want {
			t.Errorf("Knows(%s) = %v, want %v", m, got, want)
		}
	}
	// Members older than keep leave too, and do not hold a place.
	remember("e", T0.Add(keep+2*time.Second)) // c (at T0+2s) left; a, d, e are kept
	now = T0.Add(keep + 2*time.Second)
	for m, want := range map[string]bool{"a": true, "b": false, "c": false, "d": true, "e": true} {
		if got := knows(t, l, "m", m, now, keep); got != want {
			t.Errorf("after keep: Knows(%s) = %v, want %v", m, got, want)
		}
	}
}

// testConcurrentTake: 200 goroutines, released together, take from a
// quota of 5: exactly 5 are admitted, whatever the interleaving.
func testConcurrentTake(t *testing.T, l limits.Log) {
	for _, g := range []limits.Gate{
		{Window: time.Hour, Quota: 5},
		{Window: time.Hour, Quota: 5, Backoff: time.Minute, MaxBackoff: 15 * time.Minute},
	} {
		key := fmt.Sprintf("conc-%d", g.Backoff)
		var ok, refused atomic.Int64
		together(200, func(int) {
			res, err := l.Take(ctx, key, newID(), g, T0)
			switch {
			case err != nil:
				t.Errorf("Take: %v", err)
			case res.OK:
				ok.Add(1)
			default:
				refused.Add(1)
			}
		})
		if ok.Load() != 5 || refused.Load() != 195 {
			t.Errorf("gate %+v: %d admitted, %d refused; want 5 and 195", g, ok.Load(), refused.Load())
		}
		res := take(t, l, key, g, T0)
		if res.OK || res.Count != 5 {
			t.Errorf("gate %+v afterwards: %+v, want refused with count 5", g, res)
		}
	}
}

// testConcurrentTakeAndReturn: goroutines that each take and give back
// (successful logins) never let more than Quota in at once.
func testConcurrentTakeAndReturn(t *testing.T, l limits.Log) {
	g := limits.Gate{Window: time.Hour, Quota: 3}
	var in, most atomic.Int64
	var admitted atomic.Int64
	together(100, func(int) {
		id := newID()
		res, err := l.Take(ctx, "tr", id, g, T0)
		if err != nil {
			t.Errorf("Take: %v", err)
			return
		}
		if !res.OK {
			return
		}
		admitted.Add(1)
		n := in.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		in.Add(-1)
		if err := l.Return(ctx, "tr", id); err != nil {
			t.Errorf("Return: %v", err)
		}
	})
	if most.Load() > 3 || admitted.Load() < 3 {
		t.Errorf("%d in at once at most, %d admitted in all; want at most 3 at once, at least 3 in all", most.Load(), admitted.Load())
	}
	wantTaken(t, "after every slot was given back", take(t, l, "tr", g, T0), 1)
}

// together runs f(0…n-1) in n goroutines that wait on one closed channel,
// so they start at once.
func together(n int, f func(int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}
