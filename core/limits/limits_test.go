package limits_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"

	"legacyauth/core"
	"legacyauth/core/limits"
	"legacyauth/internal/testkit"
)

// start is a whole hour (and not a whole day), so that every window of a
// test begins with it and Retry-After values are round.
var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	*limits.Limits
	cfg   limits.Config
	clock *testkit.Clock
	log   *testkit.Buffer
}

// newEnv builds Limits over store (a fresh MemoryStore on the same clock when nil) with the
// defaults changed by edit, on a test clock reading start.
func newEnv(t *testing.T, store limiter.Store, edit func(c *limits.Config)) *env {
	t.Helper()
	cfg := limits.Defaults()
	if edit != nil {
		edit(&cfg)
	}
	e := &env{cfg: cfg, clock: testkit.NewClock(start), log: &testkit.Buffer{}}
	if store == nil {
		store = limits.NewMemoryStore(e.clock.Now)
	}
	e.Limits = limits.New(store, cfg, e.clock.Now, slog.New(slog.NewJSONHandler(e.log, nil)))
	return e
}

// rule parses a rule, failing the test on error.
func rule(t *testing.T, name, s string) limits.Rule {
	t.Helper()
	r, err := limits.ParseRule(name, s)
	if err != nil {
		t.Fatalf("ParseRule(%q, %q): %v", name, s, err)
	}
	return r
}

// from is a request context whose client address is ip.
func from(ip string) context.Context { return core.WithClientIP(context.Background(), ip) }

// ctx is the client address of tests whose subject is a phone.
var ctx = from("192.0.2.1")

// wantOK fails unless err is nil.
func wantOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v, want allowed", what, err)
	}
}

// wantLimited fails unless err is a RateLimited refusal by r asking to
// wait exactly retry.
func wantLimited(t *testing.T, what string, err error, r limits.Rule, retry time.Duration) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: allowed, want refused by %s", what, r.Name)
	}
	if k := core.KindOf(err); k != core.RateLimited {
		t.Fatalf("%s: %v (kind %v), want rate_limited", what, err, k)
	}
	l := core.LimitOf(err)
	if l == nil {
		t.Fatalf("%s: %v carries no Limit", what, err)
	}
	if want := (core.Limit{Name: r.Name, Quota: r.Quota, Window: r.Window}); *l != want {
		t.Fatalf("%s: Limit = %+v, want %+v", what, *l, want)
	}
	if got := core.RetryAfterOf(err); got != retry {
		t.Fatalf("%s: RetryAfter = %v, want %v", what, got, retry)
	}
}

func phone(i int) string { return fmt.Sprintf("+86138%08d", i) }

func TestParseRule(t *testing.T) {
	for _, c := range []struct {
		in     string
		quota  int64
		window time.Duration
		off    bool
		dry    bool
		str    string
	}{
		{"5-H", 5, time.Hour, false, false, "5-H"},
		{"1-M", 1, time.Minute, false, false, "1-M"},
		{"1200-M", 1200, time.Minute, false, false, "1200-M"},
		{"10-D", 10, 24 * time.Hour, false, false, "10-D"},
		{"3-S", 3, time.Second, false, false, "3-S"},
		{"5-h", 5, time.Hour, false, false, "5-H"}, // limiter reads the period case-insensitively
		{"  20-H\t", 20, time.Hour, false, false, "20-H"},
		{"off", 0, 0, true, false, "off"},
		{" off ", 0, 0, true, false, "off"},
		{"dry-run:1-M", 1, time.Minute, false, true, "dry-run:1-M"},
		{"dry-run:100-H", 100, time.Hour, false, true, "dry-run:100-H"},
	} {
		r, err := limits.ParseRule("x", c.in)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", c.in, err)
			continue
		}
		if r.Name != "x" || r.Quota != c.quota || r.Window != c.window || r.Off != c.off || r.DryRun != c.dry {
			t.Errorf("ParseRule(%q) = %+v", c.in, r)
		}
		if got := r.String(); got != c.str {
			t.Errorf("ParseRule(%q).String() = %q, want %q", c.in, got, c.str)
		}
		back, err := limits.ParseRule("x", r.String())
		if err != nil || back != r {
			t.Errorf("round trip of %q: %+v, %v; want %+v", c.in, back, err, r)
		}
	}
	for _, in := range []string{"", "5", "H", "5-", "-H", "0-H", "-1-H", "5-W", "5-H-1", "five-H", "5 -H", "1.5-H", "OFF", "on", "dry-run:", "dry-run:off", "dry-run:0-M", "dryrun:5-H", "5-H;", "99999999999999999999-H"} {
		if r, err := limits.ParseRule("x", in); err == nil {
			t.Errorf("ParseRule(%q) = %+v, want an error", in, r)
		}
	}
}

