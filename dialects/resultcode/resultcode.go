// Package resultcode is the legacy contract of seed 002, a Pyramid server
// (port 6543) whose every reply is {"result": "<4 digits>", "message": ...}.
//
// It serves three paths at the root of its mount:
//
//	GET  /register?userId=...             send a 4-digit code, start a cookie-bound flow
//	POST /register  code_v, code          verify the code (code_v is ignored)
//	POST /register  register=1, password, headImage, gender, nickname
//	                                      create the account of the verified flow
//	POST /upload    multipart field img   store an avatar, message = its URL path
//	POST /log       userId, password      log in, message = token
//
// Parameters come from the query string, an urlencoded form or a multipart
// form, as Pyramid's request.params merged them. Replies are rendered the
// way Pyramid's json renderer (Python's json.dumps with default settings)
// wrote them: `{"result": "0000", "message": ""}`, with ", " and ": " as
// separators, non-ASCII escaped as \uXXXX, no trailing newline, and
// Content-Type application/json. Both keys are always present.
//
// The code table (operation x core kind -> result, message) is the table
// variable in replies.go; contracts/resultcode.yaml documents it and a test
// keeps the two in step.
package resultcode

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	"legacyauth/core"
	"legacyauth/gateway"
)

// Name is the dialect's stable name.
const Name = "resultcode"

// DefaultPrefix is where the old server served its paths: the root.
const DefaultPrefix = "/"

// Defaults of Options.
const (
	DefaultCodeLength      = 4 // "发送4位数手机验证码"
	DefaultCookieName      = "session"
	DefaultAvatarURLPrefix = "/v1/avatars/"
)

// sources are where the old server read parameters from (Pyramid's
// request.params: query string and form body, urlencoded or multipart).
const sources = gateway.Query | gateway.Form | gateway.Multipart

// Options are the dialect's compatibility switches. The zero value is the
// safe default.
type Options struct {
	// CodeLength is the number of digits of the SMS code; 0 means
	// DefaultCodeLength, the seed's 4.
	CodeLength int
	// EchoCode puts the sent code in the send step's `message`, as the old
	// server did (it let the app compare the code locally, so anyone could
	// register any phone). Off by default: `message` is then "". Turn it
	// on only for an app known to compare locally; the wiring warns at
	// start-up when it is on.
	EchoCode bool
	// CookieName names the cookie that binds the registration flow (the old
	// server's Pyramid session cookie); "" means DefaultCookieName.
	CookieName string
	// SecureCookie marks the flow cookie Secure. Leave it off while any old
	// app still talks plain HTTP (the seed's server did): such an app would
	// not send a Secure cookie back and registration would fail.
	SecureCookie bool
	// AvatarURLPrefix is the URL path under which the gateway serves stored
	// avatars; /upload answers it followed by the avatar's name, and
	// register's headImage must be such a path. "" means
	// DefaultAvatarURLPrefix (the /v1 API's GET /v1/avatars/{name}).
	AvatarURLPrefix string
}

// Dialect serves the resultcode contract. Build it with New.
type Dialect struct {
	svc  *core.Service
	opts Options
}

// New builds the dialect over a core service, filling Options' defaults.
func New(svc *core.Service, opts Options) *Dialect {
	if opts.CodeLength == 0 {
		opts.CodeLength = DefaultCodeLength
	}
	if opts.CookieName == "" {
		opts.CookieName = DefaultCookieName
	}
	if opts.AvatarURLPrefix == "" {
		opts.AvatarURLPrefix = DefaultAvatarURLPrefix
	}
	return &Dialect{svc: svc, opts: opts}
}

// Options returns the effective options (defaults filled in), so the wiring
// can report them (and warn when EchoCode is on).
func (d *Dialect) Options() Options { return d.opts }

// Name returns "resultcode".
func (d *Dialect) Name() string { return Name }

