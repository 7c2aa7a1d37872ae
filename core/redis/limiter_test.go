package redis

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"

	"legacyauth/core"
	"legacyauth/core/limits"
	"legacyauth/internal/testkit"
)

// TestLimiterCounts: Peek reads back exact counts, including the large
// ones core/limits stores as lock deadlines, and a fresh key incremented
// by any count gets its rate's TTL.
func TestLimiterCounts(t *testing.T) {
	s := openTest(t, Options{})
	ls := s.LimiterStore()
	rate := limiter.Rate{Period: time.Hour, Limit: math.MaxInt64}
	count := func(c limiter.Context) int64 { return math.MaxInt64 - c.Remaining }

	if c, err := ls.Peek(ctx, "n", rate); err != nil || count(c) != 0 {
		t.Fatalf("Peek of nothing = %d, %v", count(c), err)
	}
	for i := int64(1); i <= 7; i++ {
		c, err := ls.Increment(ctx, "n", 1, rate)
		if err != nil || count(c) != i {
			t.Fatalf("Increment #%d = %d, %v", i, count(c), err)
		}
	}
	if c, err := ls.Peek(ctx, "n", rate); err != nil || count(c) != 7 {
		t.Fatalf("Peek = %d, %v; want 7", count(c), err)
	}
	if c, err := ls.Increment(ctx, "n", 5, rate); err != nil || count(c) != 12 {
		t.Fatalf("Increment by 5 = %d, %v; want 12", count(c), err)
	}

	deadline := time.Date(2026, 11, 21, 15, 4, 5, 999_000_000, time.UTC).UnixMilli()
	if _, err := ls.Reset(ctx, "lock", rate); err != nil {
		t.Fatal(err)
	}
	if c, err := ls.Increment(ctx, "lock", deadline, rate); err != nil || count(c) != deadline {
		t.Fatalf("Increment by a deadline = %d, %v; want %d", count(c), err, deadline)
	}
	if c, err := ls.Peek(ctx, "lock", limiter.Rate{Period: time.Minute, Limit: math.MaxInt64}); err != nil || count(c) != deadline {
		t.Fatalf("Peek of a deadline = %d, %v; want %d", count(c), err, deadline)
	}
	for _, k := range []string{"n", "lock"} {
		d, err := s.client.PTTL(ctx, s.prefix+"limit:"+k).Result()
		if err != nil || d <= 0 || d > time.Hour {
			t.Errorf("PTTL of %s = %v, %v; want the rate's period", k, d, err)
		}
	}
	if _, err := ls.Reset(ctx, "n", rate); err != nil {
		t.Fatal(err)
	}
	if c, err := ls.Peek(ctx, "n", rate); err != nil || count(c) != 0 {
		t.Fatalf("Peek after Reset = %d, %v", count(c), err)
	}
	// Every key is under the prefix.
	if n := countKeys(t, s, s.prefix+"limit:*"); n != 1 {
		t.Fatalf("%d limiter keys under %slimit:; want 1", n, s.prefix)
	}
}

// TestLimitsOverRedis runs core/limits over the Redis driver, as two
// gateway instances: failures counted by one lock the phone for the other,
// and the lock's key expires.
func TestLimitsOverRedis(t *testing.T) {
	a := openTest(t, Options{})
	b := openTest(t, Options{Prefix: a.prefix})
	clock := testkit.NewClock(time.Now().UTC().Truncate(time.Hour).Add(time.Minute))
	cfg := limits.Defaults()
	la := limits.New(a.LimiterStore(), cfg, clock.Now, quietLog())
	lb := limits.New(b.LimiterStore(), cfg, clock.Now, quietLog())
	const ph = "+8613800000040"
	c := core.WithClientIP(ctx, "203.0.113.7")

	for i := int64(1); i < cfg.LoginPhone.Quota; i++ {
		la.LoginFailed(c, ph)
		if err := lb.AllowLogin(c, ph); err != nil {
			t.Fatalf("after %d failures: %v", i, err)
		}
	}
	if n := countKeys(t, a, a.prefix+"limit:login_phone:lock:*"); n != 0 {
		t.Fatalf("%d lock keys below the threshold", n)
	}
	la.LoginFailed(c, ph) // the quota-th failure: the phone waits LoginWait
	err := lb.AllowLogin(c, ph)
	if core.KindOf(err) != core.RateLimited {
		t.Fatalf("AllowLogin after %d failures = %v; want RateLimited", cfg.LoginPhone.Quota, err)
	}
	if ra := core.RetryAfterOf(err); ra != cfg.LoginWait {
		t.Errorf("RetryAfter = %v; want %v", ra, cfg.LoginWait)
	}

	// The lock deadline was stored by Increment on a fresh key with a large
	// count: the driver's script gave it a TTL.
	iter := a.client.Scan(ctx, 0, a.prefix+"limit:login_phone:lock:*", 100).Iterator()
	locks := 0
	for iter.Next(ctx) {
		locks++
		d, err := a.client.PTTL(ctx, iter.Val()).Result()
		if err != nil || d <= 0 {
			t.Errorf("lock key PTTL = %v, %v; want > 0", d, err)
		}
		v, err := a.client.Get(ctx, iter.Val()).Int64()
		if want := clock.Now().Add(cfg.LoginWait).UnixMilli(); err != nil || v != want {
			t.Errorf("lock deadline = %d, %v; want %d", v, err, want)
		}
	}
	if err := iter.Err(); err != nil || locks != 1 {
		t.Fatalf("%d lock keys, %v; want 1", locks, err)
	}
	// Every limiter key has a TTL.
	iter = a.client.Scan(ctx, 0, a.prefix+"limit:*", 100).Iterator()
	for iter.Next(ctx) {
		if d, err := a.client.PTTL(ctx, iter.Val()).Result(); err != nil || d <= 0 {
			t.Errorf("a limiter key has PTTL %v, %v", d, err)
		}
		if strings.Contains(iter.Val(), "::") {
			t.Errorf("key %q has an empty segment", iter.Val())
		}
	}

	// The wait ends by the clock; the next failure doubles it.
	clock.Advance(cfg.LoginWait)
	if err := lb.AllowLogin(c, ph); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
	lb.LoginFailed(c, ph)
	if err := la.AllowLogin(c, ph); core.RetryAfterOf(err) != 2*cfg.LoginWait {
		t.Fatalf("after another failure: %v; want a wait of %v", err, 2*cfg.LoginWait)
	}
	// A success restarts the count for every instance.
	la.LoginSucceeded(c, ph)
	if err := lb.AllowLogin(c, ph); err != nil {
		t.Fatalf("after a success: %v", err)
	}

	// Code checks lock after CodePhone.Quota+1 wrong codes.
	for range cfg.CodePhone.Quota + 1 {
		lb.CodeCheckFailed(c, ph)
	}
	if err := la.AllowCodeCheck(c, ph); core.KindOf(err) != core.RateLimited || core.RetryAfterOf(err) != cfg.CodeLock {
		t.Fatalf("AllowCodeCheck after %d wrong codes = %v; want a lock of %v", cfg.CodePhone.Quota+1, err, cfg.CodeLock)
	}

	// SMS sends are shared too: the cooldown admits one per minute.
	if err := la.AllowSend(c, ph); err != nil {
		t.Fatal(err)
	}
	if err := lb.AllowSend(c, ph); core.KindOf(err) != core.RateLimited {
		t.Fatalf("second send from the other instance = %v; want RateLimited", err)
	}
	for name, st := range la.Stats() {
		if n := st.StoreErrors.Load(); n != 0 {
			t.Errorf("%s: %d store errors", name, n)
		}
	}
}
