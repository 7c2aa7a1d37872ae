package redis

import (
	"testing"
	"time"

	"legacyauth/core/limits"
	"legacyauth/core/limits/logtest"
)

// TestEventLog runs the Log conformance suite on the Redis EventLog, each
// case under a fresh key prefix.
func TestEventLog(t *testing.T) {
	testURL(t)
	logtest.Run(t, func(t *testing.T) limits.Log { return openTest(t, Options{}).EventLog() })
}

// TestEventLogKeys: every key is under the prefix's "rl:" and expires:
// an event log when its window (and back-off) has passed, a set of known
// clients after keep.
func TestEventLogKeys(t *testing.T) {
	s := openTest(t, Options{})
	l := s.EventLog()
	g := limits.Gate{Window: time.Hour, Quota: 5, Backoff: time.Minute, MaxBackoff: 15 * time.Minute}
	if _, err := l.Take(ctx, "login_phone:+8613800000001", "e1", g, t0); err != nil {
		t.Fatal(err)
	}
	if err := l.Remember(ctx, "known:+8613800000001", "d:dev", t0, 30*24*time.Hour, 16); err != nil {
		t.Fatal(err)
	}
	for key, most := range map[string]time.Duration{
		"login_phone:+8613800000001": time.Hour + 15*time.Minute,
		"known:+8613800000001":       30 * 24 * time.Hour,
	} {
		d, err := s.client.PTTL(ctx, s.prefix+"rl:"+key).Result()
		if err != nil || d <= 0 || d > most {
			t.Errorf("PTTL of rl:%s = %v, %v; want in (0, %v]", key, d, err, most)
		}
	}
	if n := countKeys(t, s, s.prefix+"*"); n != 2 {
		t.Errorf("%d keys under the prefix, want 2", n)
	}
	if err := l.Clear(ctx, "login_phone:+8613800000001"); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, s.prefix+"rl:login_phone:*"); n != 0 {
		t.Errorf("%d keys left after Clear", n)
	}
}

// TestEventLogUnavailable: a closed store answers errors, not panics or
// verdicts.
func TestEventLogUnavailable(t *testing.T) {
	s := openTest(t, Options{})
	l := s.EventLog()
	s.Close()
	if _, err := l.Take(ctx, "k", "id", limits.Gate{Window: time.Hour, Quota: 1}, t0); err == nil {
		t.Error("Take on a closed store: no error")
	}
	if _, err := l.Knows(ctx, "k", "m", t0, time.Hour); err == nil {
		t.Error("Knows on a closed store: no error")
	}
	for name, err := range map[string]error{
		"Return":   l.Return(ctx, "k", "id"),
		"Clear":    l.Clear(ctx, "k"),
		"Remember": l.Remember(ctx, "k", "m", t0, time.Hour, 1),
	} {
		if err == nil {
			t.Errorf("%s on a closed store: no error", name)
		}
	}
}
