package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"legacyauth/internal/testkit"
)

// scaleOutEnv returns the PostgreSQL and Redis the scale-out tests use.
// Without them the tests skip; with them, an unreachable server fails.
func scaleOutEnv(t *testing.T) (pgURL, redisURL string) {
	t.Helper()
	pgURL, redisURL = os.Getenv("GATEWAY_TEST_POSTGRES_URL"), os.Getenv("GATEWAY_TEST_REDIS_URL")
	if pgURL == "" || redisURL == "" {
		t.Skip("set GATEWAY_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) and GATEWAY_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0) to run the scale-out tests")
	}
	return pgURL, redisURL
}

// isolate gives a test its own PostgreSQL schema and Redis key prefix and
// removes both afterwards.
func isolate(t testing.TB, pgURL, redisURL string) (schema, prefix string) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema, prefix = "test_"+hex.EncodeToString(b[:]), "test:"+hex.EncodeToString(b[:])+":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, pgURL); err == nil {
			_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			conn.Close(ctx)
		}
		if opt, err := goredis.ParseURL(redisURL); err == nil {
			rdb := goredis.NewClient(opt)
			iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
			for iter.Next(ctx) {
				rdb.Del(ctx, iter.Val())
			}
			rdb.Close()
		}
	})
	return schema, prefix
}

func randomSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// childHashWait lets gateway processes of tests wait for a hash slot
// without the 1 s bound (a flag still overrides it): they hash with the
// real argon2id parameters, and on a loaded test machine a shed login or
// registration would fail tests about other things. Shedding itself is
// tested in-process (hashwait_test.go).
const childHashWait = "GATEWAY_HASH_WAIT=1m"

// startChildArgs runs the test binary as a gateway process with flags and
// waits until its admin listener (on a free port of its own) answers
// /healthz.
func startChildArgs(t *testing.T, args ...string) *childGateway {
	t.Helper()
	addr, admin := freeAddr(t), freeAddr(t)
	cmd := exec.Command(os.Args[0], append([]string{"--listen", addr, "--admin-listen", admin}, args...)...)
	cmd.Env = append(os.Environ(), "GATEWAY_TEST_CHILD=1", childHashWait)
	log := &testkit.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childGateway{cmd: cmd, URL: "http://" + addr, log: log}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + admin + "/healthz"); err == nil {
			resp.Body.Close()
			return c
		}
		if cmd.ProcessState != nil {
			break
		}
	}
	t.Fatalf("child gateway did not start:\n%s", log.String())
	return nil
}

// TestSeveralInstancesActAsOne starts two gateway processes sharing one
// PostgreSQL and one Redis: a user registered on one logs in on the other,
// the per-phone SMS budget holds across both, and a resultcode flow begun
// on one continues on the other.
func TestSeveralInstancesActAsOne(t *testing.T) {
	pgURL, redisURL := scaleOutEnv(t)
	schema, prefix := isolate(t, pgURL, redisURL)
	sink := &smsSink{codes: map[string]string{}}
	sinkURL := newLoopbackServer(t, sink)
	args := []string{"--store=postgres", "--postgres-url", pgURL, "--postgres-schema", schema,
		"--redis-url", redisURL, "--redis-prefix", prefix, "--secret", randomSecret(),
		"--sms-webhook", sinkURL, "--data-dir", t.TempDir()}
	// Started together: migrations must be safe when two instances race.
	var a, b *childGateway
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a = startChildArgs(t, args...) }()
	go func() { defer wg.Done(); b = startChildArgs(t, args...) }()
	wg.Wait()
	if a == nil || b == nil {
		t.FailNow()
	}
	client := &http.Client{Timeout: 10 * time.Second}

	const phone = "13911110001"
	if st, err := postJSON(client, a.URL+"/v1/codes", map[string]string{"phone": phone, "purpose": "register"}); err != nil || st != http.StatusOK {
		t.Fatalf("send code on A: %d %v\n%s", st, err, a.log.String())
	}
	if st, err := postJSON(client, a.URL+"/v1/users", map[string]string{"phone": phone, "password": "abc12345", "code": sink.code(phone)}); err != nil || st != http.StatusCreated {
		t.Fatalf("register on A: %d %v", st, err)
	}
	if st, err := postJSON(client, b.URL+"/v1/sessions", map[string]string{"phone": phone, "password": "abc12345"}); err != nil || st != http.StatusCreated {
		t.Fatalf("login on B: %d %v", st, err)
	}

	t.Run("SMS budget is shared", func(t *testing.T) {
		const p = "13911110002"
		if st, _ := postJSON(client, a.URL+"/v1/codes", map[string]string{"phone": p, "purpose": "any"}); st != http.StatusOK {
			t.Fatalf("first send on A: %d", st)
		}
		if st, _ := postJSON(client, b.URL+"/v1/codes", map[string]string{"phone": p, "purpose": "any"}); st != http.StatusTooManyRequests {
			t.Fatalf("second send within the cooldown on B: %d, want 429", st)
		}
	})

	t.Run("resultcode flow continues on the other instance", func(t *testing.T) {
		const p = "13911110003"
		jar, _ := cookiejar.New(nil) // cookies ignore the port: both instances get the flow cookie
		app := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		result := func(resp *http.Response, err error) string {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			_, after, _ := strings.Cut(string(body), `"result": "`)
			return strings.SplitN(after, `"`, 2)[0]
		}
		if r := result(app.Get(a.URL + "/register?userId=" + p)); r != "0000" {
			t.Fatalf("send on A: %s", r)
		}
		if r := result(app.PostForm(b.URL+"/register", url.Values{"code_v": {"x"}, "code": {sink.code(p)}})); r != "0000" {
			t.Fatalf("verify on B: %s", r)
		}
		if r := result(app.PostForm(a.URL+"/register", url.Values{"register": {"1"}, "password": {"abc12345"}})); r != "0000" {
			t.Fatalf("register on A: %s", r)
		}
		if r := result(app.PostForm(b.URL+"/log", url.Values{"userId": {p}, "password": {"abc12345"}})); r != "0000" {
			t.Fatalf("login on B: %s", r)
		}
	})
}

