package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"sync"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/gateway/migrate"
	"legacyauth/internal/oldserver"
)

// oldDouble is a double of an old server on loopback, with what it
// received.
type oldDouble struct {
	*oldserver.Server
	URL string

	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	method, path, rawQuery, host string
	header                       http.Header
	body                         []byte
}

// deterministic makes a double's tokens and codes a sequence, so two
// doubles fed the same requests answer the same bytes.
func deterministic() oldserver.Options {
	var mu sync.Mutex
	var tokens, codes int
	return oldserver.Options{
		Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
		Token: func() string {
			mu.Lock()
			defer mu.Unlock()
			tokens++
			return fmt.Sprintf("%032x", tokens)
		},
		Code: func(n int) string {
			mu.Lock()
			defer mu.Unlock()
			codes++
			return fmt.Sprintf("%0*d", n, codes)
		},
	}
}

func startOld(t *testing.T, dialect string, o oldserver.Options) *oldDouble {
	t.Helper()
	d := &oldDouble{Server: oldserver.MustNew(dialect, o)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.seen = append(d.seen, seenRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Header.Clone(), body})
		d.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		d.Server.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	d.URL = srv.URL
	return d
}

func (d *oldDouble) last() seenRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seen[len(d.seen)-1]
}

// rawRequest is one request of a scripted exchange.
type rawRequest struct {
	method, target, ctype, body string
	header                      []string
}

