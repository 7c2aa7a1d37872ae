// Package limits implements core.Guard and the gateway's per-address
// request limit over a ulule/limiter store: MemoryStore for one instance,
// ulule's Redis driver when several gateways must share counters.
//
// Windows are fixed and taken from the injected clock: a counter's key
// names its window (name:subject:index), so tests move time without
// sleeping and every instance sharing a store agrees on the windows. The
// store only counts; its own expiry (the window's length) just cleans up.
//
// Locks (login back-off, code-check lock) need a deadline, and a limiter
// store holds only counters: a lock is a fresh counter incremented by the
// deadline's Unix milliseconds under the quota MaxInt64, and read back as
// MaxInt64 - Remaining.
package limits

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ulule/limiter/v3"

	"legacyauth/core"
)

// Rule is one configurable limit.
type Rule struct {
	Name   string
	About  string // what the rule protects against, for --help and the README
	Quota  int64
	Window time.Duration
	Off    bool // not counted at all
	DryRun bool // counted and logged, never enforced
}

// String renders a rule as it is configured: "off", "5-H", "dry-run:5-H".
func (r Rule) String() string {
	if r.Off {
		return "off"
	}
	s := strconv.FormatInt(r.Quota, 10) + "-" + map[time.Duration]string{time.Second: "S", time.Minute: "M", time.Hour: "H", 24 * time.Hour: "D"}[r.Window]
	if r.DryRun {
		s = "dry-run:" + s
	}
	return s
}

// ParseRule reads "off", "<n>-<S|M|H|D>" (limiter's format) or
// "dry-run:<n>-<S|M|H|D>".
func ParseRule(name, s string) (Rule, error) {
	r := Rule{Name: name}
	s = strings.TrimSpace(s)
	if s == "off" {
		r.Off = true
		return r, nil
	}
	if rest, ok := strings.CutPrefix(s, "dry-run:"); ok {
		r.DryRun, s = true, rest
	}
	rate, err := limiter.NewRateFromFormatted(s)
	if err != nil || rate.Limit < 1 {
		return r, fmt.Errorf(`want "off", "<n>-<S|M|H|D>" or "dry-run:<n>-<S|M|H|D>", got %q`, s)
	}
	r.Quota, r.Window = rate.Limit, rate.Period
	return r, nil
}

// Config holds every limit. Defaults returns the documented defaults.
type Config struct {
	Request     Rule // every request, per client address
	SMSCooldown Rule // SMS sends per phone: the pause between two
	SMSPhone    Rule // SMS sends per phone per hour
	SMSPhoneDay Rule // SMS sends per phone per day
	SMSAddress  Rule // SMS sends per client address
	CodePhone   Rule // wrong codes per phone before code checks lock
	LoginPhone  Rule // failed logins per phone before waits begin
	LoginAddr   Rule // failed logins per client address
	LookupAddr  Rule // registration look-ups per client address
	UploadAddr  Rule // avatar uploads per client address

	CodeLock     time.Duration // how long code checks stay locked (15m)
	LoginWait    time.Duration // the first wait after LoginPhone failures (1m), doubling
	LoginMaxWait time.Duration // the longest wait (15m)
}

// Rules lists the config's rules, for settings and statistics.
func (c *Config) Rules() []*Rule {
	return []*Rule{&c.Request, &c.SMSCooldown, &c.SMSPhone, &c.SMSPhoneDay, &c.SMSAddress, &c.CodePhone, &c.LoginPhone, &c.LoginAddr, &c.LookupAddr, &c.UploadAddr}
}

// Defaults are the documented defaults (README, "Limits").
func Defaults() Config {
	rule := func(name, s, about string) Rule {
		r, err := ParseRule(name, s)
		if err != nil {
			panic(err) // a constant below is wrong
		}
		r.About = about
		return r
	}
	return Config{
		Request:      rule("request", "1200-M", "every request per client address; generous, since carriers put many phones behind one address (floods)"),
		SMSCooldown:  rule("sms_cooldown", "1-M", "SMS sends per phone: one per minute (SMS bombing of one phone)"),
		SMSPhone:     rule("sms_phone", "5-H", "SMS sends per phone per hour (SMS bombing, SMS pumping costs)"),
		SMSPhoneDay:  rule("sms_phone_day", "10-D", "SMS sends per phone per day"),
		SMSAddress:   rule("sms_ip", "20-H", "SMS sends per client address (SMS pumping across many phones)"),
		CodePhone:    rule("code_phone", "10-H", "wrong codes per phone; more lock code checks for the phone for 15 minutes (guessing codes across fresh sends)"),
		LoginPhone:   rule("login_phone", "5-H", "failed logins per phone; from the 5th on the phone waits 1 minute, doubling to 15 (password guessing)"),
		LoginAddr:    rule("login_ip", "50-H", "failed logins per client address (password spraying across phones)"),
		LookupAddr:   rule("lookup_ip", "100-H", "registration look-ups per client address: isregister, sendsms with expect, resultcode's 0001, registrations and resets (enumerating who is registered)"),
		UploadAddr:   rule("upload_ip", "30-H", "avatar uploads per client address, up to 5 MiB each (filling the disk)"),
		CodeLock:     15 * time.Minute,
		LoginWait:    time.Minute,
		LoginMaxWait: 15 * time.Minute,
	}
}

