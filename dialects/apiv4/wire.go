package apiv4

import (
	"encoding/json"
	"net/http"
	"strconv"

	"legacyauth/core"
	"legacyauth/gateway"
	"legacyauth/gateway/migrate"
)

// codeKinds reads replies back, for the migration layer: per operation,
// the kind each failure code stands for, as the document gives it (-1 is
// each endpoint's own refusal; login's covers an unknown phone too).
// TestCodeKindsInvertReplies keeps it the inverse of failureReply.
var codeKinds = map[string]map[int]core.Kind{
	opSendSMS:        codesWith(core.AlreadyRegistered, true), // not registered with expect=1: see refine
	opIsRegister:     codesWith(core.AlreadyRegistered, true),
	opRegister:       codesWith(core.AlreadyRegistered, true),
	opLogin:          codesWith(core.WrongPassword, true),
	opVerifyCode:     codesWith(core.CodeWrong, false), // every code failure is -1
	opForgetPassword: codesWith(core.NotRegistered, false),
}

// codesWith is the codes every operation shares, with m1 the kind -1
// stands for and, with codes, -2 a wrong code.
func codesWith(m1 core.Kind, codes bool) map[int]core.Kind {
	m := map[int]core.Kind{-1: m1, codeInvalid: core.Invalid, codeRateLimited: core.RateLimited, codeServer: core.Internal, codeSMSFailed: core.SMSFailed}
	if codes {
		m[-2] = core.CodeWrong
	}
	return m
}

// Operations implements migrate.Wire.
func (d *Dialect) Operations() []migrate.Operation {
	return []migrate.Operation{
		{Name: opSendSMS, Acts: true},
		{Name: opIsRegister},
		{Name: opRegister, Acts: true},
		{Name: opLogin, Login: true},
		{Name: opVerifyCode, Acts: true}, // spends a code try, leaves a ticket
		// The old server let anyone reset anyone's password: only the core
		// enforces verify_code first.
		{Name: opForgetPassword, Acts: true, Unsafe: "the old server resets any phone's password without a verified code"},
	}
}

// Phone implements migrate.Wire: in the path for sendsms and isregister,
// the phone parameter otherwise.
func (d *Dialect) Phone(op string, r *http.Request, p gateway.Params) string {
	switch op {
	case opSendSMS:
		return gateway.Var(r, "mobile")
	case opIsRegister:
		return gateway.Var(r, "phone")
	}
	return p.Get("phone")
}

// Flow implements migrate.Wire: the dialect has no flows.
func (d *Dialect) Flow(*http.Request) string { return "" }

// Outcome implements migrate.Wire, reading a reply's code (an int, or the
// string "200" of /sendsms).
func (d *Dialect) Outcome(op string, p gateway.Params, status int, body []byte) string {
	return migrate.ReplyOutcome(status, body, "code", func(c string) (string, bool) {
		n, err := strconv.Atoi(c)
		if err != nil {
			return "", false
		}
		return outcomeOf(op, p, n)
	})
}

// CoreOutcome implements migrate.Wire.
func (d *Dialect) CoreOutcome(op string, p gateway.Params, outcome string) string {
	code := codeOK
	if outcome != "ok" {
		k, found := core.ParseKind(outcome)
		if !found {
			return outcome
		}
		code = failureReply(op, core.E("apiv4", k, "")).Code
	}
	if o, known := outcomeOf(op, p, code); known {
		return o
	}
	return "code " + strconv.Itoa(code)
}

// outcomeOf names what a code means in op: -1 of sendsms and isregister
// is "not as expected", a registered phone for expect=0, an unknown one
// for expect=1.
func outcomeOf(op string, p gateway.Params, code int) (string, bool) {
	if code == codeOK {
		return "ok", true
	}
	k, found := codeKinds[op][code]
	if k == core.AlreadyRegistered && (op == opSendSMS || op == opIsRegister) && p.Get("expect") == "1" {
		k = core.NotRegistered
	}
	return k.String(), found
}

// Login implements migrate.Wire.
func (d *Dialect) Login(p gateway.Params) (password, device string) {
	return p.Get("password"), p.Get("device_identifier")
}

// Profile implements migrate.Wire: a login reply's data names the user.
func (d *Dialect) Profile(body []byte) core.Profile {
	var r struct {
		Data struct {
			Name string `json:"name"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &r)
	return core.Profile{Name: r.Data.Name}
}

// Redact implements migrate.Wire: the generic masking covers the token
// and ids.
func (d *Dialect) Redact(body []byte) []byte { return body }

var _ migrate.Wire = (*Dialect)(nil)
