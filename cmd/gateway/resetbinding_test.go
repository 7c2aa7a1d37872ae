package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestResetBinding: apiv4's forget_password at the victim's address but
// with another User-Agent is refused and leaves the victim's verification
// in place, on every store and across instances (the ticket lives in Redis
// there); after RecentCheckTTL the victim's own step 2 is refused too.
func TestResetBinding(t *testing.T) {
	const victimUA, strangerUA = "CarApp/4.2.1 (iPhone; iOS 17.4)", "okhttp/4.9.0"
	// apiv4 returns the reply's code as text ("200" whether number or string).
	apiv4 := func(t *testing.T, g *testGateway, method, path, body, ua string) string {
		t.Helper()
		var req *http.Request
		if method == http.MethodGet {
			req, _ = http.NewRequest(method, g.URL+"/api/v4.0"+path+"?"+body, nil)
		} else {
			req, _ = http.NewRequest(method, g.URL+"/api/v4.0"+path, bytes.NewReader([]byte(body)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("User-Agent", ua)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(m["code"])
	}
	capGateways(t, func(t *testing.T, gs []*testGateway) {
		a, b := gs[0], gs[len(gs)-1]
		const phone = "13812345003"
		capRegister(t, a, phone, "first-pw")
		verify := func() {
			t.Helper()
			for _, g := range gs {
				g.Clock.Advance(time.Minute) // the SMS cooldown, were limits on
			}
			if c := apiv4(t, a, http.MethodGet, "/sendsms/"+phone, "expect=1", victimUA); c != "200" {
				t.Fatalf("sendsms: code %v", c)
			}
			if c := apiv4(t, a, http.MethodGet, "/verify_code", "phone="+phone+"&code="+a.SMS.Last(), victimUA); c != "200" {
				t.Fatalf("verify_code: code %v", c)
			}
		}
		verify()
		if c := apiv4(t, b, http.MethodPost, "/forget_password", "phone="+phone+"&password=evil999", strangerUA); c != "-1" {
			t.Fatalf("a stranger's forget_password: code %v, want -1", c)
		}
		if _, err := capLogin(b, phone, "first-pw"); err != nil {
			t.Fatalf("the password changed after the stranger's try: %v", err)
		}
		if c := apiv4(t, b, http.MethodPost, "/forget_password", "phone="+phone+"&password=mine222", victimUA); c != "200" {
			t.Fatalf("the victim's forget_password after the stranger's: code %v, want 200", c)
		}
		if _, err := capLogin(a, phone, "mine222"); err != nil {
			t.Fatalf("the victim's new password: %v", err)
		}

		verify()
		for _, g := range gs {
			g.Clock.Advance(2*time.Minute + time.Second)
		}
		if c := apiv4(t, b, http.MethodPost, "/forget_password", "phone="+phone+"&password=late222", victimUA); c != "-1" {
			t.Fatalf("forget_password after the window: code %v, want -1", c)
		}
		if _, err := capLogin(a, phone, "mine222"); err != nil {
			t.Fatalf("the password changed after the window: %v", err)
		}
	})
}
