package redis

import (
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/core/limits"
	"legacyauth/core/storetest"
)

func TestAdminContract(t *testing.T) {
	testURL(t)
	storetest.EphemeralAdmin(t, func(t *testing.T) core.EphemeralStore { return openTest(t, Options{}) })
}

// Peek and Members answer as MemoryLog's do, for the same events.
func TestInspectorMatchesMemory(t *testing.T) {
	testURL(t)
	r := openTest(t, Options{}).EventLog()
	m := limits.NewMemoryLog()
	now := time.UnixMilli(time.Now().UnixMilli())
	g := limits.Gate{Window: time.Hour, Quota: 2, Backoff: time.Minute, MaxBackoff: 15 * time.Minute}
	for _, l := range []limits.Log{r, m} {
		for i, id := range []string{"a", "b", "c"} {
			if _, err := l.Take(ctx, "k", id, limits.Gate{Window: time.Hour, Quota: 10}, now.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Remember(ctx, "known", "d:x", now, time.Hour, 16); err != nil {
			t.Fatal(err)
		}
	}
	at := now.Add(10 * time.Second)
	for _, l := range []limits.Log{r, m} {
		in := l.(limits.Inspector)
		got, err := in.Peek(ctx, "k", g, at)
		if err != nil {
			t.Fatal(err)
		}
		want := limits.Taken{OK: false, Count: 3, RetryAt: now.Add(2*time.Second + 2*time.Minute)}
		if got.OK != want.OK || got.Count != want.Count || !got.RetryAt.Equal(want.RetryAt) {
			t.Fatalf("%T: Peek = %+v, want %+v", l, got, want)
		}
		if again, _ := in.Peek(ctx, "k", g, at); again.Count != 3 {
			t.Fatalf("%T: Peek recorded an event: %+v", l, again)
		}
		ms, err := in.Members(ctx, "known", at, time.Hour)
		if err != nil || len(ms) != 1 || ms[0] != "d:x" {
			t.Fatalf("%T: Members = %v, %v", l, ms, err)
		}
	}
}
