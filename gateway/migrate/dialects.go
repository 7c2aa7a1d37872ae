package migrate

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"

	"legacyauth/core"
	"legacyauth/gateway"
)

// spec is what the migration layer knows of one dialect's wire format:
// where a request's phone and password are, what a reply's code means.
// The dialect packages render replies; these tables read them back, for
// the old server's replies and the core's alike, so that both are compared
// in canonical terms. TestOutcomesFollowTheContracts keeps each outcome
// table in step with contracts/<dialect>.yaml.
type spec struct {
	// sources are where the dialect reads parameters (as its package does).
	sources gateway.Sources
	// ops are every operation, by name (a dispatch route's operations,
	// not the route's own name).
	ops map[string]opSpec
	// dispatch names the operation of a request to a route that serves
	// several, by route operation; absent for the others.
	dispatch map[string]dispatcher
	// phone returns the phone a request of op names as sent, "" when it
	// names none.
	phone func(op string, r *http.Request, p gateway.Params) string
	// flowCookie names the cookie that binds the requests naming no phone
	// to a flow the send step started; "" when the dialect has none.
	flowCookie string
	// code reads a reply body's code as text ("1", "200", "0000"); false
	// when the body is not one of the dialect's replies.
	code func(body []byte) (string, bool)
	// refine adjusts the outcome of a code by the request, where the code
	// alone does not say (apiv4's -1 against expect); nil: none.
	refine func(op string, p gateway.Params, outcome string) string
	// device returns a login request's device id ("" when the dialect has
	// none).
	device func(p gateway.Params) string
	// password is the name of the password parameter.
	password string
	// profile reads what a successful login reply says of the user.
	profile func(body []byte) core.Profile
	// secrets matches the parts of a reply body that must not be logged
	// (tokens, ids, echoed codes), beyond the generic masking in redact.
	secrets *regexp.Regexp
}

// dispatcher resolves the operation of a route serving several.
type dispatcher struct {
	ops     []string // what it resolves to
	resolve func(r *http.Request, p gateway.Params) string
}

// opSpec is one operation.
type opSpec struct {
	// sideEffect: the operation sends a code, spends one, creates an
	// account, changes a password or stores a file, so shadowing it would
	// act twice (an SMS from the old server and one from the core). Not
	// shadowed unless Options.ShadowSideEffects.
	sideEffect bool
	// login: a password login, which lazy migration serves.
	login bool
	// outcomes maps a reply's code to its canonical outcome: "ok" or the
	// core error kind the dialect's contract gives that code in this
	// operation (where a code stands for several kinds, the one it is
	// documented for).
	outcomes map[string]string
}

// Canonical outcome names (core kinds' String values).
const (
	ok                = "ok"
	invalid           = "invalid"
	internal          = "internal"
	notRegistered     = "not_registered"
	alreadyRegistered = "already_registered"
	wrongPassword     = "wrong_password"
	codeWrong         = "code_wrong"
	codeExpired       = "code_expired"
	tooManyAttempts   = "too_many_attempts"
	rateLimited       = "rate_limited"
	smsFailed         = "sms_failed"
)

