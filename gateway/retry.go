package gateway

import (
	"net/http"
	"strconv"
	"time"

	"legacyauth/core"
)

// SetRetryAfter sets Retry-After on the reply to a RateLimited error, and
// to an Unavailable one that asks for a wait (a request shed because every
// hash slot stayed busy), and does nothing for other errors: whole
// seconds, rounded up so a client that waits as told is not refused again
// for a fraction of a second, and at least 1.
func SetRetryAfter(w http.ResponseWriter, err error) {
	if err == nil {
		return
	}
	switch core.KindOf(err) {
	case core.RateLimited:
	case core.Unavailable:
		if core.RetryAfterOf(err) <= 0 {
			return // a store that did not answer: no wait to suggest
		}
	default:
		return
	}
	w.Header().Set("Retry-After", strconv.FormatInt(RetryAfterSeconds(core.RetryAfterOf(err)), 10))
}

// RetryAfterSeconds rounds a wait up to whole seconds, at least 1.
func RetryAfterSeconds(d time.Duration) int64 {
	return max(1, int64((d+time.Second-1)/time.Second))
}
