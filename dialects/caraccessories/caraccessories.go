// Package caraccessories speaks the 易配 app's contract (seed 000): four
// POST endpoints under /caraccessories/app that take a JSON object of
// strings and always answer HTTP 200 with {"status":<int>,"msg":"<text>"}.
//
// The old server was a servlet application, so the app keeps a cookie
// session: successful login and registration set JSESSIONID to the core's
// session token. The body never carries the token.
package caraccessories

import (
	"errors"
	"net/http"
	"strings"

	"legacyauth/core"
	"legacyauth/gateway"
)

// Name is the dialect's stable name.
const Name = "caraccessories"

// DefaultPrefix is where the old server's context path put the API.
const DefaultPrefix = "/caraccessories/app"

// DefaultCodeLength is the code length when Options.CodeLength is 0: the
// document's example code has 5 digits.
const DefaultCodeLength = 5

// The operations, named after their endpoints.
const (
	opSend     = "get_verification_code"
	opRegister = "registration"
	opLogin    = "login"
	opReset    = "forget_password"
)

// sources: a JSON body, whatever its Content-Type says (an app built from
// the document may send text/plain); trailing commas, which the
// document's own examples carry, are tolerated by the gateway's reader.
const sources = gateway.JSON | gateway.AnyTypeJSON

// Options are the dialect's compatibility switches.
type Options struct {
	// CodeLength is the number of digits of the SMS codes sent; 0 means
	// 5, the length of the document's example code (21342). The core
	// accepts 4 to 10.
	CodeLength int
	// CookieName names the session cookie set on login and registration;
	// "" means "JSESSIONID", the servlet container's name the old app
	// received.
	CookieName string
	// SecureCookie marks the session cookie Secure. Off by default: the
	// old server was plain http, and an app talking http to a TLS-ending
	// proxy would otherwise never see the cookie again.
	SecureCookie bool
}

// Dialect serves the contract. Build it with New.
type Dialect struct {
	svc  *core.Service
	opts Options
}

// New builds the dialect over a core service.
func New(svc *core.Service, opts Options) *Dialect {
	if opts.CodeLength == 0 {
		opts.CodeLength = DefaultCodeLength
	}
	if opts.CookieName == "" {
		opts.CookieName = "JSESSIONID"
	}
	return &Dialect{svc: svc, opts: opts}
}

// Name returns "caraccessories".
func (d *Dialect) Name() string { return Name }

// Routes lists the four endpoints; all are POST only.
func (d *Dialect) Routes() []gateway.Route {
	post := []string{http.MethodPost}
	return []gateway.Route{
		{Op: opSend, Path: "/" + opSend, Methods: post, Sources: sources, Handler: d.sendCode},
		{Op: opRegister, Path: "/" + opRegister, Methods: post, Sources: sources, Handler: d.register},
		{Op: opLogin, Path: "/" + opLogin, Methods: post, Sources: sources, Handler: d.login},
		{Op: opReset, Path: "/" + opReset, Methods: post, Sources: sources, Handler: d.resetPassword},
	}
}

// Claims reports whether the fields are this dialect's: only it names the
// phone "mobile".
func (d *Dialect) Claims(fields map[string]bool) bool { return fields["mobile"] }

// Reject answers a failure found before a handler ran (wrong method, body
// too large, a limit) with the given HTTP status and the dialect's body.
func (d *Dialect) Reject(w http.ResponseWriter, r *http.Request, status int, err error) {
	rep := lookup(opOfPath(r.URL.Path), core.KindOf(err))
	if core.KindOf(err) == core.Invalid {
		rep = reply{badInput.Status, rejectMessage(status)}
	}
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	write(w, status, rep, err)
}

func rejectMessage(status int) string {
	switch status {
	case http.StatusMethodNotAllowed:
		return "请求方法不支持，请使用POST"
	case http.StatusRequestEntityTooLarge:
		return "请求内容过大"
	}
	return badInput.Msg
}

// opOfPath names the operation of a request path, for Reject, which runs
// before (or instead of) the route's handler: its last segment, as every
// route's path is "/"+op. lookup knows no other segment.
func opOfPath(path string) string { return path[strings.LastIndexByte(path, '/')+1:] }

// The requests, as the document lists their fields. The password has no
// rule beyond being present: the document's example password is "12345",
// and what the old server accepted must keep working. The code is checked
// by the core only, so a mistyped code is "-3 wrong code" as before.
type (
	sendRequest struct {
		Mobile string `label:"手机号" validate:"required,mobile"`
	}
	loginRequest struct {
		Mobile   string `label:"手机号" validate:"required,mobile"`
		Password string `label:"密码" validate:"required"`
	}
	// codeRequest is registration's and forget_password's.
	codeRequest struct {
		Mobile   string `label:"手机号" validate:"required,mobile"`
		Code     string `label:"验证码" validate:"required"`
		Password string `label:"密码" validate:"required"`
	}
)