var specs = map[string]*spec{
	"caraccessories": {
		sources: gateway.JSON | gateway.AnyTypeJSON,
		ops: map[string]opSpec{
			"get_verification_code": {sideEffect: true, outcomes: map[string]string{
				"1": ok, "-3": smsFailed, "-1": invalid, "-2": internal}},
			"registration": {sideEffect: true, outcomes: map[string]string{
				"1": ok, "-3": codeWrong, "-4": codeExpired, "-5": alreadyRegistered, "-1": invalid, "-6": rateLimited, "-2": internal}},
			"login": {login: true, outcomes: map[string]string{
				"1": ok, "-3": notRegistered, "-4": wrongPassword, "-1": invalid, "-6": rateLimited, "-2": internal}},
			"forget_password": {sideEffect: true, outcomes: map[string]string{
				"1": ok, "-3": notRegistered, "-4": codeWrong, "-5": codeExpired, "-1": invalid, "-6": rateLimited, "-2": internal}},
		},
		phone:    func(_ string, _ *http.Request, p gateway.Params) string { return p.Get("mobile") },
		code:     jsonCode("status"),
		device:   func(gateway.Params) string { return "" },
		password: "password",
		profile:  func([]byte) core.Profile { return core.Profile{} },
	},
	"apiv4": {
		sources: gateway.Query | gateway.Form | gateway.JSON,
		ops: map[string]opSpec{
			"sendsms":         {sideEffect: true, outcomes: apiv4Outcomes(alreadyRegistered)},
			"isregister":      {outcomes: apiv4Outcomes(alreadyRegistered)},
			"register":        {sideEffect: true, outcomes: apiv4Outcomes(alreadyRegistered)},
			"login":           {login: true, outcomes: apiv4Outcomes(wrongPassword)},                 // one -1 for both: no enumeration
			"verify_code":     {sideEffect: true, outcomes: without(apiv4Outcomes(codeWrong), "-2")}, // spends a code try, leaves a ticket
			"forget_password": {sideEffect: true, outcomes: without(apiv4Outcomes(notRegistered), "-2")},
		},
		phone: func(op string, r *http.Request, p gateway.Params) string {
			switch op {
			case "sendsms":
				return gateway.Var(r, "mobile")
			case "isregister":
				return gateway.Var(r, "phone")
			}
			return p.Get("phone")
		},
		code: jsonCode("code"), // an int, or the string "200" of /sendsms
		refine: func(op string, p gateway.Params, outcome string) string {
			// -1 is "not as expected": registered for expect=0, not for 1.
			if (op == "sendsms" || op == "isregister") && outcome == alreadyRegistered && p.Get("expect") == "1" {
				return notRegistered
			}
			return outcome
		},
		device:   func(p gateway.Params) string { return p.Get("device_identifier") },
		password: "password",
		profile: func(body []byte) core.Profile {
			var r struct {
				Data struct {
					Name string `json:"name"`
				} `json:"data"`
			}
			_ = json.Unmarshal(body, &r)
			return core.Profile{Name: r.Data.Name}
		},
	},
	"resultcode": {
		sources: gateway.Query | gateway.Form | gateway.Multipart,
		ops: map[string]opSpec{
			"send_code":     {sideEffect: true, outcomes: map[string]string{"0000": ok, "0001": alreadyRegistered, "0002": internal}},
			"verify_code":   {sideEffect: true, outcomes: map[string]string{"0000": ok, "0004": codeWrong, "0005": tooManyAttempts, "0009": internal}},
			"register":      {sideEffect: true, outcomes: map[string]string{"0000": ok, "0006": internal}}, // 0006 is "未知错误"
			"upload_avatar": {sideEffect: true, outcomes: map[string]string{"0000": ok, "0006": internal}},
			"login":         {login: true, outcomes: map[string]string{"0000": ok, "0007": notRegistered, "0008": wrongPassword, "0009": internal}},
		},
		dispatch: map[string]dispatcher{
			// Pyramid's request_method and request_param predicates, as
			// dialects/resultcode dispatches.
			"register_dispatch": {ops: []string{"send_code", "verify_code", "register"}, resolve: func(r *http.Request, p gateway.Params) string {
				switch {
				case r.Method == http.MethodGet:
					return "send_code"
				case p.Get("register") == "1":
					return "register"
				}
				return "verify_code"
			}},
		},
		phone: func(op string, _ *http.Request, p gateway.Params) string {
			if op == "send_code" || op == "login" {
				return p.Get("userId")
			}
			return ""
		},
		flowCookie: "session",
		code:       jsonCode("result"),
		device:     func(gateway.Params) string { return "" },
		password:   "password",
		profile:    func([]byte) core.Profile { return core.Profile{} },
		// message holds the token of a login and, with echo on, the code.
		secrets: regexp.MustCompile(`("message": ")[^"]*(")`),
	},
}

// apiv4Outcomes is apiv4's table, the same codes in every operation; m1
// names -1, which each operation documents for its own refusal.
func apiv4Outcomes(m1 string) map[string]string {
	return map[string]string{"200": ok, "-1": m1, "-2": codeWrong, "-3": invalid, "-4": rateLimited, "-5": internal, "-6": smsFailed}
}

// without returns m without the code c: the operations whose every code
// failure is -1 document no -2.
func without(m map[string]string, c string) map[string]string {
	delete(m, c)
	return m
}

// jsonCode reads the code of a JSON object reply at key: a number or a
// string, as text.
func jsonCode(key string) func([]byte) (string, bool) {
	return func(body []byte) (string, bool) {
		var obj map[string]json.RawMessage
		if json.Unmarshal(body, &obj) != nil {
			return "", false
		}
		raw, found := obj[key]
		if !found {
			return "", false
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, true
		}
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			if _, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
				return n.String(), true
			}
		}
		return "", false
	}
}

// outcome names a reply of op in canonical terms: "ok" or a core kind's
// name by the dialect's table; "code <c>" for a code the table lacks;
// "unreadable <status>" for a body that is not the dialect's (an HTML
// error page, a proxy's 502).
func (s *spec) outcome(op string, p gateway.Params, status int, body []byte) string {
	c, found := s.code(bytes.TrimSpace(body))
	if !found {
		return "unreadable " + strconv.Itoa(status)
	}
	o, known := s.ops[op].outcomes[c]
	if !known {
		return "code " + c
	}
	if s.refine != nil {
		o = s.refine(op, p, o)
	}
	return o
}

// opsOf lists the operations a route may serve: its dispatch's, or its own.
func (s *spec) opsOf(routeOp string) []string {
	if d, found := s.dispatch[routeOp]; found {
		return d.ops
	}
	return []string{routeOp}
}

// Ops lists the operations of a dialect the migration layer knows, the
// names per-operation modes use; nil for an unknown dialect.
func Ops(dialect string) []string {
	s := specs[dialect]
	if s == nil {
		return nil
	}
	var ops []string
	for op := range s.ops {
		ops = append(ops, op)
	}
	return ops
}

var (
	longHex = regexp.MustCompile(`[0-9a-fA-F]{16,}`)
	phoneRE = regexp.MustCompile(`1\d{10}`)
)

// redact prepares a reply body for a log line: at most 512 bytes, with
// tokens, ids, phones and the dialect's own secrets masked.
func (s *spec) redact(body []byte) string {
	if len(body) > 512 {
		body = append(body[:512:512], "..."...)
	}
	b := longHex.ReplaceAll(body, []byte("****"))
	b = phoneRE.ReplaceAllFunc(b, func(m []byte) []byte { return []byte(core.MaskPhone(string(m))) })
	if s.secrets != nil {
		b = s.secrets.ReplaceAll(b, []byte("${1}****${2}"))
	}
	return string(b)
}
