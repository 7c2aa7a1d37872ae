package apiv4

import (
	"testing"
	"time"

	"legacyauth/core"
)

// Every request of these tests comes from 127.0.0.1: victim and stranger
// share one address, as behind a carrier's NAT.
const (
	victimUA = "CarApp/4.2.1 (iPhone; iOS 17.4)"
	forgedUA = "okhttp/4.9.0"
)

// verifiedReset sends a reset code to phone and verifies it as the victim
// does: with the victim's User-Agent and, when device is not empty, its
// device id.
func verifiedReset(t *testing.T, e *env, phone, device string) {
	t.Helper()
	if r := e.get(t, "/sendsms/"+phone+"?expect=1"); r.code() != 200 {
		t.Fatalf("sendsms: %s", r.raw)
	}
	q := "/verify_code?phone=" + phone + "&code=" + e.sms.CodeFor(phone)
	if device != "" {
		q += "&device_identifier=" + device
	}
	hasReply(t, e.do(t, "GET", q, "", "", "User-Agent", victimUA), 200, 200, "验证码正确")
}

// forget is step 2 as sent with the given User-Agent and device id.
func forget(t *testing.T, e *env, phone, password, ua, device string) resp {
	t.Helper()
	form := "phone=" + phone + "&password=" + password
	if device != "" {
		form += "&device_identifier=" + device
	}
	return e.do(t, "POST", "/forget_password", "application/x-www-form-urlencoded", form, "User-Agent", ua)
}

// loginWorks reports whether password logs phone in (the stored hash).
func loginWorks(t *testing.T, e *env, phone, password string) bool {
	t.Helper()
	_, err := e.svc.Login(t.Context(), core.LoginRequest{Phone: phone, Password: password})
	return err == nil
}

// TestResetBinding: a forget_password from the victim's address is not
// enough; it must also repeat the verify_code's User-Agent and device id,
// within RecentCheckTTL, and a stranger's mismatch leaves the victim's
// verification in place.
func TestResetBinding(t *testing.T) {
	e := newEnv(t, Options{})

	t.Run("other User-Agent", func(t *testing.T) {
		const phone = "13800003701"
		e.register(t, phone, "111111", "dev-v")
		verifiedReset(t, e, phone, "")
		hasReply(t, forget(t, e, phone, "evil99", forgedUA, ""), 200, -1, "请先验证验证码")
		if loginWorks(t, e, phone, "evil99") || !loginWorks(t, e, phone, "111111") {
			t.Fatal("a stranger at the victim's address with another User-Agent changed the password")
		}
		// The stranger's try did not spend the victim's verification.
		hasReply(t, forget(t, e, phone, "mine22", victimUA, ""), 200, 200, "修改成功")
		if !loginWorks(t, e, phone, "mine22") {
			t.Fatal("the victim's own step 2 did not set the password")
		}
	})

	t.Run("other device id", func(t *testing.T) {
		const phone = "13800003702"
		e.register(t, phone, "111111", "dev-v")
		verifiedReset(t, e, phone, "dev-v")
		hasReply(t, forget(t, e, phone, "evil99", victimUA, ""), 200, -1, "请先验证验证码")
		hasReply(t, forget(t, e, phone, "evil99", victimUA, "dev-x"), 200, -1, "请先验证验证码")
		if !loginWorks(t, e, phone, "111111") {
			t.Fatal("a step 2 without the victim's device id changed the password")
		}
		hasReply(t, forget(t, e, phone, "mine22", victimUA, "dev-v"), 200, 200, "修改成功")
		if !loginWorks(t, e, phone, "mine22") {
			t.Fatal("the victim's own step 2 did not set the password")
		}
	})

	t.Run("window", func(t *testing.T) {
		const phone = "13800003703"
		e.register(t, phone, "111111", "dev-v")
		verifiedReset(t, e, phone, "")
		e.clock.Advance(2*time.Minute + time.Second)
		hasReply(t, forget(t, e, phone, "late22", victimUA, ""), 200, -1, "请先验证验证码")
		if !loginWorks(t, e, phone, "111111") {
			t.Fatal("a step 2 after the window changed the password")
		}
		// Just inside the window the same step 2 goes through.
		e.clock.Advance(time.Minute) // past the SMS cooldown, were limits on
		verifiedReset(t, e, phone, "")
		e.clock.Advance(2*time.Minute - time.Second)
		hasReply(t, forget(t, e, phone, "mine22", victimUA, ""), 200, 200, "修改成功")
	})
}
