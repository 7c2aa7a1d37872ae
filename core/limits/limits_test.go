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

// newEnv builds Limits over a fresh MemoryStore and MemoryLog with the
// defaults changed by edit, on a test clock reading start.
func newEnv(t *testing.T, edit func(c *limits.Config)) *env {
	t.Helper()
	return newEnvOver(t, nil, nil, edit)
}

// newEnvOver is newEnv over store and events (fresh memory ones on the
// same clock when nil).
func newEnvOver(t *testing.T, store limiter.Store, events limits.Log, edit func(c *limits.Config)) *env {
	t.Helper()
	cfg := limits.Defaults()
	if edit != nil {
		edit(&cfg)
	}
	e := &env{cfg: cfg, clock: testkit.NewClock(start), log: &testkit.Buffer{}}
	if store == nil {
		store = limits.NewMemoryStore(e.clock.Now)
	}
	if events == nil {
		events = limits.NewMemoryLog()
	}
	e.Limits = limits.New(store, events, cfg, e.clock.Now, slog.New(slog.NewJSONHandler(e.log, nil)))
	return e
}

// login begins a login, failing the test unless it is admitted.
func (e *env) login(t *testing.T, what string, ctx context.Context, phone, device string) core.Attempt {
	t.Helper()
	a, err := e.BeginLogin(ctx, phone, device)
	wantOK(t, what, err)
	if a == nil {
		t.Fatalf("%s: BeginLogin admitted with a nil Attempt", what)
	}
	return a
}

// failLogin is an admitted login with a wrong password.
func (e *env) failLogin(t *testing.T, what string, ctx context.Context, phone, device string) {
	t.Helper()
	e.login(t, what, ctx, phone, device).Failed(ctx)
}

// okLogin is an admitted login with the right password.
func (e *env) okLogin(t *testing.T, what string, ctx context.Context, phone, device string) {
	t.Helper()
	e.login(t, what, ctx, phone, device).Succeeded(ctx)
}

// loginErr is BeginLogin's refusal; an admitted attempt is cancelled (a
// probe that spends nothing).
func (e *env) loginErr(ctx context.Context, phone, device string) error {
	a, err := e.BeginLogin(ctx, phone, device)
	if err == nil {
		a.Cancel(ctx)
	}
	return err
}

// codeErr is BeginCodeCheck's refusal; an admitted check is cancelled.
func (e *env) codeErr(ctx context.Context, phone string) error {
	a, err := e.BeginCodeCheck(ctx, phone)
	if err == nil {
		a.Cancel(ctx)
	}
	return err
}

