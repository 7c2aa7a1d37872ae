// Package limits implements core.Guard and the gateway's per-address
// request limit.
//
// Budgets that protect secrets and money (SMS sends, code and password
// checks, look-ups, uploads) are rolling windows kept in a Log: an event
// counts for exactly its rule's window after it happened, so no boundary
// lets a second budget through, and a lock is a deadline computed from
// event times. Checks of secrets take their slot before they run and give
// it back when they succeed, so a burst of concurrent guesses gets no more
// checks than the budget. The request limit, a flood guard of 1200 a
// minute, stays on ulule/limiter's fixed windows (MemoryStore, or ulule's
// Redis driver), where a boundary's double budget does not matter.
//
// Windows follow the injected clock, so tests move time without sleeping.
package limits

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
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
	About  string // what the rule protects against, for --help and docs/limits.md
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
	SMSAllHour  Rule // SMS sends across every phone, per hour: the spend budget
	SMSAllDay   Rule // the same per day
	CodePhone   Rule // wrong codes per phone before code checks lock
	LoginPhone  Rule // failed logins per phone (and client, for known ones) before waits begin
	LoginAddr   Rule // failed logins per client address
	LoginOK     Rule // successful logins per phone
	LookupAddr  Rule // registration look-ups per client address
	UploadAddr  Rule // avatar uploads per client address

	CodeLock     time.Duration // how long code checks stay locked (15m)
	LoginWait    time.Duration // the first wait after LoginPhone failures (1m), doubling
	LoginMaxWait time.Duration // the longest wait (15m)
}

// Rules lists the config's rules, for settings and statistics.
func (c *Config) Rules() []*Rule {
	return []*Rule{&c.Request, &c.SMSCooldown, &c.SMSPhone, &c.SMSPhoneDay, &c.SMSAddress, &c.SMSAllHour, &c.SMSAllDay, &c.CodePhone, &c.LoginPhone, &c.LoginAddr, &c.LoginOK, &c.LookupAddr, &c.UploadAddr}
}

// Defaults are the documented defaults (docs/limits.md).
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
		SMSAllHour:   rule("sms_all_hour", "1000-H", "SMS sends across every phone per hour: the spend budget; past it sends fail closed (SMS pumping with many addresses and phones)"),
		SMSAllDay:    rule("sms_all_day", "10000-D", "SMS sends across every phone per day: the spend budget"),
		CodePhone:    rule("code_phone", "10-H", "wrong codes per phone; more lock code checks for the phone for 15 minutes (guessing codes across fresh sends)"),
		LoginPhone:   rule("login_phone", "5-H", "failed logins per phone; from the 5th on the phone waits 1 minute, doubling to 15 (password guessing)"),
		LoginAddr:    rule("login_ip", "50-H", "failed logins per client address (password spraying across phones)"),
		LoginOK:      rule("login_ok_phone", "20-H", "successful logins per phone (session flooding with a known password)"),
		LookupAddr:   rule("lookup_ip", "100-H", "registration look-ups per client address: isregister, sendsms with expect, resultcode's 0001, registrations and resets (enumerating who is registered)"),
		UploadAddr:   rule("upload_ip", "30-H", "avatar uploads per client address, up to 5 MiB each (filling the disk)"),
		CodeLock:     15 * time.Minute,
		LoginWait:    time.Minute,
		LoginMaxWait: 15 * time.Minute,
	}
}

// Limits enforces a Config. It is safe for concurrent use.
type Limits struct {
	store  limiter.Store // fixed windows: the request limit
	events Log           // rolling windows and known clients
	cfg    Config
	now    func() time.Time
	log    *slog.Logger
	stats  map[string]*Stat // by rule name; built once, read-only after

	idPrefix string        // this instance's part of event ids
	seq      atomic.Uint64 // the rest
}

// Stat counts what a rule did, for metrics.
type Stat struct {
	Rejected    atomic.Int64 // requests refused
	DryRunHits  atomic.Int64 // requests a dry-run rule would have refused
	StoreErrors atomic.Int64 // store failures (failed open, or closed for SMS)
}

