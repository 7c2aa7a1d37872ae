package metrics

import (
	"net/netip"
	"strings"
	"sync"
)

// UserAgentVersion is the client version a User-Agent names: its first
// product token, "Name/Version" (RFC 9110, section 10.1.5), as in
// "CarApp/3.2.1 (iPhone; iOS 15.1) CFNetwork/1240" -> "CarApp/3.2.1".
// It is "unknown" when the header is empty, the first product has no
// version, or the token is not a plausible version (see safeToken).
func UserAgentVersion(ua string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(ua), " ")
	name, ver, ok := strings.Cut(first, "/")
	if !ok || !safeToken(name, 32) || !safeToken(ver, 32) {
		return "unknown"
	}
	return first
}

// HeaderVersion is the client version a dedicated header carries
// (GATEWAY_CLIENT_VERSION_HEADER): the trimmed value itself, or "unknown"
// when it is absent or not a plausible version.
func HeaderVersion(v string) string {
	v = strings.TrimSpace(v)
	if !safeToken(v, 40) {
		return "unknown"
	}
	return v
}

// safeToken accepts 1 to max characters of [A-Za-z0-9._+-] that do not
// look like something that must never become a label: a phone number (11
// or more digits in a row; date-based build numbers such as 2021081501
// have 10), a secret (16 or more hex digits in a row) or an IPv4 address.
func safeToken(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	digits, hex := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		isDigit := c >= '0' && c <= '9'
		isHex := isDigit || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
		if !isDigit && !isHex && !(c >= 'g' && c <= 'z' || c >= 'G' && c <= 'Z' || c == '.' || c == '_' || c == '+' || c == '-') {
			return false
		}
		if isDigit {
			digits++
		} else {
			digits = 0
		}
		if isHex {
			hex++
		} else {
			hex = 0
		}
		if digits >= 11 || hex >= 16 {
			return false
		}
	}
	// An IPv4 address is written with exactly three dots; the test is
	// skipped for other tokens, where ParseAddr would only allocate its error.
	if strings.Count(s, ".") != 3 {
		return true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return false
	}
	return true
}

// versionSet bounds the version label's values: per dialect, the first
// max distinct versions seen keep their own value, later ones become
// "other" ("unknown" and "other" take no place). A dialect therefore has
// at most max+2 series, whatever clients send.
type versionSet struct {
	max  int
	mu   sync.RWMutex
	seen map[string]map[string]bool // dialect -> versions with their own label
}

func newVersionSet(max int) *versionSet {
	return &versionSet{max: max, seen: map[string]map[string]bool{}}
}

func (v *versionSet) label(dialect, version string) string {
	if version == "unknown" || version == "other" {
		return version
	}
	v.mu.RLock()
	known, full := v.seen[dialect][version], len(v.seen[dialect]) >= v.max
	v.mu.RUnlock()
	switch {
	case known:
		return version
	case full:
		return "other"
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	d := v.seen[dialect]
	if d == nil {
		d = map[string]bool{}
		v.seen[dialect] = d
	}
	if !d[version] && len(d) >= v.max {
		return "other"
	}
	d[version] = true
	return version
}
