package v1

import (
	"time"
	"unicode/utf8"
)

// The session introspection reply (GET /v1/session) is the most frequent
// /v1 reply; appendIntrospection writes it without encoding/json's
// reflection, byte for byte as json.Marshal writes
//
//	struct {
//		Active    bool      `json:"active"`
//		User      User      `json:"user"`
//		ExpiresAt time.Time `json:"expires_at"`
//	}
//
// (TestAppendIntrospectionMatchesEncodingJSON checks it). ok is false when
// json.Marshal would fail: a time whose year is outside [0, 9999].
func appendIntrospection(b []byte, active bool, u User, expires time.Time) (_ []byte, ok bool) {
	if y := expires.Year(); y < 0 || y >= 10000 {
		return b, false
	}
	if _, off := expires.Zone(); off%60 != 0 { // MarshalJSON refuses a zone with seconds
		return b, false
	}
	b = append(b, `{"active":`...)
	if active {
		b = append(b, "true"...)
	} else {
		b = append(b, "false"...)
	}
	b = append(b, `,"user":{"id":`...)
	b = appendJSONString(b, u.ID)
	b = append(b, `,"phone":`...)
	b = appendJSONString(b, u.Phone)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, u.Name)
	b = append(b, `,"nickname":`...)
	b = appendJSONString(b, u.Nickname)
	b = append(b, `,"gender":`...)
	b = appendJSONString(b, u.Gender)
	b = append(b, `,"avatar":`...)
	b = appendJSONString(b, u.Avatar)
	b = append(b, `},"expires_at":"`...)
	b = expires.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `"}`...)
	return b, true
}

// appendJSONString appends s quoted as encoding/json does by default
// (HTML escaping on): ", \ and the controls escaped (\b \f \n \r \t, others
// \u00xx), <, > and & as \u003c \u003e \u0026, U+2028 and U+2029 as
// \u2028 and \u2029, each invalid UTF-8 byte as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