// TestDefaults: the documented defaults (README, "Limits"), each of which
// renders as its setting and parses back.
func TestDefaults(t *testing.T) {
	c := limits.Defaults()
	want := map[string]string{
		"request": "1200-M", "sms_cooldown": "1-M", "sms_phone": "5-H", "sms_phone_day": "10-D", "sms_ip": "20-H",
		"code_phone": "10-H", "login_phone": "5-H", "login_ip": "50-H", "lookup_ip": "100-H", "upload_ip": "30-H",
	}
	rules := c.Rules()
	if len(rules) != len(want) {
		t.Fatalf("%d rules, want %d", len(rules), len(want))
	}
	for _, r := range rules {
		if got, ok := want[r.Name]; !ok || r.String() != got {
			t.Errorf("rule %s = %q, want %q", r.Name, r.String(), got)
		}
		if r.About == "" {
			t.Errorf("rule %s has no About", r.Name)
		}
		back, err := limits.ParseRule(r.Name, r.String())
		if back.About = r.About; err != nil || back != *r {
			t.Errorf("rule %s does not round-trip: %+v, %v", r.Name, back, err)
		}
	}
	if c.CodeLock != 15*time.Minute || c.LoginWait != time.Minute || c.LoginMaxWait != 15*time.Minute {
		t.Errorf("CodeLock %v, LoginWait %v, LoginMaxWait %v; want 15m, 1m, 15m", c.CodeLock, c.LoginWait, c.LoginMaxWait)
	}
	stats := newEnv(t, nil, nil).Stats()
	for name := range want {
		if stats[name] == nil {
			t.Errorf("Stats() has no %s", name)
		}
	}
}

func TestRequestLimit(t *testing.T) {
	e := newEnv(t, nil, func(c *limits.Config) { c.Request = rule(t, "request", "3-M") })
	e.clock.Advance(10 * time.Second)
	a, b := from("198.51.100.7"), from("198.51.100.8")
	for i := range 3 {
		wantOK(t, fmt.Sprintf("request %d", i+1), e.AllowRequest(a))
	}
	wantLimited(t, "4th request in the minute", e.AllowRequest(a), e.cfg.Request, 50*time.Second)
	wantOK(t, "another address", e.AllowRequest(b))
	e.clock.Advance(49*time.Second + 500*time.Millisecond)
	wantLimited(t, "half a second before the window ends", e.AllowRequest(a), e.cfg.Request, time.Second) // at least 1 s
	e.clock.Advance(500 * time.Millisecond)
	wantOK(t, "next window", e.AllowRequest(a))
	if got := e.Stats()["request"].Rejected.Load(); got != 2 {
		t.Errorf("request Rejected = %d, want 2", got)
	}
}

func TestSMSCooldown(t *testing.T) {
	e := newEnv(t, nil, nil)
	p := phone(1)
	wantOK(t, "first send", e.AllowSend(ctx, p))
	wantLimited(t, "second send at once", e.AllowSend(ctx, p), e.cfg.SMSCooldown, time.Minute)
	wantOK(t, "another phone", e.AllowSend(ctx, phone(2)))
	e.clock.Advance(59 * time.Second)
	wantLimited(t, "second send after 59 s", e.AllowSend(from("203.0.113.9"), p), e.cfg.SMSCooldown, time.Second)
	e.clock.Advance(time.Second)
	wantOK(t, "second send after 60 s", e.AllowSend(ctx, p))
}

