package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests attack the protections the way issue 13 found them broken:
// through the HTTP surface, concurrently where concurrency is the attack,
// on the embedded store and on PostgreSQL + Redis shared by two instances.

// protectedGateways starts the gateways one variant runs against: one on
// the embedded store, or two in-process instances sharing PostgreSQL and
// Redis (skipped, and saying so, without GATEWAY_TEST_POSTGRES_URL and
// GATEWAY_TEST_REDIS_URL).
func protectedGateways(t *testing.T, shared bool, args ...string) []*testGateway {
	t.Helper()
	if !shared {
		return []*testGateway{startGateway(t, args...)}
	}
	pgURL, redisURL := scaleOutEnv(t)
	schema, prefix := isolate(t, pgURL, redisURL)
	secret := randomSecret()
	common := append([]string{"--store=postgres", "--postgres-url", pgURL, "--postgres-schema", schema,
		"--redis-url", redisURL, "--redis-prefix", prefix, "--secret", secret}, args...)
	return []*testGateway{startGateway(t, common...), startGateway(t, common...)}
}

// eachStore runs f on the embedded store and on the shared stores.
func eachStore(t *testing.T, f func(t *testing.T, gs []*testGateway), args ...string) {
	for _, shared := range []bool{false, true} {
		name := "memdb"
		if shared {
			name = "postgres+redis"
		}
		t.Run(name, func(t *testing.T) { f(t, protectedGateways(t, shared, args...)) })
	}
}

// registerV1 registers phone with crossPassword through /v1.
func registerV1(t *testing.T, g *testGateway, phone string) {
	t.Helper()
	c := newLimClient(t, g, "")
	if r := c.postJSON("/v1/codes", map[string]string{"phone": phone, "purpose": "register"}); r.status != http.StatusOK {
		t.Fatalf("send: HTTP %d %s", r.status, r.body)
	}
	if r := c.postJSON("/v1/users", map[string]string{"phone": phone, "password": crossPassword, "code": g.SMS.CodeFor(phone)}); r.status != http.StatusCreated {
		t.Fatalf("register: HTTP %d %s", r.status, r.body)
	}
}

// burst sends n requests at once: each goroutine builds its request, waits
// at the barrier, and then all go together.
func burst(n int, do func(i int) limReply) []limReply {
	out := make([]limReply, n)
	var ready, done sync.WaitGroup
	barrier := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-barrier
			out[i] = do(i)
		}()
	}
	ready.Wait()
	close(barrier)
	done.Wait()
	return out
}

// TestLoginBurstCannotPassLock: 150 simultaneous logins for one phone from
// one address, one of them with the right password. Before, every request
// in flight passed the lock check and 149 wrong passwords were checked;
// now each takes its slot before the hash, so at most login_phone (5)
// passwords are checked, on every store and across instances.
func TestLoginBurstCannotPassLock(t *testing.T) {
	eachStore(t, func(t *testing.T, gs []*testGateway) {
		for i, name := range []string{"v1", "caraccessories", "apiv4", "resultcode"} {
			d := limDialectNamed(name)
			t.Run(name, func(t *testing.T) {
				phone := fmt.Sprintf("1370001%04d", i)
				registerV1(t, gs[0], phone)
				// The guesses come from one address; the right password
				// from another (the owner), so that its success cannot make
				// the guesses' address a known client.
				const n = 150
				replies := burst(n, func(i int) limReply {
					if i == n-1 {
						return d.login(newLimClient(t, gs[0], "203.0.113.200"), phone, crossPassword)
					}
					c := newLimClient(t, gs[i%len(gs)], "198.51.100.1")
					if name == "apiv4" { // not the owner's device id ("dev-1")
						return c.postForm("/api/v4.0/login", url.Values{"phone": {phone}, "password": {"wrong-pw-1"}, "device_identifier": {"attacker"}})
					}
					return d.login(c, phone, "wrong-pw-1")
				})
				var wrong, right, limited int
				for _, r := range replies {
					switch {
					case d.loginWrong(r):
						wrong++
					case d.loggedIn(r):
						right++ // a success gives its slot back
					case d.loginLimited(r):
						limited++
					default:
						t.Fatalf("unexpected reply: HTTP %d %s", r.status, r.body)
					}
				}
				t.Logf("%d concurrent logins: %d wrong passwords checked, %d right, %d refused", n, wrong, right, limited)
				if wrong > 5 {
					t.Errorf("%d concurrent logins: %d wrong passwords checked, want at most 5", n, wrong)
				}
			})
		}
	}, "--trusted-proxies=127.0.0.1/32")
}

