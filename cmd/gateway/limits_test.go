package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests run the limits over the production wiring (startGateway,
// limits on by default). Its clock starts at 2026-01-02T03:04:05Z, so a
// 1-minute window ends 55 s later and an hour's 55m55s later: windows are
// whole minutes, hours and days of the gateway's clock.

// limReply is a reply with its headers.
type limReply struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

// limClient is an app (its own cookie jar) behind an address: with
// --trusted-proxies=127.0.0.1/32 the gateway believes xff.
type limClient struct {
	t    *testing.T
	g    *testGateway
	http *http.Client
	xff  string // X-Forwarded-For sent with every request; "" for none
}

func newLimClient(t *testing.T, g *testGateway, xff string) *limClient {
	jar, _ := cookiejar.New(nil)
	return &limClient{t: t, g: g, http: &http.Client{Jar: jar}, xff: xff}
}

func (c *limClient) do(method, path, contentType, body string, header ...string) limReply {
	c.t.Helper()
	req, err := http.NewRequest(method, c.g.URL+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.xff != "" {
		req.Header.Set("X-Forwarded-For", c.xff)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	r := limReply{status: resp.StatusCode, header: resp.Header, body: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.json); err != nil {
			c.t.Fatalf("%s %s: reply is not a JSON object: %q", method, path, raw)
		}
	}
	return r
}

func (c *limClient) postJSON(path string, v map[string]string) limReply {
	c.t.Helper()
	b, _ := json.Marshal(v)
	return c.do(http.MethodPost, path, "application/json", string(b))
}

func (c *limClient) postForm(path string, v url.Values) limReply {
	c.t.Helper()
	return c.do(http.MethodPost, path, "application/x-www-form-urlencoded", v.Encode())
}

// is reports whether the reply's JSON has key = value.
func (r limReply) is(key string, value any) bool {
	v, ok := r.json[key]
	return ok && v == value
}

// wantField fails unless the reply's JSON has key = value.
func (r limReply) wantField(t *testing.T, what, key string, value any) {
	t.Helper()
	if !r.is(key, value) {
		t.Fatalf("%s: %s = %#v, want %#v (HTTP %d, %s)", what, key, r.json[key], value, r.status, r.body)
	}
}

// wantRetryAfter fails unless Retry-After is exactly seconds ("" for none).
func (r limReply) wantRetryAfter(t *testing.T, what, seconds string) {
	t.Helper()
	if got := r.header.Get("Retry-After"); got != seconds {
		t.Fatalf("%s: Retry-After %q, want %q (HTTP %d, %s)", what, got, seconds, r.status, r.body)
	}
}

// limDialect drives one dialect's send and login, and knows its replies.
type limDialect struct {
	name string
	send func(c *limClient, phone string) limReply
	// sent and limited tell a send's success and its rate-limited reply.
	sent    func(r limReply) bool
	limited func(r limReply) bool
	login   func(c *limClient, phone, password string) limReply
	// loggedIn, loginWrong and loginLimited tell a login's outcomes.
	loggedIn, loginWrong, loginLimited func(r limReply) bool
}

func limStatus200(r limReply) bool { return r.status == http.StatusOK }

var limDialects = []limDialect{
	{
		name: "caraccessories",
		send: func(c *limClient, phone string) limReply {
			return c.postJSON("/caraccessories/app/get_verification_code", map[string]string{"mobile": phone})
		},
		sent: func(r limReply) bool { return limStatus200(r) && r.is("status", 1.0) && r.is("msg", "Ok") },
		limited: func(r limReply) bool {
			return limStatus200(r) && r.is("status", -3.0) && r.is("msg", "短信发送过于频繁，请稍后再试")
		},
		login: func(c *limClient, phone, password string) limReply {
			return c.postJSON("/caraccessories/app/login", map[string]string{"mobile": phone, "password": password})
		},
		loggedIn: func(r limReply) bool { return limStatus200(r) && r.is("status", 1.0) },
		loginWrong: func(r limReply) bool {
			return limStatus200(r) && r.is("status", -4.0) && r.is("msg", "密码不正确")
		},
		loginLimited: func(r limReply) bool {
			return limStatus200(r) && r.is("status", -6.0) && r.is("msg", "请求过于频繁，请稍后再试")
		},
	},
	{
		name: "apiv4",
		send: func(c *limClient, phone string) limReply {
			return c.postForm("/api/v4.0/sendsms/"+phone, url.Values{"expect": {"0"}})
		},
		sent: func(r limReply) bool { return limStatus200(r) && r.is("code", "200") },
		limited: func(r limReply) bool {
			return limStatus200(r) && r.is("code", -4.0) && r.is("msg", "请求过于频繁，请稍后再试")
		},
		login: func(c *limClient, phone, password string) limReply {
			return c.postForm("/api/v4.0/login", url.Values{"phone": {phone}, "password": {password}, "device_identifier": {"dev-1"}})
		},
		loggedIn: func(r limReply) bool { return limStatus200(r) && r.is("code", 200.0) },
		loginWrong: func(r limReply) bool {
			return limStatus200(r) && r.is("code", -1.0) && r.is("msg", "手机号或密码错误")
		},
		loginLimited: func(r limReply) bool {
			return limStatus200(r) && r.is("code", -4.0) && r.is("msg", "请求过于频繁，请稍后再试")
		},
	},
	{
		name: "resultcode",
		send: func(c *limClient, phone string) limReply {
			return c.do(http.MethodGet, "/register?userId="+phone, "", "")
		},
		sent: func(r limReply) bool { return limStatus200(r) && r.is("result", "0000") },
		limited: func(r limReply) bool {
			return limStatus200(r) && r.is("result", "0002") && r.is("message", nil)
		},
		login: func(c *limClient, phone, password string) limReply {
			return c.postForm("/log", url.Values{"userId": {phone}, "password": {password}})
		},
		loggedIn:   func(r limReply) bool { return limStatus200(r) && r.is("result", "0000") },
		loginWrong: func(r limReply) bool { return limStatus200(r) && r.is("result", "0008") },
		loginLimited: func(r limReply) bool {
			return limStatus200(r) && r.is("result", "0009") && r.is("message", "操作过于频繁，请稍后再试")
		},
	},
	{
		name: "v1",
		send: func(c *limClient, phone string) limReply {
			return c.postJSON("/v1/codes", map[string]string{"phone": phone, "purpose": "any"})
		},
		sent:    limStatus200,
		limited: func(r limReply) bool { return r.status == http.StatusTooManyRequests && r.is("code", "rate_limited") },
		login: func(c *limClient, phone, password string) limReply {
			return c.postJSON("/v1/sessions", map[string]string{"phone": phone, "password": password})
		},
		loggedIn:     func(r limReply) bool { return r.status == http.StatusCreated },
		loginWrong:   func(r limReply) bool { return r.status == http.StatusUnauthorized && r.is("code", "wrong_password") },
		loginLimited: func(r limReply) bool { return r.status == http.StatusTooManyRequests && r.is("code", "rate_limited") },
	},
}

func limDialectNamed(name string) limDialect {
	for _, d := range limDialects {
		if d.name == name {
			return d
		}
	}
	panic("no dialect " + name)
}

// limWantRateLimit checks a /v1 429: a problem body with code
// rate_limited, Retry-After and the RateLimit-* fields of the limit.
func limWantRateLimit(t *testing.T, what string, r limReply, quota int, window time.Duration, name, retry string) {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("%s: HTTP %d, want 429 (%s)", what, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
	if !r.is("code", "rate_limited") || !r.is("status", 429.0) {
		t.Errorf("%s: problem %s, want code rate_limited and status 429", what, r.body)
	}
	for h, want := range map[string]string{
		"Retry-After":         retry,
		"RateLimit-Limit":     fmt.Sprint(quota),
		"RateLimit-Remaining": "0",
		"RateLimit-Reset":     retry,
		"RateLimit-Policy":    fmt.Sprintf(`%d;w=%d;name=%q`, quota, int(window/time.Second), name),
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s: %s %q, want %q", what, h, got, want)
		}
	}
}

func limAddr(i int) string { return fmt.Sprintf("198.51.%d.%d", i/250, i%250+1) }

// TestLimitsForgedForwardedFor: X-Forwarded-For written by a client does
// not move it to a fresh bucket, whether it connects directly or through a
// trusted proxy (which appends the real address: the rightmost hop).
func TestLimitsForgedForwardedFor(t *testing.T) {
	t.Run("untrusted peer, request limit", func(t *testing.T) {
		g := startGateway(t, "--limit-request=3-M")
		for i := range 3 {
			r := newLimClient(t, g, limAddr(i)).postJSON("/v1/phones/lookup", map[string]string{"phone": "13700000001"})
			if r.status != http.StatusOK {
				t.Fatalf("look-up %d: HTTP %d %s", i+1, r.status, r.body)
			}
		}
		c := newLimClient(t, g, limAddr(3))
		r := c.do(http.MethodPost, "/v1/phones/lookup", "application/json", `{"phone":"13700000001"}`, "X-Real-IP", limAddr(4))
		limWantRateLimit(t, "4th request, forged X-Forwarded-For and X-Real-IP", r, 3, time.Minute, "request", "55")
	})
	t.Run("untrusted peer, sms_ip", func(t *testing.T) {
		g := startGateway(t)
		for i := range 20 {
			r := limDialects[i%4].send(newLimClient(t, g, limAddr(i)), fmt.Sprintf("137000001%02d", i))
			if !limDialects[i%4].sent(r) {
				t.Fatalf("send %d via %s: HTTP %d %s", i+1, limDialects[i%4].name, r.status, r.body)
			}
		}
		r := limDialectNamed("v1").send(newLimClient(t, g, limAddr(20)), "13700000120")
		limWantRateLimit(t, "21st phone from one address", r, 20, time.Hour, "sms_ip", "3600")
		if n := len(g.SMS.Sent()); n != 20 {
			t.Errorf("%d SMS sent, want 20", n)
		}
		if n := g.Limits.Stats()["sms_ip"].Rejected.Load(); n != 1 {
			t.Errorf("sms_ip Rejected = %d, want 1", n)
		}
	})
	t.Run("trusted proxy, client-forged leftmost hop", func(t *testing.T) {
		g := startGateway(t, "--trusted-proxies=127.0.0.1/32")
		const client = "203.0.113.77"
		for i := range 20 {
			c := newLimClient(t, g, limAddr(i)+", "+client) // the client wrote limAddr(i); the proxy appended client
			r := limDialects[i%4].send(c, fmt.Sprintf("137000002%02d", i))
			if !limDialects[i%4].sent(r) {
				t.Fatalf("send %d via %s: HTTP %d %s", i+1, limDialects[i%4].name, r.status, r.body)
			}
		}
		for i, d := range limDialects {
			r := d.send(newLimClient(t, g, limAddr(100+i)+", "+client), fmt.Sprintf("137000002%02d", 20+i))
			if !d.limited(r) {
				t.Fatalf("21st phone via %s with a fresh forged hop: HTTP %d %s, want the rate-limited reply", d.name, r.status, r.body)
			}
			r.wantRetryAfter(t, d.name, "3600")
		}
		// The proxy's word is believed: another client has its own bucket.
		r := limDialectNamed("v1").send(newLimClient(t, g, limAddr(200)+", 203.0.113.78"), "13700000230")
		if r.status != http.StatusOK {
			t.Fatalf("another client behind the proxy: HTTP %d %s", r.status, r.body)
		}
	})
	t.Run("trusted proxy, request limit", func(t *testing.T) {
		g := startGateway(t, "--trusted-proxies=127.0.0.1/32", "--limit-request=3-M")
		for i := range 3 {
			r := newLimClient(t, g, limAddr(i)+", 203.0.113.77").postJSON("/v1/phones/lookup", map[string]string{"phone": "13700000001"})
			if r.status != http.StatusOK {
				t.Fatalf("look-up %d: HTTP %d %s", i+1, r.status, r.body)
			}
		}
		r := newLimClient(t, g, limAddr(3)+", 203.0.113.77").postJSON("/v1/phones/lookup", map[string]string{"phone": "13700000001"})
		limWantRateLimit(t, "4th request, fresh forged hop", r, 3, time.Minute, "request", "55")
		r = newLimClient(t, g, "203.0.113.77").postJSON("/v1/phones/lookup", map[string]string{"phone": "13700000001"})
		limWantRateLimit(t, "5th request, no forged hop", r, 3, time.Minute, "request", "55")
		r = newLimClient(t, g, limAddr(3)+", 203.0.113.78").postJSON("/v1/phones/lookup", map[string]string{"phone": "13700000001"})
		if r.status != http.StatusOK {
			t.Fatalf("another client behind the proxy: HTTP %d %s", r.status, r.body)
		}
		// The proxy's own requests (no X-Forwarded-For) are the proxy's bucket.
		r = newLimClient(t, g, "").postJSON("/v1/phones/lookup", map[string]string{"phone": "13700000001"})
		if r.status != http.StatusOK {
			t.Fatalf("the proxy itself: HTTP %d %s", r.status, r.body)
		}
	})
}

// TestLimitsSMSBombing: sends for one phone through every dialect and /v1,
// each from a fresh address behind a trusted proxy (so no per-address
// limit helps), several per minute for hours: the phone receives at most
// 5 SMS in any rolling hour and 10 in any rolling day.
func TestLimitsSMSBombing(t *testing.T) {
	g := startGateway(t, "--trusted-proxies=127.0.0.1/32")
	const victim = "13700000300"
	var sentAt []time.Time
	n := 0
	bomb := func(minutes int) {
		for m := range minutes {
			for k := range limDialects {
				d := limDialects[(m+k)%len(limDialects)] // each dialect gets to go first
				before := len(g.SMS.Sent())
				r := d.send(newLimClient(t, g, limAddr(n%60000)), victim)
				n++
				sent := len(g.SMS.Sent()) - before
				switch {
				case sent == 1 && d.sent(r):
					sentAt = append(sentAt, g.Clock.Now())
				case sent == 0 && d.limited(r):
					if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
						t.Fatalf("%s at %v: rate-limited reply without Retry-After", d.name, g.Clock.Now())
					}
				default:
					t.Fatalf("%s at %v: %d SMS sent, reply HTTP %d %s", d.name, g.Clock.Now(), sent, r.status, r.body)
				}
			}
			g.Clock.Advance(time.Minute) // past the cooldown
		}
	}
	bomb(3 * 60) // 03:04:05 to 06:04:05
	// A day after the first day's last send, a fresh day's budget.
	g.Clock.Set(time.Date(2026, 1, 3, 4, 30, 5, 0, time.UTC))
	bomb(2 * 60)
	within := func(from time.Time, d time.Duration) int {
		k := 0
		for _, s := range sentAt {
			if !s.Before(from) && s.Before(from.Add(d)) {
				k++
			}
		}
		return k
	}
	for _, s := range sentAt {
		if got := within(s, time.Hour); got > 5 {
			t.Errorf("%d SMS in the hour from %v, want at most 5", got, s)
		}
		if got := within(s, 24*time.Hour); got > 10 {
			t.Errorf("%d SMS in the day from %v, want at most 10", got, s)
		}
	}
	// Not vacuous: every budget was used up, and no more.
	if got := len(sentAt); got != 20 {
		t.Errorf("%d SMS sent in all, want 20 (10 on each day): %v", got, sentAt)
	}
	t.Logf("%d sends tried, %d SMS sent", n, len(g.SMS.Sent()))
}

// TestLimitsCodeGuessing guesses codes against resultcode: the fifth wrong
// code burns the code (0005), so even the right one fails; guessing on
// across fresh sends locks the phone's code checks for 15 minutes after
// the 11th wrong code (the rate-limited 0005, with Retry-After), and the
// right code works once the lock is over. Codes live 20 minutes here so
// that the same code can be tried during and after the lock.
func TestLimitsCodeGuessing(t *testing.T) {
	g := startGateway(t, "--code-ttl=20m")
	const phone = "13700000400"
	c := newLimClient(t, g, "")
	send := func(what string) string {
		t.Helper()
		c.do(http.MethodGet, "/register?userId="+phone, "", "").wantField(t, what, "result", "0000")
		return g.SMS.CodeFor(phone)
	}
	verify := func(code string) limReply {
		t.Helper()
		return c.postForm("/register", url.Values{"code_v": {code}, "code": {code}})
	}
	wrong := func(code string) string { return fmt.Sprintf("%04d", (limAtoi(t, code)+1)%10000) }

	code := send("first send")
	for i := range 4 {
		r := verify(wrong(code))
		r.wantField(t, fmt.Sprintf("wrong code %d", i+1), "result", "0004")
		r.wantRetryAfter(t, "a wrong code", "")
	}
	r := verify(wrong(code))
	r.wantField(t, "5th wrong code", "result", "0005")
	r.wantRetryAfter(t, "the burned code", "") // burned by the core, not a limit
	verify(code).wantField(t, "the right code after 5 wrong ones", "result", "0005")
	// Failures so far: 6 (the right code of a burned one counts too).

	g.Clock.Advance(time.Minute)
	code = send("second send")
	for i := range 4 { // failures 7 to 10
		verify(wrong(code)).wantField(t, fmt.Sprintf("wrong code %d on the second send", i+1), "result", "0004")
	}
	g.Clock.Advance(time.Minute)
	code = send("third send")
	verify(wrong(code)).wantField(t, "the 11th wrong code", "result", "0004")

	r = verify(code)
	r.wantField(t, "the right code while locked", "result", "0005")
	r.wantField(t, "the right code while locked", "message", nil)
	r.wantRetryAfter(t, "the right code while locked", "900")
	g.Clock.Advance(15*time.Minute - time.Second)
	r = verify(code)
	r.wantField(t, "the right code a second before the lock ends", "result", "0005")
	r.wantRetryAfter(t, "a second before the lock ends", "1")
	if n := g.Limits.Stats()["code_phone"].Rejected.Load(); n != 2 {
		t.Errorf("code_phone Rejected = %d, want 2", n)
	}
	g.Clock.Advance(time.Second)
	verify(code).wantField(t, "the right code after the lock", "result", "0000")
}

func limAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("code %q: %v", s, err)
	}
	return n
}

