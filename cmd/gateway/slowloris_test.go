package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"legacyauth/core"
)

// Slow clients: the server newHTTPServer builds must cut off a client
// that trickles its headers (ReadHeaderTimeout) or its body (ReadTimeout)
// and keep serving everyone else meanwhile.

// lorisServer is the production server (newHTTPServer over build's
// handler) on a loopback listener, configured by flags.
type lorisServer struct {
	addr string
	app  *app
}

func startLorisServer(t *testing.T, flags ...string) *lorisServer {
	t.Helper()
	args := append([]string{"--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"}, flags...)
	cfg, err := parseConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := build(cfg, log, overrides{Sender: lorisSender{}, Hash: core.HashParams{MemoryKiB: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	srv := newHTTPServer(cfg, a.Handler, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		a.Close()
	})
	return &lorisServer{addr: ln.Addr().String(), app: a}
}

// lorisSender delivers nothing: no test here gets as far as a code.
type lorisSender struct{}

func (lorisSender) Send(context.Context, core.SMS) error { return nil }

// trickle is what a slow client saw: when its connection opened, when
// the server closed it, and what the server answered before.
type trickle struct {
	opened, closed time.Time
	reply          string
	err            error // the client's own failure (dial, or the server outlived limit)
}

// slowClient opens a connection, writes head at once, then slow one byte
// every interval, until the server closes the connection or limit passes.
// connected is told once the connection is open and head written (or the
// client has failed), so that a test knows every slow client holds a
// connection.
func slowClient(addr, head, slow string, interval, limit time.Duration, connected *sync.WaitGroup) *trickle {
	tr := &trickle{}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		connected.Done()
		tr.err = err
		return tr
	}
	defer conn.Close()
	tr.opened = time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the trickling writer
		defer wg.Done()
		_, err := io.WriteString(conn, head)
		connected.Done()
		if err != nil {
			return
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; i < len(slow); i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte{slow[i]}); err != nil {
				return // the server is gone
			}
		}
	}()
	_ = conn.SetReadDeadline(tr.opened.Add(limit))
	reply, err := io.ReadAll(conn) // until the server closes
	tr.closed, tr.reply = time.Now(), string(reply)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		tr.err = fmt.Errorf("the server still held the connection after %v", limit)
	case err != nil && !isReset(err):
		tr.err = err
	}
	close(stop)
	wg.Wait()
	return tr
}

// isReset reports a connection the server closed with unread data (RST).
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// normalRequest is a well-behaved client's request, served while slow
// clients hold their connections.
func normalRequest(t *testing.T, addr string) time.Duration {
	t.Helper()
	start := time.Now()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + addr + "/v1/session")
	if err != nil {
		t.Fatalf("a normal client is not served while slow clients wait: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"code":"unauthorized"`) {
		t.Fatalf("normal request: %d %s, want 401 unauthorized", resp.StatusCode, body)
	}
	return time.Since(start)
}

// waitGoroutines polls until the goroutine count is back to at most n.
func waitGoroutines(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, was %d before the slow clients:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lorisMargin is how late after its time-out the server may close a slow
// connection: scheduling, and the race detector's slowness.
const lorisMargin = 2 * time.Second

func TestSlowLorisHeaders(t *testing.T) {
	const timeout = time.Second
	s := startLorisServer(t, "--read-header-timeout", timeout.String(), "--read-timeout", "30s")
	before := runtime.NumGoroutine()

	// Each slow client sends a request line and headers one byte every
	// 40 ms: the whole would take seconds, far beyond the time-out.
	const clients = 20
	heads := []string{
		"", // even the request line trickles
		"GET /v1/session HTTP/1.1\r\n",
		"POST /caraccessories/app/login HTTP/1.1\r\nHost: loris\r\n",
	}
	slow := "GET /register?userId=13900000501 HTTP/1.1\r\nHost: loris\r\nUser-Agent: " + strings.Repeat("x", 200) + "\r\n\r\n"
	results := make([]*trickle, clients)
	var wg, connected sync.WaitGroup
	connected.Add(clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = slowClient(s.addr, heads[i%len(heads)], slow, 40*time.Millisecond, timeout+lorisMargin, &connected)
		}()
	}
	// Meanwhile (every slow client holds its connection for timeout) a
	// normal client is served, promptly.
	connected.Wait()
	if took := normalRequest(t, s.addr); took > timeout {
		t.Errorf("a normal request took %v while slow clients waited", took)
	}
	servedAt := time.Now()
	wg.Wait()

	for i, r := range results {
		if r.err != nil {
			t.Errorf("slow client %d: %v", i, r.err)
			continue
		}
		held := r.closed.Sub(r.opened)
		if held < timeout-50*time.Millisecond {
			t.Errorf("slow client %d: closed after %v, before the %v time-out: not the time-out at work", i, held, timeout)
		}
		if held > timeout+lorisMargin {
			t.Errorf("slow client %d: held %v, want at most %v", i, held, timeout+lorisMargin)
		}
		if !r.closed.After(servedAt) {
			t.Errorf("slow client %d was closed before the normal request was served: not 'meanwhile'", i)
		}
		// A request never completed must never have been served.
		if strings.HasPrefix(r.reply, "HTTP/1.1 2") {
			t.Errorf("slow client %d: a request with unfinished headers was served: %q", i, r.reply)
		}
	}
	if reg, _ := s.app.Service.IsRegistered(context.Background(), "13900000501"); reg {
		t.Error("a slow client's phone was registered")
	}
	waitGoroutines(t, before, 5*time.Second)
}