// TestSuccessKeepsOthersFailures: while an attacker guesses from rotating
// addresses, the owner logs in every fourth request. Before, each of the
// owner's successes reset the phone's failures and all 100 guesses were
// checked; now a success gives back only its own attempt, and the owner,
// a known client, is not locked out either.
func TestSuccessKeepsOthersFailures(t *testing.T) {
	eachStore(t, func(t *testing.T, gs []*testGateway) {
		g := gs[0]
		d := limDialectNamed("caraccessories")
		const phone = "13700020001"
		registerV1(t, g, phone)
		owner := newLimClient(t, g, "203.0.113.77")
		if r := d.login(owner, phone, crossPassword); !d.loggedIn(r) {
			t.Fatalf("owner's first login: HTTP %d %s", r.status, r.body)
		}
		var checked, ownerOK int
		for i := range 100 {
			if i%4 == 3 {
				if r := d.login(owner, phone, crossPassword); d.loggedIn(r) {
					ownerOK++
				} else {
					t.Errorf("owner's login %d: HTTP %d %s", i, r.status, r.body)
				}
				continue
			}
			attacker := newLimClient(t, gs[i%len(gs)], limAddr(i))
			switch r := d.login(attacker, phone, fmt.Sprintf("guess-%d", i)); {
			case d.loginWrong(r):
				checked++
			case !d.loginLimited(r):
				t.Fatalf("guess %d: HTTP %d %s", i, r.status, r.body)
			}
		}
		t.Logf("75 guesses from rotating addresses: %d checked; owner logged in %d of 25 times", checked, ownerOK)
		if checked > 5 {
			t.Errorf("%d guesses checked, want at most 5", checked)
		}
	}, "--trusted-proxies=127.0.0.1/32", "--limit-login-ok-phone=off")
}