func (q rawRequest) send(t *testing.T, client *http.Client, base string) *http.Response {
	t.Helper()
	var rd io.Reader
	if q.body != "" {
		rd = strings.NewReader(q.body)
	}
	req, err := http.NewRequest(q.method, base+q.target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if q.ctype != "" {
		req.Header.Set("Content-Type", q.ctype)
	}
	for i := 0; i+1 < len(q.header); i += 2 {
		req.Header.Set(q.header[i], q.header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func jarClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func multipartImage() (string, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("img", "a.gif")
	fw.Write([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))
	mw.Close()
	return b.String(), mw.FormDataContentType()
}

// In proxy mode the client gets exactly what the old server answers:
// status, headers (cookies included) and body, byte for byte; and the old
// server gets the request as sent, with X-Forwarded-For added.
func TestProxyIsByteTransparent(t *testing.T) {
	img, imgType := multipartImage()
	form := "application/x-www-form-urlencoded"
	scripts := map[string][]rawRequest{
		oldserver.Caraccessories: {
			{"POST", "/caraccessories/app/login", "application/json", "{\n\"mobile\": \"13800009001\",\n\"password\": \"12345\",\n}", nil},
			{"POST", "/caraccessories/app/login", "text/plain", `{"mobile": "13800009001", "password": "nope"}`, nil},
			{"POST", "/caraccessories/app/get_verification_code", "application/json", `{"mobile": "13800009002"}`, nil},
			{"POST", "/caraccessories/app/registration", "application/json", `{"mobile": "13800009002", "code": "00001", "password": "pw"}`, nil},
			{"POST", "/caraccessories/app/forget_password", "application/json", `{"mobile": "13800009099", "code": "1", "password": "pw"}`, nil},
		},
		oldserver.APIv4: {
			{"GET", "/api/v4.0/login?phone=13800009001&password=12345&device_identifier=uuid", "", "", nil},
			{"POST", "/api/v4.0/login", form, "phone=13800009001&password=12345&device_identifier=other", []string{"X-Requested-With", "XMLHttpRequest"}},
			{"GET", "/api/v4.0/isregister/13800009001?expect=1;x=%zz", "", "", nil}, // a query Go would not parse, passed as is
			{"GET", "/api/v4.0/sendsms/13800009003?expect=1", "", "", nil},
			{"POST", "/api/v4.0/register", form, "phone=13800009003&name=%E4%BA%8E&password=123456&device_identifier=d&code=x", nil},
			{"GET", "/api/v4.0/forget_password?phone=13800009003&password=654321", "", "", nil},
		},
		oldserver.Resultcode: {
			{"GET", "/register?userId=13800009004", "", "", nil},
			{"POST", "/register", form, "code_v=0001&code=0001", nil},
			{"POST", "/upload", imgType, img, nil},
			{"POST", "/register", form, "register=1&password=abc12345&gender=1&nickname=Li", nil},
			{"POST", "/log", form, "userId=13800009004&password=abc12345", nil},
			{"POST", "/log", form, "userId=13800009001&password=wrong", nil},
		},
	}
	for dialect, script := range scripts {
		t.Run(dialect, func(t *testing.T) {
			direct, behind := startOld(t, dialect, deterministic()), startOld(t, dialect, deterministic())
			for _, d := range []*oldDouble{direct, behind} {
				d.AddUser(oldserver.User{ID: strings.Repeat("ab", 16), Phone: "13800009001", Password: "12345", Name: "Ann"})
			}
			g := startGateway(t, "--"+dialect+"-mode=proxy", "--"+dialect+"-upstream="+behind.URL)
			toOld, toGateway := jarClient(), jarClient()
			for i, q := range script {
				want := q.send(t, toOld, direct.URL)
				got := q.send(t, toGateway, g.URL)
				if got.Header.Get("X-Request-ID") == "" {
					t.Errorf("request %d: no X-Request-ID from the gateway", i+1)
				}
				got.Header.Del("X-Request-ID") // the gateway's one addition
				w, _ := httputil.DumpResponse(want, true)
				gd, _ := httputil.DumpResponse(got, true)
				want.Body.Close()
				got.Body.Close()
				if !bytes.Equal(w, gd) {
					t.Errorf("request %d %s %s:\nold server:\n%s\nthrough the gateway:\n%s", i+1, q.method, q.target, w, gd)
				}
				sentDirect, sentBehind := direct.last(), behind.last()
				if sentBehind.path != sentDirect.path || sentBehind.rawQuery != sentDirect.rawQuery || !bytes.Equal(sentBehind.body, sentDirect.body) || sentBehind.method != sentDirect.method {
					t.Errorf("request %d reached the old server as %s %s?%s %q, want %s %s?%s %q", i+1,
						sentBehind.method, sentBehind.path, sentBehind.rawQuery, sentBehind.body, sentDirect.method, sentDirect.path, sentDirect.rawQuery, sentDirect.body)
				}
				if xff := sentBehind.header.Get("X-Forwarded-For"); xff != "127.0.0.1" {
					t.Errorf("request %d: X-Forwarded-For %q, want the client's address", i+1, xff)
				}
				if sentBehind.host != strings.TrimPrefix(g.URL, "http://") {
					t.Errorf("request %d: Host %q, want the one the client sent", i+1, sentBehind.host)
				}
				for _, h := range []string{"Content-Type", "X-Requested-With", "Cookie"} {
					if sentBehind.header.Get(h) != sentDirect.header.Get(h) {
						t.Errorf("request %d: %s %q, want %q", i+1, h, sentBehind.header.Get(h), sentDirect.header.Get(h))
					}
				}
			}
			if strings.Contains(g.Log.String(), `"backend":"core"`) || !strings.Contains(g.Log.String(), `"backend":"upstream"`) {
				t.Errorf("log lines do not say the old server answered:\n%s", g.Log.String())
			}
		})
	}
}

// An old server that does not answer in time: the client gets the
// dialect's own server-error reply, promptly.
func TestProxyTimeout(t *testing.T) {
	for dialect, c := range map[string]struct{ path, ctype, body, want string }{
		oldserver.Caraccessories: {"/caraccessories/app/login", "application/json", `{"mobile":"13800009011","password":"x"}`, `{"status":-2,"msg":"服务器繁忙，请稍后再试"}`},
		oldserver.APIv4:          {"/api/v4.0/login?phone=13800009011&password=s3cret-in-query", "", "", "{\n  \"code\": -5, \n  \"data\": \"\", \n  \"msg\": \"\\u670d\\u52a1\\u5668\\u7e41\\u5fd9\\uff0c\\u8bf7\\u7a0d\\u540e\\u518d\\u8bd5\"\n}"},
		oldserver.Resultcode:     {"/log", "application/x-www-form-urlencoded", "userId=13800009011&password=x", `{"result": "0009", "message": "\u670d\u52a1\u7e41\u5fd9\uff0c\u8bf7\u7a0d\u540e\u518d\u8bd5"}`},
	} {
		t.Run(dialect, func(t *testing.T) {
			old := startOld(t, dialect, oldserver.Options{})
			old.SetDelay(3 * time.Second)
			g := startGateway(t, "--"+dialect+"-mode=proxy", "--"+dialect+"-upstream="+old.URL, "--upstream-timeout=200ms")
			began := time.Now()
			resp, err := http.Post(g.URL+c.path, c.ctype, strings.NewReader(c.body)) // apiv4's in the query string
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(g.Log.String(), "s3cret") {
				t.Errorf("the password in the query string was logged:\n%s", g.Log.String())
			}
			if !strings.Contains(g.Log.String(), `"msg":"old server did not answer"`) {
				t.Error("the time-out is not logged")
			}
			if took := time.Since(began); took > 2*time.Second {
				t.Errorf("the reply took %v", took)
			}
			if resp.StatusCode != 200 || string(body) != c.want {
				t.Errorf("%d %s, want 200 %s", resp.StatusCode, body, c.want)
			}
			s, _ := scrape(t, adminServer(t, g))
			if n := s.get(t, "gateway_upstream_errors_total", "dialect", dialect, "reason", "timeout"); n != 1 {
				t.Errorf("timeouts counted: %v", n)
			}
			if n := s.get(t, "gateway_requests_total", "dialect", dialect, "op", "login", "outcome", "unavailable"); n != 1 {
				t.Errorf("requests with outcome unavailable: %v", n)
			}
		})
	}
}

// waitMetric polls the scrape until the sample reaches want.
func waitMetric(t *testing.T, admin, name string, want float64, labels ...string) {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		s, _ := scrape(t, admin)
		if got = s.sum(name, labels...); got == want {
			return
		}
	}
	t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
}

// Shadow mode answers from the old server and counts how the core would
// have answered: a user whose password differs on the two sides (planted)
// is a mismatch, logged without secrets; one who agrees is a match.
func TestShadowCountsMismatches(t *testing.T) {
	old := startOld(t, oldserver.APIv4, oldserver.Options{})
	old.AddUser(oldserver.User{Phone: "13800009021", Password: "111111", Name: "Ann"})
	old.AddUser(oldserver.User{Phone: "13800009022", Password: "333333", Name: "Bob"})
	g := startGateway(t, "--apiv4-mode=shadow", "--apiv4-upstream="+old.URL)
	ctx := context.Background()
	// Imported with their names: a name the core lacks is a mismatch too
	// (the bodies are compared beyond their outcome).
	for phone, u := range map[string]struct{ pw, name string }{"13800009021": {"222222", "Ann"}, "13800009022": {"333333", "Bob"}} {
		if _, err := g.Service.ImportUser(ctx, core.ImportRequest{Phone: phone, Password: u.pw, Profile: core.Profile{Name: u.name}}); err != nil {
			t.Fatal(err)
		}
	}
	admin := adminServer(t, g)
	var oldToken string
	for _, q := range []string{"phone=13800009021&password=111111", "phone=13800009022&password=333333"} {
		resp, err := http.Post(g.URL+"/api/v4.0/login", "application/x-www-form-urlencoded", strings.NewReader(q))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Code int
			Data struct{ Token, Name string }
		}
		json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if r.Code != 200 {
			t.Fatalf("%s: code %d: the old server's answer must reach the client", q, r.Code)
		}
		if oldToken == "" {
			oldToken = r.Data.Token
		}
	}
	waitMetric(t, admin, "gateway_shadow_comparisons_total", 1, "dialect", "apiv4", "op", "login", "result", "mismatch")
	waitMetric(t, admin, "gateway_shadow_comparisons_total", 1, "dialect", "apiv4", "op", "login", "result", "match")
	logs := g.Log.String()
	for _, want := range []string{`"msg":"shadow mismatch"`, `"old_outcome":"ok"`, `"core_outcome":"wrong_password"`, `"phone":"138****9021"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	for _, secret := range []string{oldToken, "111111", "222222", "333333"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds the secret %q:\n%s", secret, logs)
		}
	}
}

// Sending a code is not shadowed by default: the old server sends it, the
// core sends none. With GATEWAY_SHADOW_SIDE_EFFECTS the core acts too.
func TestShadowSideEffectsAreOptIn(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		old := startOld(t, oldserver.Caraccessories, oldserver.Options{})
		g := startGateway(t, "--caraccessories-mode=shadow", "--caraccessories-upstream="+old.URL, fmt.Sprintf("--shadow-side-effects=%v", enabled))
		resp, err := http.Post(g.URL+"/caraccessories/app/get_verification_code", "application/json", strings.NewReader(`{"mobile":"13800009031"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if old.LastCode() == "" {
			t.Fatal("the old server sent no code")
		}
		admin := adminServer(t, g)
		if !enabled {
			waitMetric(t, admin, "gateway_shadow_skipped_total", 1, "dialect", "caraccessories", "op", "get_verification_code", "reason", "side_effect")
			time.Sleep(50 * time.Millisecond)
			if c := g.SMS.Last(); c != "" {
				t.Errorf("the core sent a code (%s) in shadow mode", c)
			}
			continue
		}
		waitMetric(t, admin, "gateway_shadow_comparisons_total", 1, "dialect", "caraccessories", "op", "get_verification_code", "result", "match")
		if g.SMS.Last() == "" {
			t.Error("with side effects shadowed, the core sent no code")
		}
	}
}

// A split sends each phone the same way every time, the share of phones
// the core serves is about the percentage, and which way a phone goes is
// its bucket.
func TestSplitIsStablePerPhone(t *testing.T) {
	old := startOld(t, oldserver.Caraccessories, oldserver.Options{})
	g := startGateway(t, "--limits=off", "--caraccessories-mode=split", "--caraccessories-upstream="+old.URL, "--caraccessories-split-percent=30")
	const phones, rounds = 200, 3
	toCore := 0
	for i := range phones {
		phone := fmt.Sprintf("1390000%04d", i*37)
		wantCore := migrate.Bucket("+86"+phone) < 30
		for round := range rounds {
			before := old.Requests()
			resp, err := http.Post(g.URL+"/caraccessories/app/forget_password", "application/json",
				strings.NewReader(`{"mobile":"`+phone+`","code":"12345","password":"pw"}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != `{"status":-3,"msg":"手机号没有注册"}` {
				t.Fatalf("%s: %s", phone, body)
			}
			wentCore := old.Requests() == before
			if wentCore != wantCore {
				t.Fatalf("%s round %d went to the core: %v, want %v (bucket %d)", phone, round, wentCore, wantCore, migrate.Bucket("+86"+phone))
			}
			if wentCore && round == 0 {
				toCore++
			}
		}
	}
	if share := float64(toCore) / phones; share < 0.2 || share > 0.4 {
		t.Errorf("%.2f of phones went to the core, want about 0.30", share)
	}
	s, _ := scrape(t, adminServer(t, g))
	if n := s.sum("gateway_migration_requests_total", "dialect", "caraccessories", "backend", "core"); n != float64(toCore*rounds) {
		t.Errorf("core requests counted %v, want %d", n, toCore*rounds)
	}
}

// resultcode's verify and register steps name no phone: they follow the
// flow the send step started, on whichever side started it.
func TestSplitFollowsResultcodeFlows(t *testing.T) {
	old := startOld(t, oldserver.Resultcode, oldserver.Options{})
	g := startGateway(t, "--limits=off", "--resultcode-mode=split", "--resultcode-upstream="+old.URL, "--resultcode-split-percent=50")
	phoneIn := func(core bool) string {
		for i := 0; ; i++ {
			p := fmt.Sprintf("1370000%04d", i)
			if (migrate.Bucket("+86"+p) < 50) == core {
				return p
			}
		}
	}
	for _, toCore := range []bool{true, false} {
		phone := phoneIn(toCore)
		c := jarClient()
		before := old.Requests()
		resp := rawRequest{"GET", "/register?userId=" + phone, "", "", nil}.send(t, c, g.URL)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code := g.SMS.Last()
		if !toCore {
			code = old.LastCode()
		}
		verify := rawRequest{"POST", "/register", "application/x-www-form-urlencoded", "code_v=" + code + "&code=" + code, nil}
		resp = verify.send(t, c, g.URL)
		vbody, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(string(body), `{"result": "0000"`) || !strings.HasPrefix(string(vbody), `{"result": "0000"`) {
			t.Fatalf("core %v: send %s, verify %s", toCore, body, vbody)
		}
		if got := old.Requests() - before; (got == 0) != toCore || (!toCore && got != 2) {
			t.Errorf("core %v: the old server got %d of the two requests", toCore, got)
		}
	}
}

// A login for a phone only the old server knows moves the user: the old
// server is asked once, the core then serves this and every later login.
func TestLazyMigration(t *testing.T) {
	type script struct {
		loginPath, ctype        string
		login                   func(phone, pw string) string
		refusedWrong, refusedNo string // the replies to a wrong password and an unknown phone
		serverError             string
	}
	form := "application/x-www-form-urlencoded"
	for dialect, s := range map[string]script{
		oldserver.Caraccessories: {"/caraccessories/app/login", "application/json",
			func(p, pw string) string { return `{"mobile":"` + p + `","password":"` + pw + `"}` },
			`{"status":-4,"msg":"密码不正确"}`, `{"status":-3,"msg":"手机号未注册"}`, `{"status":-2,"msg":"服务器繁忙，请稍后再试"}`},
		oldserver.APIv4: {"/api/v4.0/login", form,
			func(p, pw string) string { return "phone=" + p + "&password=" + pw + "&device_identifier=dev-1" },
			"{\n  \"code\": -1, \n  \"data\": \"\", \n  \"msg\": \"\\u624b\\u673a\\u53f7\\u6216\\u5bc6\\u7801\\u9519\\u8bef\"\n}",
			"{\n  \"code\": -1, \n  \"data\": \"\", \n  \"msg\": \"\\u624b\\u673a\\u53f7\\u6216\\u5bc6\\u7801\\u9519\\u8bef\"\n}",
			"{\n  \"code\": -5, \n  \"data\": \"\", \n  \"msg\": \"\\u670d\\u52a1\\u5668\\u7e41\\u5fd9\\uff0c\\u8bf7\\u7a0d\\u540e\\u518d\\u8bd5\"\n}"},
		oldserver.Resultcode: {"/log", form,
			func(p, pw string) string { return "userId=" + p + "&password=" + pw },
			`{"result": "0008", "message": null}`, `{"result": "0007", "message": null}`,
			`{"result": "0009", "message": "\u670d\u52a1\u7e41\u5fd9\uff0c\u8bf7\u7a0d\u540e\u518d\u8bd5"}`},
	} {
		t.Run(dialect, func(t *testing.T) {
			old := startOld(t, dialect, oldserver.Options{})
			old.AddUser(oldserver.User{Phone: "13800009041", Password: "abc12345", Name: "Ann"})
			old.AddUser(oldserver.User{Phone: "13800009042", Password: "abc12345"})
			g := startGateway(t, "--"+dialect+"-upstream="+old.URL) // mode core: the default
			post := func(phone, pw string) (string, []*http.Cookie) {
				t.Helper()
				resp, err := http.Post(g.URL+s.loginPath, s.ctype, strings.NewReader(s.login(phone, pw)))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return string(b), resp.Cookies()
			}
			oldLogins := func() int { return old.RequestsTo(strings.TrimPrefix(s.loginPath, old.Prefix())) }
			ctx := context.Background()
			for round := 1; round <= 3; round++ {
				body, cookies := post("13800009041", "abc12345")
				var token string
				switch dialect {
				case oldserver.Caraccessories:
					if body == `{"status":1,"msg":"Ok"}` && len(cookies) == 1 {
						token = cookies[0].Value
					}
				case oldserver.APIv4:
					var r struct {
						Code int
						Data struct{ Token, Name string }
					}
					json.Unmarshal([]byte(body), &r)
					if r.Code == 200 && r.Data.Name == "Ann" { // the profile came along
						token = r.Data.Token
					}
				case oldserver.Resultcode:
					var r struct{ Result, Message string }
					json.Unmarshal([]byte(body), &r)
					if r.Result == "0000" {
						token = r.Message
					}
				}
				if _, _, err := g.Service.Authenticate(ctx, token); err != nil {
					t.Fatalf("login %d: %s: not a session of the core (%v)", round, body, err)
				}
				if n := oldLogins(); n != 1 {
					t.Errorf("login %d: the old server was asked %d times, want once in all", round, n)
				}
			}
			if ok, _ := g.Service.IsRegistered(ctx, "13800009041"); !ok {
				t.Error("the user is not in the core")
			}
			if body, _ := post("13800009041", "wrong-pw1"); body != s.refusedWrong {
				t.Errorf("a migrated user's wrong password: %s", body)
			}
			// Refusals by the old server are answered as the core would.
			if body, _ := post("13800009042", "wrong-pw1"); body != s.refusedWrong {
				t.Errorf("wrong password at the old server: %s, want %s", body, s.refusedWrong)
			}
			if body, _ := post("13800009043", "abc12345"); body != s.refusedNo {
				t.Errorf("a phone neither knows: %s, want %s", body, s.refusedNo)
			}
			if ok, _ := g.Service.IsRegistered(ctx, "13800009042"); ok {
				t.Error("a refused login imported the user")
			}
			// The old server down: try again later, not "not registered".
			old.SetDelay(time.Minute)
			g = startGateway(t, "--"+dialect+"-upstream="+old.URL, "--upstream-timeout=100ms") // post uses it from here on
			if body, _ := post("13800009042", "abc12345"); body != s.serverError {
				t.Errorf("old server not answering: %s, want %s", body, s.serverError)
			}
			old.SetDelay(0)
			s2, _ := scrape(t, adminServer(t, g))
			if n := s2.get(t, "gateway_lazy_migrations_total", "dialect", dialect, "result", "failed"); n != 1 {
				t.Errorf("failed lazy migrations: %v", n)
			}
		})
	}
}

// Lazy migration is counted by result and logged.
func TestLazyMigrationMetrics(t *testing.T) {
	old := startOld(t, oldserver.Caraccessories, oldserver.Options{})
	old.AddUser(oldserver.User{Phone: "13800009051", Password: "pw"})
	g := startGateway(t, "--caraccessories-upstream="+old.URL)
	for _, body := range []string{`{"mobile":"13800009051","password":"pw"}`, `{"mobile":"13800009051","password":"pw"}`, `{"mobile":"13800009052","password":"pw"}`} {
		resp, err := http.Post(g.URL+"/caraccessories/app/login", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	s, _ := scrape(t, adminServer(t, g))
	for result, want := range map[string]float64{"migrated": 1, "refused": 1, "failed": 0} {
		if n := s.get(t, "gateway_lazy_migrations_total", "dialect", "caraccessories", "result", result); n != want {
			t.Errorf("%s: %v, want %v", result, n, want)
		}
	}
	if !strings.Contains(g.Log.String(), `"msg":"lazy migration: user imported from the old server"`) {
		t.Error("the migration is not logged")
	}
	checkLabels(t, s)
}

func TestMigrationSettings(t *testing.T) {
	for _, args := range [][]string{
		{"--apiv4-mode=proxy"},
		{"--apiv4-modes=login=shadow"},
		{"--apiv4-mode=mirror", "--apiv4-upstream=http://old"},
		{"--apiv4-modes=logout=proxy", "--apiv4-upstream=http://old"},
		{"--caraccessories-split-percent=101"},
		{"--resultcode-upstream=ftp://old"},
		{"--shadow-queue=0"},
	} {
		if _, err := parseConfig(args, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	file := writeFile(t, "dialects:\n  apiv4:\n    mode: split\n    modes: login=shadow\n    upstream: http://old:8080\n    split_percent: 10\nshadow:\n  queue: 50\nupstream_timeout: 3s\n")
	env := map[string]string{"GATEWAY_CONFIG": file, "GATEWAY_RESULTCODE_MODE": "proxy", "GATEWAY_RESULTCODE_UPSTREAM": "http://old2"}
	cfg, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dialects["apiv4"].Mode != migrate.Split || cfg.Dialects["apiv4"].Modes["login"] != migrate.Shadow || cfg.Dialects["apiv4"].Upstream.Host != "old:8080" || cfg.Dialects["apiv4"].SplitPercent != 10 ||
		cfg.ShadowQueue != 50 || cfg.UpstreamTimeout != 3*time.Second || cfg.Dialects["resultcode"].Mode != migrate.Proxy || cfg.Dialects["caraccessories"].Mode != migrate.Core {
		t.Errorf("settings not applied: %+v", cfg)
	}
}