// tcpProxy stands between the gateway and a server so a test can cut the
// connection: while cut, existing connections are closed and new ones are
// accepted but never answered (a black hole, the worst case for time-outs).
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.Cut() })
	go p.serve()
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns[c] = true
		cut := p.cut
		p.mu.Unlock()
		if cut {
			continue // held open, never answered
		}
		go p.pipe(c)
	}
}

func (p *tcpProxy) pipe(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[up] = true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

// Cut closes every connection and black-holes new ones.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Restore forwards new connections again (black-holed ones are closed).
func (p *tcpProxy) Restore() {
	p.Cut()
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

func hostOf(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func withHost(t *testing.T, rawURL, host string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = host
	return u.String()
}

// TestOutage cuts the gateway's connection to Redis, then to PostgreSQL:
// requests get their dialect's server-error reply within a bounded time,
// /readyz fails, and service resumes by itself when the server is back.
func TestOutage(t *testing.T) {
	pgURL, redisURL := scaleOutEnv(t)
	schema, prefix := isolate(t, pgURL, redisURL)
	pgProxy, redisProxy := startProxy(t, hostOf(t, pgURL)), startProxy(t, hostOf(t, redisURL))
	g := startGateway(t, "--store=postgres", "--postgres-url", withHost(t, pgURL, pgProxy.Addr()), "--postgres-schema", schema,
		"--redis-url", withHost(t, redisURL, redisProxy.Addr()), "--redis-prefix", prefix, "--secret", randomSecret(), "--limits=off")
	c := newClient(t, g)
	registrars["v1"](c, "13922220001")
	const bound = 5 * time.Second

	admin := adminServer(t, g) // /readyz is on the admin listener only
	ready := func() int {
		resp, err := http.Get(admin + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	timed := func(what string, f func() (int, map[string]any)) (int, map[string]any) {
		t.Helper()
		start := time.Now()
		st, r := f()
		if d := time.Since(start); d > bound {
			t.Errorf("%s took %v during the outage, want under %v", what, d, bound)
		}
		return st, r
	}
	waitReady := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if ready() == http.StatusOK {
				return
			}
		}
		t.Fatalf("/readyz did not recover after %s came back", what)
	}

	for _, outage := range []struct {
		name  string
		proxy *tcpProxy
	}{{"redis", redisProxy}, {"postgres", pgProxy}} {
		t.Run(outage.name, func(t *testing.T) {
			if st := ready(); st != http.StatusOK {
				t.Fatalf("/readyz before the outage: %d", st)
			}
			outage.proxy.Cut()
			st, r := timed("/v1/codes", func() (int, map[string]any) {
				return c.json("/v1/codes", map[string]string{"phone": "13922220002", "purpose": "register"})
			})
			if st != http.StatusServiceUnavailable {
				t.Errorf("/v1/codes during the outage: %d %v, want 503", st, r)
			}
			_, r = timed("caraccessories login", func() (int, map[string]any) {
				return c.json("/caraccessories/app/login", map[string]string{"mobile": "13922220001", "password": crossPassword})
			})
			if outage.name == "postgres" && r["status"] != -2.0 {
				t.Errorf("caraccessories login during the PostgreSQL outage: %v, want status -2 (server error)", r)
			}
			if st := ready(); st != http.StatusServiceUnavailable {
				t.Errorf("/readyz during the outage: %d, want 503", st)
			}
			m, _ := scrape(t, admin)
			if up := m.get(t, "gateway_store_up", "store", outage.name); up != 0 {
				t.Errorf("gateway_store_up{store=%q} during the outage: %v, want 0", outage.name, up)
			}
			if n := m.sum("gateway_store_errors_total", "store", outage.name, "kind", "unavailable"); n == 0 {
				t.Errorf("no unavailable error of %s counted during the outage", outage.name)
			}
			outage.proxy.Restore()
			waitReady(outage.name)
			if _, r := c.json("/caraccessories/app/login", map[string]string{"mobile": "13922220001", "password": crossPassword}); r["status"] != 1.0 {
				t.Errorf("login after recovery: %v", r)
			}
		})
	}
}