func sendRequestOf(p gateway.Params) sendRequest { return sendRequest{Mobile: p.Get("mobile")} }

func loginRequestOf(p gateway.Params) loginRequest {
	return loginRequest{Mobile: p.Get("mobile"), Password: p.Get("password")}
}

func codeRequestOf(p gateway.Params) codeRequest {
	return codeRequest{Mobile: p.Get("mobile"), Code: p.Get("code"), Password: p.Get("password")}
}

func (d *Dialect) sendCode(w http.ResponseWriter, r *http.Request) {
	req, ok := decode(w, r, sendRequestOf)
	if !ok {
		return
	}
	// The document names no purpose and never checks registration: the
	// code must serve registration and forget_password alike.
	_, err := d.svc.SendCode(r.Context(), core.SendCodeRequest{
		Phone: req.Mobile, Purpose: core.PurposeAny, Length: d.opts.CodeLength, Dialect: Name,
	})
	answer(w, r, opSend, err)
}

func (d *Dialect) register(w http.ResponseWriter, r *http.Request) {
	req, ok := decode(w, r, codeRequestOf)
	if !ok {
		return
	}
	res, err := d.svc.Register(r.Context(), core.RegisterRequest{
		Phone: req.Mobile, Password: req.Password, Proof: core.Proof{Code: req.Code},
	})
	d.startSession(w, r, opRegister, res, err)
}

func (d *Dialect) login(w http.ResponseWriter, r *http.Request) {
	req, ok := decode(w, r, loginRequestOf)
	if !ok {
		return
	}
	res, err := d.svc.Login(r.Context(), core.LoginRequest{Phone: req.Mobile, Password: req.Password})
	d.startSession(w, r, opLogin, res, err)
}

func (d *Dialect) resetPassword(w http.ResponseWriter, r *http.Request) {
	req, ok := decode(w, r, codeRequestOf)
	if !ok {
		return
	}
	err := d.svc.ResetPassword(r.Context(), core.ResetRequest{
		Phone: req.Mobile, Password: req.Password, Proof: core.Proof{Code: req.Code},
	})
	answer(w, r, opReset, err)
}

// decode reads the request's parameters, builds the request struct with
// build and validates it. On failure it has answered -1 with the gateway's
// or the validator's Chinese message (and the HTTP status of a
// transport-level failure) and returns false.
func decode[T any](w http.ResponseWriter, r *http.Request, build func(gateway.Params) T) (T, bool) {
	var req T
	p, err := gateway.RequestParams(r)
	if err == nil {
		gateway.SetPhoneIfMobile(r, p.Get("mobile"))
		req = build(p)
		err = gateway.Validate(req)
	}
	if err == nil {
		return req, true
	}
	gateway.SetOutcome(r, err)
	rep := serverError // Validate failing for a reason other than the input
	var ce *core.Error
	if core.KindOf(err) == core.Invalid && errors.As(err, &ce) {
		rep = reply{badInput.Status, ce.Msg} // ReadParams and Validate write theirs for users, in Chinese
	}
	write(w, gateway.HTTPStatus(err), rep, err)
	return req, false
}

// answer renders a core call's outcome with HTTP 200, as the old server
// answered every outcome.
func answer(w http.ResponseWriter, r *http.Request, op string, err error) {
	gateway.SetOutcome(r, err)
	rep := success
	if err != nil {
		rep = lookup(op, core.KindOf(err))
	}
	write(w, http.StatusOK, rep, err)
}

// startSession answers a login or registration, setting the session
// cookie on success. Its path is the mount prefix, the servlet's context
// path.
func (d *Dialect) startSession(w http.ResponseWriter, r *http.Request, op string, res *core.LoginResult, err error) {
	if err == nil {
		path := strings.TrimSuffix(r.URL.Path, "/"+op)
		if path == "" {
			path = "/"
		}
		http.SetCookie(w, &http.Cookie{
			Name:     d.opts.CookieName,
			Value:    res.Token,
			Path:     path,
			HttpOnly: true,
			Secure:   d.opts.SecureCookie,
			SameSite: http.SameSiteLaxMode,
		})
	}
	answer(w, r, op, err)
}

var _ gateway.Dialect = (*Dialect)(nil)