// Limits enforces a Config. It is safe for concurrent use.
type Limits struct {
	store limiter.Store
	cfg   Config
	now   func() time.Time
	log   *slog.Logger
	stats map[string]*Stat // by rule name; built once, read-only after
}

// Stat counts what a rule did, for metrics.
type Stat struct {
	Rejected    atomic.Int64 // requests refused
	DryRunHits  atomic.Int64 // requests a dry-run rule would have refused
	StoreErrors atomic.Int64 // store failures (failed open, or closed for SMS)
}

// New builds Limits over a limiter store (NewMemoryStore, or the Redis
// store). now is the clock the windows follow.
func New(store limiter.Store, cfg Config, now func() time.Time, log *slog.Logger) *Limits {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	l := &Limits{store: store, cfg: cfg, now: now, log: log, stats: map[string]*Stat{}}
	for _, r := range l.cfg.Rules() {
		l.stats[r.Name] = &Stat{}
	}
	return l
}

// Stats returns the counters of every rule, by name.
func (l *Limits) Stats() map[string]*Stat { return l.stats }

var _ core.Guard = (*Limits)(nil)

// AllowRequest applies the per-address request limit (the gateway calls it
// for every request). It fails open.
func (l *Limits) AllowRequest(ctx context.Context) error {
	return l.failOpen(l.count(ctx, &l.cfg.Request, addressKey(ctx)))
}

// AllowSend applies the SMS limits. Every rule is checked before any is
// counted, so a refused send spends no budget (an address over its quota
// cannot use up a victim phone's); then each is counted, shortest window
// first, and a count over quota (a concurrent send won the last slot)
// refuses too. It fails closed: an unknown count could be an SMS-pumping run.
func (l *Limits) AllowSend(ctx context.Context, phone string) error {
	steps := []struct {
		rule    *Rule
		subject string
	}{{&l.cfg.SMSCooldown, phone}, {&l.cfg.SMSPhone, phone}, {&l.cfg.SMSPhoneDay, phone}, {&l.cfg.SMSAddress, addressKey(ctx)}}
	closed := func(err error) error {
		if err == nil || core.KindOf(err) == core.RateLimited {
			return err
		}
		return &core.Error{Op: "limits.AllowSend", Kind: core.Unavailable, Msg: "rate limiter unavailable", Err: err}
	}
	for _, st := range steps {
		if st.rule.DryRun {
			continue // never refuses; counted (and its hit logged) once, below
		}
		if err := l.checkQuota(ctx, st.rule, st.subject); err != nil {
			return closed(err)
		}
	}
	for _, st := range steps {
		if err := l.count(ctx, st.rule, st.subject); err != nil {
			return closed(err)
		}
	}
	return nil
}

// AllowLookup applies the per-address limit on registration look-ups.
func (l *Limits) AllowLookup(ctx context.Context) error {
	return l.failOpen(l.count(ctx, &l.cfg.LookupAddr, addressKey(ctx)))
}

// AllowUpload applies the per-address limit on avatar uploads. It fails
// open, like the other non-SMS limits.
func (l *Limits) AllowUpload(ctx context.Context) error {
	return l.failOpen(l.count(ctx, &l.cfg.UploadAddr, addressKey(ctx)))
}

// AllowCodeCheck refuses while the phone's code checks are locked.
func (l *Limits) AllowCodeCheck(ctx context.Context, phone string) error {
	return l.failOpen(l.checkLock(ctx, &l.cfg.CodePhone, phone, l.cfg.CodePhone.Quota+1))
}

