package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"

	"legacyauth/core"
	"legacyauth/internal/jsonstr"
	"legacyauth/internal/pathtpl"
)

// Options configure a Gateway.
type Options struct {
	Mounts []Mount      // enabled dialects and their prefixes
	V1     http.Handler // the canonical API, served under /v1
	Log    *slog.Logger // one line per request
	// RequestLog, when set, is the writer of Log's handler, a
	// slog.NewJSONHandler with no options but a level: request lines are
	// then written to it directly, as that handler would write them.
	RequestLog io.Writer
	// NotFound writes the reply for a request no dialect claims (the
	// canonical problem body); nil writes a plain 404.
	NotFound func(w http.ResponseWriter, r *http.Request)
	// TrustedProxies are the proxies whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Admit applies the per-client request limit (the client address is in
	// the context: core.ClientIP); nil admits everything.
	Admit func(ctx context.Context) error
	// RejectV1 answers a /v1 request (or one no dialect claims) that Admit
	// refused; nil writes a plain 429.
	RejectV1 func(w http.ResponseWriter, r *http.Request, err error)
	// Observe, when set, is told of every request once it is answered,
	// with what its log line holds (metrics hook in here, so the gateway
	// need not know them). It must not keep info.
	Observe func(r *http.Request, info *Info, status int, elapsed time.Duration)
	// Trace, when set, starts a request's trace span: it returns the
	// context to serve the request with (carrying the span) and the
	// function to call once the request is answered, with its Info and
	// status (gateway/tracing hooks in here, so the gateway need not know
	// OpenTelemetry). The function must not keep info.
	Trace func(ctx context.Context, r *http.Request) (context.Context, func(info *Info, status int))
	// Wrap, when set, wraps every dialect route's handler (the migration
	// layer hooks in here: see gateway/migrate). It runs after the
	// per-client request limit (Admit), so requests it sends elsewhere are
	// limited like any other, and before the route's body limit and
	// handler, which next applies and runs: what Wrap serves itself is not
	// bound by the gateway's body limits. rt.MaxBody is the route's limit
	// (DefaultMaxBody where the dialect declared none).
	Wrap func(d Dialect, rt Route, next http.Handler) http.Handler
}

// Gateway routes every request to the dialect it speaks, or to /v1.
type Gateway struct {
	mounts     []*mounted
	v1         http.Handler
	log        *slog.Logger
	requestLog io.Writer
	notFound   func(w http.ResponseWriter, r *http.Request)
	trusted    []netip.Prefix
	admit      func(ctx context.Context) error
	rejectV1   func(w http.ResponseWriter, r *http.Request, err error)
	observe    func(r *http.Request, info *Info, status int, elapsed time.Duration)
	trace      func(ctx context.Context, r *http.Request) (context.Context, func(info *Info, status int))
	wrap       func(d Dialect, rt Route, next http.Handler) http.Handler

	detectionFailures atomic.Int64
}

type mounted struct {
	dialect Dialect
	router  *mux.Router
	routes  []*mux.Route // the router's, in order
	// literals are the literal beginnings of the routes' paths (up to the
	// first variable): a route whose literal a path does not start with
	// cannot match it, so its matchers need not run.
	literals []string
	// templates are the routes' path templates where simple; the zero
	// Template for those mux's Path matches, which sets their variables.
	templates []pathtpl.Template
}

// match is m.router.Match, trying only the routes whose literal beginning
// the path has (TestMountMatchIsRouterMatch holds the two equal): a route
// that cannot match costs a string comparison rather than a call through
// mux's matchers (for routes mux matches itself, a regular expression).
//
// It relies on how mount registers routes, Path before Methods: a route
// whose path does not match returns before its method matcher could set
// a mismatch, so skipping it changes nothing; and the router has no
// middleware.
func (m *mounted) match(r *http.Request, rm *mux.RouteMatch) (route int, ok bool) {
	for i, rt := range m.routes {
		if strings.HasPrefix(r.URL.Path, m.literals[i]) && rt.Match(r, rm) {
			return i, true
		}
	}
	// The rest of Router.Match with MethodNotAllowedHandler set and no
	// NotFoundHandler.
	if rm.MatchErr == mux.ErrMethodMismatch {
		rm.Handler = m.router.MethodNotAllowedHandler
		return -1, true
	}
	rm.MatchErr = mux.ErrNotFound
	return -1, false
}

