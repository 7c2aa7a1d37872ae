package resultcode

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"legacyauth/core"
	"legacyauth/gateway"
)

// Requests as the old app sends them. Labels name the fields in the
// validator's Chinese messages.
type (
	sendRequest struct {
		UserID string `label:"手机号" validate:"required,mobile"`
	}
	verifyRequest struct {
		// CodeV is the code the old server had echoed, sent back for the
		// server to compare: read and ignored, never trusted.
		CodeV string
		Code  string `label:"验证码" validate:"required,number,max=10"`
	}
	registerRequest struct {
		Password  string `label:"密码" validate:"required,min=8,letters_digits"`
		HeadImage string `label:"头像"` // "" or a path /upload answered
		Gender    string `label:"性别" validate:"omitempty,oneof=0 1"`
		Nickname  string `label:"昵称"`
	}
	loginRequest struct {
		UserID   string `label:"手机号" validate:"required,mobile"`
		Password string `label:"密码" validate:"required"`
	}
)

// handleRegister serves the three operations of /register.
func (d *Dialect) handleRegister(w http.ResponseWriter, r *http.Request) {
	p, op, err := readRegister(r)
	gateway.SetOp(r, op)
	if err != nil {
		d.badInput(w, r, op, err)
		return
	}
	switch op {
	case opSend:
		d.sendCode(w, r, p)
	case opVerify:
		d.verifyCode(w, r, p)
	default:
		d.register(w, r, p)
	}
}

// sendCode: GET /register?userId=. Sends a code for registration and
// starts the flow whose id the cookie carries.
func (d *Dialect) sendCode(w http.ResponseWriter, r *http.Request, p gateway.Params) {
	req := sendRequest{UserID: p.Get("userId")}
	if err := gateway.Validate(req); err != nil {
		d.badInput(w, r, opSend, err)
		return
	}
	gateway.SetPhone(r, req.UserID)
	ctx := r.Context()
	res, err := d.svc.SendCode(ctx, core.SendCodeRequest{
		Phone: req.UserID, Purpose: core.PurposeRegister, Length: d.opts.CodeLength, Dialect: Name,
	})
	var flow *core.Flow
	if err == nil {
		flow, err = d.svc.StartFlow(ctx, res.Phone)
	}
	if d.failed(w, r, opSend, err) {
		return
	}
	http.SetCookie(w, d.cookie(r, flow.ID))
	msg := ""
	if d.opts.EchoCode {
		msg = res.Code
	}
	succeed(w, msg)
}

// verifyCode: POST /register with code. Checks the code against the one
// sent to the flow's phone and keeps the resulting ticket in the flow.
func (d *Dialect) verifyCode(w http.ResponseWriter, r *http.Request, p gateway.Params) {
	req := verifyRequest{CodeV: p.Get("code_v"), Code: p.Get("code")}
	if err := gateway.Validate(req); err != nil {
		d.badInput(w, r, opVerify, err)
		return
	}
	ctx := r.Context()
	flow, err := d.flow(ctx, r)
	if err == nil {
		gateway.SetPhone(r, flow.Phone)
		var ticket string
		ticket, err = d.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: flow.Phone, Purpose: core.PurposeRegister, Code: req.Code})
		if err == nil {
			flow.Ticket = ticket
			err = d.svc.SaveFlow(ctx, flow)
		}
	}
	if d.failed(w, r, opVerify, err) {
		return
	}
	succeed(w, "")
}

// register: POST /register with register=1. Creates the account of the
// flow's verified phone, then ends the flow.
func (d *Dialect) register(w http.ResponseWriter, r *http.Request, p gateway.Params) {
	const op = "resultcode.register"
	req := registerRequest{
		Password:  p.Get("password"),
		HeadImage: p.Get("headImage"),
		Gender:    p.Get("gender"),
		Nickname:  p.Get("nickname"),
	}
	if err := gateway.Validate(req); err != nil {
		d.badInput(w, r, opRegister, err)
		return
	}
	ctx := r.Context()
	flow, err := d.flow(ctx, r)
	if err == nil && flow.Ticket == "" {
		err = core.E(op, core.Unauthorized, "phone not verified in this flow")
	}
	if err != nil {
		d.failed(w, r, opRegister, err)
		return
	}
	gateway.SetPhone(r, flow.Phone)
	if err := d.checkAvatarRef(ctx, req.HeadImage); err != nil {
		gateway.SetOutcome(r, err)
		detail := ""
		if core.KindOf(err) == core.Invalid {
			detail = detailOf(err) // this package's own Chinese message
		}
		d.fail(w, opRegister, http.StatusOK, err, detail)
		return
	}
	_, err = d.svc.Register(ctx, core.RegisterRequest{
		Phone:    flow.Phone,
		Password: req.Password,
		Proof:    core.Proof{Ticket: flow.Ticket},
		Profile:  core.Profile{Nickname: req.Nickname, Gender: req.Gender, Avatar: req.HeadImage},
	})
	if d.failed(w, r, opRegister, err) {
		return
	}
	// The account exists; a flow left behind only expires, and its ticket
	// is spent, so a failure to end it is not the client's concern.
	_ = d.svc.EndFlow(ctx, flow.ID)
	c := d.cookie(r, "")
	c.MaxAge = -1
	http.SetCookie(w, c)
	succeed(w, "")
}

