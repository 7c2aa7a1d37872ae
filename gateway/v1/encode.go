package v1

import (
	"strconv"
	"time"

	"legacyauth/internal/jsonstr"
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
	b = jsonstr.Append(b, u.ID)
	b = append(b, `,"phone":`...)
	b = jsonstr.Append(b, u.Phone)
	b = append(b, `,"name":`...)
	b = jsonstr.Append(b, u.Name)
	b = append(b, `,"nickname":`...)
	b = jsonstr.Append(b, u.Nickname)
	b = append(b, `,"gender":`...)
	b = jsonstr.Append(b, u.Gender)
	b = append(b, `,"avatar":`...)
	b = jsonstr.Append(b, u.Avatar)
	b = append(b, `},"expires_at":"`...)
	b = expires.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `"}`...)
	return b, true
}

// appendProblem writes p as json.Marshal does (TestAppendProblemMatchesEncodingJSON):
// every error reply, and the gateway's 404 for a path no dialect serves,
// is one, and encoding/json's reflection made it the most expensive part
// of such a reply.
func appendProblem(b []byte, p Problem) []byte {
	b = append(b, `{"type":`...)
	b = jsonstr.Append(b, p.Type)
	b = append(b, `,"title":`...)
	b = jsonstr.Append(b, p.Title)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(p.Status), 10)
	if p.Detail != "" {
		b = append(b, `,"detail":`...)
		b = jsonstr.Append(b, p.Detail)
	}
	b = append(b, `,"code":`...)
	b = jsonstr.Append(b, p.Code)
	return append(b, '}')
}