// New builds a Gateway.
func New(opts Options) *Gateway {
	g := &Gateway{v1: opts.V1, log: opts.Log, requestLog: opts.RequestLog, notFound: opts.NotFound, trusted: opts.TrustedProxies, admit: opts.Admit, rejectV1: opts.RejectV1}
	if g.rejectV1 == nil {
		g.rejectV1 = func(w http.ResponseWriter, r *http.Request, err error) {
			SetRetryAfter(w, err)
			http.Error(w, "too many requests", http.StatusTooManyRequests)
		}
	}
	g.observe, g.wrap, g.trace = opts.Observe, opts.Wrap, opts.Trace
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.notFound == nil {
		g.notFound = http.NotFound
	}
	for _, m := range opts.Mounts {
		g.mounts = append(g.mounts, g.mount(m))
	}
	return g
}

// CleanPrefix turns a configured mount prefix into the form routes are
// joined to: "" for the root, "/x/y" otherwise.
func CleanPrefix(p string) string {
	p = strings.TrimRight(strings.TrimSpace(p), "/")
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}

func (g *Gateway) mount(m Mount) *mounted {
	// SkipClean: mux would answer a path with a dot segment
	// (/sendsms/..) with a bare 301 before any route or limit ran.
	md := &mounted{dialect: m.Dialect, router: mux.NewRouter().SkipClean(true)}
	prefix := CleanPrefix(m.Prefix)
	for _, rt := range m.Dialect.Routes() {
		// Path before Methods: with gorilla/mux 1.8.1 a later route whose method
		// matches would otherwise clear an earlier method mismatch (404, not 405).
		route, tpl := pathtpl.Path(md.router.NewRoute(), prefix+rt.Path)
		route.Methods(withHead(rt)...).Handler(g.wrapRoute(m, rt))
		lit, _, _ := strings.Cut(prefix+rt.Path, "{")
		md.routes = append(md.routes, route)
		md.literals = append(md.literals, lit)
		md.templates = append(md.templates, tpl)
	}
	md.router.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addHeaders(w, m.Headers)
		InfoFrom(r.Context()).Outcome = "method_not_allowed"
		w.Header().Set("Allow", strings.Join(AllowedMethods(md.routes, r), ", ")) // RFC 9110 15.5.6
		m.Dialect.Reject(w, r, http.StatusMethodNotAllowed, core.E("gateway", core.Invalid, "method not allowed"))
	})
	return md
}

// withHead adds HEAD to a read-only route that takes GET, as net/http's
// ServeMux does: the GET handler answers it and net/http drops the body,
// so HEAD gets the same status and headers (RFC 9110 9.3.2).
func withHead(rt Route) []string {
	if rt.ReadOnly && slices.Contains(rt.Methods, http.MethodGet) && !slices.Contains(rt.Methods, http.MethodHead) {
		return append(slices.Clip(rt.Methods), http.MethodHead)
	}
	return rt.Methods
}

// AllowedMethods lists, sorted, the methods routes accept at the request's
// path: the Allow header a 405 carries (RFC 9110 15.5.6).
func AllowedMethods(routes []*mux.Route, r *http.Request) []string {
	var ms []string
	probe := *r // matching reads only the method and the URL
	for _, rt := range routes {
		methods, err := rt.GetMethods()
		if err != nil {
			continue
		}
		for _, method := range methods {
			probe.Method = method
			if !slices.Contains(ms, method) && rt.Match(&probe, &mux.RouteMatch{}) {
				ms = append(ms, method)
			}
		}
	}
	sort.Strings(ms)
	return ms
}

func (g *Gateway) wrapRoute(m Mount, rt Route) http.Handler {
	d := m.Dialect
	if rt.MaxBody <= 0 {
		rt.MaxBody = DefaultMaxBody
	}
	limit := rt.MaxBody
	route := &rt // Info's, for RequestParams: one per route, not per request
	var serve http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			InfoFrom(r.Context()).Outcome = "body_too_large"
			d.Reject(w, r, http.StatusRequestEntityTooLarge, core.E("gateway", core.Invalid, "body too large"))
			return
		}
		if r.Body != http.NoBody { // net/http's body of a request without one: nothing to bound
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		rt.Handler(w, r)
	})
	if g.wrap != nil {
		serve = g.wrap(d, rt, serve)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addHeaders(w, m.Headers)
		i := InfoFrom(r.Context())
		i.Dialect, i.Op, i.route = d.Name(), rt.Op, route
		if err := g.admitted(r); err != nil {
			i.Outcome = core.KindOf(err).String()
			d.Reject(w, r, http.StatusOK, err) // a business outcome for the old apps: 200 and their own code
			return
		}
		serve.ServeHTTP(w, r)
	})
}

