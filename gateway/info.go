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
}

// ClientAddress implements core.Client: the request's one context value
// (withInfo) also tells the core the client's address.
func (i *Info) ClientAddress() (string, netip.Addr) { return i.ClientIP, i.clientAddr }

// ClientDialect implements core.Client.
func (i *Info) ClientDialect() string { return i.Dialect }

// InfoFrom returns the request's Info; a zero Info when the request did not
// come through the gateway (tests calling a handler directly).
func InfoFrom(ctx context.Context) *Info {
	if i, ok := core.ClientFrom(ctx).(*Info); ok {
		return i
	}
	return &Info{}
}

// withInfo stores i as the request's context value, under core's client
// key (core.WithClient): core.ClientIP reads the address from it.
func withInfo(r *http.Request, i *Info) *http.Request {
	return r.WithContext(core.WithClient(r.Context(), i))
}

// Var returns the path variable name of the request's route (the apiv4
// phone in /sendsms/{mobile}), "" when there is none: where the gateway
// put it when it matched the route, otherwise (a handler called with
// mux.SetURLVars: tests, shadow replays) from mux.Vars. The gateway keeps
// variables in Info rather than through mux.SetURLVars, which copies the
// request and adds a context value.
func Var(r *http.Request, name string) string {
	if i, ok := core.ClientFrom(r.Context()).(*Info); ok {
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
	if i, ok := core.ClientFrom(r.Context()).(*Info); ok {
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