// Routes lists the three paths. /register is one route for three
// operations: the gateway names a request's (registerOp) once it has read
// its parameters, and the handler answers a request it could not read
// with the step it looks like (readRegister).
func (d *Dialect) Routes() []gateway.Route {
	return []gateway.Route{
		{Op: opRegisterRoute, Path: "/register", Methods: []string{http.MethodGet, http.MethodPost}, Sources: sources,
			Ops: []string{opSend, opVerify, opRegister}, Resolve: func(r *http.Request, p gateway.Params) string { return registerOp(r.Method, p) },
			Handler: d.handleRegister},
		{Op: opUpload, Path: "/upload", Methods: []string{http.MethodPost}, MaxBody: core.MaxAvatarBytes + 64<<10, Sources: sources, Handler: d.handleUpload},
		{Op: opLogin, Path: "/log", Methods: []string{http.MethodPost}, Sources: sources, Handler: d.handleLogin},
	}
}

// Claims reports whether the field names are this contract's own: userId
// (send code, login), code_v (verify), register (step 2) or img (upload).
func (d *Dialect) Claims(fields map[string]bool) bool {
	return fields["userId"] || fields["code_v"] || fields["register"] || fields["img"]
}

// Reject answers a failure found before a handler ran (method not allowed,
// body too large, refused by a limit) with the table's reply for the
// request's operation, under the given HTTP status.
func (d *Dialect) Reject(w http.ResponseWriter, r *http.Request, status int, err error) {
	op := gateway.InfoFrom(r.Context()).Op
	if _, known := table[op]; !known {
		op = rejectOp(w, r, status)
		gateway.SetOp(r, op)
	}
	d.fail(w, op, status, err, rejectDetail[status])
}

// rejectDetail is the message of a rejection, by HTTP status, for the rows
// that carry one (the gateway's error text is English).
var rejectDetail = map[int]string{
	http.StatusMethodNotAllowed:      "不支持的请求方法",
	http.StatusRequestEntityTooLarge: "请求内容过大",
	http.StatusTooManyRequests:       "操作过于频繁，请稍后再试",
}

// rejectOp finds the operation of a request no handler saw: by path, and
// for /register by method and parameters. It reads at most a small body,
// and none when the body is the problem.
func rejectOp(w http.ResponseWriter, r *http.Request, status int) string {
	switch {
	case strings.HasSuffix(r.URL.Path, "/upload"):
		return opUpload
	case strings.HasSuffix(r.URL.Path, "/log"):
		return opLogin
	}
	if status == http.StatusRequestEntityTooLarge || r.Body == nil {
		return registerOp(r.Method, gateway.Params{}) // the body is the problem: leave it unread
	}
	// No handler has read the body (the request was refused before one
	// ran): it is read here, best effort, as the reply is an error anyway.
	r.Body = http.MaxBytesReader(w, r.Body, gateway.DefaultMaxBody)
	var seen bytes.Buffer
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(r.Body, &seen), r.Body}
	p, err := gateway.ReadParams(r, sources)
	return failedRegisterOp(r, p, err, seen.Bytes())
}

// readRegister reads the parameters of a /register request (as the
// gateway read them, once) and names its operation: as the gateway named
// it (Route.Resolve) or, when the parameters could not be read,
// failedRegisterOp.
func readRegister(r *http.Request) (gateway.Params, string, error) {
	p, err := gateway.RequestParams(r)
	if err != nil {
		return p, failedRegisterOp(r, p, err, gateway.RequestBody(r)), err
	}
	return p, gateway.InfoFrom(r.Context()).Op, nil
}

// failedRegisterOp names the operation of a /register request whose
// parameters could not be read (p as far as they were, body as read):
// a body that names a register field still counts as step 2, so that
// the reply is the one the app expects at that step.
func failedRegisterOp(r *http.Request, p gateway.Params, err error, body []byte) string {
	op := registerOp(r.Method, p)
	if err != nil && op == opVerify && gateway.FieldNames(r, body)["register"] {
		op = opRegister
	}
	return op
}

// registerOp is the dispatch of /register that Pyramid's request_method and
// request_param predicates did: GET sends a code, POST with register=1 is
// step 2, any other POST verifies a code.
func registerOp(method string, p gateway.Params) string {
	switch {
	case method == http.MethodGet:
		return opSend
	case p.Get("register") == "1":
		return opRegister
	default:
		return opVerify
	}
}

var _ gateway.Dialect = (*Dialect)(nil)
