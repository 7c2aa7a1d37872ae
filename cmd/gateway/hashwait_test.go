package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/internal/testkit"
)

// busyReplies are each dialect's answer to a login shed because no hash
// slot came free within --hash-wait: its "server busy, try later" reply
// (with Retry-After, checked apart).
var busyReplies = map[string]func(r limReply) bool{
	"caraccessories": func(r limReply) bool {
		return limStatus200(r) && r.is("status", -2.0) && r.is("msg", "服务器繁忙，请稍后再试")
	},
	"apiv4": func(r limReply) bool {
		return limStatus200(r) && r.is("code", -5.0) && r.is("msg", "服务器繁忙，请稍后再试")
	},
	"resultcode": func(r limReply) bool {
		return limStatus200(r) && r.is("result", "0009") && r.is("message", "服务繁忙，请稍后再试")
	},
	"v1": func(r limReply) bool {
		return r.status == http.StatusServiceUnavailable && r.is("code", "unavailable") &&
			r.header.Get("Content-Type") == "application/problem+json"
	},
}

// startHoldingGateway is startGateway whose hash-slot hook can keep the
// next granted request inside it (holding its slot) until released.
func startHoldingGateway(t *testing.T, hold *slotHold, args ...string) *testGateway {
	t.Helper()
	cfg, err := parseConfig(append([]string{"--data-dir", t.TempDir()}, args...), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	tg := &testGateway{SMS: &testkit.SMSRecorder{}, Clock: testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), Log: &testkit.Buffer{}}
	a, err := build(cfg, slog.New(slog.NewJSONHandler(tg.Log, nil)), overrides{Sender: tg.SMS, Now: tg.Clock.Now, Hash: testkit.FastHash, ObserveHashWait: hold.observe})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		hold.releaseAll()
		srv.Close()
		a.Close()
	})
	tg.app, tg.URL = a, srv.URL
	return tg
}

// slotHold holds the hash slot of the next request granted one once armed.
type slotHold struct {
	mu      sync.Mutex
	armed   chan struct{} // closed to release; nil when not armed
	held    []chan struct{}
	entered chan struct{}
}

func (h *slotHold) observe(_ time.Duration, shed bool) {
	if shed {
		return
	}
	h.mu.Lock()
	c := h.armed
	h.armed = nil
	h.mu.Unlock()
	if c != nil {
		h.entered <- struct{}{}
		<-c
	}
}

// arm makes the next granted request keep its slot until the returned
// function is called.
func (h *slotHold) arm() (release func()) {
	c := make(chan struct{})
	h.mu.Lock()
	h.armed = c
	h.held = append(h.held, c)
	h.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(c) }) }
}

func (h *slotHold) releaseAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.held {
		select {
		case <-c:
		default:
			close(c)
		}
	}
}

// With the one hash slot taken, a login in each dialect waits
// --hash-wait, then gets its dialect's busy reply with Retry-After, fast;
// the shed requests are counted in the metrics; and the login holding the
// slot is served once it is free.
func TestHashWaitShedsInEachDialect(t *testing.T) {
	hold := &slotHold{entered: make(chan struct{}, 1)}
	const wait = 100 * time.Millisecond
	g := startHoldingGateway(t, hold, "--hash-concurrency=1", "--hash-wait="+wait.String())
	ctx := context.Background()
	const password = "abc12345"
	for _, p := range []string{"13800000001", "13800000002"} {
		if _, err := g.Service.ImportUser(ctx, core.ImportRequest{Phone: p, Password: password}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range limDialects {
		t.Run(d.name, func(t *testing.T) {
			release := hold.arm()
			defer release()
			holder := make(chan int, 1)
			go func() { // logs in through /v1 and holds the slot
				body, _ := json.Marshal(map[string]string{"phone": "13800000001", "password": password})
				resp, err := http.Post(g.URL+"/v1/sessions", "application/json", bytes.NewReader(body))
				if err != nil {
					holder <- 0
					return
				}
				resp.Body.Close()
				holder <- resp.StatusCode
			}()
			select {
			case <-hold.entered:
			case <-time.After(10 * time.Second):
				t.Fatal("the holding login never got the hash slot")
			}
			c := newLimClient(t, g, "")
			for _, phone := range []string{"13800000002", "13800000003"} { // registered, unknown: the same answer
				start := time.Now()
				r := d.login(c, phone, password)
				took := time.Since(start)
				if !busyReplies[d.name](r) {
					t.Errorf("login of %s with the hash slot taken: HTTP %d %s, want the busy reply", phone, r.status, r.body)
				}
				r.wantRetryAfter(t, "busy reply to "+phone, "1")
				if took < wait || took > wait+2*time.Second {
					t.Errorf("login of %s answered after %v, want about --hash-wait (%v)", phone, took, wait)
				}
			}
			release()
			if got := <-holder; got != http.StatusCreated {
				t.Errorf("the holding login: HTTP %d, want 201", got)
			}
			// The slot is free: the same login is served.
			if r := d.login(c, "13800000002", password); !d.loggedIn(r) {
				t.Errorf("login with the slot free: HTTP %d %s", r.status, r.body)
			}
		})
	}
	fams, err := g.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var shed float64 = -1
	for _, f := range fams {
		if f.GetName() == "gateway_hash_shed_total" {
			shed = f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if want := float64(2 * len(limDialects)); shed != want {
		t.Errorf("gateway_hash_shed_total = %v, want %v", shed, want)
	}
}
