// Package migrate moves a dialect's traffic from its old server to the
// gateway's core step by step. Per dialect, and optionally per operation,
// a Mode says who answers:
//
//   - Core: the core, as without this package. With an old server
//     configured, a login for a phone the core does not know is first
//     tried on the old server and, if it succeeds there, the user is
//     imported with that password (lazy migration) and served by the core.
//   - Proxy: the old server. The request goes to it unchanged and its
//     reply comes back unchanged.
//   - Shadow: the old server, as Proxy; in the background the same request
//     is also replayed through the core and the two outcomes are compared
//     in canonical terms, counted and, when they differ, logged.
//   - Split: a stable share of phones (by a hash of the phone) by the core,
//     the rest by the old server.
//
// It hooks into the gateway through gateway.Options.Wrap, so the gateway
// itself knows nothing of old servers: the request limit runs before it,
// and the route's body limit and handler run after it, only for requests
// it hands to the core.
package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"legacyauth/core"
	"legacyauth/gateway"
)

// Mode says who answers a dialect's (or an operation's) requests.
type Mode string

const (
	Core   Mode = "core"   // the core (the default)
	Proxy  Mode = "proxy"  // the old server
	Shadow Mode = "shadow" // the old server, compared with the core in the background
	Split  Mode = "split"  // a share of phones by the core, the rest by the old server
)

// ParseMode reads a mode's name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.TrimSpace(s)); m {
	case Core, Proxy, Shadow, Split:
		return m, nil
	}
	return "", fmt.Errorf("want core, proxy, shadow or split, not %q", s)
}

// ParseModes reads per-operation modes, "login=shadow,registration=proxy",
// checking each operation against the dialect's ("" is none).
func ParseModes(dialect, s string) (map[string]Mode, error) {
	modes := map[string]Mode{}
	known := Ops(dialect)
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		op, name, found := strings.Cut(item, "=")
		op = strings.TrimSpace(op)
		if !found {
			return nil, fmt.Errorf("want operation=mode, not %q", item)
		}
		m, err := ParseMode(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		if known != nil && !slices.Contains(known, op) {
			sort.Strings(known)
			return nil, fmt.Errorf("%s has no operation %q (it has %s)", dialect, op, strings.Join(known, ", "))
		}
		if _, dup := modes[op]; dup {
			return nil, fmt.Errorf("%s is given twice", op)
		}
		modes[op] = m
	}
	return modes, nil
}

// ParseUpstream reads an old server's base URL: http or https, a host, an
// optional base path, no query or fragment. "" is none (nil).
func ParseUpstream(s string) (*url.URL, error) {
	if s == "" {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("want an http(s) URL such as http://old:8080, without query or credentials")
	}
	return u, nil
}

// Dialect configures one dialect.
type Dialect struct {
	Mode  Mode            // "" is Core
	Modes map[string]Mode // per operation, overriding Mode
	// Upstream is the old server's base URL; the request's path and query
	// are appended as sent. Needed by every mode but Core, and with Core
	// it turns lazy migration on.
	Upstream *url.URL
	// SplitPercent is the share of phones (0-100) the core serves in
	// Split mode.
	SplitPercent int
}

// ModeOf is the mode an operation runs in.
func (d Dialect) ModeOf(op string) Mode {
	if m, found := d.Modes[op]; found {
		return m
	}
	if d.Mode == "" {
		return Core
	}
	return d.Mode
}

// Users finds a core user by E.164 phone without counting a look-up
// against the client (core.Store does).
type Users interface {
	UserByPhone(ctx context.Context, phone string) (*core.User, error)
}

