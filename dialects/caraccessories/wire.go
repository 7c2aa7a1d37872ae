package caraccessories

import (
	"net/http"
	"strconv"

	"legacyauth/core"
	"legacyauth/gateway"
	"legacyauth/gateway/migrate"
)

// codeKinds reads replies back, for the migration layer: per operation,
// the kind each failure status stands for. Where replies gives one status
// to several kinds, it is the one the document gives that status for
// (-3 on registration is a wrong code, whatever burned it).
// TestCodeKindsInvertReplies keeps it the inverse of replies.
var codeKinds = map[string]map[int]core.Kind{
	opSend:     {-3: core.SMSFailed, -1: core.Invalid, -2: core.Internal},
	opRegister: {-3: core.CodeWrong, -4: core.CodeExpired, -5: core.AlreadyRegistered, -1: core.Invalid, -6: core.RateLimited, -2: core.Internal},
	opLogin:    {-3: core.NotRegistered, -4: core.WrongPassword, -1: core.Invalid, -6: core.RateLimited, -2: core.Internal},
	opReset:    {-3: core.NotRegistered, -4: core.CodeWrong, -5: core.CodeExpired, -1: core.Invalid, -6: core.RateLimited, -2: core.Internal},
}

// Operations implements migrate.Wire: every operation but login acts
// (sends or spends a code).
func (d *Dialect) Operations() []migrate.Operation {
	return []migrate.Operation{
		{Name: opSend, Acts: true},
		{Name: opRegister, Acts: true},
		{Name: opLogin, Login: true},
		{Name: opReset, Acts: true},
	}
}

// Phone implements migrate.Wire: every request names it as mobile.
func (d *Dialect) Phone(_ string, _ *http.Request, p gateway.Params) string { return p.Get("mobile") }

// Flow implements migrate.Wire: the dialect has no flows.
func (d *Dialect) Flow(*http.Request) string { return "" }

// Outcome implements migrate.Wire, reading the status of a reply.
func (d *Dialect) Outcome(op string, _ gateway.Params, status int, body []byte) string {
	return migrate.ReplyOutcome(status, body, "status", func(c string) (string, bool) {
		n, err := strconv.Atoi(c)
		if err != nil {
			return "", false
		}
		return outcomeOf(op, n)
	})
}

// CoreOutcome implements migrate.Wire.
func (d *Dialect) CoreOutcome(op string, _ gateway.Params, outcome string) string {
	status := success.Status
	if outcome != "ok" {
		k, found := core.ParseKind(outcome)
		if !found {
			return outcome
		}
		status = lookup(op, k).Status
	}
	if o, known := outcomeOf(op, status); known {
		return o
	}
	return "code " + strconv.Itoa(status)
}

// outcomeOf names what a status means in op.
func outcomeOf(op string, status int) (string, bool) {
	if status == success.Status {
		return "ok", true
	}
	k, found := codeKinds[op][status]
	return k.String(), found
}

// Login implements migrate.Wire: the document has no device id.
func (d *Dialect) Login(p gateway.Params) (password, device string) { return p.Get("password"), "" }

// Profile implements migrate.Wire: a login reply says nothing of the user.
func (d *Dialect) Profile([]byte) core.Profile { return core.Profile{} }

// Redact implements migrate.Wire: replies carry no secret.
func (d *Dialect) Redact(body []byte) []byte { return body }

var _ migrate.Wire = (*Dialect)(nil)
