package redis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"

	"legacyauth/core"
	"legacyauth/internal/testkit"
)

// These tests need no Redis server.

func TestOpenDefaults(t *testing.T) {
	s, err := Open(ctx, "redis://127.0.0.1:1/0", Options{Logger: quietLog(), OpTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.prefix != "gateway:" {
		t.Errorf("default prefix %q", s.prefix)
	}
	s2, err := Open(ctx, "redis://127.0.0.1:1/0", Options{Logger: quietLog(), Prefix: "x:"})
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if s2.timeout != time.Second {
		t.Errorf("default OpTimeout %v", s2.timeout)
	}
}

func TestOpenBadURL(t *testing.T) {
	for _, u := range []string{"http://user:hunter2@127.0.0.1:6379/0", "redis://user:hunter2@[::1/0", "redis://user:hunter2@127.0.0.1:6379/x"} {
		_, err := Open(ctx, u, Options{Logger: quietLog()})
		if core.KindOf(err) != core.Invalid {
			t.Errorf("Open(%q) = %v; want Invalid", u, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the password is in the error: %v", err)
		}
	}
}

// call is one method's outcome.
type callResult struct {
	err  error
	took time.Duration
}

// everyCall runs each method of the store (and of its limiter store) and
// returns their outcomes by name.
func everyCall(s *Store, ph string) map[string]callResult {
	h := mac("x")
	res := map[string]callResult{}
	run := func(name string, f func() error) {
		start := time.Now()
		err := f()
		res[name] = callResult{err, time.Since(start)}
	}
	rate := limiter.Rate{Period: time.Minute, Limit: math.MaxInt64}
	lim := func(f func() (limiter.Context, error)) func() error {
		return func() error { _, err := f(); return err }
	}
	run("Ping", func() error { return s.Ping(ctx) })
	run("PutCode", func() error {
		return s.PutCode(ctx, &core.Code{Phone: ph, MAC: h, ExpiresAt: t0.Add(time.Minute)})
	})
	run("CheckCode", func() error { _, err := s.CheckCode(ctx, ph, [][32]byte{h}, t0, 3); return err })
	run("PutTicket", func() error {
		return s.PutTicket(ctx, &core.Ticket{Phone: ph, Hash: h, ExpiresAt: t0.Add(time.Minute)})
	})
	run("TakeTicket", func() error { return s.TakeTicket(ctx, ph, core.PurposeAny, &h, t0) })
	run("PutFlow", func() error {
		return s.PutFlow(ctx, &core.Flow{ID: "flow-" + ph, Phone: ph, ExpiresAt: t0.Add(time.Minute)})
	})
	run("Flow", func() error { _, err := s.Flow(ctx, "flow-"+ph, t0); return err })
	run("DeleteFlow", func() error { return s.DeleteFlow(ctx, "flow-"+ph) })
	ls := s.LimiterStore()
	run("limiter.Increment", lim(func() (limiter.Context, error) { return ls.Increment(ctx, "k:"+ph, 1, rate) }))
	run("limiter.Peek", lim(func() (limiter.Context, error) { return ls.Peek(ctx, "k:"+ph, rate) }))
	run("limiter.Get", lim(func() (limiter.Context, error) { return ls.Get(ctx, "k:"+ph, rate) }))
	run("limiter.Reset", lim(func() (limiter.Context, error) { return ls.Reset(ctx, "k:"+ph, rate) }))
	return res
}

// wantUnavailable checks that every call failed with Unavailable within
// bound, and that no error names the phone.
func wantUnavailable(t *testing.T, s *Store, ph string, bound time.Duration) {
	t.Helper()
	for name, r := range everyCall(s, ph) {
		if core.KindOf(r.err) != core.Unavailable {
			t.Errorf("%s = %v; want Unavailable", name, r.err)
		}
		if r.took > bound {
			t.Errorf("%s took %v; want at most %v", name, r.took, bound)
		}
		if r.err != nil && (strings.Contains(r.err.Error(), ph) || strings.Contains(r.err.Error(), ph[1:])) {
			t.Errorf("%s: the phone is in the error: %v", name, r.err)
		}
	}
}

// TestUnreachable: a server that refuses connections answers Unavailable,
// each call within about OpTimeout.
func TestUnreachable(t *testing.T) {
	const opTimeout = 300 * time.Millisecond
	start := time.Now()
	s, err := Open(ctx, "redis://127.0.0.1:1/0", Options{Logger: quietLog(), OpTimeout: opTimeout, Prefix: randomPrefix()})
	if err != nil {
		t.Fatalf("Open fails only on bad options: %v", err)
	}
	defer s.Close()
	if took := time.Since(start); took > opTimeout+500*time.Millisecond {
		t.Errorf("Open took %v", took)
	}
	for range 3 { // and again, once the pool has seen the failures
		start := time.Now()
		err := s.PutCode(ctx, &core.Code{Phone: "+8613800000020", ExpiresAt: t0})
		if took := time.Since(start); took > opTimeout+500*time.Millisecond {
			t.Errorf("PutCode took %v; OpTimeout is %v", took, opTimeout)
		}
		if core.KindOf(err) != core.Unavailable {
			t.Fatalf("PutCode = %v; want Unavailable", err)
		}
	}
	wantUnavailable(t, s, "+8613800000020", opTimeout+500*time.Millisecond)
}

// TestTimeout: a server that accepts connections but never answers yields
// Unavailable after OpTimeout.
func TestTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent, until the test ends
		}
	}()
	const opTimeout = 200 * time.Millisecond
	s, err := Open(ctx, "redis://"+ln.Addr().String()+"/0", Options{Logger: quietLog(), OpTimeout: opTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = s.CheckCode(ctx, "+8613800000021", [][32]byte{mac("x")}, t0, 3)
	took := time.Since(start)
	if core.KindOf(err) != core.Unavailable {
		t.Fatalf("CheckCode = %v; want Unavailable", err)
	}
	if took < opTimeout/2 || took > opTimeout+500*time.Millisecond {
		t.Errorf("CheckCode took %v; OpTimeout is %v", took, opTimeout)
	}
	wantUnavailable(t, s, "+8613800000021", opTimeout+500*time.Millisecond)
	// The caller's own deadline, when shorter, wins.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := s.Ping(short); core.KindOf(err) != core.Unavailable || time.Since(start) > 150*time.Millisecond {
		t.Errorf("Ping with a 20ms deadline = %v after %v", err, time.Since(start))
	}
}

func TestClose(t *testing.T) {
	s := openTest(t, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	wantUnavailable(t, s, "+8613800000022", time.Second)
}

func TestErrorKinds(t *testing.T) {
	s := openTest(t, Options{})
	const ph = "+8613800000023"
	// A key of the wrong type: the server answers with an error, a bug
	// rather than an outage.
	if err := s.client.Set(ctx, s.codeKey(ph), "not a hash", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := s.CheckCode(ctx, ph, [][32]byte{mac("x")}, t0, 3)
	if core.KindOf(err) != core.Internal {
		t.Fatalf("CheckCode over a string = %v; want Internal", err)
	}
	if strings.Contains(err.Error(), ph[1:]) {
		t.Fatalf("the phone is in the error: %v", err)
	}
	// A corrupt flow: Internal, and its content stays out of the error.
	if err := s.client.Set(ctx, s.flowKey("bad"), `{"p":"`+ph+`",`, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Flow(ctx, "bad", t0); core.KindOf(err) != core.Internal || strings.Contains(err.Error(), ph[1:]) {
		t.Fatalf("corrupt flow = %v; want Internal without the phone", err)
	}
	if !unavailable(context.DeadlineExceeded) || unavailable(errors.New("ERR something")) {
		t.Fatal("classification of plain errors")
	}
}

// redisServer is a redis-server of the test's own, on a fixed port.
type redisServer struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
	log  testkit.Buffer
}

func (r *redisServer) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir)
	r.cmd.Stdout, r.cmd.Stderr = &r.log, &r.log
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server did not listen on %d: %v\n%s", r.port, err, r.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server (as a crash would) and waits for it to exit.
func (r *redisServer) stop() {
	r.t.Helper()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestRecovery stops the server under an open Store, then starts it again
// on the same port: calls answer Unavailable in bounded time meanwhile, and
// succeed again afterwards without reopening the Store.
func TestRecovery(t *testing.T) {
	testURL(t)
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not on PATH; the recovery test starts its own server")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := &redisServer{t: t, port: freePort(t), dir: filepath.Join(dir, "data")}
	srv.start()
	t.Cleanup(srv.stop)

	const opTimeout = 300 * time.Millisecond
	s, err := Open(ctx, fmt.Sprintf("redis://127.0.0.1:%d/0", srv.port), Options{OpTimeout: opTimeout, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const ph = "+8613800000030"
	works := func(what string) {
		t.Helper()
		for name, r := range everyCall(s, ph) {
			if r.err != nil {
				t.Fatalf("%s: %s = %v", what, name, r.err)
			}
		}
		if err := s.PutCode(ctx, &core.Code{Phone: ph, MAC: mac("right"), ExpiresAt: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.CheckCode(ctx, ph, [][32]byte{mac("right")}, t0, 3); err != nil || got != core.CodeMatched {
			t.Fatalf("%s: CheckCode = %v, %v", what, got, err)
		}
	}
	works("before the outage")

	srv.stop()
	wantUnavailable(t, s, ph, opTimeout+500*time.Millisecond)

	srv.start()
	// The pool notices within a second or so (it probes a failing server
	// once a second); the Store is not reopened.
	deadline := time.Now().Add(10 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after the server came back: %v", s.Ping(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The restarted server has lost the scripts: both ours and the
	// limiter's are loaded again on use.
	works("after the restart")
}