// Options configure a Migrator.
type Options struct {
	Dialects map[string]Dialect // by dialect name; absent: Core without an old server
	// Timeout bounds each exchange with an old server (default 10s); a
	// request it cuts off gets the dialect's server-error reply.
	Timeout time.Duration
	// ShadowSideEffects also shadows operations that act (send a code,
	// register, reset a password, verify a code, store an avatar): each
	// would then act twice, once on each side.
	ShadowSideEffects bool
	// ShadowQueue bounds the shadow requests waiting for a worker (default
	// 1000); more are dropped and counted. ShadowWorkers replay them
	// (default 2).
	ShadowQueue   int
	ShadowWorkers int
	// MismatchLogsPerMinute bounds the mismatch log lines (default 10).
	MismatchLogsPerMinute int
	// TrustedProxies are believed about X-Forwarded-For, as by the gateway.
	TrustedProxies []netip.Prefix

	// Users, Flows, Import and Guard are the core, for lazy migration and
	// split routing: is a phone known, is a flow the core's, create a user,
	// count a failed login. Import is core.Service.ImportUser.
	Users  Users
	Flows  func(ctx context.Context, id string) (*core.Flow, error)
	Import func(ctx context.Context, req core.ImportRequest) (*core.User, error)
	Guard  core.Guard

	Log        *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are kept but not exposed
	// Transport carries requests to the old servers; nil is a transport
	// with sensible time-outs.
	Transport http.RoundTripper
}

// Migrator is the migration layer. Build it with New, hook Wrap into
// gateway.Options.Wrap, and Close it at shutdown.
type Migrator struct {
	opts     Options
	dialects map[string]*dialectState
	log      *slog.Logger
	met      *metricSet
	shadow   *shadowQueue
}

// dialectState is one configured dialect.
type dialectState struct {
	name string
	spec *spec
	cfg  Dialect
	up   *upstream // nil without an old server
}

// New checks the configuration and starts the shadow workers.
func New(o Options) (*Migrator, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.ShadowQueue <= 0 {
		o.ShadowQueue = 1000
	}
	if o.ShadowWorkers <= 0 {
		o.ShadowWorkers = 2
	}
	if o.MismatchLogsPerMinute <= 0 {
		o.MismatchLogsPerMinute = 10
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	m := &Migrator{opts: o, dialects: map[string]*dialectState{}, log: o.Log, met: newMetrics(o.Registerer)}
	transport := o.Transport
	if transport == nil {
		transport = newTransport(o.Timeout)
	}
	names := make([]string, 0, len(o.Dialects))
	for name := range o.Dialects {
		names = append(names, name)
	}
	sort.Strings(names)
	shadowing := false
	for _, name := range names {
		cfg := o.Dialects[name]
		sp := specs[name]
		if sp == nil {
			return nil, fmt.Errorf("migrate: unknown dialect %q", name)
		}
		if cfg.SplitPercent < 0 || cfg.SplitPercent > 100 {
			return nil, fmt.Errorf("migrate: %s: split percent %d is not 0-100", name, cfg.SplitPercent)
		}
		modes := []Mode{cfg.ModeOf("")}
		for op, mode := range cfg.Modes {
			if _, known := sp.ops[op]; !known {
				return nil, fmt.Errorf("migrate: %s has no operation %q", name, op)
			}
			modes = append(modes, mode)
		}
		for _, mode := range modes {
			if mode != Core && cfg.Upstream == nil {
				return nil, fmt.Errorf("migrate: %s: mode %s needs the old server's URL (GATEWAY_%s_UPSTREAM)", name, mode, strings.ToUpper(name))
			}
			shadowing = shadowing || mode == Shadow
		}
		ds := &dialectState{name: name, spec: sp, cfg: cfg}
		if cfg.Upstream != nil {
			ds.up = newUpstream(name, cfg.Upstream, transport, o.Timeout, o.TrustedProxies, m.met, m.log)
			m.met.preset(name)
		}
		m.dialects[name] = ds
	}
	if shadowing {
		m.shadow = newShadowQueue(m, o.ShadowQueue, o.ShadowWorkers)
	}
	return m, nil
}

// Close stops the shadow workers; requests still queued are dropped. The
// gateway must not serve requests any more. A nil Migrator does nothing.
func (m *Migrator) Close() {
	if m != nil && m.shadow != nil {
		m.shadow.close()
	}
}

// Describe lists, for the start-up log, each dialect's modes.
func (m *Migrator) Describe() []slog.Attr {
	var attrs []slog.Attr
	for name, ds := range m.dialects {
		desc := string(ds.cfg.ModeOf(""))
		if ds.cfg.ModeOf("") == Split {
			desc += " " + strconv.Itoa(ds.cfg.SplitPercent) + "% core"
		}
		for op, mode := range ds.cfg.Modes {
			desc += ", " + op + "=" + string(mode)
		}
		if ds.up != nil {
			desc += ", old server " + ds.up.target.Redacted()
		}
		attrs = append(attrs, slog.String(name, desc))
	}
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].Key < attrs[j].Key })
	return attrs
}