const (
	// backstopFactor: an IPv6 /48 may spend this many /56 budgets. ISPs
	// hand a subscriber a /56 (some a /48); a /48 holding several
	// subscribers is rare, and one attacker should not get 256 budgets.
	backstopFactor = 4
	// KnownClientTTL is how long a device or address that logged in to a
	// phone stays known to it, and knownClients how many of a phone's
	// newest are kept.
	KnownClientTTL = 30 * 24 * time.Hour
	knownClients   = 16
)

// New builds Limits over a limiter store for the request limit
// (NewMemoryStore, or the Redis driver) and a Log for everything else
// (NewMemoryLog, or the Redis one). now is the clock the windows follow.
func New(store limiter.Store, events Log, cfg Config, now func() time.Time, log *slog.Logger) *Limits {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	l := &Limits{store: store, events: events, cfg: cfg, now: now, log: log, stats: map[string]*Stat{}, idPrefix: hex.EncodeToString(b[:]) + "."}
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
	r := &l.cfg.Request
	if r.Off {
		return nil
	}
	addr, backstop := addressKeys(ctx)
	if err := l.failOpen(l.count(ctx, r, addr, r.Quota)); err != nil || backstop == "" {
		return err
	}
	return l.failOpen(l.count(ctx, r, backstop, r.Quota*backstopFactor))
}

// slot is one event a rule recorded, which may be given back.
type slot struct {
	rule *Rule
	key  string
	id   string
}

// step is one rolling-window budget to take from.
type step struct {
	rule     *Rule
	subject  string
	gate     Gate
	backstop bool // an IPv6 /48, whose quota is backstopFactor times the rule's
}

// quota is what a refusal by the step states as the limit's quota.
func (st step) quota() int64 {
	if st.backstop {
		return st.rule.Quota * backstopFactor
	}
	return st.rule.Quota
}

// gate is a rule's plain rolling window.
func gate(r *Rule) Gate { return Gate{Window: r.Window, Quota: r.Quota} }

// loginGate is login_phone's: its quota of failures, then the back-off.
func (l *Limits) loginGate() Gate {
	r := &l.cfg.LoginPhone
	return Gate{Window: r.Window, Quota: r.Quota, Backoff: l.cfg.LoginWait, MaxBackoff: l.cfg.LoginMaxWait}
}

// codeGate is code_phone's: quota wrong codes are fine; the next one
// locks the phone's checks for CodeLock after the latest.
func (l *Limits) codeGate() Gate {
	r := &l.cfg.CodePhone
	return Gate{Window: r.Window, Quota: r.Quota + 1, Backoff: l.cfg.CodeLock, MaxBackoff: l.cfg.CodeLock}
}

// addressSteps are a per-address rule's budgets: the address (an IPv6
// /56), and for IPv6 its /48 as a backstop.
func addressSteps(ctx context.Context, r *Rule) []step {
	addr, backstop := addressKeys(ctx)
	steps := []step{{rule: r, subject: addr, gate: gate(r)}}
	if backstop != "" {
		g := gate(r)
		g.Quota *= backstopFactor
		steps = append(steps, step{rule: r, subject: backstop, gate: g, backstop: true})
	}
	return steps
}

// take takes one slot from every step, in order, each atomically. When one
// refuses, the slots already taken are given back and the refusal is
// returned: a refused request spends no budget (an address over its
// quota cannot use up a victim phone's). A store failure gives the slots
// taken back too and returns an Unavailable error: a send it fails closed
// sends nothing, and a check it fails open goes ahead uncounted.
func (l *Limits) take(ctx context.Context, steps []step) ([]slot, error) {
	var taken []slot
	now := l.now()
	for _, st := range steps {
		if st.rule.Off {
			continue
		}
		key := st.rule.Name + ":" + st.subject
		id := l.idPrefix + strconv.FormatUint(l.seq.Add(1), 36)
		g := st.gate
		g.Force = st.rule.DryRun
		res, err := l.events.Take(ctx, key, id, g, now)
		if err != nil {
			l.storeError(ctx, st.rule, err)
			l.giveBack(ctx, taken)
			return nil, &core.Error{Op: "limits." + st.rule.Name, Kind: core.Unavailable, Msg: "rate limiter unavailable", Err: err}
		}
		if res.OK || st.rule.DryRun {
			taken = append(taken, slot{st.rule, key, id})
		}
		if !res.OK {
			if err := l.refuse(ctx, st.rule, st.subject, st.quota(), res.RetryAt.Sub(now)); err != nil {
				l.giveBack(ctx, taken)
				return nil, err
			}
		}
	}
	return taken, nil
}