// TestLimitsLoginBackoff: after 5 wrong passwords even the right one is
// refused with the dialect's rate-limited reply and Retry-After (1 minute,
// then 2 after the next failure), and accepted once the wait is over.
func TestLimitsLoginBackoff(t *testing.T) {
	g := startGateway(t)
	for i, d := range limDialects {
		t.Run(d.name, func(t *testing.T) {
			phone := fmt.Sprintf("137000005%02d", i)
			c := newLimClient(t, g, limAddr(i))
			r := c.postJSON("/v1/codes", map[string]string{"phone": phone, "purpose": "register"})
			if r.status != http.StatusOK {
				t.Fatalf("send: HTTP %d %s", r.status, r.body)
			}
			r = c.postJSON("/v1/users", map[string]string{"phone": phone, "password": crossPassword, "code": g.SMS.CodeFor(phone)})
			if r.status != http.StatusCreated {
				t.Fatalf("register: HTTP %d %s", r.status, r.body)
			}
			check := func(what string, r limReply, ok func(limReply) bool, retry string) {
				t.Helper()
				if !ok(r) {
					t.Fatalf("%s: HTTP %d %s", what, r.status, r.body)
				}
				r.wantRetryAfter(t, what, retry)
			}
			for k := range 5 {
				check(fmt.Sprintf("wrong password %d", k+1), d.login(c, phone, "wrong-pw-1"), d.loginWrong, "")
			}
			check("right password after 5 wrong", d.login(c, phone, crossPassword), d.loginLimited, "60")
			check("from another address", d.login(newLimClient(t, g, "203.0.113.1"), phone, crossPassword), d.loginLimited, "60")
			g.Clock.Advance(59 * time.Second)
			check("a second before the wait ends", d.login(c, phone, crossPassword), d.loginLimited, "1")
			g.Clock.Advance(time.Second)
			check("wrong password after the wait", d.login(c, phone, "wrong-pw-1"), d.loginWrong, "")
			r = d.login(c, phone, crossPassword)
			check("right password after the 6th failure", r, d.loginLimited, "120")
			if d.name == "v1" {
				limWantRateLimit(t, "v1 login", r, 5, time.Hour, "login_phone", "120")
			}
			g.Clock.Advance(2 * time.Minute)
			check("right password after the wait", d.login(c, phone, crossPassword), d.loggedIn, "")
			// The success forgot the failures: one more is not a wait.
			check("wrong password after a success", d.login(c, phone, "wrong-pw-1"), d.loginWrong, "")
			check("right password after a success and a failure", d.login(c, phone, crossPassword), d.loggedIn, "")
		})
	}
}

