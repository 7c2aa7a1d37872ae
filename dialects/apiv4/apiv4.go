// Package apiv4 is the dialect of the old Flask server's /api/v4.0 (seed
// 001): sign-up, login and a two-step password reset with a mainland
// mobile number and an SMS code.
//
// Parameters come from the query string, a form body or a JSON body (the
// path carries the phone of /sendsms and /isregister). Every reply is
// `{"code": <int>, "data": ..., "msg": "..."}` rendered byte for byte as
// Flask 0.10's jsonify did (see pyJSON), except the success of /sendsms,
// which is `{"code": "200", "msg": "发送成功"}` as captured. Business
// outcomes answer HTTP 200; the code in the body says what happened, and
// the app shows msg whenever code is not 200.
//
// Unlike the old server, the gateway sends real codes and checks them, and
// /forget_password succeeds only after a successful /verify_code for the
// same phone from the same address, User-Agent and device id (one use,
// within core.RecentCheckTTL; see resetBinding).
package apiv4

import (
	"net/http"

	"legacyauth/core"
	"legacyauth/gateway"
)

// Name is the dialect's stable name.
const Name = "apiv4"

// DefaultPrefix is where the old server served the API.
const DefaultPrefix = "/api/v4.0"

// Options are the dialect's compatibility switches. The zero value is the
// documented contract.
type Options struct {
	// CodeLength is the number of digits of the SMS codes /sendsms sends;
	// 0 means 6. The document never shows a code, so six digits, the
	// common length for Chinese SMS codes, is the default; an app that
	// limits its input box to another length can be served by setting it.
	CodeLength int
	// VerifyCodePOST also accepts POST on /verify_code. The document lists
	// GET only (unlike every other endpoint, which says "POST preferred"),
	// so by default POST answers 405 as Flask did; turn this on for an app
	// found to POST there.
	VerifyCodePOST bool
}

// DefaultCodeLength is the code length when Options.CodeLength is 0.
const DefaultCodeLength = 6

// Dialect serves the apiv4 contract. Build it with New.
type Dialect struct {
	svc  *core.Service
	opts Options
}

// New builds the dialect over a core service.
func New(svc *core.Service, opts Options) *Dialect {
	if opts.CodeLength == 0 {
		opts.CodeLength = DefaultCodeLength
	}
	return &Dialect{svc: svc, opts: opts}
}

// Name returns "apiv4".
func (d *Dialect) Name() string { return Name }

// Operation names, for logs and the reply table.
const (
	opSendSMS        = "sendsms"
	opIsRegister     = "isregister"
	opRegister       = "register"
	opLogin          = "login"
	opVerifyCode     = "verify_code"
	opForgetPassword = "forget_password"
)

// Routes lists the endpoints of the document, with its methods.
func (d *Dialect) Routes() []gateway.Route {
	get, getPost := []string{http.MethodGet}, []string{http.MethodPost, http.MethodGet}
	verifyMethods := get
	if d.opts.VerifyCodePOST {
		verifyMethods = getPost
	}
	// GET-only routes come last: gorilla/mux v1.8.1 forgets a method
	// mismatch (and answers 404 instead of 405) when a later route's
	// method matcher accepts the method, and the gateway registers the
	// method matcher before the path.
	return []gateway.Route{
		{Op: opSendSMS, Path: "/sendsms/{mobile}", Methods: getPost, Sources: sources, Handler: d.sendSMS},
		{Op: opRegister, Path: "/register", Methods: getPost, Sources: sources, Handler: d.register},
		{Op: opLogin, Path: "/login", Methods: getPost, Sources: sources, Handler: d.login},
		{Op: opForgetPassword, Path: "/forget_password", Methods: getPost, Sources: sources, Handler: d.forgetPassword},
		{Op: opVerifyCode, Path: "/verify_code", Methods: verifyMethods, Sources: sources, Handler: d.verifyCode},
		{Op: opIsRegister, Path: "/isregister/{phone}", Methods: get, ReadOnly: true, Sources: sources, Handler: d.isRegister},
	}
}

// Claims reports whether a request's field names are this dialect's: only
// apiv4 calls the phone "phone" next to "device_identifier", or sends
// "expect".
func (d *Dialect) Claims(fields map[string]bool) bool {
	return fields["phone"] || fields["device_identifier"] || fields["expect"]
}

// Reject answers a request refused before its handler ran (405, 413, a
// rate limit) with the dialect's body and the given HTTP status.
func (d *Dialect) Reject(w http.ResponseWriter, r *http.Request, status int, err error) {
	// The gateway has recorded the outcome (method_not_allowed, ...).
	gateway.SetRetryAfter(w, err)
	writeReply(w, r, status, rejectReply(status, err), "")
}

var _ gateway.Dialect = (*Dialect)(nil)