// giveBack returns slots, whatever happened to the request's context: a
// client that went away must not leave its attempt counted as a failure.
func (l *Limits) giveBack(ctx context.Context, slots []slot) {
	ctx = context.WithoutCancel(ctx)
	for _, s := range slots {
		if err := l.events.Return(ctx, s.key, s.id); err != nil {
			l.storeError(ctx, s.rule, err)
		}
	}
}

// AllowSend applies the SMS limits. It fails closed: an unknown count
// could be an SMS-pumping run. The per-phone budgets of a client that has
// logged in to the phone before are its own, so a stranger's sends do not
// stop the owner's codes (see knownClient).
func (l *Limits) AllowSend(ctx context.Context, phone string) error {
	subject := phone
	if c := l.knownClient(ctx, phone, "", &l.cfg.SMSCooldown, &l.cfg.SMSPhone, &l.cfg.SMSPhoneDay); c != "" {
		subject = phone + "|" + c
	}
	steps := append([]step{
		{rule: &l.cfg.SMSCooldown, subject: subject, gate: gate(&l.cfg.SMSCooldown)},
		{rule: &l.cfg.SMSPhone, subject: subject, gate: gate(&l.cfg.SMSPhone)},
		{rule: &l.cfg.SMSPhoneDay, subject: subject, gate: gate(&l.cfg.SMSPhoneDay)},
	}, addressSteps(ctx, &l.cfg.SMSAddress)...)
	// The spend budget last: a send another limit refuses spends none of it.
	steps = append(steps,
		step{rule: &l.cfg.SMSAllHour, subject: "all", gate: gate(&l.cfg.SMSAllHour)},
		step{rule: &l.cfg.SMSAllDay, subject: "all", gate: gate(&l.cfg.SMSAllDay)})
	_, err := l.take(ctx, steps)
	if lim := core.LimitOf(err); lim != nil && (lim.Name == l.cfg.SMSAllHour.Name || lim.Name == l.cfg.SMSAllDay.Name) {
		l.log.LogAttrs(ctx, slog.LevelError, "SMS SPEND BUDGET REACHED: no code is sent to any phone until it frees up",
			slog.String("limit", lim.Name), slog.Int64("quota", lim.Quota), slog.Duration("retry_after", core.RetryAfterOf(err)))
	}
	return err
}

// AllowLookup applies the per-address limit on registration look-ups.
func (l *Limits) AllowLookup(ctx context.Context) error {
	_, err := l.take(ctx, addressSteps(ctx, &l.cfg.LookupAddr))
	return l.failOpen(err)
}

// AllowUpload applies the per-address limit on avatar uploads. It fails
// open, like the other non-SMS limits.
func (l *Limits) AllowUpload(ctx context.Context) error {
	_, err := l.take(ctx, addressSteps(ctx, &l.cfg.UploadAddr))
	return l.failOpen(err)
}

// BeginCodeCheck takes a slot of the phone's wrong-code budget: past the
// quota, each further check waits CodeLock after the latest one. It fails
// open.
func (l *Limits) BeginCodeCheck(ctx context.Context, phone string) (core.Attempt, error) {
	r := &l.cfg.CodePhone
	subject := phone
	if c := l.knownClient(ctx, phone, "", r); c != "" {
		subject = phone + "|" + c
	}
	slots, err := l.take(ctx, []step{{rule: r, subject: subject, gate: l.codeGate()}})
	if err != nil {
		return l.openAttempt(ctx, slots, err)
	}
	return &attempt{l: l, failures: slots, ownPool: subject != phone}, nil
}

