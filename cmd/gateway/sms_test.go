package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"legacyauth/internal/testkit"
)

// Test numbers get their fixed code, cut to each dialect's length, without
// an SMS and without the SMS limits; the code is single use and wrong
// guesses still count.
func TestTestPhones(t *testing.T) {
	g := startGateway(t, "--test-phones", "+8613800000xxx=2468101357")
	for i, d := range limDialects {
		t.Run(d.name, func(t *testing.T) {
			phone := fmt.Sprintf("13800000%03d", i)
			c := newLimClient(t, g, "")
			for k := range 12 { // past sms_cooldown, sms_phone and sms_phone_day
				if r := d.send(c, phone); !d.sent(r) {
					t.Fatalf("send %d to a test number: HTTP %d %s", k+1, r.status, r.body)
				}
			}
		})
	}
	if n := len(g.SMS.Sent()); n != 0 {
		t.Fatalf("%d SMS handed to the sender for test numbers, want 0", n)
	}
	// The code, cut to each length, works once.
	c := newLimClient(t, g, "")
	if r := c.postJSON("/caraccessories/app/registration", map[string]string{"mobile": "13800000000", "code": "24681", "password": "abc12345"}); !r.is("status", 1.0) {
		t.Fatalf("caraccessories registration with the test code 24681: HTTP %d %s", r.status, r.body)
	}
	if r := c.postForm("/api/v4.0/register", url.Values{"phone": {"13800000001"}, "name": {"n"}, "password": {"abc12345"}, "device_identifier": {"d"}, "code": {"246810"}}); !r.is("code", 200.0) {
		t.Fatalf("apiv4 register with 246810: HTTP %d %s", r.status, r.body)
	}
	for k, want := range []int{http.StatusOK, http.StatusUnprocessableEntity} {
		r := c.postJSON("/v1/codes/verify", map[string]string{"phone": "13800000003", "purpose": "register", "code": "246810"})
		if (r.status == http.StatusOK) != (want == http.StatusOK) {
			t.Fatalf("/v1 verify with 246810, try %d: HTTP %d %s (a code is single use)", k+1, r.status, r.body)
		}
	}
	rc := newLimClient(t, g, "")
	rc.do(http.MethodGet, "/register?userId=13800000002", "", "")
	if r := rc.postForm("/register", url.Values{"code_v": {"2468"}, "code": {"2468"}}); !r.is("result", "0000") {
		t.Fatalf("resultcode verify with 2468: HTTP %d %s", r.status, r.body)
	}
	// Guess limits still hold: 11 wrong codes lock the number's checks.
	v := newLimClient(t, g, "")
	locked := false
	for range 12 {
		v.postJSON("/v1/codes", map[string]string{"phone": "13800000009", "purpose": "register"})
		r := v.postJSON("/v1/codes/verify", map[string]string{"phone": "13800000009", "purpose": "register", "code": "000000"})
		if r.status == http.StatusTooManyRequests {
			locked = true
			break
		}
	}
	if !locked {
		t.Fatal("wrong codes for a test number never hit code_phone")
	}
	if !strings.Contains(g.Log.String(), "GATEWAY_TEST_PHONES") {
		t.Errorf("no start-up warning about test numbers in the log")
	}
}

// Codes go only to the allowed countries (+86 by default), in /v1 too; a
// number outside gets an invalid reply and no SMS.
func TestSMSCountries(t *testing.T) {
	g := startGateway(t)
	c := newLimClient(t, g, "")
	r := c.postJSON("/v1/codes", map[string]string{"phone": "+19005550100", "purpose": "any"})
	if r.status != http.StatusBadRequest || !r.is("code", "invalid") {
		t.Fatalf("/v1/codes to +1: HTTP %d %s, want 400 invalid", r.status, r.body)
	}
	if n := len(g.SMS.Sent()); n != 0 {
		t.Fatalf("%d SMS sent to a country not allowed", n)
	}
	g2 := startGateway(t, "--sms-countries", "+86,+1")
	if r := newLimClient(t, g2, "").postJSON("/v1/codes", map[string]string{"phone": "+19005550100", "purpose": "any"}); r.status != http.StatusOK {
		t.Fatalf("/v1/codes to +1 with +1 allowed: HTTP %d %s", r.status, r.body)
	}
}