// Wrap is the gateway.Options.Wrap hook: it returns next itself for a
// route that stays with the core (no mode but Core for any of its
// operations, and no lazy migration), so a dialect without a migration
// setting costs nothing.
func (m *Migrator) Wrap(d gateway.Dialect, rt gateway.Route, next http.Handler) http.Handler {
	ds := m.dialects[d.Name()]
	if ds == nil {
		return next
	}
	involved := false
	for _, op := range ds.spec.opsOf(rt.Op) {
		involved = involved || ds.cfg.ModeOf(op) != Core || (ds.up != nil && ds.spec.ops[op].login)
	}
	if !involved {
		return next
	}
	return &route{m: m, ds: ds, d: d, rt: rt, next: next}
}

// route is one wrapped route.
type route struct {
	m    *Migrator
	ds   *dialectState
	d    gateway.Dialect
	rt   gateway.Route // its MaxBody set by the gateway
	next http.Handler  // the route's body limit and handler: the core
}

// request is what route learns of a request before choosing.
type request struct {
	body     []byte // the buffered body (all of it when complete)
	complete bool   // the whole body is in body (at most rt.MaxBody bytes)
	params   gateway.Params
	parsed   bool // params were read without error
	op       string
}

func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := rt.read(r)
	mode := rt.ds.cfg.ModeOf(req.op)
	if mode != Core && !cleanPathVars(r) {
		// A path variable that is not a plain value (/sendsms/.., %2e%2e,
		// an encoded slash) could make an upstream that normalises paths
		// serve another endpoint than the one counted and routed here: the
		// core answers it (with the dialect's invalid-input reply).
		mode = Core
	}
	if mode == Split {
		mode = Proxy
		if rt.toCore(r, req) {
			mode = Core
		}
	}
	switch mode {
	case Core:
		rt.core(w, r, req)
	case Proxy:
		rt.proxy(w, r, req, false)
	case Shadow:
		rt.proxy(w, r, req, true)
	}
}

// cleanPathVars reports whether every path variable of the route (the
// apiv4 phone in /sendsms/{mobile}) is plain: digits, letters, '+', '-'.
func cleanPathVars(r *http.Request) bool {
	for _, v := range gateway.Vars(r) {
		for _, c := range v {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '+' || c == '-') {
				return false
			}
		}
	}
	return true
}

// read buffers the body (up to the route's limit; a longer one is left
// to stream on) and reads the parameters from the copy, leaving r.Body
// to read again from the start.
func (rt *route) read(r *http.Request) *request {
	req := &request{op: rt.rt.Op}
	if r.Body != nil && r.Body != http.NoBody {
		buf, err := io.ReadAll(io.LimitReader(r.Body, rt.rt.MaxBody+1))
		req.body = buf
		req.complete = err == nil && int64(len(buf)) <= rt.rt.MaxBody
		rest := r.Body
		if req.complete {
			_ = rest.Close()
			r.Body = io.NopCloser(bytes.NewReader(buf))
		} else {
			r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), rest), rest}
		}
	} else {
		req.complete = true
	}
	if req.complete {
		c := *r // ReadParams reads the method, query, headers and body only
		c.Body = io.NopCloser(bytes.NewReader(req.body))
		p, err := gateway.ReadParams(&c, rt.ds.spec.sources)
		req.params, req.parsed = p, err == nil
	}
	if d, found := rt.ds.spec.dispatch[rt.rt.Op]; found && req.parsed {
		req.op = d.resolve(r, req.params)
		gateway.SetOp(r, req.op)
	}
	return req
}

