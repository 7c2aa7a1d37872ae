// Package gateway is the HTTP front: it detects which legacy contract
// ("dialect") a request speaks, hands it to that dialect, and serves the
// canonical /v1 API. Dialects decode to core requests and render core
// results; the gateway owns everything every request shares (routing,
// body limits, request ids, logs).
package gateway

import (
	"net/http"
)

// Dialect is one legacy contract. Each implementation lives in
// dialects/<name> and ends with `var _ gateway.Dialect = (*Dialect)(nil)`.
type Dialect interface {
	// Name is the dialect's stable name ("apiv4"), used in logs and metrics.
	Name() string
	// Routes lists what the dialect serves, relative to its mount prefix.
	Routes() []Route
	// Claims reports whether a request speaks this dialect, judging by its
	// field names (query, form, JSON and multipart keys). The gateway asks
	// only when the path alone cannot decide: two dialects mounted so that
	// one path matches both.
	Claims(fields map[string]bool) bool
	// Reject writes the dialect's own error reply for err with the given
	// HTTP status, for failures found before a route's handler runs
	// (method not allowed, body too large, refused by a limit).
	Reject(w http.ResponseWriter, r *http.Request, status int, err error)
}

// Route is one endpoint of a dialect.
type Route struct {
	Op      string   // operation name for logs and metrics ("login"); a handler may refine it with SetOp
	Path    string   // gorilla/mux path template relative to the mount prefix ("/sendsms/{mobile}")
	Methods []string // accepted methods
	// ReadOnly says the route's GET changes nothing, so HEAD is served
	// too (RFC 9110 9.3.2). A legacy GET that acts (sends a code, logs
	// in, registers) must not be reachable by a HEAD, which clients and
	// crawlers take to be safe: it answers 405.
	ReadOnly bool
	// MaxBody is the largest request body accepted; 0 means DefaultMaxBody.
	MaxBody int64
	// Sources are where the route's parameters come from: RequestParams
	// reads them from there.
	Sources Sources
	// Ops and Resolve are for a route that serves several operations
	// (resultcode's /register): Ops lists them, and Resolve names a
	// request's among them from its parameters, once RequestParams has
	// read them without error. Nil for a route of one operation, Op.
	Ops     []string
	Resolve func(r *http.Request, p Params) string
	Handler http.HandlerFunc
}

// DefaultMaxBody bounds form and JSON bodies.
const DefaultMaxBody = 64 << 10

// Mount places a dialect at a path prefix ("/api/v4.0"; "/" or "" for the root).
type Mount struct {
	Dialect Dialect
	Prefix  string
	// Headers are added to every reply of the dialect (the deprecation
	// signals: Deprecation, Sunset, Link).
	Headers http.Header
}