// The spend budget across every phone refuses, in each dialect's own
// form, once spent.
func TestSMSSpendBudgetReplies(t *testing.T) {
	g := startGateway(t, "--trusted-proxies=127.0.0.1/32", "--limit-sms-all-hour=2-H")
	for i := range 2 {
		if r := limDialectNamed("v1").send(newLimClient(t, g, limAddr(i)), fmt.Sprintf("1370009000%d", i)); r.status != http.StatusOK {
			t.Fatalf("send %d: HTTP %d %s", i+1, r.status, r.body)
		}
	}
	for i, d := range limDialects {
		r := d.send(newLimClient(t, g, limAddr(10+i)), fmt.Sprintf("1370009010%d", i))
		if !d.limited(r) {
			t.Errorf("%s past the spend budget: HTTP %d %s, want its rate-limited reply", d.name, r.status, r.body)
		}
		r.wantRetryAfter(t, d.name, "3600")
	}
	if n := len(g.SMS.Sent()); n != 2 {
		t.Errorf("%d SMS sent, want 2", n)
	}
	if !strings.Contains(g.Log.String(), "SMS SPEND BUDGET REACHED") {
		t.Errorf("no loud line in the log")
	}
}

// A real gateway process whose first provider (an SMS webhook) answers 500
// falls back to the next (the log); provider secrets never reach the log.
func TestSMSFailoverInProcess(t *testing.T) {
	var hits int
	var mu sync.Mutex
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer failing.Close()
	secretFile := filepath.Join(t.TempDir(), "aliyun-secret")
	if err := os.WriteFile(secretFile, []byte("aliyun-secret-value-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := &testkit.Buffer{}
	ctx, cancel := context.WithCancel(t.Context())
	addr := freeAddr(t)
	done := make(chan error, 1)
	env := map[string]string{
		"GATEWAY_SMS_PROVIDERS":                     "webhook,log",
		"GATEWAY_SMS_WEBHOOK":                       failing.URL,
		"GATEWAY_SMS_ALIYUN_ACCESS_KEY_ID":          "LTAI-key-id",
		"GATEWAY_SMS_ALIYUN_ACCESS_KEY_SECRET_FILE": secretFile,
		"GATEWAY_SMS_TWILIO_AUTH_TOKEN":             "twilio-token-value-abcdef",
	}
	go func() {
		done <- run(ctx, []string{"--listen", addr, "--admin-listen", "off", "--data-dir", t.TempDir(), "--log-format", "json"},
			func(k string) string { return env[k] }, io.Discard, log)
	}()
	defer func() { cancel(); <-done }()
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err = http.Post("http://"+addr+"/v1/codes", "application/json", strings.NewReader(`{"phone":"13700088001","purpose":"any"}`))
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("send with the webhook down and the log next: HTTP %d", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 1 {
		t.Errorf("the webhook was asked %d times, want 1", hits)
	}
	// The log is written a few milliseconds behind (internal/logwriter).
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(log.String(), "development SMS sender") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	out := log.String()
	if !strings.Contains(out, `"provider":"webhook"`) || !strings.Contains(out, "development SMS sender") {
		t.Errorf("the log shows no failover from webhook to log:\n%s", out)
	}
	for _, secret := range []string{"aliyun-secret-value", "twilio-token-value"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds a provider secret %q", secret)
		}
	}
}

// gateway sms test sends one code through the chain and names the
// provider that took it; config check refuses a provider without its
// settings.
func TestSMSTestCommand(t *testing.T) {
	var got struct{ Phone, Code string }
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
	}))
	defer sink.Close()
	var out, errOut bytes.Buffer
	env := func(k string) string {
		return map[string]string{"GATEWAY_SMS_PROVIDERS": "webhook,log", "GATEWAY_SMS_WEBHOOK": sink.URL}[k]
	}
	if err := run(t.Context(), []string{"sms", "test", "--phone", "13700088002", "--data-dir", t.TempDir()}, env, &out, &errOut); err != nil {
		t.Fatalf("sms test: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "by webhook") || got.Phone != "+8613700088002" || len(got.Code) != 6 {
		t.Fatalf("sms test printed %q; the webhook got %+v", out.String(), got)
	}
	out.Reset()
	if err := run(t.Context(), []string{"sms", "test", "--phone", "13700088002", "--provider", "log"}, env, &out, &errOut); err != nil || !strings.Contains(out.String(), "by log") {
		t.Fatalf("sms test --provider log: %q, %v", out.String(), err)
	}
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(file, []byte("sms:\n  providers: aliyun\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "config", "check", file); err == nil || !strings.Contains(err.Error(), "aliyun") {
		t.Fatalf("config check of aliyun without its keys: %v, want refused", err)
	}
}