// rewind makes r.Body readable from the start again (after the old
// server or a parse read it); only for a complete body.
func (req *request) rewind(r *http.Request) {
	if req.complete {
		r.Body = io.NopCloser(bytes.NewReader(req.body))
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}

// phone returns the request's phone in E.164, "" when it names none (or
// not a valid one). It records a mainland mobile for the log line.
func (rt *route) phone(r *http.Request, req *request) string {
	if !req.parsed {
		return ""
	}
	raw := rt.ds.spec.phone(req.op, r, req.params)
	p, err := core.NormalizePhone(raw)
	if err != nil {
		return ""
	}
	gateway.SetPhoneIfMobile(r, raw)
	return p
}

// toCore decides a Split request: by its phone's bucket, or, naming no
// phone, by whether the flow its cookie names is the core's (the send
// step that started it was split by phone). Anything else goes to the
// old server, as before the split.
func (rt *route) toCore(r *http.Request, req *request) bool {
	if phone := rt.phone(r, req); phone != "" {
		return Bucket(phone) < rt.ds.cfg.SplitPercent
	}
	if name := rt.ds.spec.flowCookie; name != "" && rt.m.opts.Flows != nil {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			_, err := rt.m.opts.Flows(r.Context(), c.Value)
			return err == nil
		}
	}
	return false
}

// Bucket places a phone (E.164) in one of 100 buckets, by FNV-1a: the
// same phone always lands in the same one, so a Split sends it the same
// way every time, and raising the percentage only moves phones to the
// core.
func Bucket(phone string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(phone))
	return int(h.Sum32() % 100)
}

// core hands the request to the core: through lazy migration for a login
// when the dialect has an old server.
func (rt *route) core(w http.ResponseWriter, r *http.Request, req *request) {
	gateway.InfoFrom(r.Context()).Backend = "core"
	rt.m.met.routed(rt.ds.name, req.op, "core")
	if rt.ds.up != nil && rt.ds.spec.ops[req.op].login && req.parsed && rt.m.opts.Import != nil && rt.m.opts.Users != nil {
		rt.lazyLogin(w, r, req)
		return
	}
	rt.next.ServeHTTP(w, r)
}

// proxy relays the request to the old server and its reply to the
// client, and queues a shadow comparison when asked.
func (rt *route) proxy(w http.ResponseWriter, r *http.Request, req *request, shadow bool) {
	info := gateway.InfoFrom(r.Context())
	info.Backend = "upstream"
	rt.m.met.routed(rt.ds.name, req.op, "upstream")
	rt.phone(r, req) // for the log line
	cw := &captureWriter{ResponseWriter: w}
	if err := rt.ds.up.relay(cw, r); err != nil {
		info.Outcome = core.Unavailable.String()
		if shadow {
			rt.m.met.skipped(rt.ds.name, req.op, "upstream_failed")
		}
		if !cw.wrote && !errors.Is(err, context.Canceled) {
			rt.d.Reject(w, r, http.StatusOK, core.Wrap("migrate.proxy", core.Unavailable, err))
		}
		return
	}
	out := rt.ds.spec.outcome(req.op, req.params, cw.status, cw.body.Bytes())
	if isKind(out) {
		info.Outcome = out
	}
	if shadow {
		rt.m.shadow.offer(rt, r, req, cw.status, cw.body.Bytes(), out)
	}
}

// isKind reports whether an outcome is "ok" or a core kind's name, the
// values of the request log's outcome.
func isKind(o string) bool {
	_, found := core.ParseKind(o)
	return o == ok || found
}

// captureLimit bounds the copy of a reply kept to compare it.
const captureLimit = 64 << 10

// captureWriter passes a reply through and keeps its status and the start
// of its body.
type captureWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	body   bytes.Buffer
}

func (c *captureWriter) WriteHeader(code int) {
	if code >= 200 && !c.wrote {
		c.status, c.wrote = code, true
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if !c.wrote {
		c.status, c.wrote = http.StatusOK, true
	}
	if room := captureLimit - c.body.Len(); room > 0 {
		c.body.Write(b[:min(room, len(b))])
	}
	return c.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes).
func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// recorder is a ResponseWriter that keeps a reply instead of sending it:
// the old server's during lazy migration, the core's in a shadow replay.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if room := captureLimit - r.body.Len(); room > 0 {
		r.body.Write(b[:min(room, len(b))])
	}
	return len(b), nil
}

// rateWindow bounds log lines per minute.
type rateWindow struct {
	mu    sync.Mutex
	start time.Time
	n     int
	max   int
}

func (w *rateWindow) allow(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Sub(w.start) >= time.Minute {
		w.start, w.n = now, 0
	}
	if w.n >= w.max {
		return false
	}
	w.n++
	return true
}
