package migrate

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"legacyauth/core"
	"legacyauth/gateway"
)

// Wire is what the migration layer needs to know of a dialect's wire
// format, beyond its routes: where a request's phone and password are,
// and what a reply's code means. Each dialect answers from its own reply
// tables (it renders replies from them; Wire reads them back), so the two
// cannot drift; implementations end with `var _ migrate.Wire =
// (*Dialect)(nil)`. A dialect that does not implement it cannot be
// migrated.
//
// Outcomes are "ok" or a core kind's name (core.Kind.String), in the
// contract's terms: where one code stands for several kinds, the one the
// contract documents it for.
type Wire interface {
	// Name is the dialect's name (as gateway.Dialect's).
	Name() string
	// Operations lists every operation, by the names per-operation modes
	// use (a dispatching route's operations, gateway.Route.Ops, not the
	// route's own name).
	Operations() []Operation
	// Phone returns the phone a request of op names, as sent; "" when it
	// names none (a step of a flow its cookie carries).
	Phone(op string, r *http.Request, p gateway.Params) string
	// Flow returns the id of the flow a request's cookie names, for the
	// requests that name no phone; "" when there is none.
	Flow(r *http.Request) string
	// Outcome reads an old server's reply to a request of op: "code <c>"
	// for a code op does not document, "unreadable <status>" for a body
	// that is not the dialect's (an HTML error page, a proxy's 502).
	Outcome(op string, p gateway.Params, status int, body []byte) string
	// CoreOutcome is the Outcome of the reply the dialect renders for the
	// core's outcome (what gateway.SetOutcome recorded), so that the core
	// and an old server are compared in the same terms.
	CoreOutcome(op string, p gateway.Params, outcome string) string
	// Login returns a password login's password and device id ("" when
	// the dialect sends none).
	Login(p gateway.Params) (password, device string)
	// Profile reads what an old server's successful login reply says of
	// the user.
	Profile(body []byte) core.Profile
	// Redact masks what of a reply body must not be logged beyond the
	// generic masking of long hex strings and phones (resultcode's token
	// or echoed code in message); the body itself when nothing.
	Redact(body []byte) []byte
}

// Operation is one operation of a dialect.
type Operation struct {
	Name string
	// Acts: it sends a code, spends one, creates an account, changes a
	// password or stores a file, so shadowing it would act twice (an SMS
	// from the old server and one from the core). Not shadowed unless
	// Options.ShadowSideEffects.
	Acts bool
	// Login: a password login, which lazy migration serves.
	Login bool
	// Unsafe, when not "", says why the old server must not serve it; New
	// warns when a mode hands it to the old server.
	Unsafe string
}

// wire is a dialect's Wire with its operations indexed.
type wire struct {
	Wire
	ops map[string]Operation
}

func newWire(w Wire) *wire {
	ww := &wire{Wire: w, ops: map[string]Operation{}}
	for _, op := range w.Operations() {
		ww.ops[op.Name] = op
	}
	return ww
}

// Ops lists the names of a Wire's operations.
func Ops(w Wire) []string {
	var ops []string
	for _, op := range w.Operations() {
		ops = append(ops, op.Name)
	}
	return ops
}

var (
	longHex = regexp.MustCompile(`[0-9a-fA-F]{16,}`)
	phoneRE = regexp.MustCompile(`1\d{10}`)
)

// redact prepares a reply body for a log line: at most 512 bytes, with
// tokens, ids, phones and the dialect's own secrets masked.
// Masked before it is cut: a token or phone cut in two would no longer
// match.
func (w *wire) redact(body []byte) string {
	b := longHex.ReplaceAll(body, []byte("****"))
	b = phoneRE.ReplaceAllFunc(b, func(m []byte) []byte { return []byte(core.MaskPhone(string(m))) })
	b = w.Redact(b)
	if len(b) > 512 {
		b = append(b[:512:512], "..."...)
	}
	return strings.ToValidUTF8(string(b), "")
}

// isKind reports whether an outcome is "ok" or a core kind's name, the
// values of the request log's outcome.
func isKind(o string) bool {
	_, found := core.ParseKind(o)
	return o == "ok" || found
}

// ReplyOutcome is Wire.Outcome for a dialect whose replies are JSON
// objects holding their code at key (a number or a string): outcomeOf
// names a code's outcome, false for a code the operation does not
// document.
func ReplyOutcome(status int, body []byte, key string, outcomeOf func(code string) (string, bool)) string {
	c, found := jsonCode(bytes.TrimSpace(body), key)
	if !found {
		return "unreadable " + strconv.Itoa(status)
	}
	o, known := outcomeOf(c)
	if !known {
		return "code " + c
	}
	return o
}

// jsonCode reads the code of a JSON object at key, as text; false when
// the body is not such an object.
func jsonCode(body []byte, key string) (string, bool) {
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
