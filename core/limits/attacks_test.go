package limits_test

// The attacks of issue 13 that the limits themselves stop, each as the
// attacker would try it. Every test here failed against the fixed-window
// design (read-then-count, a success that reset the phone's counter, no
// known clients, IPv6 per /64).

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/core/limits"
	"legacyauth/internal/testkit"
)

// TestConcurrentLoginBurst: 150 logins for one phone from one address,
// released together and none reporting its outcome before all have begun,
// get exactly 5 password checks; when the 5 report failures, the next
// waits a minute.
func TestConcurrentLoginBurst(t *testing.T) {
	e := newEnv(t, nil)
	p := phone(1)
	const n = 150
	var mu sync.Mutex
	var admitted []core.Attempt
	var refused atomic.Int64
	testkit.Together(n, func(i int) {
		a, err := e.BeginLogin(ctx, p, "")
		switch {
		case err == nil:
			mu.Lock()
			admitted = append(admitted, a)
			mu.Unlock()
		case core.KindOf(err) == core.RateLimited && core.LimitOf(err).Name == "login_phone":
			refused.Add(1)
		default:
			t.Errorf("login %d: %v", i, err)
		}
	})
	if len(admitted) != 5 || refused.Load() != n-5 {
		t.Fatalf("%d admitted, %d refused; want 5 and %d", len(admitted), refused.Load(), n-5)
	}
	for _, a := range admitted {
		a.Failed(ctx)
	}
	wantLimited(t, "the 6th, after the 5 failed", e.loginErr(ctx, p, ""), e.cfg.LoginPhone, time.Minute)
	e.clock.Advance(time.Minute)
	// A second burst after the wait: one check.
	var second atomic.Int64
	testkit.Together(n, func(int) {
		if a, err := e.BeginLogin(from("198.51.100.1"), p, ""); err == nil {
			second.Add(1)
			a.Failed(ctx)
		}
	})
	if second.Load() != 1 {
		t.Errorf("a second burst after the wait: %d checked, want 1", second.Load())
	}
}

// TestConcurrentCodeBurst: the same for code checks: 11 of 200.
func TestConcurrentCodeBurst(t *testing.T) {
	e := newEnv(t, nil)
	var admitted atomic.Int64
	testkit.Together(200, func(i int) {
		if a, err := e.BeginCodeCheck(from(fmt.Sprintf("198.51.100.%d", i%250)), phone(1)); err == nil {
			admitted.Add(1)
			a.Failed(ctx)
		}
	})
	if admitted.Load() != e.cfg.CodePhone.Quota+1 {
		t.Errorf("%d code checks, want %d", admitted.Load(), e.cfg.CodePhone.Quota+1)
	}
}

// TestOwnerSuccessKeepsAttackerFailures: an attacker guessing from
// rotating addresses, while the owner (a known device) logs in between
// the guesses, still meets the lock after 5 failures and the doubling
// waits after it.
func TestOwnerSuccessKeepsAttackerFailures(t *testing.T) {
	e := newEnv(t, nil)
	p := phone(1)
	owner := from("192.0.2.200")
	e.okLogin(t, "the owner's first login", owner, p, "owner-device")
	guess := 0
	attacker := func() string { guess++; return fmt.Sprintf("203.0.113.%d", guess) }
	for i := range 4 {
		e.failLogin(t, fmt.Sprintf("guess %d", i+1), from(attacker()), p, "")
		e.okLogin(t, fmt.Sprintf("the owner after guess %d", i+1), owner, p, "owner-device")
	}
	e.failLogin(t, "guess 5", from(attacker()), p, "")
	e.okLogin(t, "the owner after guess 5", owner, p, "owner-device")
	wantLimited(t, "guess 6", e.loginErr(from(attacker()), p, ""), e.cfg.LoginPhone, time.Minute)
	for i, wait := range []time.Duration{1, 2, 4} {
		e.clock.Advance(wait * time.Minute)
		e.okLogin(t, "the owner during the waits", owner, p, "owner-device")
		e.failLogin(t, fmt.Sprintf("guess after wait %d", i+1), from(attacker()), p, "")
		e.okLogin(t, "the owner right after it", owner, p, "owner-device")
		wantLimited(t, fmt.Sprintf("the guess after that one (%d)", i+1), e.loginErr(from(attacker()), p, ""), e.cfg.LoginPhone, 2*wait*time.Minute)
	}
}

