package redis

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"

	"legacyauth/core"
	"legacyauth/core/limits"
	"legacyauth/internal/testkit"
)

// TestLimiterCounts: Peek reads back exact counts, as core/limits's
// request limit reads them (under the quota MaxInt64), and a fresh key
// gets its rate's TTL.
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
	if d, err := s.client.PTTL(ctx, s.prefix+"limit:n").Result(); err != nil || d <= 0 || d > time.Hour {
		t.Errorf("PTTL = %v, %v; want the rate's period", d, err)
	}
	if _, err := ls.Reset(ctx, "n", rate); err != nil {
		t.Fatal(err)
	}
	if c, err := ls.Peek(ctx, "n", rate); err != nil || count(c) != 0 {
		t.Fatalf("Peek after Reset = %d, %v", count(c), err)
	}
	if _, err := ls.Increment(ctx, "m", 1, rate); err != nil {
		t.Fatal(err)
	}
	// Every key is under the prefix.
	if n := countKeys(t, s, s.prefix+"limit:*"); n != 1 {
		t.Fatalf("%d limiter keys under %slimit:; want 1", n, s.prefix)
	}
}

// instances are two gateway instances sharing one Redis (one prefix), on
// one clock.
type instances struct {
	a, b  *Store
	la    *limits.Limits
	lb    *limits.Limits
	cfg   limits.Config
	clock *testkit.Clock
}

func twoInstances(t *testing.T, edit func(*limits.Config)) *instances {
	t.Helper()
	a := openTest(t, Options{})
	b := openTest(t, Options{Prefix: a.prefix})
	cfg := limits.Defaults()
	if edit != nil {
		edit(&cfg)
	}
	// The ulule driver's windows expire by Redis's clock: keep the test's
	// near it.
	clock := testkit.NewClock(time.Now().UTC().Truncate(time.Hour).Add(time.Minute))
	return &instances{
		a: a, b: b, cfg: cfg, clock: clock,
		la: limits.New(a.LimiterStore(), a.EventLog(), cfg, clock.Now, quietLog()),
		lb: limits.New(b.LimiterStore(), b.EventLog(), cfg, clock.Now, quietLog()),
	}
}

// refusedBy fails unless err is rule's refusal asking to wait retry.
func refusedBy(t *testing.T, what string, err error, rule string, retry time.Duration) {
	t.Helper()
	if core.KindOf(err) != core.RateLimited || core.LimitOf(err) == nil || core.LimitOf(err).Name != rule || core.RetryAfterOf(err) != retry {
		t.Fatalf("%s: %v (retry %v); want refused by %s, retry %v", what, err, core.RetryAfterOf(err), rule, retry)
	}
}

func begin(t *testing.T, what string, l *limits.Limits, c context.Context, phone, device string) core.Attempt {
	t.Helper()
	a, err := l.BeginLogin(c, phone, device)
	if err != nil {
		t.Fatalf("%s: %v, want admitted", what, err)
	}
	return a
}

