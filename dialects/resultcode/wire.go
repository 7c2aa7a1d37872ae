package resultcode

import (
	"net/http"
	"regexp"

	"legacyauth/core"
	"legacyauth/gateway"
	"legacyauth/gateway/migrate"
)

// resultKinds reads replies back, for the migration layer: per operation,
// the kind each failure result stands for, as the seed documents it
// (register's 0006 "未知错误" and the gateway's 0009 are server errors).
// TestResultKindsInvertTable keeps it the inverse of table.
var resultKinds = map[string]map[string]core.Kind{
	opSend:     {rRegistered: core.AlreadyRegistered, rOther: core.Internal},
	opVerify:   {rCodeWrong: core.CodeWrong, rTooMany: core.TooManyAttempts, rGateway: core.Internal},
	opRegister: {rUnknown: core.Internal},
	opUpload:   {rUnknown: core.Internal},
	opLogin:    {rNoUser: core.NotRegistered, rWrongPassword: core.WrongPassword, rGateway: core.Internal},
}

// Operations implements migrate.Wire: all but login act.
func (d *Dialect) Operations() []migrate.Operation {
	return []migrate.Operation{
		{Name: opSend, Acts: true},
		{Name: opVerify, Acts: true},
		{Name: opRegister, Acts: true},
		{Name: opUpload, Acts: true},
		{Name: opLogin, Login: true},
	}
}

// Phone implements migrate.Wire: the send step and login name it as
// userId; the other steps of registration belong to the flow their cookie
// names.
func (d *Dialect) Phone(op string, _ *http.Request, p gateway.Params) string {
	if op == opSend || op == opLogin {
		return p.Get("userId")
	}
	return ""
}

// Flow implements migrate.Wire: the flow cookie's value.
func (d *Dialect) Flow(r *http.Request) string {
	if c, err := r.Cookie(d.opts.CookieName); err == nil {
		return c.Value
	}
	return ""
}

// Outcome implements migrate.Wire, reading a reply's result.
func (d *Dialect) Outcome(op string, _ gateway.Params, status int, body []byte) string {
	return migrate.ReplyOutcome(status, body, "result", func(c string) (string, bool) { return outcomeOf(op, c) })
}

// CoreOutcome implements migrate.Wire.
func (d *Dialect) CoreOutcome(op string, _ gateway.Params, outcome string) string {
	result := rOK
	if outcome != "ok" {
		k, found := core.ParseKind(outcome)
		if !found {
			return outcome
		}
		result = lookup(op, k).Result
	}
	if o, known := outcomeOf(op, result); known {
		return o
	}
	return "code " + result
}

// outcomeOf names what a result means in op.
func outcomeOf(op, result string) (string, bool) {
	if result == rOK {
		return "ok", true
	}
	k, found := resultKinds[op][result]
	return k.String(), found
}

// Login implements migrate.Wire: the app sends no device id.
func (d *Dialect) Login(p gateway.Params) (password, device string) { return p.Get("password"), "" }

// Profile implements migrate.Wire: a login reply holds only the token.
func (d *Dialect) Profile([]byte) core.Profile { return core.Profile{} }

// secrets is message's text: a login's token or, with EchoCode, the code.
var secrets = regexp.MustCompile(`("message"\s*:\s*")(?:[^"\\]|\\.)*(")`)

// Redact implements migrate.Wire.
func (d *Dialect) Redact(body []byte) []byte { return secrets.ReplaceAll(body, []byte("${1}****${2}")) }

var _ migrate.Wire = (*Dialect)(nil)