// TestKnownDeviceNotLockedOut: 50 failures from elsewhere lock the phone
// for strangers but not for a device that has logged in before (nor, with
// no device id, for an address that has); its own 5 failures lock it.
func TestKnownDeviceNotLockedOut(t *testing.T) {
	e := newEnv(t, nil)
	p := phone(1)
	home := from("192.0.2.200")
	e.okLogin(t, "the owner's first login", home, p, "owner-device")
	var checked int
	for i := range 50 {
		a, err := e.BeginLogin(from(fmt.Sprintf("203.0.113.%d", i)), p, fmt.Sprintf("attacker-%d", i))
		if err == nil {
			checked++
			a.Failed(ctx)
		}
		e.clock.Advance(30 * time.Second)
	}
	// One guess every 30 s for 25 minutes: checked at 0, 0.5, 1, 1.5 and
	// 2 minutes, then after waits of 1, 2, 4 and 8: at 3, 5, 9 and 17.
	if checked != 9 {
		t.Fatalf("%d of the attacker's guesses checked, want 9", checked)
	}
	wantLimited(t, "a stranger", e.loginErr(from("198.51.100.1"), p, ""), e.cfg.LoginPhone, 7*time.Minute) // 17 + 15 - 25
	e.okLogin(t, "the known device, from a new address", from("198.51.100.77"), p, "owner-device")
	e.okLogin(t, "the known address, without a device id", home, p, "")
	for i := range 5 {
		e.failLogin(t, fmt.Sprintf("the known device's own failure %d", i+1), home, p, "owner-device")
	}
	wantLimited(t, "the known device after its own 5 failures", e.loginErr(home, p, "owner-device"), e.cfg.LoginPhone, time.Minute)
	e.clock.Advance(time.Minute)
	e.okLogin(t, "the known device after its wait", home, p, "owner-device")
}

// TestLockOutlivesTheHour: a lock is a deadline, whatever the clock's hour.
func TestLockOutlivesTheHour(t *testing.T) {
	t.Run("login", func(t *testing.T) {
		e := newEnv(t, nil)
		p := phone(1)
		e.clock.Set(time.Date(2026, 3, 1, 12, 59, 30, 0, time.UTC))
		for i := range 5 {
			e.failLogin(t, fmt.Sprintf("failure %d at 12:59:30", i+1), ctx, p, "")
		}
		e.clock.Set(time.Date(2026, 3, 1, 13, 0, 10, 0, time.UTC))
		wantLimited(t, "at 13:00:10", e.loginErr(ctx, p, ""), e.cfg.LoginPhone, 20*time.Second)
		e.clock.Set(time.Date(2026, 3, 1, 13, 0, 29, 0, time.UTC))
		wantLimited(t, "at 13:00:29", e.loginErr(ctx, p, ""), e.cfg.LoginPhone, time.Second)
		e.clock.Set(time.Date(2026, 3, 1, 13, 0, 30, 0, time.UTC))
		wantOK(t, "at 13:00:30", e.loginErr(ctx, p, ""))
	})
	t.Run("code", func(t *testing.T) {
		e := newEnv(t, nil)
		p := phone(1)
		e.clock.Set(time.Date(2026, 3, 1, 2, 55, 49, 0, time.UTC))
		for i := range 11 {
			e.failCode(t, fmt.Sprintf("wrong code %d at 02:55:49", i+1), ctx, p)
		}
		e.clock.Set(time.Date(2026, 3, 1, 3, 0, 52, 0, time.UTC))
		wantLimited(t, "at 03:00:52", e.codeErr(ctx, p), e.cfg.CodePhone, 9*time.Minute+57*time.Second)
		e.clock.Set(time.Date(2026, 3, 1, 3, 10, 49, 0, time.UTC))
		wantOK(t, "at 03:10:49", e.codeErr(ctx, p))
	})
}

// TestSMSRollingHour: 5 sends on either side of an hour boundary, then a
// send tried every minute: no rolling hour ever holds more than 5 (fixed
// windows let 10 through within 10 minutes), and the 6th goes out when
// the first leaves the hour.
func TestSMSRollingHour(t *testing.T) {
	e := newEnv(t, nil)
	p := phone(1)
	first := time.Date(2026, 3, 1, 12, 58, 0, 0, time.UTC)
	var sent []time.Time
	for m := range 5 {
		e.clock.Set(first.Add(time.Duration(m) * time.Minute))
		wantOK(t, fmt.Sprintf("send %d", m+1), e.AllowSend(ctx, p))
		sent = append(sent, e.clock.Now())
	}
	for m := 5; m < 60; m++ {
		e.clock.Set(first.Add(time.Duration(m) * time.Minute))
		wantLimited(t, fmt.Sprintf("a send at %s", e.clock.Now().Format("15:04")), e.AllowSend(ctx, p), e.cfg.SMSPhone, time.Duration(60-m)*time.Minute)
	}
	for m := 60; m < 200; m++ {
		e.clock.Set(first.Add(time.Duration(m) * time.Minute))
		if e.AllowSend(ctx, p) == nil {
			sent = append(sent, e.clock.Now())
		}
	}
	if len(sent) < 6 || !sent[5].Equal(first.Add(time.Hour)) {
		t.Fatalf("sends at %v; want the 6th at %s", sent, first.Add(time.Hour).Format("15:04"))
	}
	for i, at := range sent {
		n := 0
		for _, b := range sent[:i+1] {
			if at.Sub(b) < time.Hour {
				n++
			}
		}
		if n > 5 {
			t.Errorf("%d sends in the hour up to %s", n, at.Format("15:04"))
		}
	}
}