func TestSMSPhoneHourly(t *testing.T) {
	e := newEnv(t, nil, nil)
	p := phone(1)
	for i := range 5 {
		// A new address each time: the budget is the phone's.
		wantOK(t, fmt.Sprintf("send %d", i+1), e.AllowSend(from(fmt.Sprintf("198.51.100.%d", i+1)), p))
		e.clock.Advance(time.Minute)
	}
	wantLimited(t, "6th send in the hour", e.AllowSend(from("198.51.100.99"), p), e.cfg.SMSPhone, 55*time.Minute)
	e.clock.Advance(time.Minute)
	wantLimited(t, "7th send in the hour", e.AllowSend(ctx, p), e.cfg.SMSPhone, 54*time.Minute)
	e.clock.Set(start.Add(time.Hour))
	wantOK(t, "next hour", e.AllowSend(ctx, p))
}

func TestSMSPhoneDaily(t *testing.T) {
	e := newEnv(t, nil, nil)
	midnight := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	e.clock.Set(midnight)
	p := phone(1)
	for h := range 2 {
		for m := range 5 {
			e.clock.Set(midnight.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute))
			wantOK(t, fmt.Sprintf("hour %d, send %d", h, m+1), e.AllowSend(from(fmt.Sprintf("198.51.%d.%d", h, m)), p))
		}
	}
	e.clock.Set(midnight.Add(2 * time.Hour))
	wantLimited(t, "11th send in the day", e.AllowSend(ctx, p), e.cfg.SMSPhoneDay, 22*time.Hour)
	e.clock.Set(midnight.Add(24 * time.Hour))
	wantOK(t, "next day", e.AllowSend(ctx, p))
}

func TestSMSPerAddress(t *testing.T) {
	e := newEnv(t, nil, nil)
	for i := range 20 {
		wantOK(t, fmt.Sprintf("phone %d", i+1), e.AllowSend(ctx, phone(i)))
	}
	wantLimited(t, "21st phone from one address", e.AllowSend(ctx, phone(20)), e.cfg.SMSAddress, time.Hour)
	e.clock.Advance(time.Minute)
	wantLimited(t, "22nd phone from one address", e.AllowSend(ctx, phone(21)), e.cfg.SMSAddress, 59*time.Minute)
	wantOK(t, "a phone from another address", e.AllowSend(from("192.0.2.2"), phone(22)))
	e.clock.Set(start.Add(time.Hour))
	wantOK(t, "next hour", e.AllowSend(ctx, phone(23)))
}

// TestSMSRefusalOrder: the cooldown is checked first, so retries it
// refuses do not spend the hourly budget.
func TestSMSRefusalOrder(t *testing.T) {
	e := newEnv(t, nil, nil)
	p := phone(1)
	for m := range 5 {
		wantOK(t, fmt.Sprintf("send in minute %d", m), e.AllowSend(ctx, p))
		for i := range 10 {
			e.clock.Advance(time.Second)
			wantLimited(t, fmt.Sprintf("retry %d in minute %d", i+1, m), e.AllowSend(ctx, p), e.cfg.SMSCooldown, time.Duration(59-i)*time.Second)
		}
		e.clock.Set(start.Add(time.Duration(m+1) * time.Minute))
	}
	wantLimited(t, "6th send in the hour", e.AllowSend(ctx, p), e.cfg.SMSPhone, 55*time.Minute)
	s := e.Stats()
	if got := s["sms_cooldown"].Rejected.Load(); got != 50 {
		t.Errorf("sms_cooldown Rejected = %d, want 50", got)
	}
	if got := s["sms_phone"].Rejected.Load(); got != 1 {
		t.Errorf("sms_phone Rejected = %d, want 1", got)
	}
}