// TestLimitsLoginBackoffAfterSuccess: a success forgets the failures, so
// five more wrong passwords later in the hour make the phone wait one
// minute again, as the first five did.
func TestLimitsLoginBackoffAfterSuccess(t *testing.T) {
	g := startGateway(t)
	d := limDialectNamed("apiv4")
	const phone = "13700000550"
	c := newLimClient(t, g, "")
	if r := c.postJSON("/v1/codes", map[string]string{"phone": phone, "purpose": "register"}); r.status != http.StatusOK {
		t.Fatalf("send: HTTP %d %s", r.status, r.body)
	}
	if r := c.postJSON("/v1/users", map[string]string{"phone": phone, "password": crossPassword, "code": g.SMS.CodeFor(phone)}); r.status != http.StatusCreated {
		t.Fatalf("register: HTTP %d %s", r.status, r.body)
	}
	for round := range 2 {
		for k := range 5 {
			if r := d.login(c, phone, "wrong-pw-1"); !d.loginWrong(r) {
				t.Fatalf("round %d, wrong password %d: HTTP %d %s", round+1, k+1, r.status, r.body)
			}
		}
		r := d.login(c, phone, crossPassword)
		if !d.loginLimited(r) {
			t.Fatalf("round %d, right password after 5 wrong: HTTP %d %s", round+1, r.status, r.body)
		}
		r.wantRetryAfter(t, fmt.Sprintf("round %d, right password after 5 wrong", round+1), "60")
		g.Clock.Advance(time.Minute)
		if r := d.login(c, phone, crossPassword); !d.loggedIn(r) {
			t.Fatalf("round %d, right password after the wait: HTTP %d %s", round+1, r.status, r.body)
		}
	}
}

