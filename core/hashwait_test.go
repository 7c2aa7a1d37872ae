package core_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"legacyauth/core"
)

// slotHolder is a core.Config.ObserveHashWait that, once armed, keeps the
// next request granted a hash slot inside the hook (so holding the slot)
// until released; it counts waits and sheds.
type slotHolder struct {
	armed    atomic.Pointer[chan struct{}]
	entered  chan struct{}
	mu       sync.Mutex
	waits    []time.Duration
	shed     int
	observed int
}

func newSlotHolder() *slotHolder { return &slotHolder{entered: make(chan struct{}, 1)} }

func (s *slotHolder) observe(d time.Duration, shed bool) {
	s.mu.Lock()
	s.observed++
	s.waits = append(s.waits, d)
	if shed {
		s.shed++
	}
	s.mu.Unlock()
	if shed {
		return
	}
	if c := s.armed.Swap(nil); c != nil {
		s.entered <- struct{}{}
		<-*c
	}
}

// hold makes the next granted request keep its slot; it returns once that
// request holds it, and the function that lets it go.
func (s *slotHolder) hold(t *testing.T, start func()) (release func()) {
	t.Helper()
	c := make(chan struct{})
	s.armed.Store(&c)
	go start()
	select {
	case <-s.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the holding request never got a hash slot")
	}
	var once sync.Once
	release = func() { once.Do(func() { close(c) }) }
	t.Cleanup(release)
	return release
}

func (s *slotHolder) counts() (observed, shed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.observed, s.shed
}

// A login that finds every hash slot taken waits at most HashWait, then
// gets Unavailable with RetryAfter: a known phone and an unknown one alike,
// so that the answer reveals no registration. The holder's own login
// completes once the slot is free.
func TestHashWaitSheds(t *testing.T) {
	sh := newSlotHolder()
	const wait = 50 * time.Millisecond
	h := newHarness(t, func(c *core.Config) {
		c.HashConcurrency, c.HashWait, c.ObserveHashWait = 1, wait, sh.observe
	})
	h.register(t, phoneN(1), "pw-one-1", "d1")
	h.register(t, phoneN(2), "pw-two-2", "d2")
	ctx := context.Background()
	holder := make(chan error, 1)
	release := sh.hold(t, func() {
		_, err := h.svc.Login(ctx, core.LoginRequest{Phone: phoneN(1), Password: "pw-one-1"})
		holder <- err
	})
	_, shedBefore := sh.counts()
	for _, phone := range []string{phoneN(2), phoneN(3)} { // registered, unknown
		start := time.Now()
		_, err := h.svc.Login(ctx, core.LoginRequest{Phone: phone, Password: "pw-two-2"})
		took := time.Since(start)
		if core.KindOf(err) != core.Unavailable {
			t.Fatalf("login of %s with every slot taken: %v, want Unavailable", phone, err)
		}
		if got := core.RetryAfterOf(err); got != wait {
			t.Errorf("login of %s: RetryAfter %v, want %v", phone, got, wait)
		}
		if took < wait || took > wait+time.Second {
			t.Errorf("login of %s shed after %v, want about %v", phone, took, wait)
		}
	}
	if _, shed := sh.counts(); shed-shedBefore != 2 {
		t.Errorf("shed observed %d times, want 2", shed-shedBefore)
	}
	release()
	if err := <-holder; err != nil {
		t.Fatalf("the holder's login: %v", err)
	}
	// The slot is free again: logins are served.
	if _, err := h.svc.Login(ctx, core.LoginRequest{Phone: phoneN(2), Password: "pw-two-2"}); err != nil {
		t.Fatalf("login after the slot came free: %v", err)
	}
}

// Within HashWait a login queues for the slot and is served when it comes
// free; the observed wait is the time it queued.
func TestHashWaitQueues(t *testing.T) {
	sh := newSlotHolder()
	h := newHarness(t, func(c *core.Config) {
		c.HashConcurrency, c.HashWait, c.ObserveHashWait = 1, 10*time.Second, sh.observe
	})
	h.register(t, phoneN(1), "pw-one-1", "d1")
	ctx := context.Background()
	release := sh.hold(t, func() { _, _ = h.svc.Login(ctx, core.LoginRequest{Phone: phoneN(1), Password: "pw-one-1"}) })
	const held = 150 * time.Millisecond
	time.AfterFunc(held, release)
	if _, err := h.svc.Login(ctx, core.LoginRequest{Phone: phoneN(1), Password: "pw-one-1"}); err != nil {
		t.Fatalf("queued login: %v", err)
	}
	sh.mu.Lock()
	last := sh.waits[len(sh.waits)-1]
	sh.mu.Unlock()
	if last < held/2 {
		t.Errorf("queued login observed a wait of %v, want about %v", last, held)
	}
	if _, shed := sh.counts(); shed != 0 {
		t.Errorf("%d shed, want none", shed)
	}
}

// An import is a batch: it waits for its slots, however long, and is
// never shed.
func TestImportIsNotShed(t *testing.T) {
	sh := newSlotHolder()
	h := newHarness(t, func(c *core.Config) {
		c.HashConcurrency, c.HashWait, c.ObserveHashWait = 1, 10*time.Millisecond, sh.observe
	})
	h.register(t, phoneN(1), "pw-one-1", "d1")
	ctx := context.Background()
	release := sh.hold(t, func() { _, _ = h.svc.Login(ctx, core.LoginRequest{Phone: phoneN(1), Password: "pw-one-1"}) })
	time.AfterFunc(200*time.Millisecond, release)
	_, errs := h.svc.ImportUsers(ctx, []core.ImportRequest{{Phone: phoneN(5), Password: "imported pw"}, {Phone: phoneN(6), Password: "imported pw"}})
	for i, err := range errs {
		if err != nil {
			t.Errorf("import %d: %v", i, err)
		}
	}
	if _, shed := sh.counts(); shed != 0 {
		t.Errorf("%d shed, want none", shed)
	}
}

// By default one core is left to the cheap paths, and the wait is bounded.
func TestHashDefaults(t *testing.T) {
	h := newHarness(t)
	cfg := h.svc.Config()
	if want := max(1, runtime.GOMAXPROCS(0)-1); cfg.HashConcurrency != want {
		t.Errorf("HashConcurrency %d, want %d (GOMAXPROCS-1, at least 1)", cfg.HashConcurrency, want)
	}
	if cfg.HashWait != time.Second {
		t.Errorf("HashWait %v, want 1s", cfg.HashWait)
	}
}
