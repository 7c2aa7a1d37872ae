package v1

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"legacyauth/core"
	"legacyauth/gateway"
)

// Problem codes the API writes that are not core kinds: failures of the
// HTTP exchange itself, found before any core operation runs. Every other
// code is a core.Kind's name.
const (
	CodeNotFound             = "not_found" // also core.NotFound's name: an unknown path is "no such thing" too
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeTooLarge             = "too_large"
)

// ProblemTypeBase prefixes a problem's code to form its "type" URI. RFC 9457
// wants a URI that identifies the problem type; a tag URI (RFC 4151) names
// one without promising a page to dereference.
const ProblemTypeBase = "tag:legacyauth,2026:problem:"

// Problem is the RFC 9457 body of every error reply.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
}

// WriteProblem writes an application/problem+json reply. code is the
// stable machine-readable name clients branch on; title is the short
// human summary of the code, detail explains this occurrence. Neither
// may carry a secret.
func WriteProblem(w http.ResponseWriter, status int, code, title, detail string) {
	buf := bodyPool.Get().(*[]byte)
	defer putBody(buf) // Write has copied it by then
	*buf = append(appendProblem((*buf)[:0], Problem{Type: ProblemTypeBase + code, Title: title, Status: status, Detail: detail, Code: code}), '\n')
	writeBody(w, status, hvProblem, *buf)
}

// kindStatus maps every core kind to its HTTP status. A kind missing here
// answers 500; TestEveryKindMapped keeps the table complete.
var kindStatus = map[core.Kind]int{
	core.Internal:          http.StatusInternalServerError,
	core.Invalid:           http.StatusBadRequest,
	core.NotRegistered:     http.StatusNotFound,
	core.AlreadyRegistered: http.StatusConflict,
	core.WrongPassword:     http.StatusUnauthorized,
	core.CodeWrong:         http.StatusUnprocessableEntity,
	core.CodeExpired:       http.StatusUnprocessableEntity,
	core.TooManyAttempts:   http.StatusUnprocessableEntity,
	core.RateLimited:       http.StatusTooManyRequests,
	core.SMSFailed:         http.StatusBadGateway,
	core.Unauthorized:      http.StatusUnauthorized,
	core.NotFound:          http.StatusNotFound,
	core.Unavailable:       http.StatusServiceUnavailable,
}

// titles are fixed per code, as RFC 9457 asks: the detail varies, the
// title does not.
var titles = map[string]string{
	core.Internal.String():          "Internal error",
	core.Invalid.String():           "Invalid request",
	core.NotRegistered.String():     "Phone not registered",
	core.AlreadyRegistered.String(): "Phone already registered",
	core.WrongPassword.String():     "Wrong password",
	core.CodeWrong.String():         "Wrong verification code",
	core.CodeExpired.String():       "Verification code expired",
	core.TooManyAttempts.String():   "Too many wrong codes",
	core.RateLimited.String():       "Too many requests",
	core.SMSFailed.String():         "SMS not sent",
	core.Unauthorized.String():      "Unauthorized",
	core.NotFound.String():          "Not found",
	core.Unavailable.String():       "Service unavailable",
	CodeMethodNotAllowed:            "Method not allowed",
	CodeUnsupportedMediaType:        "Unsupported media type",
	CodeTooLarge:                    "Request body too large",
}

// Codes lists every problem code the API can write, for the contract test
// and for documentation.
func Codes() []string {
	var cs []string
	for _, k := range core.Kinds() {
		cs = append(cs, k.String())
	}
	return append(cs, CodeMethodNotAllowed, CodeUnsupportedMediaType, CodeTooLarge)
}

func title(code string) string {
	if t, ok := titles[code]; ok {
		return t
	}
	return "Error"
}

func statusOf(k core.Kind) int {
	if s, ok := kindStatus[k]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// httpProblem is a failure of the HTTP exchange (wrong content type, body
// too large, unknown route), as opposed to a core error.
type httpProblem struct {
	status int
	code   string
	detail string
}

func (p *httpProblem) Error() string { return p.code + ": " + p.detail }

func invalid(detail string) error { return core.E("v1", core.Invalid, detail) }

// bearerChallenge is sent with every 401, as RFC 9110 requires; error= tells
// a client that the token it sent was refused (RFC 6750).
const bearerChallenge = `Bearer realm="legacyauth"`

// WriteError renders a core error as a problem, with the status of its
// kind (429 with Retry-After and RateLimit-* headers for RateLimited). The
// gateway uses it for /v1 requests its request limit refuses.
func WriteError(w http.ResponseWriter, err error) { writeError(w, err, false) }

// setRateLimitHeaders states the refusing limit as the IETF RateLimit
// header fields draft (draft-ietf-httpapi-ratelimit-headers-03) names them,
// besides Retry-After.
func setRateLimitHeaders(w http.ResponseWriter, err error) {
	gateway.SetRetryAfter(w, err)
	h := w.Header()
	reset := strconv.FormatInt(gateway.RetryAfterSeconds(core.RetryAfterOf(err)), 10)
	if l := core.LimitOf(err); l != nil {
		quota := strconv.FormatInt(l.Quota, 10)
		h.Set("RateLimit-Limit", quota)
		h.Set("RateLimit-Policy", quota+";w="+strconv.FormatInt(int64(l.Window/time.Second), 10)+`;name="`+l.Name+`"`)
	}
	h.Set("RateLimit-Remaining", "0")
	h.Set("RateLimit-Reset", reset)
}

// writeError renders err as a problem. It reports the code and status
// written, for the caller's log line.
func writeError(w http.ResponseWriter, err error, tokenSent bool) (code string, status int) {
	if hp, ok := errors.AsType[*httpProblem](err); ok {
		WriteProblem(w, hp.status, hp.code, title(hp.code), hp.detail)
		return hp.code, hp.status
	}
	kind := core.KindOf(err)
	status = statusOf(kind)
	code = kind.String()
	var detail string
	if ce, ok := errors.AsType[*core.Error](err); ok {
		detail = ce.Msg // safe to show by core's contract
	}
	switch kind {
	case core.Internal:
		detail = "" // the cause is only logged
	case core.RateLimited:
		setRateLimitHeaders(w, err)
	case core.Unavailable:
		gateway.SetRetryAfter(w, err) // when shed: no hash slot in time
	}
	if status == http.StatusUnauthorized {
		ch := bearerChallenge
		if tokenSent && kind == core.Unauthorized {
			ch += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", ch)
	}
	WriteProblem(w, status, code, title(code), detail)
	return code, status
}