// TestIPv6Prefixes: five /64s in one /56 share one address budget; two
// /56s in one /48 have a budget each, but the /48 stops at 4 budgets.
func TestIPv6Prefixes(t *testing.T) {
	e := newEnv(t, func(c *limits.Config) {
		c.LookupAddr = rule(t, "lookup_ip", "3-H")
		c.LoginAddr = rule(t, "login_ip", "3-H")
	})
	sixtyFours := []string{"2001:db8:1:200::1", "2001:db8:1:201::1", "2001:db8:1:202::1", "2001:db8:1:2fe::1", "2001:db8:1:2ff::1"}
	for i, ip := range sixtyFours {
		if i < 3 {
			wantOK(t, "look-up from "+ip, e.AllowLookup(from(ip)))
		} else {
			wantLimited(t, "look-up from "+ip, e.AllowLookup(from(ip)), e.cfg.LookupAddr, time.Hour)
		}
	}
	for i, ip := range sixtyFours {
		if i < 3 {
			e.failLogin(t, "login from "+ip, from(ip), phone(i), "")
		} else {
			wantLimited(t, "login from "+ip, e.loginErr(from(ip), phone(i), ""), e.cfg.LoginAddr, time.Hour)
		}
	}
	// Three more /56s in 2001:db8:1::/48: 12 look-ups in the /48 in all.
	for _, ip := range []string{"2001:db8:1:300::1", "2001:db8:1:400::1", "2001:db8:1:500::1"} {
		for i := range 3 {
			wantOK(t, fmt.Sprintf("look-up %d from %s", i+1, ip), e.AllowLookup(from(ip)))
		}
	}
	backstop := e.cfg.LookupAddr
	backstop.Quota *= 4 // the refusal states the /48's quota
	wantLimited(t, "a fifth /56 in the /48", e.AllowLookup(from("2001:db8:1:600::1")), backstop, time.Hour)
	wantOK(t, "another /48", e.AllowLookup(from("2001:db8:2::1")))
	// The backstop's refusals spent nothing of the /56's budget.
	e.clock.Advance(time.Hour)
	for i := range 3 {
		wantOK(t, fmt.Sprintf("the fifth /56 an hour later, %d", i+1), e.AllowLookup(from("2001:db8:1:600::1")))
	}
}

// TestSMSStrangerSparesOwner: a stranger spending a phone's whole daily
// SMS budget does not stop the owner's codes from an address the owner
// has logged in from; nor do the stranger's wrong codes lock the owner's
// code checks.
func TestSMSStrangerSparesOwner(t *testing.T) {
	e := newEnv(t, nil)
	p := phone(1)
	home := from("192.0.2.200")
	e.okLogin(t, "the owner's login", home, p, "")
	for i := range 10 {
		e.clock.Set(start.Add(time.Duration(i/5)*time.Hour + time.Duration(i%5)*time.Minute))
		wantOK(t, fmt.Sprintf("the stranger's send %d", i+1), e.AllowSend(from(fmt.Sprintf("203.0.113.%d", i)), p))
	}
	e.clock.Set(start.Add(2 * time.Hour))
	wantLimited(t, "the stranger's 11th", e.AllowSend(from("203.0.113.99"), p), e.cfg.SMSPhoneDay, 22*time.Hour)
	wantOK(t, "the owner's send", e.AllowSend(home, p))
	for i := range 11 {
		e.failCode(t, fmt.Sprintf("the stranger's wrong code %d", i+1), from("203.0.113.99"), p)
	}
	wantLimited(t, "the stranger's 12th code", e.codeErr(from("203.0.113.98"), p), e.cfg.CodePhone, 15*time.Minute)
	a, err := e.BeginCodeCheck(home, p)
	wantOK(t, "the owner's code check", err)
	a.Succeeded(home)
	// The owner's own budgets still hold: the cooldown, then its hour.
	wantLimited(t, "the owner's second send at once", e.AllowSend(home, p), e.cfg.SMSCooldown, time.Minute)
}