// TestSMSAddressRefusalSpendsNoPhoneBudget: a send the per-address limit
// refuses sends nothing, so it must not spend the phone's budget either;
// otherwise one address over its quota keeps any phone it names from
// receiving codes (cooldown, then the hourly and daily budgets) without a
// single SMS being sent.
func TestSMSAddressRefusalSpendsNoPhoneBudget(t *testing.T) {
	e := newEnv(t, nil, func(c *limits.Config) { c.SMSAddress = rule(t, "sms_ip", "1-H") })
	attacker, victim := from("203.0.113.66"), from("198.51.100.1")
	wantOK(t, "the attacker's one send", e.AllowSend(attacker, phone(0)))
	p := phone(1)
	for m := range 5 {
		e.clock.Set(start.Add(time.Duration(m) * time.Minute))
		wantLimited(t, fmt.Sprintf("attacker's send %d to the victim's phone", m+1), e.AllowSend(attacker, p), e.cfg.SMSAddress, time.Hour-time.Duration(m)*time.Minute)
	}
	e.clock.Set(start.Add(5 * time.Minute))
	wantOK(t, "the phone's owner asking for its first code", e.AllowSend(victim, p))
}

// TestCodeLock: ten wrong codes per phone in the hour are fine; the 11th
// locks the phone's code checks for 15 minutes.
func TestCodeLock(t *testing.T) {
	e := newEnv(t, nil, nil)
	p := phone(1)
	for i := range 10 {
		wantOK(t, fmt.Sprintf("check after %d failures", i), e.AllowCodeCheck(ctx, p))
		e.CodeCheckFailed(ctx, p)
		e.clock.Advance(time.Second)
	}
	wantOK(t, "check after 10 failures", e.AllowCodeCheck(ctx, p))
	e.CodeCheckFailed(ctx, p) // the 11th, at 12:00:10
	wantLimited(t, "check after 11 failures", e.AllowCodeCheck(ctx, p), e.cfg.CodePhone, 15*time.Minute)
	wantLimited(t, "check from another address", e.AllowCodeCheck(from("198.51.100.1"), p), e.cfg.CodePhone, 15*time.Minute)
	wantOK(t, "another phone", e.AllowCodeCheck(ctx, phone(2)))
	e.clock.Advance(15*time.Minute - time.Second)
	wantLimited(t, "a second before the lock ends", e.AllowCodeCheck(ctx, p), e.cfg.CodePhone, time.Second)
	e.clock.Advance(time.Second)
	wantOK(t, "after 15 minutes", e.AllowCodeCheck(ctx, p))
	e.CodeCheckFailed(ctx, p) // the 12th in the hour: locked again
	wantLimited(t, "check after the 12th failure", e.AllowCodeCheck(ctx, p), e.cfg.CodePhone, 15*time.Minute)
	if got := e.Stats()["code_phone"].Rejected.Load(); got != 4 {
		t.Errorf("code_phone Rejected = %d, want 4", got)
	}
	e.clock.Set(start.Add(time.Hour)) // a new window: the count starts over, the lock is gone
	wantOK(t, "next hour", e.AllowCodeCheck(ctx, p))
}

// TestLoginBackoff: from the 5th failure on, the phone waits 1, 2, 4, 8,
// then 15 minutes (the cap) after each failure.
func TestLoginBackoff(t *testing.T) {
	e := newEnv(t, nil, nil)
	p := phone(1)
	for i := range 4 {
		wantOK(t, fmt.Sprintf("login after %d failures", i), e.AllowLogin(ctx, p))
		e.LoginFailed(ctx, p)
	}
	wantOK(t, "login after 4 failures", e.AllowLogin(ctx, p))
	for i, wait := range []time.Duration{1, 2, 4, 8, 15, 15} {
		wait *= time.Minute
		e.LoginFailed(ctx, p)
		what := fmt.Sprintf("after failure %d", i+5)
		wantLimited(t, what, e.AllowLogin(ctx, p), e.cfg.LoginPhone, wait)
		wantLimited(t, what+", from another address", e.AllowLogin(from("198.51.100.1"), p), e.cfg.LoginPhone, wait)
		wantOK(t, what+", another phone", e.AllowLogin(ctx, phone(2)))
		e.clock.Advance(wait - time.Second)
		wantLimited(t, what+", a second before the wait ends", e.AllowLogin(ctx, p), e.cfg.LoginPhone, time.Second)
		e.clock.Advance(time.Second)
		wantOK(t, what+", once the wait is over", e.AllowLogin(ctx, p))
	}
	if got := e.Stats()["login_phone"].Rejected.Load(); got != 18 {
		t.Errorf("login_phone Rejected = %d, want 18", got)
	}
}

