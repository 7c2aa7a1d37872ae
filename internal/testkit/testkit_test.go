package testkit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"legacyauth/core"
)

func TestClock(t *testing.T) {
	if got := NewClock(time.Time{}).Now(); !got.Equal(DefaultStart) {
		t.Errorf("zero start: Now = %v, want %v", got, DefaultStart)
	}
	start := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	c := NewClock(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want %v", got, start)
	}
	c.Advance(90 * time.Second)
	if got, want := c.Now(), start.Add(90*time.Second); !got.Equal(want) {
		t.Errorf("after Advance: Now = %v, want %v", got, want)
	}
	c.Set(start)
	if got := c.Now(); !got.Equal(start) {
		t.Errorf("after Set: Now = %v, want %v", got, start)
	}
}

func TestSMSRecorder(t *testing.T) {
	ctx := context.Background()
	var r SMSRecorder
	if r.Last() != "" || r.CodeFor("13800000001") != "" || len(r.Sent()) != 0 {
		t.Fatalf("a new recorder has messages: %+v", r.Sent())
	}
	msgs := []core.SMS{
		{Phone: "+8613800000001", Code: "111111", Purpose: "register", Dialect: "v1"},
		{Phone: "+8613800000002", Code: "222222"},
		{Phone: "+8613800000001", Code: "333333"},
	}
	for _, m := range msgs {
		if err := r.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Last(); got != "333333" {
		t.Errorf("Last = %q", got)
	}
	for _, phone := range []string{"13800000001", "+8613800000001"} {
		if got := r.CodeFor(phone); got != "333333" {
			t.Errorf("CodeFor(%s) = %q", phone, got)
		}
		if got := r.MessageTo(t, phone); got != msgs[2] {
			t.Errorf("MessageTo(%s) = %+v", phone, got)
		}
	}
	if got := r.CodeFor("13800000002"); got != "222222" {
		t.Errorf("CodeFor(13800000002) = %q", got)
	}
	if got := r.CodeFor("13800000003"); got != "" {
		t.Errorf("CodeFor(a phone never sent to) = %q", got)
	}

	sent := r.Sent()
	if len(sent) != 3 || sent[0] != msgs[0] {
		t.Fatalf("Sent = %+v", sent)
	}
	sent[0].Code = "changed"
	if r.Sent()[0].Code != "111111" {
		t.Errorf("Sent does not return a copy")
	}

	down := errors.New("down")
	r.Fail(down)
	if err := r.Send(ctx, core.SMS{Phone: "+8613800000004", Code: "444444"}); err != down {
		t.Errorf("Send while failing = %v, want %v", err, down)
	}
	if len(r.Sent()) != 3 || r.CodeFor("13800000004") != "" {
		t.Errorf("a refused message was recorded")
	}
	r.Fail(nil)
	if err := r.Send(ctx, core.SMS{Phone: "+8613800000004", Code: "444444"}); err != nil {
		t.Errorf("Send after Fail(nil) = %v", err)
	}
	if r.CodeFor("13800000004") != "444444" {
		t.Errorf("delivery did not resume")
	}
}

func TestBufferConcurrent(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fmt.Fprintf(&b, "line %d\n", i)
			_ = b.String()
		}()
	}
	wg.Wait()
	if got := len(b.String()); got != 8*len("line 0\n") {
		t.Errorf("%d bytes written, want %d", got, 8*len("line 0\n"))
	}
}

func TestFastHash(t *testing.T) {
	phc, err := core.HashPassword("pw", FastHash)
	if err != nil {
		t.Fatal(err)
	}
	ok, stale, err := core.VerifyPassword("pw", phc, FastHash)
	if !ok || stale || err != nil {
		t.Errorf("VerifyPassword = %v, %v, %v", ok, stale, err)
	}
}

func TestTogether(t *testing.T) {
	const n = 16
	var started sync.WaitGroup
	started.Add(n)
	ran := make([]bool, n)
	// Every call waits for all the others to have started: Together must
	// run them at the same time, not one after another.
	Together(n, func(i int) {
		started.Done()
		started.Wait()
		ran[i] = true
	})
	for i, ok := range ran {
		if !ok {
			t.Errorf("f(%d) did not run", i)
		}
	}
	Together(0, func(int) { t.Error("f ran for n = 0") })
}
