package core

import "strings"

// NormalizePhone returns the E.164 form of a phone number. The legacy apps
// send 11-digit mainland mobiles (1XXXXXXXXXX); they become +861XXXXXXXXXX.
// Numbers already in E.164 (+ and 8 to 15 digits) are kept. Anything else is
// Invalid.
func NormalizePhone(raw string) (string, error) {
	const op = "core.NormalizePhone"
	s := strings.TrimSpace(raw)
	if isMainlandMobile(s) {
		return "+86" + s, nil
	}
	if len(s) >= 9 && len(s) <= 16 && s[0] == '+' && s[1] != '0' && allDigits(s[1:]) {
		if strings.HasPrefix(s, "+86") && !isMainlandMobile(s[3:]) {
			return "", E(op, Invalid, "not a mainland mobile number")
		}
		return s, nil
	}
	return "", E(op, Invalid, "not a phone number")
}

// LocalPhone returns the 11-digit national form of a +86 mobile, the form
// the legacy apps know; other numbers are returned unchanged.
func LocalPhone(e164 string) string {
	if strings.HasPrefix(e164, "+86") {
		return e164[3:]
	}
	return e164
}

// IsMainlandMobile reports whether s matches ^1\d{10}$.
func IsMainlandMobile(s string) bool { return isMainlandMobile(s) }

func isMainlandMobile(s string) bool {
	return len(s) == 11 && s[0] == '1' && allDigits(s)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// MaskPhone hides the middle of a phone number for logs: 13812341234 and
// +8613812341234 both become 138****1234.
func MaskPhone(phone string) string {
	head, tail := MaskedPhoneParts(phone)
	return head + "****" + tail
}

// MaskedPhoneParts returns what MaskPhone keeps of phone before and after
// its "****" (both empty for a phone too short to show any), for writers
// that append the masked form without building it.
func MaskedPhoneParts(phone string) (head, tail string) {
	s := LocalPhone(phone)
	if len(s) < 7 {
		return "", ""
	}
	return s[:3], s[len(s)-4:]
}
