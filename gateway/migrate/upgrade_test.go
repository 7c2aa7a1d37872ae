package migrate

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"legacyauth/gateway"
)

// rawOld is an old server on a loopback socket that would let a client
// through to anything: it honours an h2c upgrade (or answers 101 to every
// request, or sends a 103 before its reply), then keeps reading requests
// on the same connection, as the bytes of a tunnel. It records what it
// received.
type rawOld struct {
	ln    net.Listener
	reply string // "honour", "101", "bare101" (101 without Upgrade) or "103"
	mu    sync.Mutex
	seen  []seenReq
}

type seenReq struct {
	path   string
	header http.Header
}

func startRawOld(t *testing.T, reply string) *rawOld {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &rawOld{ln: ln, reply: reply}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go o.serve(c)
		}
	}()
	return o
}

func (o *rawOld) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		o.mu.Lock()
		o.seen = append(o.seen, seenReq{req.URL.Path, req.Header.Clone()})
		o.mu.Unlock()
		const ok = `{"status":1,"msg":"Ok"}`
		var out string
		switch {
		case o.reply == "101", o.reply == "honour" && strings.EqualFold(req.Header.Get("Upgrade"), "h2c"):
			out = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
		case o.reply == "bare101":
			out = "HTTP/1.1 101 Switching Protocols\r\n\r\n"
		case o.reply == "103":
			out = "HTTP/1.1 103 Early Hints\r\nLink: </evil>; rel=preload\r\n\r\n"
			fallthrough
		default:
			out += "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(ok)) + "\r\n\r\n" + ok
		}
		if _, err := io.WriteString(c, out); err != nil {
			return
		}
	}
}

func (o *rawOld) received() []seenReq {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]seenReq(nil), o.seen...)
}

// Proxy, shadow and split modes relay a request, not a connection: the
// old server never sees Upgrade, HTTP2-Settings or a client's claim of
// its own address, the client never gets a 1xx (101 least of all), and
// bytes written after the reply are the gateway's to read, never a
// tunnel to the old server.
func TestNoUpgradeTunnel(t *testing.T) {
	const (
		body   = `{"mobile":"13800000001","password":"x"}`
		busy   = `{"status":-2,"msg":"服务器繁忙，请稍后再试"}` // fakeCore's Reject: the dialect's server-error reply
		okBody = `{"status":1,"msg":"Ok"}`
	)
	upgrade := "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
	spoofed := []string{"X-Real-IP", "True-Client-IP", "X-Client-IP", "CF-Connecting-IP", "X-Original-URL", "X-Rewrite-URL"}
	var spoof string
	for _, h := range spoofed {
		spoof += h + ": 203.0.113.66\r\n"
	}
	spoof = strings.Replace(spoof, "X-Original-URL: 203.0.113.66", "X-Original-URL: /admin/delete_all_users", 1)
	spoof += "X-Request-ID: 13800000001\r\n" // refused by the gateway, so not for the old server either
	for _, mode := range []Dialect{{Mode: Proxy}, {Mode: Shadow}, {Mode: Split, SplitPercent: 0}} {
		for _, c := range []struct {
			reply   string // the old server's behaviour
			headers string // the client's extra headers
			want    string // the body the client must get
		}{
			{"honour", upgrade + spoof, okBody}, // not asked to upgrade, it answers as usual
			{"101", upgrade, busy},              // a 101 anyway: a failed exchange
			{"bare101", "", busy},               // a 101 naming no protocol, to a request naming none
			{"103", spoof, okBody},              // the 103 is dropped, the reply relayed
		} {
			t.Run(string(mode.Mode)+"/"+c.reply, func(t *testing.T) {
				old := startRawOld(t, c.reply)
				d := mode
				d.Upstream, _ = ParseUpstream("http://" + old.ln.Addr().String())
				d.Wire = &fakeCore{}
				mig, err := New(Options{Dialects: map[string]Dialect{"caraccessories": d}, Log: slog.New(slog.DiscardHandler)})
				if err != nil {
					t.Fatal(err)
				}
				gw := gateway.New(gateway.Options{Mounts: []gateway.Mount{{Dialect: &fakeCore{calls: map[string]int{}, reply: okBody}, Prefix: "/caraccessories/app"}},
					Wrap: mig.Wrap, Log: slog.New(slog.DiscardHandler)})
				srv := httptest.NewServer(gw)
				t.Cleanup(func() {
					srv.Close()
					mig.Close()
				})

				conn, err := net.Dial("tcp", srv.Listener.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(conn)
				_, err = io.WriteString(conn, "POST /caraccessories/app/login HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"+
					c.headers+"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("no reply: %v", err)
				}
				for resp.StatusCode < 200 {
					t.Errorf("the client got a %d from the old server", resp.StatusCode)
					if resp.StatusCode == http.StatusSwitchingProtocols {
						break
					}
					if resp, err = http.ReadResponse(br, nil); err != nil {
						t.Fatalf("no final reply: %v", err)
					}
				}
				if resp.StatusCode != http.StatusSwitchingProtocols {
					got, _ := io.ReadAll(resp.Body)
					if resp.StatusCode != http.StatusOK || string(got) != c.want {
						t.Errorf("client got %d %s, want 200 %s", resp.StatusCode, got, c.want)
					}
				}
				for _, h := range []string{"Upgrade", "Link"} {
					if v := resp.Header.Get(h); v != "" {
						t.Errorf("the reply carries %s: %s", h, v)
					}
				}

				// A second request on the same connection is the gateway's
				// to read (it has no such route), not the old server's.
				_, _ = io.WriteString(conn, "GET /admin/delete_all_users HTTP/1.1\r\nHost: gw\r\n\r\n")
				_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				if second, err := http.ReadResponse(br, nil); err == nil {
					second.Body.Close()
				}

				seen := old.received()
				for _, s := range seen {
					if s.path != "/caraccessories/app/login" {
						t.Errorf("%s reached the old server through the gateway", s.path)
					}
				}
				if len(seen) == 0 {
					t.Fatal("the old server got nothing")
				}
				h := seen[0].header
				for _, name := range append([]string{"Upgrade", "HTTP2-Settings"}, spoofed...) {
					if v := h.Values(name); len(v) > 0 {
						t.Errorf("the old server got %s: %q", name, v)
					}
				}
				if v := strings.ToLower(strings.Join(h.Values("Connection"), ",")); strings.Contains(v, "upgrade") || strings.Contains(v, "http2-settings") {
					t.Errorf("the old server got Connection: %s", v)
				}
				if id := h.Values("X-Request-Id"); len(id) != 1 || id[0] == "13800000001" || id[0] != resp.Header.Get("X-Request-Id") {
					t.Errorf("the old server got X-Request-ID %q, want the gateway's %q", id, resp.Header.Get("X-Request-Id"))
				}
				if xff := h.Values("X-Forwarded-For"); len(xff) != 1 || xff[0] != "127.0.0.1" {
					t.Errorf("X-Forwarded-For %q, want the gateway's own 127.0.0.1", xff)
				}
			})
		}
	}
}