// TestKnownDeviceIsNotLockedOut: failures from strangers lock the phone
// for strangers only. A device (apiv4's device_identifier) or, without
// one, an address that has logged in before keeps logging in, and still
// counts its own failures.
func TestKnownDeviceIsNotLockedOut(t *testing.T) {
	eachStore(t, func(t *testing.T, gs []*testGateway) {
		g := gs[len(gs)-1]
		login := func(c *limClient, phone, pw, device string) limReply {
			return c.postForm("/api/v4.0/login", url.Values{"phone": {phone}, "password": {pw}, "device_identifier": {device}})
		}
		apiv4 := limDialectNamed("apiv4")
		t.Run("device", func(t *testing.T) {
			const phone = "13700030001"
			registerV1(t, gs[0], phone)
			if r := login(newLimClient(t, g, "203.0.113.5"), phone, crossPassword, "owner-phone"); !apiv4.loggedIn(r) {
				t.Fatalf("owner's first login: HTTP %d %s", r.status, r.body)
			}
			for i := range 20 {
				login(newLimClient(t, g, limAddr(i)), phone, "guess", fmt.Sprintf("attacker-%d", i))
			}
			if r := login(newLimClient(t, g, limAddr(99)), phone, crossPassword, "new-device"); !apiv4.loginLimited(r) {
				t.Fatalf("a stranger with the right password after 20 failures: HTTP %d %s, want the locked reply", r.status, r.body)
			}
			// The owner's device, from an address it never used.
			owner := newLimClient(t, g, "198.18.0.1")
			if r := login(owner, phone, crossPassword, "owner-phone"); !apiv4.loggedIn(r) {
				t.Fatalf("owner's device after strangers' failures: HTTP %d %s, want logged in", r.status, r.body)
			}
			for k := range 5 {
				if r := login(owner, phone, "typo", "owner-phone"); !apiv4.loginWrong(r) {
					t.Fatalf("owner's own failure %d: HTTP %d %s", k+1, r.status, r.body)
				}
			}
			if r := login(owner, phone, crossPassword, "owner-phone"); !apiv4.loginLimited(r) {
				t.Fatalf("owner's device after its own 5 failures: HTTP %d %s, want the locked reply", r.status, r.body)
			}
		})
		t.Run("address", func(t *testing.T) {
			d := limDialectNamed("resultcode")
			const phone = "13700030002"
			registerV1(t, gs[0], phone)
			owner := newLimClient(t, g, "203.0.113.6")
			if r := d.login(owner, phone, crossPassword); !d.loggedIn(r) {
				t.Fatalf("owner's first login: HTTP %d %s", r.status, r.body)
			}
			for i := range 20 {
				d.login(newLimClient(t, g, limAddr(i)), phone, "guess")
			}
			if r := d.login(newLimClient(t, g, limAddr(99)), phone, crossPassword); !d.loginLimited(r) {
				t.Fatalf("a stranger with the right password: HTTP %d %s, want the locked reply", r.status, r.body)
			}
			if r := d.login(owner, phone, crossPassword); !d.loggedIn(r) {
				t.Fatalf("owner's address after strangers' failures: HTTP %d %s, want logged in", r.status, r.body)
			}
		})
		t.Run("sms", func(t *testing.T) {
			d := limDialectNamed("caraccessories")
			const phone = "13700030003"
			registerV1(t, gs[0], phone)
			owner := newLimClient(t, g, "203.0.113.7")
			if r := d.login(owner, phone, crossPassword); !d.loggedIn(r) {
				t.Fatalf("owner's first login: HTTP %d %s", r.status, r.body)
			}
			// A stranger spends the phone's daily budget (10), an hour's
			// worth (5) at a time.
			sent := 0
			for i := range 12 {
				if r := d.send(newLimClient(t, g, limAddr(i)), phone); d.sent(r) {
					sent++
				}
				for _, g := range gs {
					g.Clock.Advance(13 * time.Minute)
				}
			}
			if sent != 9 {
				t.Fatalf("stranger's sends: %d went out, want the daily budget of 10 less the registration's", sent)
			}
			if r := d.send(newLimClient(t, g, limAddr(50)), phone); !d.limited(r) {
				t.Fatalf("a stranger's 11th send: HTTP %d %s, want refused", r.status, r.body)
			}
			if r := d.send(owner, phone); !d.sent(r) {
				t.Fatalf("the owner's send from a known address: HTTP %d %s, want sent", r.status, r.body)
			}
		})
	}, "--trusted-proxies=127.0.0.1/32")
}