// TestLimitsOverRedis runs core/limits over Redis (the ulule driver for
// the request limit, EventLog for the rest) as two gateway instances:
// failures counted by one make the phone wait for the other, a success
// forgets only its own client's failures, code checks lock across
// instances, sends share one cooldown, and every key expires.
func TestLimitsOverRedis(t *testing.T) {
	in := twoInstances(t, nil)
	la, lb, cfg, clock := in.la, in.lb, in.cfg, in.clock
	const ph = "+8613800000040"
	c := core.WithClientIP(ctx, "203.0.113.7")
	stranger := core.WithClientIP(ctx, "198.51.100.1")

	for i := int64(1); i < cfg.LoginPhone.Quota; i++ {
		begin(t, fmt.Sprintf("login %d on a", i), la, c, ph, "").Failed(c)
		begin(t, fmt.Sprintf("after %d failures, on b", i), lb, c, ph, "").Cancel(c)
	}
	begin(t, "the quota-th failure", la, c, ph, "").Failed(c)
	_, err := lb.BeginLogin(c, ph, "")
	refusedBy(t, "b after the quota's failures", err, "login_phone", cfg.LoginWait)
	if n, err := in.a.client.ZCard(ctx, in.a.prefix+"rl:login_phone:"+ph).Result(); err != nil || n != cfg.LoginPhone.Quota {
		t.Errorf("the phone's failure log holds %d, %v; want %d", n, err, cfg.LoginPhone.Quota)
	}

	// The wait ends by the clock; the next failure doubles it.
	clock.Advance(cfg.LoginWait)
	begin(t, "after the wait, on b", lb, c, ph, "").Failed(c)
	_, err = la.BeginLogin(stranger, ph, "")
	refusedBy(t, "a after another failure", err, "login_phone", 2*cfg.LoginWait)

	// A success keeps the shared failures, and makes c known: from then on
	// c has a budget of its own on both instances.
	clock.Advance(2 * cfg.LoginWait)
	begin(t, "the owner, after the wait", la, c, ph, "").Succeeded(c)
	begin(t, "a stranger's one guess after the wait", lb, stranger, ph, "").Failed(stranger)
	_, err = la.BeginLogin(stranger, ph, "")
	refusedBy(t, "the stranger's next guess", err, "login_phone", 4*cfg.LoginWait)
	begin(t, "the owner again, on b", lb, c, ph, "").Succeeded(c)

	// Code checks lock after CodePhone.Quota+1 wrong codes.
	for i := range cfg.CodePhone.Quota + 1 {
		a, err := lb.BeginCodeCheck(stranger, ph)
		if err != nil {
			t.Fatalf("wrong code %d: %v", i+1, err)
		}
		a.Failed(stranger)
	}
	_, err = la.BeginCodeCheck(stranger, ph)
	refusedBy(t, "a code check after the wrong codes", err, "code_phone", cfg.CodeLock)
	clock.Advance(time.Minute)
	_, err = lb.BeginCodeCheck(stranger, ph)
	refusedBy(t, "a minute later, on b", err, "code_phone", cfg.CodeLock-time.Minute)

	// SMS sends are shared too: the cooldown admits one per minute.
	if err := la.AllowSend(stranger, ph); err != nil {
		t.Fatal(err)
	}
	if err := lb.AllowSend(core.WithClientIP(ctx, "198.51.100.2"), ph); core.KindOf(err) != core.RateLimited {
		t.Fatalf("second send from the other instance = %v; want RateLimited", err)
	}

	// Every key has a TTL.
	iter := in.a.client.Scan(ctx, 0, in.a.prefix+"*", 100).Iterator()
	keys := 0
	for iter.Next(ctx) {
		keys++
		if d, err := in.a.client.PTTL(ctx, iter.Val()).Result(); err != nil || d <= 0 {
			t.Errorf("key %s has PTTL %v, %v", iter.Val(), d, err)
		}
	}
	if err := iter.Err(); err != nil || keys == 0 {
		t.Fatalf("%d keys, %v", keys, err)
	}
	for _, l := range []*limits.Limits{la, lb} {
		for name, st := range l.Stats() {
			if n := st.StoreErrors.Load(); n != 0 {
				t.Errorf("%s: %d store errors", name, n)
			}
		}
	}
}

// TestLoginBurstOverRedis: 150 concurrent logins for one phone, spread
// over two instances and released together, get exactly 5 checks.
func TestLoginBurstOverRedis(t *testing.T) {
	in := twoInstances(t, nil)
	const ph = "+8613800000041"
	c := core.WithClientIP(ctx, "203.0.113.8")
	var admitted, refused atomic.Int64
	var attempts = make([]core.Attempt, 150)
	testkit.Together(150, func(i int) {
		l := in.la
		if i%2 == 1 {
			l = in.lb
		}
		a, err := l.BeginLogin(c, ph, "")
		switch {
		case err == nil:
			admitted.Add(1)
			attempts[i] = a
		case core.KindOf(err) == core.RateLimited:
			refused.Add(1)
		default:
			t.Errorf("login %d: %v", i, err)
		}
	})
	if admitted.Load() != 5 || refused.Load() != 145 {
		t.Fatalf("%d admitted, %d refused; want 5 and 145", admitted.Load(), refused.Load())
	}
	for _, a := range attempts {
		if a != nil {
			a.Failed(c)
		}
	}
	_, err := in.lb.BeginLogin(c, ph, "")
	refusedBy(t, "after the 5 failed", err, "login_phone", in.cfg.LoginWait)
}

// TestRequestLimitOverRedis: the request limit counts in the ulule
// driver's fixed windows, shared by the instances, with the IPv6 /48
// backstop.
func TestRequestLimitOverRedis(t *testing.T) {
	in := twoInstances(t, func(c *limits.Config) { c.Request, _ = limits.ParseRule("request", "2-M") })
	v4 := core.WithClientIP(ctx, "192.0.2.1")
	if err := in.la.AllowRequest(v4); err != nil {
		t.Fatal(err)
	}
	if err := in.lb.AllowRequest(v4); err != nil {
		t.Fatal(err)
	}
	if err := in.la.AllowRequest(v4); core.KindOf(err) != core.RateLimited {
		t.Fatalf("3rd request in the minute: %v, want RateLimited", err)
	}
	for i := range 4 {
		for j := range 2 {
			ip := fmt.Sprintf("2001:db8:1:%x00::%d", i+1, j+1)
			if err := in.lb.AllowRequest(core.WithClientIP(ctx, ip)); err != nil {
				t.Fatalf("%s: %v", ip, err)
			}
		}
	}
	if err := in.la.AllowRequest(core.WithClientIP(ctx, "2001:db8:1:500::1")); core.KindOf(err) != core.RateLimited {
		t.Fatalf("a fifth /56 in the /48: %v, want RateLimited", err)
	}
}
