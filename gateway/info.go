package gateway

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/gorilla/mux"

	"legacyauth/core"
)

// Info is what the gateway and a dialect learn about one request, for the
// request's log line (and metrics). Handlers fill it through SetOp,
// SetPhone and SetOutcome.
type Info struct {
	RequestID string
	ClientIP  string // as ClientIP determined it
	Dialect   string
	Op        string
	Phone     string // E.164 or as sent; masked when logged
	Outcome   string // "ok" or a core kind name
	// Backend is set by the migration layer (Options.Wrap) to "upstream"
	// when the dialect's old server answered, "core" when it routed the
	// request to the core; empty when no such layer decided.
	Backend string

	clientAddr netip.Addr // ClientIP parsed
	// The route's path variables (Var): the one of a simple template
	// (package pathtpl) as a pair, without a map; those mux's Path
	// extracted as its map.
	varName, varValue string
	vars              map[string]string

	// route is the dialect route matched, for its Sources and Resolve;
	// nil for /v1 and unmatched requests.
	route *Route
	// The parameters as RequestParams read them, once: what it returned
	// and the body it read (for a dialect that looks at field names when
	// the parameters cannot be read).
	params     Params
	paramsErr  error
	body       []byte
	paramsRead bool
}

// ClientAddress implements core.Client: the request's one context value
// (requestContext) also tells the core the client's address.
func (i *Info) ClientAddress() (string, netip.Addr) { return i.ClientIP, i.clientAddr }

// ClientDialect implements core.Client.
func (i *Info) ClientDialect() string { return i.Dialect }

// infoKey is the context key of the request's Info.
type infoKey struct{}

// InfoFrom returns the request's Info; a zero Info when the request did not
// come through the gateway (tests calling a handler directly).
func InfoFrom(ctx context.Context) *Info {
	if i, ok := ctx.Value(infoKey{}).(*Info); ok {
		return i
	}
	return &Info{}
}

// infoOf is InfoFrom without the zero Info: nil when there is none.
func infoOf(r *http.Request) *Info {
	i, _ := r.Context().Value(infoKey{}).(*Info)
	return i
}

// requestContext is a request's context: its parent's values plus its
// Info, under the gateway's key (InfoFrom) and under core's client key
// (core.Client: the address and dialect the core needs). One value under
// two keys, so one context per request; and the gateway keeps it in
// requestState, so it costs no allocation of its own.
type requestContext struct {
	context.Context
	info *Info
}

func (c *requestContext) Value(key any) any {
	if _, ok := key.(infoKey); ok || core.IsClientKey(key) {
		return c.info
	}
	return c.Context.Value(key)
}

// WithInfo returns a copy of ctx carrying i as its request's Info (and
// core.Client), for a request served outside ServeHTTP: the migration
// layer's shadow replays carry a copy of the original request's Info.
func WithInfo(ctx context.Context, i *Info) context.Context {
	return &requestContext{Context: ctx, info: i}
}

// Var returns the path variable name of the request's route (the apiv4
// phone in /sendsms/{mobile}), "" when there is none: where the gateway
// put it when it matched the route, otherwise (a handler called with
// mux.SetURLVars: tests, shadow replays) from mux.Vars. The gateway keeps
// variables in Info rather than through mux.SetURLVars, which copies the
// request and adds a context value.
func Var(r *http.Request, name string) string {
	if i := infoOf(r); i != nil {
		switch {
		case i.varName == name:
			return i.varValue
		case i.vars != nil:
			return i.vars[name]
		}
	}
	return mux.Vars(r)[name]
}

// Vars returns all the request's path variables (see Var), as a new map
// when the gateway kept them as a pair.
func Vars(r *http.Request) map[string]string {
	if i := infoOf(r); i != nil {
		switch {
		case i.vars != nil:
			return i.vars
		case i.varName != "":
			return map[string]string{i.varName: i.varValue}
		}
	}
	return mux.Vars(r)
}

// SetOp refines the operation name of a route that dispatches to several
// operations (resultcode's /register).
func SetOp(r *http.Request, op string) { InfoFrom(r.Context()).Op = op }

// SetPhone records the phone a request is about.
func SetPhone(r *http.Request, phone string) { InfoFrom(r.Context()).Phone = phone }

// SetPhoneIfMobile records a value the client sent as the request's phone
// only when it is a mainland mobile number: a raw value could be anything,
// even a password typed into the wrong field.
func SetPhoneIfMobile(r *http.Request, raw string) {
	if core.IsMainlandMobile(raw) {
		SetPhone(r, raw)
	}
}

// SetOutcomeCode records a request's outcome by name, for a reply that is
// not a core error's (a /v1 problem code such as method_not_allowed).
func SetOutcomeCode(r *http.Request, code string) { InfoFrom(r.Context()).Outcome = code }

// SetOutcome records a request's outcome from the core's error: "ok" for
// nil, the kind's name otherwise.
func SetOutcome(r *http.Request, err error) {
	i := InfoFrom(r.Context())
	if err == nil {
		i.Outcome = "ok"
		return
	}
	i.Outcome = core.KindOf(err).String()
}