// TestLockIsADeadline: locks and budgets are rolling, so an hour boundary
// opens nothing. Before, a code lock set a few minutes before the hour was
// gone at the hour, and a phone got 5 SMS before and 5 after it.
func TestLockIsADeadline(t *testing.T) {
	eachStore(t, func(t *testing.T, gs []*testGateway) {
		g := gs[0]
		advance := func(d time.Duration) {
			for _, g := range gs {
				g.Clock.Advance(d)
			}
		}
		// The clock reads 03:04:05; move to 03:55:05.
		advance(51 * time.Minute)
		c := newLimClient(t, g, "")
		t.Run("code lock", func(t *testing.T) {
			const phone = "13700040001"
			// 11 wrong codes (10 are fine): fresh sends, since a code
			// burns after 5 wrong tries.
			wrong := 0
			for wrong < 11 {
				if r := c.postJSON("/v1/codes", map[string]string{"phone": phone, "purpose": "register"}); r.status != http.StatusOK {
					t.Fatalf("send: HTTP %d %s", r.status, r.body)
				}
				for k := 0; k < 4 && wrong < 11; k++ {
					r := c.postJSON("/v1/codes/verify", map[string]string{"phone": phone, "purpose": "register", "code": "000000"})
					if r.status == http.StatusTooManyRequests {
						t.Fatalf("wrong code %d refused early: %s", wrong+1, r.body)
					}
					wrong++
				}
				advance(time.Minute) // the SMS cooldown
			}
			// Cross the hour.
			advance(4 * time.Minute)
			r := c.postJSON("/v1/codes/verify", map[string]string{"phone": phone, "purpose": "register", "code": "000000"})
			if r.status != http.StatusTooManyRequests {
				t.Fatalf("a code check after the hour, within the 15-minute lock: HTTP %d %s, want 429", r.status, r.body)
			}
			// The 11th wrong code was at 03:57:05: locked until 04:12:05.
			if ra := r.header.Get("Retry-After"); ra != "600" {
				t.Errorf("Retry-After %q, want 600 (the lock's own deadline)", ra)
			}
		})
		t.Run("sms across the hour", func(t *testing.T) {
			const phone = "13700040002"
			sent := 0
			// One send a minute from 04:05 on: the first five go out; the
			// next five, past 05:00, fall within an hour of them.
			advance(time.Hour - 10*time.Minute - 5*time.Minute)
			for range 10 {
				if r := c.postJSON("/v1/codes", map[string]string{"phone": phone, "purpose": "any"}); r.status == http.StatusOK {
					sent++
				}
				advance(2 * time.Minute)
			}
			if sent != 5 {
				t.Errorf("10 sends in 20 minutes around an hour boundary: %d went out, want 5 (sms_phone 5-H)", sent)
			}
		})
	})
}

// TestCodesStayInTheirDialect: a code is accepted only by the dialect that
// sent it. Before, resultcode's 4-digit code registered through /v1 and
// apiv4, and caraccessories' 5-digit code reset passwords through them.
func TestCodesStayInTheirDialect(t *testing.T) {
	g := startGateway(t, "--limits=off")
	t.Run("resultcode code elsewhere", func(t *testing.T) {
		const phone = "13700050001"
		rc := newLimClient(t, g, "")
		if r := rc.do(http.MethodGet, "/register?userId="+phone, "", ""); !r.is("result", "0000") {
			t.Fatalf("resultcode send: HTTP %d %s", r.status, r.body)
		}
		code := g.SMS.CodeFor(phone)
		if len(code) != 4 {
			t.Fatalf("resultcode code %q, want 4 digits", code)
		}
		c := newLimClient(t, g, "")
		if r := c.postJSON("/v1/users", map[string]string{"phone": phone, "password": crossPassword, "code": code}); r.status == http.StatusCreated {
			t.Fatalf("/v1 registered with resultcode's code")
		}
		if r := c.postForm("/api/v4.0/register", url.Values{"phone": {phone}, "password": {crossPassword}, "name": {"x"}, "device_identifier": {"d"}, "code": {code}}); !r.is("code", -2.0) {
			t.Fatalf("apiv4 register with resultcode's code: HTTP %d %s, want code -2", r.status, r.body)
		}
		// Its own dialect still takes it.
		if r := rc.postForm("/register", url.Values{"code_v": {code}, "code": {code}}); !r.is("result", "0000") {
			t.Fatalf("resultcode verify with its own code: HTTP %d %s", r.status, r.body)
		}
	})
	t.Run("caraccessories code elsewhere", func(t *testing.T) {
		const phone = "13700050002"
		registerV1(t, g, phone)
		ca := newLimClient(t, g, "")
		if r := ca.postJSON("/caraccessories/app/get_verification_code", map[string]string{"mobile": phone}); !r.is("status", 1.0) {
			t.Fatalf("caraccessories send: HTTP %d %s", r.status, r.body)
		}
		code := g.SMS.CodeFor(phone)
		c := newLimClient(t, g, "")
		if r := c.postJSON("/v1/password-resets", map[string]string{"phone": phone, "password": "stolen123", "code": code}); r.status < 400 {
			t.Fatalf("/v1 reset with caraccessories' code: HTTP %d %s", r.status, r.body)
		}
		if r := c.do(http.MethodGet, "/api/v4.0/verify_code?phone="+phone+"&code="+code, "", ""); !r.is("code", -1.0) {
			t.Fatalf("apiv4 verify_code with caraccessories' code: HTTP %d %s, want -1", r.status, r.body)
		}
		if r := ca.postJSON("/caraccessories/app/forget_password", map[string]string{"mobile": phone, "code": code, "password": "mine1234"}); !r.is("status", 1.0) {
			t.Fatalf("caraccessories reset with its own code: HTTP %d %s", r.status, r.body)
		}
		if r := limDialectNamed("v1").login(c, phone, "stolen123"); r.status != http.StatusUnauthorized {
			t.Fatalf("login with the attacker's password: HTTP %d %s, want 401", r.status, r.body)
		}
	})
}