// TestLimitsRateLimitedReplies: the second send for a phone within the
// minute gets each dialect's own rate-limited reply with Retry-After; /v1
// answers 429 with a problem and the RateLimit-* fields.
func TestLimitsRateLimitedReplies(t *testing.T) {
	g := startGateway(t)
	for i, d := range limDialects {
		t.Run(d.name, func(t *testing.T) {
			phone := fmt.Sprintf("137000006%02d", i)
			c := newLimClient(t, g, "")
			if r := d.send(c, phone); !d.sent(r) {
				t.Fatalf("first send: HTTP %d %s", r.status, r.body)
			}
			r := d.send(c, phone)
			if !d.limited(r) {
				t.Fatalf("second send: HTTP %d %s, want the rate-limited reply", r.status, r.body)
			}
			r.wantRetryAfter(t, "second send", "60")
			want := map[string]string{
				"caraccessories": `{"status":-3,"msg":"短信发送过于频繁，请稍后再试"}`,
				"apiv4":          "{\n  \"code\": -4, \n  \"data\": \"\", \n  \"msg\": \"\\u8bf7\\u6c42\\u8fc7\\u4e8e\\u9891\\u7e41\\uff0c\\u8bf7\\u7a0d\\u540e\\u518d\\u8bd5\"\n}",
				"resultcode":     `{"result": "0002", "message": null}`,
			}[d.name]
			if want != "" && r.body != want {
				t.Errorf("second send: body %q, want %q", r.body, want)
			}
			if d.name == "v1" {
				limWantRateLimit(t, "second send", r, 1, time.Minute, "sms_cooldown", "60")
			}
			if n := len(g.SMS.Sent()); n != i+1 {
				t.Errorf("%d SMS sent, want %d", n, i+1)
			}
		})
	}
}

