package core

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error so callers can branch on it. The list is
// append-only: dialect tables and the /v1 API map kinds to wire codes, so a
// kind's meaning never changes once released.
type Kind uint8

const (
	Internal          Kind = iota // a bug or an unexpected failure; its text is only logged
	Invalid                       // the request is malformed (bad phone, empty password, ...)
	NotRegistered                 // no user has this phone
	AlreadyRegistered             // the phone is taken
	WrongPassword                 // the password does not match
	CodeWrong                     // the code does not match, or none was sent
	CodeExpired                   // the code matched a send that has expired
	TooManyAttempts               // the code was burned by wrong tries
	RateLimited                   // a limit refused the request; see Error.RetryAfter
	SMSFailed                     // the SMS sender refused or timed out
	Unauthorized                  // the token or ticket is unknown, expired or revoked
	NotFound                      // a referenced object (avatar, flow) does not exist
	Unavailable                   // a store did not answer in time
)

var kindNames = [...]string{
	Internal:          "internal",
	Invalid:           "invalid",
	NotRegistered:     "not_registered",
	AlreadyRegistered: "already_registered",
	WrongPassword:     "wrong_password",
	CodeWrong:         "code_wrong",
	CodeExpired:       "code_expired",
	TooManyAttempts:   "too_many_attempts",
	RateLimited:       "rate_limited",
	SMSFailed:         "sms_failed",
	Unauthorized:      "unauthorized",
	NotFound:          "not_found",
	Unavailable:       "unavailable",
}

// Kinds lists every kind, for tables that must cover them all.
func Kinds() []Kind {
	ks := make([]Kind, len(kindNames))
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

// kindByName inverts kindNames.
var kindByName = func() map[string]Kind {
	m := make(map[string]Kind, len(kindNames))
	for k, name := range kindNames {
		m[name] = Kind(k)
	}
	return m
}()

// ParseKind returns the kind whose String is name.
func ParseKind(name string) (Kind, bool) {
	k, ok := kindByName[name]
	return k, ok
}

// String returns the kind's stable snake_case name, used as the /v1 problem
// code and in metrics labels.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Error is the error type every core operation and store returns.
type Error struct {
	Kind Kind
	Op   string // the operation that failed, e.g. "core.Login"
	Msg  string // safe to show a caller; never a secret
	Err  error  // the underlying cause, only logged
	// RetryAfter is set on RateLimited, and on Unavailable when the
	// request was shed (no hash slot in time): how long the caller should
	// wait.
	RetryAfter time.Duration
	// Limit is set on RateLimited: the limit that refused.
	Limit *Limit
}

func (e *Error) Error() string {
	s := e.Op + ": " + e.Kind.String()
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an *Error.
func E(op string, kind Kind, msg string) *Error { return &Error{Op: op, Kind: kind, Msg: msg} }

// Wrap builds an *Error with a cause. A cause that is already an *Error keeps
// its kind: only the operation is added.
func Wrap(op string, kind Kind, err error) error {
	if err == nil {
		return nil
	}
	if ce := asError(err); ce != nil {
		return &Error{Op: op, Kind: ce.Kind, Msg: ce.Msg, Err: err, RetryAfter: ce.RetryAfter, Limit: ce.Limit}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		kind = Unavailable // no answer in time, or the caller went away: not a bug
	}
	return &Error{Op: op, Kind: kind, Err: err}
}

// KindOf returns the kind of err: Internal for any error that is not an
// *Error, and for nil too (callers check nil first).
func KindOf(err error) Kind {
	if ce := asError(err); ce != nil {
		return ce.Kind
	}
	return Internal
}

// LimitOf returns the limit that refused a RateLimited error, nil if none.
func LimitOf(err error) *Limit {
	if ce := asError(err); ce != nil {
		return ce.Limit
	}
	return nil
}

// RetryAfterOf returns how long a RateLimited (or shed Unavailable) error
// asks the caller to wait.
func RetryAfterOf(err error) time.Duration {
	if ce := asError(err); ce != nil {
		return ce.RetryAfter
	}
	return 0
}

// asError returns the first *Error in err's chain, as errors.As finds it,
// nil if there is none. An err that is itself an *Error (what core and the
// stores return) is answered by a type assertion: errors.As's target would
// escape, costing an allocation per call.
func asError(err error) *Error {
	if ce, ok := err.(*Error); ok {
		return ce
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}