// handleUpload: POST /upload, multipart field img. Stores the image under
// a random name (the client's file name is never used) and answers the
// URL path the gateway serves it at.
func (d *Dialect) handleUpload(w http.ResponseWriter, r *http.Request) {
	p, err := gateway.RequestParams(r)
	if err != nil {
		d.badInput(w, r, opUpload, err)
		return
	}
	f, ok := p.Files["img"]
	if !ok {
		err := core.E("resultcode.upload", core.Invalid, "no file in field img")
		d.failed(w, r, opUpload, err)
		return
	}
	name, err := d.svc.StoreAvatar(r.Context(), f.Data)
	if d.failed(w, r, opUpload, err) {
		return
	}
	succeed(w, d.opts.AvatarURLPrefix+name)
}

// handleLogin: POST /log with userId and password; message is the token.
func (d *Dialect) handleLogin(w http.ResponseWriter, r *http.Request) {
	p, err := gateway.RequestParams(r)
	if err != nil {
		d.badInput(w, r, opLogin, err)
		return
	}
	req := loginRequest{UserID: p.Get("userId"), Password: p.Get("password")}
	if err := gateway.Validate(req); err != nil {
		d.badInput(w, r, opLogin, err)
		return
	}
	gateway.SetPhone(r, req.UserID)
	res, err := d.svc.Login(r.Context(), core.LoginRequest{Phone: req.UserID, Password: req.Password})
	if d.failed(w, r, opLogin, err) {
		return
	}
	succeed(w, res.Token)
}

// failed records the request's outcome and, when err is not nil, answers
// it with a 200 and the operation's code; it reports whether it answered.
func (d *Dialect) failed(w http.ResponseWriter, r *http.Request, op string, err error) bool {
	gateway.SetOutcome(r, err)
	if err != nil {
		d.fail(w, op, http.StatusOK, err, "")
	}
	return err != nil
}

// badInput answers an error of gateway.RequestParams or gateway.Validate:
// their messages are Chinese and safe to show, so they become the detail.
func (d *Dialect) badInput(w http.ResponseWriter, r *http.Request, op string, err error) {
	gateway.SetOutcome(r, err)
	d.fail(w, op, gateway.HTTPStatus(err), err, detailOf(err))
}

// detailOf returns the message of an error whose message is known to be
// Chinese and safe to show (the gateway's, or this package's own).
func detailOf(err error) string {
	if ce, ok := errors.AsType[*core.Error](err); ok {
		return ce.Msg
	}
	return ""
}

// flow returns the registration flow the request's cookie names.
// NotFound when there is no cookie or the flow has expired.
func (d *Dialect) flow(ctx context.Context, r *http.Request) (*core.Flow, error) {
	c, err := r.Cookie(d.opts.CookieName)
	if err != nil || c.Value == "" {
		return nil, core.E("resultcode.flow", core.NotFound, "no flow cookie")
	}
	return d.svc.Flow(ctx, c.Value)
}

// cookie builds the flow cookie, scoped to the mount prefix (the path of
// /register without "/register").
func (d *Dialect) cookie(r *http.Request, value string) *http.Cookie {
	path := strings.TrimSuffix(r.URL.Path, "/register")
	if path == "" {
		path = "/"
	}
	return &http.Cookie{
		Name: d.opts.CookieName, Value: value, Path: path,
		HttpOnly: true, Secure: d.opts.SecureCookie, SameSite: http.SameSiteLaxMode,
	}
}

// checkAvatarRef accepts an empty headImage or a path /upload answered
// (AvatarURLPrefix + the name of a stored avatar), so a profile never
// points at another site, a file-system path or nothing. Invalid, with a
// Chinese message, otherwise.
func (d *Dialect) checkAvatarRef(ctx context.Context, ref string) error {
	const op = "resultcode.checkAvatarRef"
	if ref == "" {
		return nil
	}
	invalid := core.E(op, core.Invalid, "头像路径无效，请重新上传头像")
	name, ok := strings.CutPrefix(ref, d.opts.AvatarURLPrefix)
	if !ok {
		return invalid
	}
	_, body, err := d.svc.Avatar(ctx, name)
	switch {
	case core.KindOf(err) == core.NotFound:
		return invalid
	case err != nil:
		return core.Wrap(op, core.Internal, err)
	}
	_ = body.Close() // only its existence was wanted
	return nil
}