// BeginLogin takes a slot from each login budget before the password is
// checked: the phone's failures (its known client's own, for a client
// that has logged in before), the address's failures (not for a known
// client: spraying across phones is what it stops) and the phone's
// successful logins. It fails open.
func (l *Limits) BeginLogin(ctx context.Context, phone, device string) (core.Attempt, error) {
	r := &l.cfg.LoginPhone
	client := l.knownClient(ctx, phone, device, r, &l.cfg.LoginAddr)
	subject := phone
	if client != "" {
		subject = phone + "|" + client
	}
	fails := []step{{rule: r, subject: subject, gate: l.loginGate()}}
	if client == "" {
		fails = append(fails, addressSteps(ctx, &l.cfg.LoginAddr)...)
	}
	failSlots, err := l.take(ctx, fails)
	if err != nil {
		return l.openAttempt(ctx, failSlots, err)
	}
	okSlots, err := l.take(ctx, []step{{rule: &l.cfg.LoginOK, subject: phone, gate: gate(&l.cfg.LoginOK)}})
	if err != nil {
		l.giveBack(ctx, failSlots)
		return l.openAttempt(ctx, okSlots, err)
	}
	return &attempt{l: l, failures: failSlots, successes: okSlots, ownPool: client != "", phone: phone, device: device}, nil
}

// openAttempt answers a Begin whose take failed: a refusal as it is; a
// store failure fails open, its slots given back.
func (l *Limits) openAttempt(ctx context.Context, slots []slot, err error) (core.Attempt, error) {
	l.giveBack(ctx, slots)
	if core.KindOf(err) == core.RateLimited {
		return nil, err
	}
	return core.NoAttempt, nil
}

// attempt is a check in flight: failures are the slots that stay taken if
// it fails, successes those that stay taken if it succeeds.
type attempt struct {
	l                   *Limits
	failures, successes []slot
	// ownPool: the failure budget is the known client's own, so a success
	// may forget it; the phone's shared budget is never forgotten.
	ownPool bool
	// phone and device are a login's ("" for a code check): a success
	// makes the client known to the phone.
	phone, device string
}

func (a *attempt) Succeeded(ctx context.Context) {
	if a.ownPool {
		// The known client's pool is its own: forget it whole (which
		// gives this attempt's slot back too). Such an attempt takes no
		// login_ip slot.
		for _, s := range a.failures {
			a.l.forget(ctx, s)
		}
	} else {
		a.l.giveBack(ctx, a.failures)
	}
	if a.phone != "" {
		a.l.remember(ctx, a.phone, a.device)
	}
}

func (a *attempt) Failed(ctx context.Context) { a.l.giveBack(ctx, a.successes) }

func (a *attempt) Cancel(ctx context.Context) {
	a.l.giveBack(ctx, a.failures)
	a.l.giveBack(ctx, a.successes)
}

// forget drops the client's own failures in s's log (a known client that
// got its password right).
func (l *Limits) forget(ctx context.Context, s slot) {
	if err := l.events.Clear(context.WithoutCancel(ctx), s.key); err != nil {
		l.storeError(ctx, s.rule, err)
	}
}

// knownClient returns the client's name among the phone's known clients,
// "" when it is not one: with a device id, the device ("d:<id>"); without
// one, the address ("a:<key>"). An unknown client shares the phone's
// budgets with everyone else; a known one has its own, and still counts
// its own failures. A store failure makes the client unknown. When every
// rule the answer is for is off, the store is not asked.
func (l *Limits) knownClient(ctx context.Context, phone, device string, rules ...*Rule) string {
	if !anyOn(rules...) {
		return ""
	}
	var c string
	if device != "" {
		c = "d:" + device
	} else {
		addr, _ := addressKeys(ctx)
		c = "a:" + addr
	}
	ok, err := l.events.Knows(ctx, "known:"+phone, c, l.now(), KnownClientTTL)
	if err != nil {
		l.log.LogAttrs(ctx, slog.LevelError, "rate limiter store failed", slog.String("limit", "known_clients"), slog.String("err", err.Error()))
	}
	if !ok {
		return ""
	}
	return c
}

