// Package v1 is the canonical HTTP API, served under /v1: JSON in and out,
// errors as RFC 9457 problems whose code is the core kind's name. It is the
// target for new clients and for other back-end services; the legacy
// dialects stay frozen. contracts/canonical.yaml describes it, and a test
// keeps the two in step.
package v1

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"legacyauth/core"
	"legacyauth/gateway"
	"legacyauth/internal/pathtpl"
)

// Route is one endpoint: a method and a gorilla/mux path template, as it
// appears in the OpenAPI document's paths.
type Route struct {
	Method string
	Path   string
}

// API serves /v1. Build it with New.
type API struct {
	svc    *core.Service
	log    *slog.Logger
	router *mux.Router
	routes []Route
	muxed  []*mux.Route // parallel to routes, for Allow on a 405 (gateway.AllowedMethods)
	// templates are the routes' simple path templates (package pathtpl),
	// parallel to routes, for their variables.
	templates []pathtpl.Template
}

// call is what a handler learns about its request for the log line.
type call struct {
	op        string
	phone     string // E.164, set once known to be valid
	tokenSent bool   // an Authorization header came with the request
}

// setPhone records the phone a request names, if it is a valid one: a
// raw value could be anything (even a password typed in the wrong field),
// so it is never logged.
func (c *call) setPhone(raw string) {
	if p, err := core.NormalizePhone(raw); err == nil {
		c.phone = p
	}
}

type handler func(w http.ResponseWriter, r *http.Request, c *call) error

// New builds the API over a core service.
func New(svc *core.Service, log *slog.Logger) *API {
	if log == nil {
		log = slog.Default()
	}
	a := &API{svc: svc, log: log.With("api", "v1")}
	// SkipClean: mux would otherwise answer "/v1//codes" with a redirect,
	// which turns a POST into a GET in most clients.
	a.router = mux.NewRouter().SkipClean(true)
	for _, e := range []struct {
		method, path, op string
		h                handler
	}{
		{http.MethodPost, "/v1/codes", "send_code", a.sendCode},
		{http.MethodPost, "/v1/codes/verify", "verify_code", a.verifyCode},
		{http.MethodPost, "/v1/phones/lookup", "lookup_phone", a.lookupPhone},
		{http.MethodPost, "/v1/users", "register", a.register},
		{http.MethodPost, "/v1/sessions", "login", a.login},
		{http.MethodGet, "/v1/session", "introspect", a.introspect},
		{http.MethodDelete, "/v1/session", "logout", a.logout},
		{http.MethodPost, "/v1/password-resets", "reset_password", a.resetPassword},
		{http.MethodDelete, "/v1/users/me", "delete_account", a.deleteAccount},
		{http.MethodPost, "/v1/avatars", "upload_avatar", a.uploadAvatar},
		{http.MethodGet, "/v1/avatars/{name}", "get_avatar", a.avatar},
	} {
		a.routes = append(a.routes, Route{Method: e.method, Path: e.path})
		methods := []string{e.method}
		if e.method == http.MethodGet { // HEAD as net/http serves it: GET's headers, no body
			methods = append(methods, http.MethodHead)
		}
		route, tpl := pathtpl.Path(a.router.Methods(methods...), e.path)
		a.muxed = append(a.muxed, route.Handler(a.wrap(e.op, e.h)))
		a.templates = append(a.templates, tpl)
	}
	// mux 1.8 loses a method mismatch when a later route's method matches
	// but its path does not, answering 404 where 405 is due; so both cases
	// go through unmatched, which works out the Allow list itself.
	a.router.NotFoundHandler = http.HandlerFunc(a.unmatched)
	a.router.MethodNotAllowedHandler = http.HandlerFunc(a.unmatched)
	return a
}

// Routes lists every endpoint served, in a stable order.
func (a *API) Routes() []Route { return append([]Route(nil), a.routes...) }

// ServeHTTP serves a request whose path is under /v1.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// What mux.Router.ServeHTTP does after a match, without the two request
	// copies it makes to carry the route and its variables: only
	// /v1/avatars/{name} has variables, and nothing here asks for the
	// route. Every request matches: unmatched ones get the router's
	// NotFound or MethodNotAllowed handler (both a.unmatched).
	var m mux.RouteMatch
	if !a.router.Match(r, &m) || m.Handler == nil {
		a.unmatched(w, r)
		return
	}
	for i, rt := range a.muxed {
		if rt == m.Route {
			m.Vars = a.templates[i].SetVar(m.Vars, r.URL.Path)
			break
		}
	}
	if len(m.Vars) > 0 {
		r = mux.SetURLVars(r, m.Vars)
	}
	m.Handler.ServeHTTP(w, r)
}

func (a *API) wrap(op string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{op: op}
		err := h(w, r, c)
		outcome := "ok"
		if err != nil {
			var status int
			outcome, status = writeError(w, err, c.tokenSent)
			a.logFailure(r.Context(), c, outcome, status, err)
		}
		observe(r, c.op, c.phone, outcome)
	})
}

// observe records a request's operation, the E.164 phone it named (""
// if none or invalid) and "ok" or the problem code written, for the
// gateway's log line, as the dialects record theirs.
func observe(r *http.Request, op, phone, outcome string) {
	gateway.SetOp(r, op)
	gateway.SetPhone(r, phone)
	gateway.SetOutcomeCode(r, outcome)
}

// logFailure logs by severity: a bug or a failing dependency is an error
// an operator must see, a refused request only information. Only core's
// Msg (safe by contract) and, for server faults, the cause are logged.
func (a *API) logFailure(ctx context.Context, c *call, code string, status int, err error) {
	attrs := []any{"op", c.op, "code", code, "status", status}
	if c.phone != "" {
		attrs = append(attrs, "phone", core.MaskPhone(c.phone))
	}
	switch {
	case status >= 500 && ctx.Err() != nil:
		// The client went away mid-request: not the server's fault.
		a.log.InfoContext(ctx, "request abandoned by client", append(attrs, "err", err)...)
	case status == http.StatusInternalServerError:
		a.log.ErrorContext(ctx, "request failed", append(attrs, "err", err)...)
	case status >= 500:
		a.log.WarnContext(ctx, "request failed", append(attrs, "err", err)...)
	default:
		a.log.InfoContext(ctx, "request refused", attrs...)
	}
}

// unmatched answers a request no route takes: 405 with Allow when the path
// exists under other methods, 404 otherwise.
func (a *API) unmatched(w http.ResponseWriter, r *http.Request) {
	allow := gateway.AllowedMethods(a.muxed, r)
	if len(allow) == 0 {
		WriteProblem(w, http.StatusNotFound, CodeNotFound, title(CodeNotFound), "no endpoint at this path")
		observe(r, "", "", CodeNotFound)
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	WriteProblem(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, title(CodeMethodNotAllowed),
		"this path accepts "+strings.Join(allow, ", "))
	observe(r, "", "", CodeMethodNotAllowed)
}