// TestLimitsRequestLimitReplies: the per-address request limit answers in
// the dialect of the refused request, before any handler runs.
func TestLimitsRequestLimitReplies(t *testing.T) {
	g := startGateway(t, "--trusted-proxies=127.0.0.1/32", "--limit-request=1-M")
	for i, c := range []struct {
		name      string
		req       func(c *limClient) limReply
		status    int
		body      string // exact, or "" for a /v1 problem
		quotaName string
	}{
		{"caraccessories send", func(c *limClient) limReply {
			return c.postJSON("/caraccessories/app/get_verification_code", map[string]string{"mobile": "13700000700"})
		}, 200, `{"status":-3,"msg":"短信发送过于频繁，请稍后再试"}`, ""},
		{"caraccessories login", func(c *limClient) limReply {
			return c.postJSON("/caraccessories/app/login", map[string]string{"mobile": "13700000700", "password": "x"})
		}, 200, `{"status":-6,"msg":"请求过于频繁，请稍后再试"}`, ""},
		{"apiv4 isregister", func(c *limClient) limReply {
			return c.do(http.MethodGet, "/api/v4.0/isregister/13700000700", "", "")
		}, 200, "{\n  \"code\": -4, \n  \"data\": \"\", \n  \"msg\": \"\\u8bf7\\u6c42\\u8fc7\\u4e8e\\u9891\\u7e41\\uff0c\\u8bf7\\u7a0d\\u540e\\u518d\\u8bd5\"\n}", ""},
		{"resultcode send", func(c *limClient) limReply {
			return c.do(http.MethodGet, "/register?userId=13700000701", "", "")
		}, 200, `{"result": "0002", "message": null}`, ""},
		{"resultcode login", func(c *limClient) limReply {
			return c.postForm("/log", url.Values{"userId": {"13700000701"}, "password": {"x"}})
		}, 200, `{"result": "0009", "message": "\u64cd\u4f5c\u8fc7\u4e8e\u9891\u7e41\uff0c\u8bf7\u7a0d\u540e\u518d\u8bd5"}`, ""},
		{"resultcode verify", func(c *limClient) limReply {
			return c.postForm("/register", url.Values{"code_v": {"1234"}, "code": {"1234"}})
		}, 200, `{"result": "0005", "message": null}`, ""},
		{"v1", func(c *limClient) limReply {
			return c.postJSON("/v1/phones/lookup", map[string]string{"phone": "13700000702"})
		}, 429, "", "request"},
		{"unknown path", func(c *limClient) limReply {
			return c.do(http.MethodGet, "/nowhere", "", "")
		}, 429, "", "request"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := newLimClient(t, g, fmt.Sprintf("203.0.113.%d", i+1))
			cl.do(http.MethodGet, "/nowhere", "", "") // the address's one request this minute
			r := c.req(cl)
			if r.status != c.status {
				t.Fatalf("HTTP %d %s, want %d", r.status, r.body, c.status)
			}
			r.wantRetryAfter(t, c.name, "55")
			if c.body != "" && r.body != c.body {
				t.Errorf("body %q, want %q", r.body, c.body)
			}
			if c.quotaName != "" {
				limWantRateLimit(t, c.name, r, 1, time.Minute, c.quotaName, "55")
			}
		})
	}
	if n := len(g.SMS.Sent()); n != 0 {
		t.Errorf("%d SMS sent by refused requests", n)
	}
}