// TestLoginSuccessResets: a successful login forgets the failures, so the
// back-off starts over at 1 minute.
func TestLoginSuccessResets(t *testing.T) {
	e := newEnv(t, nil, nil)
	p := phone(1)
	for range 5 {
		e.LoginFailed(ctx, p)
	}
	wantLimited(t, "after 5 failures", e.AllowLogin(ctx, p), e.cfg.LoginPhone, time.Minute)
	e.clock.Advance(time.Minute)
	wantOK(t, "after the wait", e.AllowLogin(ctx, p))
	e.LoginSucceeded(ctx, p)
	for i := range 4 {
		e.LoginFailed(ctx, p)
		wantOK(t, fmt.Sprintf("after the success and %d failures", i+1), e.AllowLogin(ctx, p))
	}
	e.LoginFailed(ctx, p)
	wantLimited(t, "after the success and 5 failures", e.AllowLogin(ctx, p), e.cfg.LoginPhone, time.Minute)
	e.clock.Advance(time.Minute)
	wantOK(t, "after the success, 5 failures and a minute", e.AllowLogin(ctx, p))
}

// TestLoginPerAddress: failures from one address across many phones
// (password spraying) refuse that address's logins for the window.
func TestLoginPerAddress(t *testing.T) {
	e := newEnv(t, nil, func(c *limits.Config) { c.LoginAddr = rule(t, "login_ip", "3-H") })
	e.clock.Advance(20 * time.Minute)
	for i := range 3 {
		wantOK(t, fmt.Sprintf("login %d", i+1), e.AllowLogin(ctx, phone(i)))
		e.LoginFailed(ctx, phone(i))
	}
	wantLimited(t, "a 4th phone from the address", e.AllowLogin(ctx, phone(3)), e.cfg.LoginAddr, 40*time.Minute)
	wantLimited(t, "a phone that failed once", e.AllowLogin(ctx, phone(0)), e.cfg.LoginAddr, 40*time.Minute)
	wantOK(t, "the same phone from another address", e.AllowLogin(from("198.51.100.1"), phone(3)))
	e.LoginSucceeded(ctx, phone(0)) // forgets the phone's failures, not the address's
	wantLimited(t, "after a success", e.AllowLogin(ctx, phone(3)), e.cfg.LoginAddr, 40*time.Minute)
	e.clock.Set(start.Add(time.Hour))
	wantOK(t, "next hour", e.AllowLogin(ctx, phone(3)))
}

func TestLookupPerAddress(t *testing.T) {
	e := newEnv(t, nil, nil)
	for i := range 100 {
		wantOK(t, fmt.Sprintf("look-up %d", i+1), e.AllowLookup(ctx))
	}
	wantLimited(t, "101st look-up", e.AllowLookup(ctx), e.cfg.LookupAddr, time.Hour)
	wantOK(t, "another address", e.AllowLookup(from("192.0.2.2")))
	e.clock.Set(start.Add(time.Hour))
	wantOK(t, "next hour", e.AllowLookup(ctx))
}

// TestAddressGrouping: IPv6 clients count per /64; an IPv4-mapped IPv6
// address is its IPv4 address.
func TestAddressGrouping(t *testing.T) {
	e := newEnv(t, nil, func(c *limits.Config) { c.Request = rule(t, "request", "2-M") })
	wantOK(t, "1st in 2001:db8:1:2::/64", e.AllowRequest(from("2001:db8:1:2::1")))
	wantOK(t, "2nd in 2001:db8:1:2::/64", e.AllowRequest(from("2001:db8:1:2:ffff:ffff:ffff:fffe")))
	wantLimited(t, "3rd in 2001:db8:1:2::/64", e.AllowRequest(from("2001:db8:1:2:abcd::9")), e.cfg.Request, time.Minute)
	wantOK(t, "the next /64", e.AllowRequest(from("2001:db8:1:3::1")))
	wantOK(t, "the neighbouring /64 below", e.AllowRequest(from("2001:db8:1:1:ffff:ffff:ffff:ffff")))

	wantOK(t, "192.0.2.10", e.AllowRequest(from("192.0.2.10")))
	wantOK(t, "::ffff:192.0.2.10", e.AllowRequest(from("::ffff:192.0.2.10")))
	wantLimited(t, "192.0.2.10 a third time", e.AllowRequest(from("192.0.2.10")), e.cfg.Request, time.Minute)
	wantOK(t, "192.0.2.11", e.AllowRequest(from("192.0.2.11")))
}