// TestIPv6Prefixes: one subscriber's /56 is one client, and a /48 may hold
// at most four clients' budgets. Before, every /64 had a budget of its own.
func TestIPv6Prefixes(t *testing.T) {
	g := startGateway(t, "--trusted-proxies=127.0.0.1/32", "--limit-lookup-ip=3-H")
	ok := func(addr string) bool {
		r := newLimClient(t, g, addr).do(http.MethodGet, "/api/v4.0/isregister/13700060001", "", "")
		return !r.is("code", -4.0)
	}
	served := 0
	for i := range 5 {
		if ok(fmt.Sprintf("2001:db8:0:%x::1", i)) { // five /64s of 2001:db8:0:0::/56
			served++
		}
	}
	if served != 3 {
		t.Errorf("five /64s in one /56: %d look-ups served, want 3 (one budget)", served)
	}
	served = 0
	for i := range 8 {
		for range 3 {
			if ok(fmt.Sprintf("2001:db8:1:%x00::1", i)) { // eight /56s of 2001:db8:1::/48
				served++
			}
		}
	}
	if served != 12 {
		t.Errorf("eight /56s in one /48: %d look-ups served, want 12 (the /48's backstop, 4 budgets)", served)
	}
	if !ok("192.0.2.10") || !ok("192.0.2.11") {
		t.Errorf("IPv4 addresses should keep budgets of their own")
	}
}

// TestSuccessfulLoginsAreLimited: one client logging in to one account
// over and over (each login stores a session and costs a hash) gets
// login_ok_phone (20) an hour, even all at once.
func TestSuccessfulLoginsAreLimited(t *testing.T) {
	eachStore(t, func(t *testing.T, gs []*testGateway) {
		const phone = "13700070001"
		registerV1(t, gs[0], phone)
		d := limDialectNamed("v1")
		c := newLimClient(t, gs[0], "")
		// At once: attempts in flight hold slots of login_phone (5), so
		// most are refused by it; none passes login_ok_phone.
		replies := burst(40, func(int) limReply { return d.login(c, phone, crossPassword) })
		ok := 0
		for _, r := range replies {
			switch {
			case d.loggedIn(r):
				ok++
			case !d.loginLimited(r):
				t.Fatalf("HTTP %d %s", r.status, r.body)
			}
		}
		// Then one after the other, up to the budget.
		for range 40 {
			if r := d.login(c, phone, crossPassword); d.loggedIn(r) {
				ok++
			} else if !d.loginLimited(r) {
				t.Fatalf("HTTP %d %s", r.status, r.body)
			}
		}
		if ok != 20 {
			t.Errorf("80 logins with the right password, 40 at once: %d succeeded, want 20", ok)
		}
		if r := d.login(c, phone, crossPassword); !strings.Contains(r.header.Get("RateLimit-Policy"), "login_ok_phone") {
			t.Errorf("the 41st login: HTTP %d, RateLimit-Policy %q, want login_ok_phone", r.status, r.header.Get("RateLimit-Policy"))
		}
	})
}