// TestLimitsLookups: existence checks (apiv4 isregister and sendsms with
// expect, resultcode's send, /v1 phones/lookup) are limited per address.
func TestLimitsLookups(t *testing.T) {
	g := startGateway(t, "--trusted-proxies=127.0.0.1/32", "--limit-lookup-ip=2-H")
	const phone = "13700000800" // registered: look-ups answer without sending
	c := newLimClient(t, g, "203.0.113.200")
	if r := c.postJSON("/v1/codes", map[string]string{"phone": phone, "purpose": "any"}); r.status != http.StatusOK {
		t.Fatalf("send: HTTP %d %s", r.status, r.body)
	}
	if r := c.postJSON("/v1/users", map[string]string{"phone": phone, "password": crossPassword, "code": g.SMS.CodeFor(phone)}); r.status != http.StatusCreated {
		t.Fatalf("register: HTTP %d %s", r.status, r.body)
	}
	for i, c := range []struct {
		name            string
		req             func(c *limClient) limReply
		answered, limit func(r limReply) bool
	}{
		{"apiv4 isregister", func(c *limClient) limReply {
			return c.do(http.MethodGet, "/api/v4.0/isregister/"+phone+"?expect=1", "", "")
		},
			func(r limReply) bool { return r.is("code", 200.0) }, limDialectNamed("apiv4").limited},
		{"apiv4 sendsms with expect", func(c *limClient) limReply {
			return c.postForm("/api/v4.0/sendsms/"+phone, url.Values{"expect": {"0"}})
		}, func(r limReply) bool { return r.is("code", -1.0) && r.is("msg", "手机号已经被注册") }, limDialectNamed("apiv4").limited},
		{"resultcode send", func(c *limClient) limReply { return c.do(http.MethodGet, "/register?userId="+phone, "", "") },
			func(r limReply) bool { return r.is("result", "0001") }, limDialectNamed("resultcode").limited},
		{"v1 phones/lookup", func(c *limClient) limReply {
			return c.postJSON("/v1/phones/lookup", map[string]string{"phone": phone})
		}, func(r limReply) bool { return r.status == 200 && r.is("registered", true) }, limDialectNamed("v1").limited},
		{"v1 codes for registration", func(c *limClient) limReply {
			return c.postJSON("/v1/codes", map[string]string{"phone": phone, "purpose": "register"})
		}, func(r limReply) bool { return r.status == http.StatusConflict && r.is("code", "already_registered") }, limDialectNamed("v1").limited},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := newLimClient(t, g, fmt.Sprintf("203.0.113.%d", i+1))
			for k := range 2 {
				if r := c.req(cl); !c.answered(r) {
					t.Fatalf("look-up %d: HTTP %d %s", k+1, r.status, r.body)
				}
			}
			r := c.req(cl)
			if !c.limit(r) {
				t.Fatalf("3rd look-up: HTTP %d %s, want the rate-limited reply", r.status, r.body)
			}
			r.wantRetryAfter(t, "3rd look-up", "3600") // an hour after the first: windows roll
			if r := c.req(newLimClient(t, g, fmt.Sprintf("203.0.114.%d", i+1))); !c.answered(r) {
				t.Fatalf("another address: HTTP %d %s", r.status, r.body)
			}
		})
	}
	if n := len(g.SMS.Sent()); n != 1 {
		t.Errorf("%d SMS sent, want 1 (the registration's)", n)
	}
}