// HeaderValue returns a header value slice to assign, under the header's
// canonical key, to every reply that carries this value (h["Cache-Control"]
// = noStore): Header.Set would allocate a new slice per reply. The slice
// is shared: it must never be written to (net/http copies it when the
// header is written; Set, Add and Del replace it or copy on append, as
// its capacity is its length).
func HeaderValue(v string) []string { return []string{v}[:1:1] }

func addHeaders(w http.ResponseWriter, h http.Header) {
	for k, v := range h {
		w.Header()[k] = v
	}
}

// DetectionFailures counts requests no dialect claimed.
func (g *Gateway) DetectionFailures() int64 { return g.detectionFailures.Load() }

// ServeHTTP logs every request (middleware registered with mux's Use would
// skip unmatched ones) and routes it.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := &requestState{rec: statusRecorder{ResponseWriter: w, status: http.StatusOK}}
	info, rec := &st.info, &st.rec
	info.RequestID = requestID(r)
	info.clientAddr = ClientIP(r, g.trusted)
	info.ClientIP = info.clientAddr.String()
	st.idHeader[0] = info.RequestID
	w.Header()["X-Request-Id"] = st.idHeader[:] // canonical key; the value slice is part of st
	parent := r.Context()
	var traced func(*Info, int)
	if g.trace != nil {
		parent, traced = g.trace(parent, r)
	}
	st.ctx = requestContext{Context: parent, info: info}
	r = r.WithContext(&st.ctx) // the one context value: Info, also the core's client
	g.route(st, r)
	if traced != nil {
		traced(info, rec.status)
	}
	end := time.Now()
	elapsed := end.Sub(start)
	g.logRequest(r.Context(), requestLine{at: end, info: info, method: r.Method, path: r.URL.Path, status: rec.status, latency: elapsed})
	if g.observe != nil {
		g.observe(r, info, rec.status, elapsed)
	}
}

func (g *Gateway) route(st *requestState, r *http.Request) {
	w, info := &st.rec, &st.info
	if g.v1 != nil && (r.URL.Path == "/v1" || strings.HasPrefix(r.URL.Path, "/v1/")) {
		info.Dialect = "v1"
		if err := g.admitted(r); err != nil {
			info.Outcome = core.KindOf(err).String()
			g.rejectV1(w, r, err)
			return
		}
		g.v1.ServeHTTP(w, r)
		return
	}
	// Each mount's router matches once; the match found is served as
	// gorilla/mux's Router.ServeHTTP would (the route's handler with the
	// path variables), without matching again.
	var buf [4]routeMatch
	candidates := buf[:0]
	var wrongMethod routeMatch
	for _, m := range g.mounts {
		// Match's argument escapes: a local RouteMatch would be an
		// allocation per request. The matches found are copied out.
		rm := &st.match
		*rm = mux.RouteMatch{}
		if i, ok := m.match(r, rm); ok && rm.MatchErr == nil {
			candidates = append(candidates, routeMatch{m, *rm, i})
		} else if errors.Is(rm.MatchErr, mux.ErrMethodMismatch) && wrongMethod.m == nil {
			wrongMethod = routeMatch{m, *rm, -1}
		}
	}
	switch {
	case len(candidates) == 1:
		candidates[0].serve(w, r)
		return
	case len(candidates) > 1:
		if c := g.detectByFields(r, candidates); c != nil {
			c.serve(w, r)
			return
		}
	case wrongMethod.m != nil:
		info.Dialect = wrongMethod.m.dialect.Name()
		if err := g.admitted(r); err != nil {
			wrongMethod.m.dialect.Reject(w, r, http.StatusOK, err)
			return
		}
		wrongMethod.serve(w, r) // the router's MethodNotAllowedHandler answers in the dialect
		return
	}
	g.detectionFailures.Add(1)
	info.Outcome = "undetected"
	if err := g.admitted(r); err != nil { // probing unknown paths counts too
		g.rejectV1(w, r, err)
		return
	}
	g.notFound(w, r)
}

// admitted applies the per-client request limit once per request.
func (g *Gateway) admitted(r *http.Request) error {
	if g.admit == nil {
		return nil
	}
	return g.admit(r.Context())
}

// detectByFields reads (and restores) the body to learn the request's field
// names, and returns the only candidate that claims them.
func (g *Gateway) detectByFields(r *http.Request, candidates []routeMatch) *routeMatch {
	body, err := io.ReadAll(io.LimitReader(r.Body, DefaultMaxBody+1))
	if err != nil {
		return nil
	}
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	fields := FieldNames(r, body)
	var found *routeMatch
	for i := range candidates {
		if candidates[i].m.dialect.Claims(fields) {
			if found != nil {
				return nil // ambiguous: refuse rather than guess
			}
			found = &candidates[i]
		}
	}
	return found
}