// CodeCheckFailed counts a wrong code; more than the quota lock code
// checks for the phone for CodeLock.
func (l *Limits) CodeCheckFailed(ctx context.Context, phone string) {
	l.fail(ctx, &l.cfg.CodePhone, phone, l.cfg.CodePhone.Quota+1, func(int64) time.Duration { return l.cfg.CodeLock })
}

// AllowLogin refuses while the phone waits after failures, or when the
// client address has failed too often.
func (l *Limits) AllowLogin(ctx context.Context, phone string) error {
	if err := l.failOpen(l.checkLock(ctx, &l.cfg.LoginPhone, phone, l.cfg.LoginPhone.Quota)); err != nil {
		return err
	}
	return l.failOpen(l.checkQuota(ctx, &l.cfg.LoginAddr, addressKey(ctx)))
}

// LoginFailed counts a failure for the phone and the address. From the
// quota-th failure on ("after 5 failures a phone waits"), each failure
// makes the phone wait: LoginWait, doubling, up to LoginMaxWait.
func (l *Limits) LoginFailed(ctx context.Context, phone string) {
	l.fail(ctx, &l.cfg.LoginPhone, phone, l.cfg.LoginPhone.Quota, func(over int64) time.Duration {
		wait := l.cfg.LoginWait
		for i := int64(1); i < over && wait < l.cfg.LoginMaxWait; i++ {
			wait *= 2
		}
		return min(wait, l.cfg.LoginMaxWait)
	})
	if r := &l.cfg.LoginAddr; !r.Off {
		if _, _, err := l.incr(ctx, r, addressKey(ctx)); err != nil {
			l.storeError(ctx, r, err)
		}
	}
}

// LoginSucceeded forgets the phone's failures.
func (l *Limits) LoginSucceeded(ctx context.Context, phone string) {
	r := &l.cfg.LoginPhone
	if r.Off {
		return
	}
	key, _ := l.window(r, phone)
	if _, err := l.store.Reset(ctx, key, limiter.Rate{Period: r.Window, Limit: r.Quota}); err != nil {
		l.storeError(ctx, r, err)
	}
}

// count adds one event to the rule's current window and refuses when the
// window is over quota.
func (l *Limits) count(ctx context.Context, r *Rule, subject string) error {
	if r.Off {
		return nil
	}
	n, end, err := l.incr(ctx, r, subject)
	if err != nil {
		l.storeError(ctx, r, err)
		return err
	}
	if n <= r.Quota {
		return nil
	}
	return l.refuse(ctx, r, subject, end.Sub(l.now()))
}

// checkQuota refuses when the window already holds the quota, without
// counting (failures are counted by the caller when they happen).
func (l *Limits) checkQuota(ctx context.Context, r *Rule, subject string) error {
	if r.Off {
		return nil
	}
	n, end, err := l.peek(ctx, r, subject)
	if err != nil {
		l.storeError(ctx, r, err)
		return err
	}
	if n < r.Quota {
		return nil
	}
	return l.refuse(ctx, r, subject, end.Sub(l.now()))
}

// fail counts a failure and, from the lockAt-th failure in the window on,
// locks the subject until now+wait(1 for the lockAt-th, 2 for the next...).
func (l *Limits) fail(ctx context.Context, r *Rule, subject string, lockAt int64, wait func(nth int64) time.Duration) {
	if r.Off {
		return
	}
	n, end, err := l.incr(ctx, r, subject)
	if err != nil {
		l.storeError(ctx, r, err)
		return
	}
	if n < lockAt {
		return
	}
	until := l.now().Add(wait(n - lockAt + 1))
	lock := limiter.Rate{Period: end.Sub(l.now()) + l.cfg.LoginMaxWait + l.cfg.CodeLock, Limit: math.MaxInt64}
	// Reset first: after LoginSucceeded restarts the count, the same n
	// comes again in this window, and Increment alone would add deadlines.
	key := lockKey(r, subject, end, n)
	if _, err := l.store.Reset(ctx, key, lock); err != nil {
		l.storeError(ctx, r, err)
		return
	}
	// Milliseconds, not nanoseconds: the Redis store's script compares the
	// count as a Lua double, exact only below 2^53.
	if _, err := l.store.Increment(ctx, key, until.UnixMilli(), lock); err != nil {
		l.storeError(ctx, r, err)
	}
}