// TestLimitsDryRun: a dry-run limit lets the request through, counts it
// and logs it.
func TestLimitsDryRun(t *testing.T) {
	g := startGateway(t, "--limit-sms-cooldown=dry-run:1-M")
	c := newLimClient(t, g, "")
	v1 := limDialectNamed("v1")
	for i := range 2 {
		if r := v1.send(c, "13700000900"); !v1.sent(r) {
			t.Fatalf("send %d: HTTP %d %s", i+1, r.status, r.body)
		}
	}
	if n := len(g.SMS.Sent()); n != 2 {
		t.Errorf("%d SMS sent, want 2", n)
	}
	s := g.Limits.Stats()["sms_cooldown"]
	if s.DryRunHits.Load() != 1 || s.Rejected.Load() != 0 {
		t.Errorf("sms_cooldown DryRunHits %d, Rejected %d; want 1, 0", s.DryRunHits.Load(), s.Rejected.Load())
	}
	log := g.Log.String()
	if !strings.Contains(log, "rate limit dry-run: would refuse") || !strings.Contains(log, `"limit":"sms_cooldown"`) {
		t.Errorf("no dry-run line for sms_cooldown in the log:\n%s", log)
	}
	if strings.Contains(log, "13700000900") {
		t.Errorf("the log names the phone:\n%s", log)
	}
	// The other limits are still enforced.
	for range 3 {
		g.Clock.Advance(time.Minute)
		v1.send(c, "13700000900")
	}
	g.Clock.Advance(time.Minute)
	r := v1.send(c, "13700000900")
	// The first send leaves the rolling hour 56 minutes from now.
	limWantRateLimit(t, "6th send in the hour", r, 5, time.Hour, "sms_phone", fmt.Sprint(int(56*time.Minute/time.Second)))
}

// TestLimitsOff: --limits=off warns at start-up and limits nothing.
func TestLimitsOff(t *testing.T) {
	g := startGateway(t, "--limits=off")
	if g.Limits != nil {
		t.Error("limits off, but the app has Limits")
	}
	if log := g.Log.String(); !strings.Contains(log, `"level":"WARN"`) || !strings.Contains(log, "GATEWAY_LIMITS=off") {
		t.Errorf("no start-up warning for limits off:\n%s", log)
	}
	c := newLimClient(t, g, "")
	for _, d := range limDialects {
		for k := range 2 {
			if r := d.send(c, "13700001000"); !d.sent(r) {
				t.Fatalf("%s send %d: HTTP %d %s", d.name, k+1, r.status, r.body)
			}
		}
	}
	if n := len(g.SMS.Sent()); n != 8 {
		t.Errorf("%d SMS sent, want 8", n)
	}
	// And the default (on) does not warn.
	if log := startGateway(t).Log.String(); strings.Contains(log, "GATEWAY_LIMITS=off") {
		t.Errorf("limits on, but the log warns they are off:\n%s", log)
	}
}