// TestDryRun: a dry-run rule counts and logs what it would refuse, and
// never refuses.
func TestDryRun(t *testing.T) {
	e := newEnv(t, nil, func(c *limits.Config) {
		for _, r := range c.Rules() {
			*r = rule(t, r.Name, "dry-run:1-H")
		}
	})
	p := phone(1)
	for i := range 3 {
		what := fmt.Sprintf("attempt %d", i+1)
		wantOK(t, what+": request", e.AllowRequest(ctx))
		wantOK(t, what+": send", e.AllowSend(ctx, p))
		wantOK(t, what+": look-up", e.AllowLookup(ctx))
		wantOK(t, what+": code check", e.AllowCodeCheck(ctx, p))
		e.CodeCheckFailed(ctx, p)
		wantOK(t, what+": login", e.AllowLogin(ctx, p))
		e.LoginFailed(ctx, p)
	}
	// Count-based rules (each SMS rule too: a dry-run refusal goes on to
	// the next): attempts 2 and 3. The code lock sets in at the 2nd failure
	// (quota 1), checked at attempt 3. The login wait sets in at the 1st
	// failure, checked at attempts 2 and 3, as is the address's quota of
	// failures.
	want := map[string]int64{"request": 2, "sms_cooldown": 2, "sms_phone": 2, "sms_phone_day": 2, "sms_ip": 2, "lookup_ip": 2, "code_phone": 1, "login_phone": 2, "login_ip": 2}
	for name, s := range e.Stats() {
		if got := s.DryRunHits.Load(); got != want[name] {
			t.Errorf("%s: DryRunHits = %d, want %d", name, got, want[name])
		}
		if got := s.Rejected.Load(); got != 0 {
			t.Errorf("%s: Rejected = %d under dry-run", name, got)
		}
	}
	log := e.log.String()
	if n := strings.Count(log, "rate limit dry-run: would refuse"); n != 17 {
		t.Errorf("%d dry-run lines in the log, want 17:\n%s", n, log)
	}
	if strings.Contains(log, p) || strings.Contains(log, core.LocalPhone(p)) {
		t.Errorf("the log names the phone:\n%s", log)
	}
	if !strings.Contains(log, core.MaskPhone(p)) {
		t.Errorf("the log does not name the masked phone %s:\n%s", core.MaskPhone(p), log)
	}
}

// TestOff: an off rule is not counted at all: it never refuses and never
// touches the store.
func TestOff(t *testing.T) {
	store := &failingStore{inner: limits.NewMemoryStore(nil), fail: func(string) bool { return true }}
	e := newEnv(t, store, func(c *limits.Config) {
		for _, r := range c.Rules() {
			*r = rule(t, r.Name, "off")
		}
	})
	p := phone(1)
	for i := range 30 {
		what := fmt.Sprintf("attempt %d", i+1)
		wantOK(t, what+": request", e.AllowRequest(ctx))
		wantOK(t, what+": send", e.AllowSend(ctx, p))
		wantOK(t, what+": look-up", e.AllowLookup(ctx))
		wantOK(t, what+": code check", e.AllowCodeCheck(ctx, p))
		e.CodeCheckFailed(ctx, p)
		wantOK(t, what+": login", e.AllowLogin(ctx, p))
		e.LoginFailed(ctx, p)
	}
	e.LoginSucceeded(ctx, p)
	if n := store.calls.Load(); n != 0 {
		t.Errorf("off rules called the store %d times", n)
	}
	for name, s := range e.Stats() {
		if s.Rejected.Load()+s.DryRunHits.Load()+s.StoreErrors.Load() != 0 {
			t.Errorf("%s counted something while off", name)
		}
	}
}