// failCode is an admitted code check with a wrong code.
func (e *env) failCode(t *testing.T, what string, ctx context.Context, phone string) {
	t.Helper()
	a, err := e.BeginCodeCheck(ctx, phone)
	wantOK(t, what, err)
	a.Failed(ctx)
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

// TestDefaults: the documented defaults (docs/limits.md), each of which
// renders as its setting and parses back.
func TestDefaults(t *testing.T) {
	c := limits.Defaults()
	want := map[string]string{
		"request": "1200-M", "sms_cooldown": "1-M", "sms_phone": "5-H", "sms_phone_day": "10-D", "sms_ip": "20-H",
		"code_phone": "10-H", "login_phone": "5-H", "login_ip": "50-H", "login_ok_phone": "20-H", "lookup_ip": "100-H", "upload_ip": "30-H",
		"sms_all_hour": "1000-H", "sms_all_day": "10000-D",
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
	stats := newEnv(t, nil).Stats()
	for name := range want {
		if stats[name] == nil {
			t.Errorf("Stats() has no %s", name)
		}
	}
}

func TestRequestLimit(t *testing.T) {
	e := newEnv(t, func(c *limits.Config) { c.Request = rule(t, "request", "3-M") })
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
	e := newEnv(t, nil)
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
	e := newEnv(t, nil)
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
	e := newEnv(t, nil)
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
	e := newEnv(t, nil)
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
	e := newEnv(t, nil)
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
	e := newEnv(t, func(c *limits.Config) { c.SMSAddress = rule(t, "sms_ip", "1-H") })
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

// TestCodeLock: ten wrong codes per phone in the hour are fine; after the
// 11th, code checks for the phone wait 15 minutes after the latest.
func TestCodeLock(t *testing.T) {
	e := newEnv(t, nil)
	p := phone(1)
	for i := range 10 {
		e.failCode(t, fmt.Sprintf("check after %d failures", i), ctx, p)
		e.clock.Advance(time.Second)
	}
	e.failCode(t, "check after 10 failures", ctx, p) // the 11th, at 12:00:10
	wantLimited(t, "check after 11 failures", e.codeErr(ctx, p), e.cfg.CodePhone, 15*time.Minute)
	wantLimited(t, "check from another address", e.codeErr(from("198.51.100.1"), p), e.cfg.CodePhone, 15*time.Minute)
	wantOK(t, "another phone", e.codeErr(ctx, phone(2)))
	e.clock.Advance(15*time.Minute - time.Second)
	wantLimited(t, "a second before the lock ends", e.codeErr(ctx, p), e.cfg.CodePhone, time.Second)
	e.clock.Advance(time.Second)
	e.failCode(t, "after 15 minutes", ctx, p) // the 12th in the hour: locked again
	wantLimited(t, "check after the 12th failure", e.codeErr(ctx, p), e.cfg.CodePhone, 15*time.Minute)
	if got := e.Stats()["code_phone"].Rejected.Load(); got != 4 {
		t.Errorf("code_phone Rejected = %d, want 4", got)
	}
	e.clock.Set(start.Add(time.Hour)) // 45 minutes after the 12th
	wantOK(t, "an hour after the first", e.codeErr(ctx, p))
}

// TestCodeCheckSucceeded: a right code gives its slot back, so checks
// that succeed never lock the phone, and forgets no one's failures.
func TestCodeCheckSucceeded(t *testing.T) {
	e := newEnv(t, nil)
	p := phone(1)
	for i := range 30 {
		a, err := e.BeginCodeCheck(ctx, p)
		wantOK(t, fmt.Sprintf("right code %d", i+1), err)
		a.Succeeded(ctx)
	}
	for i := range 11 {
		e.failCode(t, fmt.Sprintf("wrong code %d", i+1), from("203.0.113.66"), p)
	}
	a, err := e.BeginCodeCheck(ctx, p)
	wantLimited(t, "after 11 wrong codes", err, e.cfg.CodePhone, 15*time.Minute)
	if a != nil {
		t.Errorf("a refusal came with an Attempt")
	}
}

// TestLoginBackoff: from the 5th failure on, the phone waits 1, 2, 4, 8,
// then 15 minutes (the cap) after the latest failure.
func TestLoginBackoff(t *testing.T) {
	e := newEnv(t, nil)
	p := phone(1)
	for i := range 5 {
		e.failLogin(t, fmt.Sprintf("login after %d failures", i), ctx, p, "")
	}
	for i, wait := range []time.Duration{1, 2, 4, 8, 15, 15} {
		wait *= time.Minute
		what := fmt.Sprintf("after failure %d", i+5)
		wantLimited(t, what, e.loginErr(ctx, p, ""), e.cfg.LoginPhone, wait)
		wantLimited(t, what+", from another address", e.loginErr(from("198.51.100.1"), p, ""), e.cfg.LoginPhone, wait)
		wantLimited(t, what+", with a device never seen", e.loginErr(ctx, p, "dev-new"), e.cfg.LoginPhone, wait)
		wantOK(t, what+", another phone", e.loginErr(ctx, phone(2), ""))
		e.clock.Advance(wait - time.Second)
		wantLimited(t, what+", a second before the wait ends", e.loginErr(ctx, p, ""), e.cfg.LoginPhone, time.Second)
		e.clock.Advance(time.Second)
		e.failLogin(t, what+", once the wait is over", ctx, p, "")
	}
	if got := e.Stats()["login_phone"].Rejected.Load(); got != 24 {
		t.Errorf("login_phone Rejected = %d, want 24", got)
	}
}

// TestLoginSuccessForgetsOnlyItsOwnFailures: a success clears the
// failures of the client that succeeded (its own pool, once it is known),
// never the phone's shared pool, which strangers fill.
func TestLoginSuccessForgetsOnlyItsOwnFailures(t *testing.T) {
	e := newEnv(t, nil)
	p := phone(1)
	stranger := from("203.0.113.66")
	for i := range 5 {
		e.failLogin(t, fmt.Sprintf("failure %d", i+1), ctx, p, "")
	}
	wantLimited(t, "after 5 failures", e.loginErr(ctx, p, ""), e.cfg.LoginPhone, time.Minute)
	e.clock.Advance(time.Minute)
	e.okLogin(t, "the owner, after the wait", ctx, p, "") // ctx is known to p from now on
	// The shared pool still holds the 5 failures: a stranger gets one
	// attempt after the wait, and the back-off goes on doubling.
	e.failLogin(t, "a stranger after the success", stranger, p, "")
	wantLimited(t, "a stranger again", e.loginErr(stranger, p, ""), e.cfg.LoginPhone, 2*time.Minute)
	// The known address has a pool of its own, which its failures fill and
	// its success empties.
	for i := range 5 {
		e.failLogin(t, fmt.Sprintf("the known address, failure %d", i+1), ctx, p, "")
	}
	wantLimited(t, "the known address after 5 failures", e.loginErr(ctx, p, ""), e.cfg.LoginPhone, time.Minute)
	e.clock.Advance(time.Minute)
	e.okLogin(t, "the known address after its wait", ctx, p, "")
	for i := range 5 {
		e.failLogin(t, fmt.Sprintf("the known address after its success, failure %d", i+1), ctx, p, "")
	}
	wantLimited(t, "the known address after its success and 5 failures", e.loginErr(ctx, p, ""), e.cfg.LoginPhone, time.Minute)
	// The stranger's pool was never emptied.
	wantLimited(t, "the stranger at the end", e.loginErr(stranger, p, ""), e.cfg.LoginPhone, time.Minute)
}

// TestLoginPerAddress: failures from one address across many phones
// (password spraying) refuse that address's logins for the window; a
// refusal by the address spends no phone's budget; a client known to a
// phone is not subject to its address's limit for that phone.
func TestLoginPerAddress(t *testing.T) {
	e := newEnv(t, func(c *limits.Config) { c.LoginAddr = rule(t, "login_ip", "3-H") })
	e.okLogin(t, "the owner of phone 9", ctx, phone(9), "")
	e.clock.Advance(20 * time.Minute)
	for i := range 3 {
		e.failLogin(t, fmt.Sprintf("login %d", i+1), ctx, phone(i), "")
	}
	wantLimited(t, "a 4th phone from the address", e.loginErr(ctx, phone(3), ""), e.cfg.LoginAddr, time.Hour)
	for range 10 {
		wantLimited(t, "a phone that failed once", e.loginErr(ctx, phone(0), ""), e.cfg.LoginAddr, time.Hour)
	}
	for i := range 4 {
		// phone(0)'s refusals above took no slot of its 5.
		e.failLogin(t, fmt.Sprintf("phone 0 from another address, failure %d", i+2), from(fmt.Sprintf("198.51.100.%d", i+1)), phone(0), "")
	}
	wantLimited(t, "phone 0 after 5 failures", e.loginErr(from("198.51.100.9"), phone(0), ""), e.cfg.LoginPhone, time.Minute)
	e.okLogin(t, "phone 9's owner from the full address", ctx, phone(9), "")
	e.clock.Set(start.Add(time.Hour + 20*time.Minute))
	wantOK(t, "once the failures left the window", e.loginErr(ctx, phone(3), ""))
}

// TestLoginOKPerPhone: a phone gets 20 successful logins in any hour
// (session flooding with a known password); a failed or cancelled
// attempt spends none of them, and a refusal by it spends no failure
// budget.
func TestLoginOKPerPhone(t *testing.T) {
	e := newEnv(t, nil)
	p := phone(1)
	for i := range 20 {
		e.login(t, fmt.Sprintf("cancelled %d", i+1), ctx, p, "").Cancel(ctx)
		e.okLogin(t, fmt.Sprintf("success %d", i+1), ctx, p, "")
		e.clock.Advance(time.Second)
	}
	wantLimited(t, "21st success in the hour", e.loginErr(ctx, p, ""), e.cfg.LoginOK, time.Hour-20*time.Second)
	wantLimited(t, "from another address", e.loginErr(from("198.51.100.1"), p, ""), e.cfg.LoginOK, time.Hour-20*time.Second)
	e.clock.Set(start.Add(time.Hour))
	e.failLogin(t, "an hour later, a failure", ctx, p, "")
	e.okLogin(t, "an hour later, a success", ctx, p, "")
	wantLimited(t, "then the budget is spent again", e.loginErr(ctx, p, ""), e.cfg.LoginOK, time.Second)
	// The refusal spent no failure slot: the address's own pool, emptied
	// by its success, takes 5 failures once the successes have left.
	e.clock.Set(start.Add(time.Hour + time.Minute))
	for i := range 5 {
		e.failLogin(t, fmt.Sprintf("failure %d", i+1), ctx, p, "")
	}
	wantLimited(t, "after 5 failures", e.loginErr(ctx, p, ""), e.cfg.LoginPhone, time.Minute)
}

// TestAttemptOutcomes: Succeeded keeps only the success slot, Failed only
// the failure slots, Cancel none.
func TestAttemptOutcomes(t *testing.T) {
	e := newEnv(t, func(c *limits.Config) {
		c.LoginPhone = rule(t, "login_phone", "1-H")
		c.LoginAddr = rule(t, "login_ip", "1-H")
		c.LoginOK = rule(t, "login_ok_phone", "1-H")
	})
	for i := range 10 {
		e.login(t, fmt.Sprintf("cancelled %d", i+1), ctx, phone(1), "").Cancel(ctx)
	}
	e.failLogin(t, "a failure", ctx, phone(1), "")
	wantLimited(t, "after the failure, the phone", e.loginErr(from("198.51.100.1"), phone(1), ""), e.cfg.LoginPhone, time.Minute)
	wantLimited(t, "after the failure, the address", e.loginErr(ctx, phone(2), ""), e.cfg.LoginAddr, time.Hour)
	e.okLogin(t, "a success elsewhere", from("198.51.100.2"), phone(3), "")
	wantLimited(t, "after the success", e.loginErr(from("198.51.100.3"), phone(3), ""), e.cfg.LoginOK, time.Hour)
	e.okLogin(t, "the success's address may fail on another phone", from("198.51.100.2"), phone(4), "")
}

func TestLookupPerAddress(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 100 {
		wantOK(t, fmt.Sprintf("look-up %d", i+1), e.AllowLookup(ctx))
	}
	wantLimited(t, "101st look-up", e.AllowLookup(ctx), e.cfg.LookupAddr, time.Hour)
	wantOK(t, "another address", e.AllowLookup(from("192.0.2.2")))
	e.clock.Set(start.Add(time.Hour))
	wantOK(t, "next hour", e.AllowLookup(ctx))
}

// TestAddressGrouping: the request limit counts an IPv6 client by its /56,
// with its /48 as a backstop of 4 quotas; an IPv4-mapped IPv6 address is
// its IPv4 address.
func TestAddressGrouping(t *testing.T) {
	e := newEnv(t, func(c *limits.Config) { c.Request = rule(t, "request", "2-M") })
	wantOK(t, "1st in 2001:db8:1:200::/56", e.AllowRequest(from("2001:db8:1:200::1")))
	wantOK(t, "2nd in 2001:db8:1:200::/56, another /64", e.AllowRequest(from("2001:db8:1:2ff:ffff:ffff:ffff:fffe")))
	wantLimited(t, "3rd in 2001:db8:1:200::/56, a third /64", e.AllowRequest(from("2001:db8:1:2ab::9")), e.cfg.Request, time.Minute)
	wantOK(t, "the next /56", e.AllowRequest(from("2001:db8:1:300::1")))
	wantOK(t, "the neighbouring /56 below", e.AllowRequest(from("2001:db8:1:1ff:ffff:ffff:ffff:ffff")))
	for _, ip := range []string{"2001:db8:1:300::2", "2001:db8:1:100::2", "2001:db8:1:400::1", "2001:db8:1:400::2"} {
		wantOK(t, ip, e.AllowRequest(from(ip)))
	}
	// 8 requests counted in 2001:db8:1::/48: its backstop is spent.
	backstop := e.cfg.Request
	backstop.Quota *= 4 // the refusal states the /48's quota
	wantLimited(t, "a fifth /56 in the /48", e.AllowRequest(from("2001:db8:1:500::1")), backstop, time.Minute)
	wantOK(t, "another /48", e.AllowRequest(from("2001:db8:2::1")))

	wantOK(t, "192.0.2.10", e.AllowRequest(from("192.0.2.10")))
	wantOK(t, "::ffff:192.0.2.10", e.AllowRequest(from("::ffff:192.0.2.10")))
	wantLimited(t, "192.0.2.10 a third time", e.AllowRequest(from("192.0.2.10")), e.cfg.Request, time.Minute)
	wantOK(t, "192.0.2.11", e.AllowRequest(from("192.0.2.11")))
}

// TestDryRun: a dry-run rule counts and logs what it would refuse, and
// never refuses.
func TestDryRun(t *testing.T) {
	e := newEnv(t, func(c *limits.Config) {
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
		e.failCode(t, what+": code check", ctx, p)
		e.failLogin(t, what+": login", ctx, p, "")
	}
	// Count-based rules (each SMS rule too: a dry-run refusal goes on to
	// the next): attempts 2 and 3. The code lock sets in after the 2nd
	// failure (quota 1+1), checked at attempt 3. The login wait sets in
	// after the 1st failure, checked at attempts 2 and 3, as is the
	// address's quota of failures. Failed logins give their success slot
	// back, so login_ok_phone never fills.
	want := map[string]int64{"request": 2, "sms_cooldown": 2, "sms_phone": 2, "sms_phone_day": 2, "sms_ip": 2, "sms_all_hour": 2, "sms_all_day": 2, "lookup_ip": 2, "code_phone": 1, "login_phone": 2, "login_ip": 2}
	for name, s := range e.Stats() {
		if got := s.DryRunHits.Load(); got != want[name] {
			t.Errorf("%s: DryRunHits = %d, want %d", name, got, want[name])
		}
		if got := s.Rejected.Load(); got != 0 {
			t.Errorf("%s: Rejected = %d under dry-run", name, got)
		}
	}
	log := e.log.String()
	if n := strings.Count(log, "rate limit dry-run: would refuse"); n != 21 {
		t.Errorf("%d dry-run lines in the log, want 21:\n%s", n, log)
	}
	if strings.Contains(log, p) || strings.Contains(log, core.LocalPhone(p)) {
		t.Errorf("the log names the phone:\n%s", log)
	}
	if !strings.Contains(log, core.MaskPhone(p)) {
		t.Errorf("the log does not name the masked phone %s:\n%s", core.MaskPhone(p), log)
	}
}

// TestDryRunLoginRecords: a dry-run login rule records every attempt
// (Force), so the numbers it reports are what enforcing it would see.
func TestDryRunLoginRecords(t *testing.T) {
	e := newEnv(t, func(c *limits.Config) { c.LoginPhone = rule(t, "login_phone", "dry-run:5-H") })
	p := phone(1)
	for i := range 20 {
		e.failLogin(t, fmt.Sprintf("failure %d", i+1), from(fmt.Sprintf("198.51.100.%d", i)), p, "")
	}
	if got := e.Stats()["login_phone"].DryRunHits.Load(); got != 15 {
		t.Errorf("login_phone DryRunHits = %d, want 15", got)
	}
}

// TestOff: an off rule is not counted at all: it never refuses and never
// touches either store (known clients included).
func TestOff(t *testing.T) {
	store := &failingStore{inner: limits.NewMemoryStore(nil), fail: func(string) bool { return true }}
	events := &failingLog{inner: limits.NewMemoryLog(), fail: func(string, string) bool { return true }}
	e := newEnvOver(t, store, events, func(c *limits.Config) {
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
		wantOK(t, what+": upload", e.AllowUpload(ctx))
		e.failCode(t, what+": code check", ctx, p)
		e.failLogin(t, what+": login", ctx, p, "dev")
	}
	e.okLogin(t, "a success", ctx, p, "dev")
	if n := store.calls.Load(); n != 0 {
		t.Errorf("off rules called the store %d times", n)
	}
	if n := events.calls.Load(); n != 0 {
		t.Errorf("off rules called the log %d times", n)
	}
	for name, s := range e.Stats() {
		if s.Rejected.Load()+s.DryRunHits.Load()+s.StoreErrors.Load() != 0 {
			t.Errorf("%s counted something while off", name)
		}
	}
	if log := e.log.String(); log != "" {
		t.Errorf("off rules logged:\n%s", log)
	}
}

// TestOneRuleOff: turning one rule off leaves the others enforced.
func TestOneRuleOff(t *testing.T) {
	e := newEnv(t, func(c *limits.Config) { c.SMSCooldown = rule(t, "sms_cooldown", "off") })
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

// failingLog is failingStore's counterpart for the Log: it answers an
// error for every call fail matches (by method name and key) and passes
// the others to inner.
type failingLog struct {
	inner limits.Log
	fail  func(op, key string) bool
	calls atomic.Int64
}

func (l *failingLog) down(op, key string) bool {
	l.calls.Add(1)
	return l.fail(op, key)
}

func (l *failingLog) Take(ctx context.Context, key, id string, g limits.Gate, now time.Time) (limits.Taken, error) {
	if l.down("Take", key) {
		return limits.Taken{}, errDown
	}
	return l.inner.Take(ctx, key, id, g, now)
}

func (l *failingLog) Return(ctx context.Context, key, id string) error {
	if l.down("Return", key) {
		return errDown
	}
	return l.inner.Return(ctx, key, id)
}

func (l *failingLog) Clear(ctx context.Context, key string) error {
	if l.down("Clear", key) {
		return errDown
	}
	return l.inner.Clear(ctx, key)
}

func (l *failingLog) Remember(ctx context.Context, key, member string, now time.Time, keep time.Duration, max int) error {
	if l.down("Remember", key) {
		return errDown
	}
	return l.inner.Remember(ctx, key, member, now, keep, max)
}

func (l *failingLog) Knows(ctx context.Context, key, member string, now time.Time, keep time.Duration) (bool, error) {
	if l.down("Knows", key) {
		return false, errDown
	}
	return l.inner.Knows(ctx, key, member, now, keep)
}

// TestStoreFailure: with stores that fail every call nothing panics, SMS
// sends fail closed (Unavailable), everything else fails open (a check
// goes ahead uncounted: core.NoAttempt), and each failure is counted and
// logged.
func TestStoreFailure(t *testing.T) {
	always := func(string) bool { return true }
	e := newEnvOver(t, &failingStore{fail: always}, &failingLog{fail: func(string, string) bool { return true }}, nil)
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
		wantOK(t, "upload", e.AllowUpload(ctx))
		a, err := e.BeginCodeCheck(ctx, p)
		wantOK(t, "code check", err)
		if a != core.NoAttempt {
			t.Errorf("code check: Attempt %T, want core.NoAttempt", a)
		}
		a.Failed(ctx)
		a, err = e.BeginLogin(ctx, p, "dev")
		wantOK(t, "login", err)
		if a != core.NoAttempt {
			t.Errorf("login: Attempt %T, want core.NoAttempt", a)
		}
		a.Succeeded(ctx)
	}
	// Per round: request 1; sms_cooldown 1 (the first step fails, the
	// others are not asked); lookup_ip 1; upload_ip 1; code_phone 1;
	// login_phone 1 (the first step). Logged besides: the known-client
	// look-ups of the send, the code check and the login.
	want := map[string]int64{"request": 3, "sms_cooldown": 3, "lookup_ip": 3, "upload_ip": 3, "code_phone": 3, "login_phone": 3}
	for name, s := range e.Stats() {
		if got := s.StoreErrors.Load(); got != want[name] {
			t.Errorf("%s: StoreErrors = %d, want %d", name, got, want[name])
		}
		if got := s.Rejected.Load(); got != 0 {
			t.Errorf("%s: Rejected = %d, want 0", name, got)
		}
	}
	if n := strings.Count(e.log.String(), "rate limiter store failed"); n != 27 {
		t.Errorf("%d store failures logged, want 27", n)
	}
}

// TestPartialStoreFailure: a failure in any step of a send fails it
// closed, even after the phone's rules passed, and gives back what the
// send took; a failure in any step of a login fails open and gives back
// what it took, so an outage spends no one's budget.
func TestPartialStoreFailure(t *testing.T) {
	var down atomic.Bool
	failing := func(op, prefix string) *failingLog {
		return &failingLog{inner: limits.NewMemoryLog(), fail: func(o, key string) bool {
			return down.Load() && (op == "" || o == op) && strings.HasPrefix(key, prefix)
		}}
	}
	t.Run("sms_ip", func(t *testing.T) {
		down.Store(true)
		e := newEnvOver(t, nil, failing("Take", "sms_ip:"), nil)
		for i := range 3 {
			if err := e.AllowSend(ctx, phone(1)); core.KindOf(err) != core.Unavailable {
				t.Fatalf("send %d: %v, want unavailable", i+1, err)
			}
		}
		wantOK(t, "request", e.AllowRequest(ctx))
		if got := e.Stats()["sms_ip"].StoreErrors.Load(); got != 3 {
			t.Errorf("sms_ip StoreErrors = %d, want 3", got)
		}
		down.Store(false)
		wantOK(t, "the first send that reaches the phone", e.AllowSend(ctx, phone(1)))
	})
	for _, prefix := range []string{"login_ip:", "login_ok_phone:"} {
		t.Run(strings.TrimSuffix(prefix, ":"), func(t *testing.T) {
			down.Store(true)
			e := newEnvOver(t, nil, failing("Take", prefix), nil)
			p := phone(1)
			for i := range 10 {
				a, err := e.BeginLogin(ctx, p, "")
				if err != nil || a != core.NoAttempt {
					t.Fatalf("login %d with %s down: %T, %v; want core.NoAttempt, nil", i+1, prefix, a, err)
				}
				a.Failed(ctx)
			}
			down.Store(false)
			for i := range 5 {
				e.failLogin(t, fmt.Sprintf("failure %d once the store is back", i+1), ctx, p, "")
			}
			wantLimited(t, "after 5 failures", e.loginErr(ctx, p, ""), e.cfg.LoginPhone, time.Minute)
		})
	}
	t.Run("Return", func(t *testing.T) {
		down.Store(true)
		e := newEnvOver(t, nil, failing("Return", ""), nil)
		e.okLogin(t, "a success whose slots cannot be given back", ctx, phone(1), "")
		s := e.Stats()
		if s["login_phone"].StoreErrors.Load() != 1 || s["login_ip"].StoreErrors.Load() != 1 {
			t.Errorf("StoreErrors login_phone %d, login_ip %d; want 1 and 1", s["login_phone"].StoreErrors.Load(), s["login_ip"].StoreErrors.Load())
		}
	})
	t.Run("known", func(t *testing.T) {
		down.Store(false)
		events := failing("Knows", "known:")
		e := newEnvOver(t, nil, events, nil)
		p := phone(1)
		e.okLogin(t, "the owner", ctx, p, "")
		for i := range 5 {
			e.failLogin(t, fmt.Sprintf("a stranger's failure %d", i+1), from(fmt.Sprintf("198.51.100.%d", i)), p, "")
		}
		wantOK(t, "the owner, known", e.loginErr(ctx, p, ""))
		down.Store(true)
		wantLimited(t, "the owner, with known clients unreadable: a stranger", e.loginErr(ctx, p, ""), e.cfg.LoginPhone, time.Minute)
	})
}

// TestConcurrentSends: of many simultaneous sends to one phone, from many
// addresses, exactly one passes the cooldown.
func TestConcurrentSends(t *testing.T) {
	e := newEnv(t, nil)
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
	e := newEnv(t, func(c *limits.Config) { c.Request = rule(t, "request", "2-M") })
	wantOK(t, "no address", e.AllowRequest(context.Background()))
	wantOK(t, "a garbage address", e.AllowRequest(from("not-an-ip")))
	wantLimited(t, "no address again", e.AllowRequest(from("")), e.cfg.Request, time.Minute)
}

func TestUploadLimit(t *testing.T) {
	cfg := limits.Defaults()
	cfg.UploadAddr, _ = limits.ParseRule("upload_ip", "2-H")
	clock := testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := limits.New(limits.NewMemoryStore(nil), limits.NewMemoryLog(), cfg, clock.Now, nil)
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

// TestSMSSpendBudget: the budget across every phone refuses, fail-closed
// and loudly, once spent, whichever phones and addresses the sends name;
// a send another limit refuses spends none of it.
func TestSMSSpendBudget(t *testing.T) {
	e := newEnv(t, func(c *limits.Config) {
		c.SMSAllHour = rule(t, "sms_all_hour", "3-H")
	})
	wantOK(t, "send 1", e.AllowSend(from("192.0.2.1"), phone(1)))
	wantLimited(t, "phone 1 again, in its cooldown", e.AllowSend(from("192.0.2.1"), phone(1)), e.cfg.SMSCooldown, time.Minute)
	wantOK(t, "send 2", e.AllowSend(from("192.0.2.2"), phone(2)))
	wantOK(t, "send 3", e.AllowSend(from("192.0.2.3"), phone(3)))
	wantLimited(t, "send 4", e.AllowSend(from("192.0.2.4"), phone(4)), e.cfg.SMSAllHour, time.Hour)
	if !strings.Contains(e.log.String(), "SMS SPEND BUDGET REACHED") {
		t.Errorf("no loud line in the log:\n%s", e.log.String())
	}
	e.clock.Advance(time.Hour)
	wantOK(t, "an hour later", e.AllowSend(from("192.0.2.4"), phone(4)))
}