// checkLock refuses while the lock set by the subject's latest failure
// (the lockAt-th or later) lasts.
func (l *Limits) checkLock(ctx context.Context, r *Rule, subject string, lockAt int64) error {
	if r.Off {
		return nil
	}
	n, end, err := l.peek(ctx, r, subject)
	if err != nil || n < lockAt {
		if err != nil {
			l.storeError(ctx, r, err)
		}
		return err
	}
	c, err := l.store.Peek(ctx, lockKey(r, subject, end, n), limiter.Rate{Period: time.Minute, Limit: math.MaxInt64})
	if err != nil {
		l.storeError(ctx, r, err)
		return err
	}
	until := time.UnixMilli(math.MaxInt64 - c.Remaining)
	if c.Remaining == math.MaxInt64 || !l.now().Before(until) {
		return nil
	}
	return l.refuse(ctx, r, subject, until.Sub(l.now()))
}

func lockKey(r *Rule, subject string, windowEnd time.Time, n int64) string {
	return r.Name + ":lock:" + subject + ":" + strconv.FormatInt(windowEnd.UnixNano(), 36) + ":" + strconv.FormatInt(n, 10)
}

// window returns the key of the subject's counter in the current window,
// and the window's end.
func (l *Limits) window(r *Rule, subject string) (string, time.Time) {
	now := l.now().UnixNano()
	w := int64(r.Window)
	idx := now / w
	var buf [96]byte // one allocation, the key's string
	b := append(append(append(append(buf[:0], r.Name...), ':'), subject...), ':')
	return string(strconv.AppendInt(b, idx, 36)), time.Unix(0, (idx+1)*w)
}

// incr counts one event in the subject's current window.
func (l *Limits) incr(ctx context.Context, r *Rule, subject string) (int64, time.Time, error) {
	key, end := l.window(r, subject)
	// A quota of MaxInt64 makes Remaining carry the exact count; the rule's
	// quota is compared by the caller.
	c, err := l.store.Increment(ctx, key, 1, limiter.Rate{Period: r.Window, Limit: math.MaxInt64})
	if err != nil {
		return 0, end, err
	}
	return math.MaxInt64 - c.Remaining, end, nil
}

func (l *Limits) peek(ctx context.Context, r *Rule, subject string) (int64, time.Time, error) {
	key, end := l.window(r, subject)
	c, err := l.store.Peek(ctx, key, limiter.Rate{Period: r.Window, Limit: math.MaxInt64})
	if err != nil {
		return 0, end, err
	}
	return math.MaxInt64 - c.Remaining, end, nil
}

// refuse answers a rule's refusal: RateLimited, or nil under dry-run.
func (l *Limits) refuse(ctx context.Context, r *Rule, subject string, wait time.Duration) error {
	if r.DryRun {
		l.stats[r.Name].DryRunHits.Add(1)
		l.log.LogAttrs(ctx, slog.LevelWarn, "rate limit dry-run: would refuse", slog.String("limit", r.Name), slog.String("subject", maskSubject(subject)))
		return nil
	}
	l.stats[r.Name].Rejected.Add(1)
	return &core.Error{Op: "limits." + r.Name, Kind: core.RateLimited, Msg: "too many requests",
		RetryAfter: max(wait, time.Second), Limit: &core.Limit{Name: r.Name, Quota: r.Quota, Window: r.Window}}
}

func (l *Limits) storeError(ctx context.Context, r *Rule, err error) {
	l.stats[r.Name].StoreErrors.Add(1)
	l.log.LogAttrs(ctx, slog.LevelError, "rate limiter store failed", slog.String("limit", r.Name), slog.String("err", err.Error()))
}

// failOpen lets a request through when the store failed: an outage of the
// limiter must not become an outage of logins.
func (l *Limits) failOpen(err error) error {
	if err != nil && core.KindOf(err) != core.RateLimited {
		return nil
	}
	return err
}

// addressKey is the client address limits count by: the address itself
// for IPv4, its /64 for IPv6 (one subscriber gets a whole /64).
func addressKey(ctx context.Context) string {
	ip, a := core.ClientAddress(ctx) // parsed once per request, by the gateway
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is4() || a.Is4In6() {
		// The text is formatted on the stack and compared with the one the
		// gateway recorded: when they are the same (always, for the
		// gateway's), that string is the key, and no new one is made.
		var buf [len("255.255.255.255")]byte
		b := a.Unmap().AppendTo(buf[:0])
		if ip == string(b) {
			return ip
		}
		return string(b)
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// maskSubject keeps phones out of logs (addresses are logged as they are).
func maskSubject(s string) string {
	if strings.HasPrefix(s, "+") {
		return core.MaskPhone(s)
	}
	return s
}