// TestOneRuleOff: turning one rule off leaves the others enforced.
func TestOneRuleOff(t *testing.T) {
	e := newEnv(t, nil, func(c *limits.Config) { c.SMSCooldown = rule(t, "sms_cooldown", "off") })
	p := phone(1)
	for i := range 5 {
		wantOK(t, fmt.Sprintf("send %d without a cooldown", i+1), e.AllowSend(ctx, p))
	}
	wantLimited(t, "6th send", e.AllowSend(ctx, p), e.cfg.SMSPhone, time.Hour)
}

// failingStore is a failure injector: it answers an error for every key
// fail matches and passes the others to inner.
type failingStore struct {
	inner limiter.Store
	fail  func(key string) bool
	calls atomic.Int64
}

var errDown = errors.New("limiter store down")

func (s *failingStore) do(key string, f func() (limiter.Context, error)) (limiter.Context, error) {
	s.calls.Add(1)
	if s.fail(key) {
		return limiter.Context{}, errDown
	}
	return f()
}

func (s *failingStore) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return s.do(key, func() (limiter.Context, error) { return s.inner.Get(ctx, key, rate) })
}

func (s *failingStore) Peek(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return s.do(key, func() (limiter.Context, error) { return s.inner.Peek(ctx, key, rate) })
}

func (s *failingStore) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return s.do(key, func() (limiter.Context, error) { return s.inner.Reset(ctx, key, rate) })
}

func (s *failingStore) Increment(ctx context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	return s.do(key, func() (limiter.Context, error) { return s.inner.Increment(ctx, key, count, rate) })
}

// TestStoreFailure: with a store that fails every call nothing panics,
// SMS sends fail closed (Unavailable), everything else fails open, and
// each failure is counted and logged.
func TestStoreFailure(t *testing.T) {
	e := newEnv(t, &failingStore{fail: func(string) bool { return true }}, nil)
	p := phone(1)
	for i := range 3 {
		wantOK(t, "request", e.AllowRequest(ctx))
		err := e.AllowSend(ctx, p)
		if k := core.KindOf(err); err == nil || k != core.Unavailable {
			t.Fatalf("send %d: %v (kind %v), want unavailable (fail closed)", i+1, err, k)
		}
		if !errors.Is(err, errDown) {
			t.Errorf("send: %v does not wrap the store's error", err)
		}
		wantOK(t, "look-up", e.AllowLookup(ctx))
		wantOK(t, "code check", e.AllowCodeCheck(ctx, p))
		e.CodeCheckFailed(ctx, p)
		wantOK(t, "login", e.AllowLogin(ctx, p))
		e.LoginFailed(ctx, p)
		e.LoginSucceeded(ctx, p)
	}
	// Per round: request 1; sms_cooldown 1 (the first step fails, the
	// others are not asked); lookup_ip 1; code_phone 2 (the check, the
	// failure); login_phone 3 (the check, the failure, the success);
	// login_ip 2 (the check, the failure).
	want := map[string]int64{"request": 3, "sms_cooldown": 3, "lookup_ip": 3, "code_phone": 6, "login_phone": 9, "login_ip": 6}
	for name, s := range e.Stats() {
		if got := s.StoreErrors.Load(); got != want[name] {
			t.Errorf("%s: StoreErrors = %d, want %d", name, got, want[name])
		}
		if got := s.Rejected.Load(); got != 0 {
			t.Errorf("%s: Rejected = %d, want 0", name, got)
		}
	}
	if n := strings.Count(e.log.String(), "rate limiter store failed"); n != 30 {
		t.Errorf("%d store failures logged, want 30", n)
	}
}