func TestSlowLorisBody(t *testing.T) {
	const readTimeout = time.Second
	s := startLorisServer(t, "--read-header-timeout", "300ms", "--read-timeout", readTimeout.String())
	before := runtime.NumGoroutine()

	cases := []struct {
		name, path, phone, body string
		status                  string
		reply                   string // the dialect's reply to an unreadable body
	}{
		{"caraccessories", "/caraccessories/app/login", "13900000511", `{"mobile": "13900000511", "password": "abc12345"}`,
			"HTTP/1.1 400 ", `{"status":-1,"msg":"请求内容读取失败"}`},
		{"apiv4", "/api/v4.0/login", "13900000512", `{"phone": "13900000512", "password": "abc12345"}`,
			"HTTP/1.1 400 ", `"code": -3`},
		{"resultcode", "/log", "13900000513", "userId=13900000513&password=abc12345",
			"HTTP/1.1 400 ", `{"result": "0009", `},
		{"v1", "/v1/sessions", "13900000514", `{"phone": "13900000514", "password": "abc12345"}`,
			"HTTP/1.1 400 ", `"code":"invalid"`},
	}
	results := make([]*trickle, len(cases))
	var wg, connected sync.WaitGroup
	connected.Add(len(cases))
	for i, c := range cases {
		ctype := "application/json"
		if c.name == "resultcode" {
			ctype = formType
		}
		head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: loris\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", c.path, ctype, len(c.body))
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One byte of the body every 100 ms: it would take seconds.
			results[i] = slowClient(s.addr, head, c.body, 100*time.Millisecond, readTimeout+lorisMargin, &connected)
		}()
	}
	connected.Wait()
	if took := normalRequest(t, s.addr); took > readTimeout {
		t.Errorf("a normal request took %v while slow clients waited", took)
	}
	servedAt := time.Now()
	wg.Wait()

	for i, c := range cases {
		r := results[i]
		t.Run(c.name, func(t *testing.T) {
			if r.err != nil {
				t.Fatal(r.err)
			}
			held := r.closed.Sub(r.opened)
			if held < readTimeout-50*time.Millisecond || held > readTimeout+lorisMargin {
				t.Errorf("held %v, want the %v read time-out (+ at most %v)", held, readTimeout, lorisMargin)
			}
			if !r.closed.After(servedAt) {
				t.Error("closed before the normal request was served: not 'meanwhile'")
			}
			// The body could not be read: the dialect's own 400, then the
			// connection closes.
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(r.reply)), nil)
			if err != nil {
				t.Fatalf("no reply before the close: %q (%v)", r.reply, err)
			}
			resp.Body.Close()
			if !strings.HasPrefix(r.reply, c.status) || !strings.Contains(r.reply, c.reply) {
				t.Errorf("reply %q, want %q with %q", r.reply, c.status, c.reply)
			}
			if reg, _ := s.app.Service.IsRegistered(context.Background(), c.phone); reg {
				t.Error("the slow client's phone was registered")
			}
		})
	}
	waitGoroutines(t, before, 5*time.Second)
}