// routeMatch is a mount whose router matched a request, and the match.
type routeMatch struct {
	m     *mounted
	rm    mux.RouteMatch
	route int // the index of the route matched; -1 for the mount's 405
}

// serve runs the matched handler as mux.Router.ServeHTTP does after its
// Match, with the route's path variables (Vars) when it has any.
func (c *routeMatch) serve(w http.ResponseWriter, r *http.Request) {
	var t pathtpl.Template // the zero one for the mount's 405
	if c.route >= 0 {
		t = c.m.templates[c.route]
	}
	switch {
	case t.Var != "":
		i := InfoFrom(r.Context())
		i.varName = t.Var
		i.varValue, _ = t.Match(r.URL.Path)
	case len(c.rm.Vars) > 0:
		InfoFrom(r.Context()).vars = c.rm.Vars
	}
	c.rm.Handler.ServeHTTP(w, r)
}

func requestID(r *http.Request) string {
	// The canonical key, read directly: Header.Get would allocate to
	// canonicalize "X-Request-ID" on every request.
	if v := r.Header["X-Request-Id"]; len(v) > 0 && tokenID(v[0]) {
		return v[0]
	}
	return newRequestID()
}

// tokenID reports whether a client's request id is kept: it is echoed and
// logged, so only a short token, 1-64 of [A-Za-z0-9._-], without a run of
// 11 or more digits (a phone number, with or without its country code),
// except in the last group of a UUID, where 12 random hex digits are
// sometimes all decimal.
func tokenID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	run, phoneLike := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			run++
			phoneLike = phoneLike || run >= 11
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '-', c == '_', c == '.':
			run = 0
		default:
			return false
		}
	}
	return !phoneLike || isUUID(s)
}

// isUUID reports whether s is a UUID's text form, 8-4-4-4-12 hex digits.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// Request ids the gateway makes are 24 hex digits: a random prefix drawn
// once per process (48 bits, so two processes' ids do not meet) and a
// counter (48 bits: it does not wrap in a process's life). They only
// correlate log lines, so they need not be unpredictable, and making one
// is an atomic increment rather than a read of crypto/rand.
var (
	idPrefix = func() (p [12]byte) {
		var b [6]byte
		_, _ = rand.Read(b[:])
		hex.Encode(p[:], b[:])
		return p
	}()
	idCounter atomic.Uint64
)

func newRequestID() string {
	const digits = "0123456789abcdef"
	var b [24]byte
	copy(b[:12], idPrefix[:])
	n := idCounter.Add(1)
	for i := 23; i >= 12; i-- {
		b[i] = digits[n&0xf]
		n >>= 4
	}
	return string(b[:])
}

func maskIfSet(phone string) string {
	if phone == "" {
		return ""
	}
	return core.MaskPhone(phone)
}

// requestState is what ServeHTTP allocates per request, in one piece.
type requestState struct {
	info     Info
	rec      statusRecorder
	idHeader [1]string      // X-Request-Id's value
	ctx      requestContext // the request's context, carrying info
	match    mux.RouteMatch // filled by each mount's router in turn
}

// statusRecorder remembers the status a handler wrote, for the log line.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// maskPathPhones masks runs of 7 or more digits in a path: apiv4 carries
// the phone in its path (/sendsms/13812341234), and logs show phones only
// masked. A path without such a run is returned as is, without copying.
func maskPathPhones(p string) string {
	for i := 0; i+7 <= len(p); i++ {
		if digitRun(p, i) >= 7 {
			return string(appendMaskedPath(make([]byte, 0, len(p)), p, false))
		}
	}
	return p
}

// appendMaskedPath appends p with its runs of 7 or more digits masked as
// core.MaskPhone masks a phone; with escape, the rest JSON-escaped as slog
// does (the cuts are next to digits, so escaping the parts is escaping
// the whole: jsonstr.AppendSlogContents).
func appendMaskedPath(b []byte, p string, escape bool) []byte {
	part := func(s string) {
		if escape {
			b = jsonstr.AppendSlogContents(b, s)
		} else {
			b = append(b, s...)
		}
	}
	start := 0
	for i := 0; i < len(p); {
		n := digitRun(p, i)
		if n >= 7 {
			part(p[start:i])
			head, tail := core.MaskedPhoneParts(p[i : i+n]) // digits: nothing to escape
			b = append(append(append(b, head...), "****"...), tail...)
			start = i + n
		}
		i += max(n, 1)
	}
	part(p[start:])
	return b
}

// digitRun is the length of the run of ASCII digits at p[i:].
func digitRun(p string, i int) int {
	j := i
	for j < len(p) && p[j] >= '0' && p[j] <= '9' {
		j++
	}
	return j - i
}