// remember makes the device, if any, and the address known to the phone.
// Nothing is remembered while every rule known clients change is off.
func (l *Limits) remember(ctx context.Context, phone, device string) {
	c := &l.cfg
	if !anyOn(&c.SMSCooldown, &c.SMSPhone, &c.SMSPhoneDay, &c.CodePhone, &c.LoginPhone, &c.LoginAddr) {
		return
	}
	ctx = context.WithoutCancel(ctx)
	addr, _ := addressKeys(ctx)
	members := []string{"a:" + addr}
	if device != "" {
		members = append(members, "d:"+device)
	}
	for _, m := range members {
		if err := l.events.Remember(ctx, "known:"+phone, m, l.now(), KnownClientTTL, knownClients); err != nil {
			l.log.LogAttrs(ctx, slog.LevelError, "rate limiter store failed", slog.String("limit", "known_clients"), slog.String("err", err.Error()))
		}
	}
}

// anyOn reports whether one of rules is counted (is not off).
func anyOn(rules ...*Rule) bool {
	for _, r := range rules {
		if !r.Off {
			return true
		}
	}
	return false
}

// count adds one event to the rule's current fixed window and refuses when
// the window is over quota.
func (l *Limits) count(ctx context.Context, r *Rule, subject string, quota int64) error {
	key, end := l.window(r, subject)
	// A quota of MaxInt64 makes Remaining carry the exact count.
	c, err := l.store.Increment(ctx, key, 1, limiter.Rate{Period: r.Window, Limit: math.MaxInt64})
	if err != nil {
		l.storeError(ctx, r, err)
		return err
	}
	if math.MaxInt64-c.Remaining <= quota {
		return nil
	}
	return l.refuse(ctx, r, subject, quota, end.Sub(l.now()))
}

// window returns the key of the subject's counter in the current fixed
// window, and the window's end.
func (l *Limits) window(r *Rule, subject string) (string, time.Time) {
	now := l.now().UnixNano()
	w := int64(r.Window)
	idx := now / w
	var buf [96]byte // one allocation, the key's string
	b := append(append(append(append(buf[:0], r.Name...), ':'), subject...), ':')
	return string(strconv.AppendInt(b, idx, 36)), time.Unix(0, (idx+1)*w)
}

// refuse answers a rule's refusal: RateLimited, or nil under dry-run.
func (l *Limits) refuse(ctx context.Context, r *Rule, subject string, quota int64, wait time.Duration) error {
	if r.DryRun {
		l.stats[r.Name].DryRunHits.Add(1)
		l.log.LogAttrs(ctx, slog.LevelWarn, "rate limit dry-run: would refuse", slog.String("limit", r.Name), slog.String("subject", maskSubject(subject)))
		return nil
	}
	l.stats[r.Name].Rejected.Add(1)
	return &core.Error{Op: "limits." + r.Name, Kind: core.RateLimited, Msg: "too many requests",
		RetryAfter: max(wait, time.Second), Limit: &core.Limit{Name: r.Name, Quota: quota, Window: r.Window}}
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

// addressKeys are the client address limits count by: the address itself
// for IPv4; for IPv6 its /56 (one subscriber's prefix) and, as backstop,
// its /48 ("" for IPv4).
func addressKeys(ctx context.Context) (addr, backstop string) {
	ip, a := core.ClientAddress(ctx) // parsed once per request, by the gateway
	if !a.IsValid() {
		return "unknown", ""
	}
	if a.Is4() || a.Is4In6() {
		// The text is formatted on the stack and compared with the one the
		// gateway recorded: when they are the same (always, for the
		// gateway's), that string is the key, and no new one is made.
		var buf [len("255.255.255.255")]byte
		b := a.Unmap().AppendTo(buf[:0])
		if ip == string(b) {
			return ip, ""
		}
		return string(b), ""
	}
	return prefix(a, 56), prefix(a, 48)
}

func prefix(a netip.Addr, bits int) string {
	p, _ := a.Prefix(bits)
	return p.String()
}

// maskSubject keeps phones out of logs (addresses are logged as they are).
func maskSubject(s string) string {
	if strings.HasPrefix(s, "+") {
		phone, client, _ := strings.Cut(s, "|")
		if client != "" {
			return core.MaskPhone(phone) + "|" + client[:1]
		}
		return core.MaskPhone(phone)
	}
	return s
}