// TestPartialStoreFailure: a failure in any step of a send fails it
// closed, even after the phone's rules passed; a failure writing or
// reading a lock fails open.
func TestPartialStoreFailure(t *testing.T) {
	t.Run("sms_ip", func(t *testing.T) {
		e := newEnv(t, &failingStore{inner: limits.NewMemoryStore(nil), fail: func(k string) bool { return strings.HasPrefix(k, "sms_ip:") }}, nil)
		if err := e.AllowSend(ctx, phone(1)); core.KindOf(err) != core.Unavailable {
			t.Fatalf("send: %v, want unavailable", err)
		}
		wantOK(t, "request", e.AllowRequest(ctx))
		if got := e.Stats()["sms_ip"].StoreErrors.Load(); got != 1 {
			t.Errorf("sms_ip StoreErrors = %d, want 1", got)
		}
	})
	t.Run("locks", func(t *testing.T) {
		e := newEnv(t, &failingStore{inner: limits.NewMemoryStore(nil), fail: func(k string) bool { return strings.Contains(k, ":lock:") }}, nil)
		p := phone(1)
		for range 11 {
			e.CodeCheckFailed(ctx, p)
		}
		wantOK(t, "code check with the lock unreadable", e.AllowCodeCheck(ctx, p))
		for range 5 {
			e.LoginFailed(ctx, p)
		}
		wantOK(t, "login with the lock unreadable", e.AllowLogin(ctx, p))
		s := e.Stats()
		if got := s["code_phone"].StoreErrors.Load(); got != 2 { // the write, the read
			t.Errorf("code_phone StoreErrors = %d, want 2", got)
		}
		if got := s["login_phone"].StoreErrors.Load(); got != 2 {
			t.Errorf("login_phone StoreErrors = %d, want 2", got)
		}
	})
}

// TestConcurrentSends: of many simultaneous sends to one phone, from many
// addresses, exactly one passes the cooldown.
func TestConcurrentSends(t *testing.T) {
	e := newEnv(t, nil, nil)
	const n = 64
	var allowed, limited atomic.Int64
	testkit.Together(n, func(i int) {
		err := e.AllowSend(from(fmt.Sprintf("198.51.100.%d", i)), phone(1))
		switch {
		case err == nil:
			allowed.Add(1)
		case core.KindOf(err) == core.RateLimited && core.LimitOf(err).Name == "sms_cooldown":
			limited.Add(1)
		default:
			t.Errorf("send %d: %v", i, err)
		}
	})
	if allowed.Load() != 1 || limited.Load() != n-1 {
		t.Errorf("%d allowed and %d refused by the cooldown, want 1 and %d", allowed.Load(), limited.Load(), n-1)
	}
}

// TestNoClientIP: requests whose address is unknown share one bucket
// rather than each getting a fresh one.
func TestNoClientIP(t *testing.T) {
	e := newEnv(t, nil, func(c *limits.Config) { c.Request = rule(t, "request", "2-M") })
	wantOK(t, "no address", e.AllowRequest(context.Background()))
	wantOK(t, "a garbage address", e.AllowRequest(from("not-an-ip")))
	wantLimited(t, "no address again", e.AllowRequest(from("")), e.cfg.Request, time.Minute)
}

func TestUploadLimit(t *testing.T) {
	cfg := limits.Defaults()
	cfg.UploadAddr, _ = limits.ParseRule("upload_ip", "2-H")
	clock := testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := limits.New(limits.NewMemoryStore(nil), cfg, clock.Now, nil)
	ctx := core.WithClientIP(context.Background(), "192.0.2.10")
	for i := range 2 {
		if err := l.AllowUpload(ctx); err != nil {
			t.Fatalf("upload %d refused: %v", i+1, err)
		}
	}
	if err := l.AllowUpload(ctx); core.KindOf(err) != core.RateLimited {
		t.Fatalf("third upload in the hour: %v, want RateLimited", err)
	}
	if err := l.AllowUpload(core.WithClientIP(context.Background(), "192.0.2.11")); err != nil {
		t.Fatalf("another address refused: %v", err)
	}
	clock.Advance(time.Hour)
	if err := l.AllowUpload(ctx); err != nil {
		t.Fatalf("next hour refused: %v", err)
	}
}