// TestCodeGuessBurst: 100 simultaneous guesses at one phone's code, through
// each dialect that checks codes, on every store. The store burns a code
// after 5 wrong tries and code_phone refuses past 11 wrong codes, so at
// most 5 guesses are compared, and the real code no longer works after.
func TestCodeGuessBurst(t *testing.T) {
	eachStore(t, func(t *testing.T, gs []*testGateway) {
		for i, c := range []struct {
			dialect string
			send    func(c *limClient, phone string) limReply
			guess   func(c *limClient, phone, code string) limReply
			wrong   func(r limReply) bool
			ok      func(r limReply) bool
		}{
			{"v1", func(c *limClient, phone string) limReply {
				return c.postJSON("/v1/codes", map[string]string{"phone": phone, "purpose": "register"})
			}, func(c *limClient, phone, code string) limReply {
				return c.postJSON("/v1/codes/verify", map[string]string{"phone": phone, "purpose": "register", "code": code})
			}, func(r limReply) bool { return r.is("code", "code_wrong") }, limStatus200},
			{"caraccessories", func(c *limClient, phone string) limReply {
				return c.postJSON("/caraccessories/app/get_verification_code", map[string]string{"mobile": phone})
			}, func(c *limClient, phone, code string) limReply {
				return c.postJSON("/caraccessories/app/registration", map[string]string{"mobile": phone, "code": code, "password": crossPassword})
			}, func(r limReply) bool { return r.is("status", -3.0) && r.is("msg", "验证码不正确") }, func(r limReply) bool { return r.is("status", 1.0) }},
		} {
			t.Run(c.dialect, func(t *testing.T) {
				phone := fmt.Sprintf("1370012%04d", i)
				if r := c.send(newLimClient(t, gs[0], ""), phone); r.status != http.StatusOK {
					t.Fatalf("send: HTTP %d %s", r.status, r.body)
				}
				code := gs[0].SMS.CodeFor(phone)
				wrong := strings.Repeat("0", len(code))
				if wrong == code {
					wrong = strings.Repeat("1", len(code))
				}
				replies := burst(100, func(k int) limReply {
					return c.guess(newLimClient(t, gs[k%len(gs)], ""), phone, wrong)
				})
				compared := 0
				for _, r := range replies {
					if c.wrong(r) {
						compared++
					}
				}
				t.Logf("100 concurrent wrong codes: %d compared as wrong", compared)
				if compared > 5 {
					t.Errorf("100 concurrent wrong codes: %d compared, want at most 5", compared)
				}
				if r := c.guess(newLimClient(t, gs[0], ""), phone, code); c.ok(r) {
					t.Errorf("the real code after the burst: HTTP %d %s, want refused (burned or locked)", r.status, r.body)
				}
			})
		}
	})
}

// TestSMSSpendBudgetBurst: 40 simultaneous sends to 40 phones from 40
// addresses, with a spend budget of 10: exactly 10 SMS, on every store and
// across instances.
func TestSMSSpendBudgetBurst(t *testing.T) {
	eachStore(t, func(t *testing.T, gs []*testGateway) {
		v1 := limDialectNamed("v1")
		replies := burst(40, func(k int) limReply {
			return v1.send(newLimClient(t, gs[k%len(gs)], limAddr(k)), fmt.Sprintf("1370013%04d", k))
		})
		sent := 0
		for _, r := range replies {
			switch {
			case r.status == http.StatusOK:
				sent++
			case !v1.limited(r):
				t.Fatalf("HTTP %d %s", r.status, r.body)
			}
		}
		recorded := 0
		for _, g := range gs {
			recorded += len(g.SMS.Sent())
		}
		if sent != 10 || recorded != 10 {
			t.Errorf("40 concurrent sends under a budget of 10: %d answered sent, %d SMS handed to senders; want 10 and 10", sent, recorded)
		}
	}, "--trusted-proxies=127.0.0.1/32", "--limit-sms-all-hour=10-H")
}
