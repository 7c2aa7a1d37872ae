package apiv4

import (
	"net/http"
	"strconv"

	"legacyauth/core"
	"legacyauth/gateway"
)

// sources are where the old server read parameters (Flask's request.values:
// query string and form body), plus a JSON body.
const sources = gateway.Query | gateway.Form | gateway.JSON

// Requests as decoded, before the core sees them. Labels name fields in
// the validator's messages.
type (
	sendSMSRequest struct {
		Mobile string `label:"手机号" validate:"required,mobile"`
		Expect string `label:"expect" validate:"omitempty,oneof=0 1"`
	}
	isRegisterRequest struct {
		Phone  string `label:"手机号" validate:"required,mobile"`
		Expect string `label:"expect" validate:"omitempty,oneof=0 1"`
	}
	registerRequest struct {
		Phone    string `label:"手机号" validate:"required,mobile"`
		Name     string `label:"姓名" validate:"required,max=64"`
		Password string `label:"密码" validate:"required,min=6,max=14"`
		Device   string `label:"设备标识" validate:"required"`
		Code     string `label:"验证码" validate:"required"`
	}
	loginRequest struct {
		Phone    string `label:"手机号" validate:"required,mobile"`
		Password string `label:"密码" validate:"required"` // no length rule: a wrong length is a wrong password
		Device   string `label:"设备标识"`
	}
	verifyCodeRequest struct {
		Phone string `label:"手机号" validate:"required,mobile"`
		Code  string `label:"验证码" validate:"required"`
	}
	forgetPasswordRequest struct {
		Phone    string `label:"手机号" validate:"required,mobile"`
		Password string `label:"密码" validate:"required,min=6,max=14"`
	}
)

// params reads the request's parameters. On failure it has answered.
func params(w http.ResponseWriter, r *http.Request, op string) (gateway.Params, bool) {
	p, err := gateway.RequestParams(r)
	if err != nil {
		fail(w, r, op, err)
		return p, false
	}
	return p, true
}

// check records the request's phone for the log line when it is one
// (gateway.SetPhoneIfMobile) and validates the request struct. On failure
// it has answered.
func check(w http.ResponseWriter, r *http.Request, op, phone string, req any) bool {
	gateway.SetPhoneIfMobile(r, phone)
	if err := gateway.Validate(req); err != nil {
		if core.KindOf(err) == core.Invalid {
			err = shown{err}
		}
		fail(w, r, op, err)
		return false
	}
	return true
}

// resetBinding is what, beyond the client address, ties forget_password to
// the verify_code before it: the device id when the app sends one (the
// document lists none for either step) and the User-Agent. Someone else
// behind the same NAT then has to copy both. The length prefix keeps the
// two fields from running into each other.
func resetBinding(r *http.Request, p gateway.Params) string {
	dev := p.Get("device_identifier")
	return strconv.Itoa(len(dev)) + ":" + dev + "|" + r.UserAgent()
}

// purposeOf maps expect to the code purpose: "0" (default) wants an
// unregistered phone, for sign-up; "1" a registered one, for reset.
func purposeOf(expect string) core.Purpose {
	if expect == "1" {
		return core.PurposeReset
	}
	return core.PurposeRegister
}

func (d *Dialect) sendSMS(w http.ResponseWriter, r *http.Request) {
	p, ok := params(w, r, opSendSMS)
	if !ok {
		return
	}
	req := sendSMSRequest{Mobile: gateway.Var(r, "mobile"), Expect: p.Get("expect")}
	if !check(w, r, opSendSMS, req.Mobile, req) {
		return
	}
	_, err := d.svc.SendCode(r.Context(), core.SendCodeRequest{
		Phone: req.Mobile, Purpose: purposeOf(req.Expect), Length: d.opts.CodeLength, Dialect: Name,
	})
	if err != nil {
		fail(w, r, opSendSMS, err)
		return
	}
	succeed(w, r, okReplies[opSendSMS], nil)
}

func (d *Dialect) isRegister(w http.ResponseWriter, r *http.Request) {
	p, ok := params(w, r, opIsRegister)
	if !ok {
		return
	}
	req := isRegisterRequest{Phone: gateway.Var(r, "phone"), Expect: p.Get("expect")}
	if !check(w, r, opIsRegister, req.Phone, req) {
		return
	}
	registered, err := d.svc.IsRegistered(r.Context(), req.Phone)
	wantRegistered := purposeOf(req.Expect) == core.PurposeReset
	switch {
	case err != nil:
	case registered && !wantRegistered:
		err = core.E("apiv4.isregister", core.AlreadyRegistered, "phone already registered")
	case !registered && wantRegistered:
		err = core.E("apiv4.isregister", core.NotRegistered, "phone not registered")
	}
	if err != nil {
		fail(w, r, opIsRegister, err)
		return
	}
	rep := okReplies[opIsRegister]
	if wantRegistered {
		rep = isRegisterOK
	}
	succeed(w, r, rep, "")
}

func (d *Dialect) register(w http.ResponseWriter, r *http.Request) {
	p, ok := params(w, r, opRegister)
	if !ok {
		return
	}
	req := registerRequest{
		Phone: p.Get("phone"), Name: p.Get("name"), Password: p.Get("password"),
		Device: p.Get("device_identifier"), Code: p.Get("code"),
	}
	if !check(w, r, opRegister, req.Phone, req) {
		return
	}
	res, err := d.svc.Register(r.Context(), core.RegisterRequest{
		Phone: req.Phone, Password: req.Password, Proof: core.Proof{Code: req.Code},
		Profile: core.Profile{Name: req.Name}, DeviceID: req.Device,
	})
	if err != nil {
		fail(w, r, opRegister, err)
		return
	}
	succeed(w, r, okReplies[opRegister], object{
		"apply":         object{}, // "empty object when registration ends"
		"change_device": res.DeviceChanged,
		"enterprise_id": -1, // an int after register, as captured
		"name":          res.User.Name,
		"token":         res.Token,
		"user_id":       res.User.ID,
	})
}

func (d *Dialect) login(w http.ResponseWriter, r *http.Request) {
	p, ok := params(w, r, opLogin)
	if !ok {
		return
	}
	req := loginRequest{Phone: p.Get("phone"), Password: p.Get("password"), Device: p.Get("device_identifier")}
	if !check(w, r, opLogin, req.Phone, req) {
		return
	}
	res, err := d.svc.Login(r.Context(), core.LoginRequest{Phone: req.Phone, Password: req.Password, DeviceID: req.Device})
	if err != nil {
		fail(w, r, opLogin, err)
		return
	}
	succeed(w, r, okReplies[opLogin], object{
		// apply_eid, apply_name and apply_state appear only for a user with
		// an enterprise application, which the core does not model yet.
		"apply":         object{},
		"change_device": res.DeviceChanged,
		"enterprise_id": "-1", // a string after login, as captured
		"name":          res.User.Name,
		"token":         res.Token,
		"user_id":       res.User.ID,
	})
}

func (d *Dialect) verifyCode(w http.ResponseWriter, r *http.Request) {
	p, ok := params(w, r, opVerifyCode)
	if !ok {
		return
	}
	req := verifyCodeRequest{Phone: p.Get("phone"), Code: p.Get("code")}
	if !check(w, r, opVerifyCode, req.Phone, req) {
		return
	}
	// The ticket stays in the store; forget_password takes it by phone
	// (Proof.RecentCheck), as the old app sends nothing else, and only with
	// this request's binding.
	_, err := d.svc.VerifyCode(r.Context(), core.VerifyCodeRequest{Phone: req.Phone, Purpose: core.PurposeReset, Code: req.Code, ForRecentCheck: true, Binding: resetBinding(r, p)})
	if err != nil {
		fail(w, r, opVerifyCode, err)
		return
	}
	succeed(w, r, okReplies[opVerifyCode], "")
}

func (d *Dialect) forgetPassword(w http.ResponseWriter, r *http.Request) {
	p, ok := params(w, r, opForgetPassword)
	if !ok {
		return
	}
	req := forgetPasswordRequest{Phone: p.Get("phone"), Password: p.Get("password")}
	if !check(w, r, opForgetPassword, req.Phone, req) {
		return
	}
	err := d.svc.ResetPassword(r.Context(), core.ResetRequest{Phone: req.Phone, Password: req.Password, Proof: core.Proof{RecentCheck: true, Binding: resetBinding(r, p)}})
	if err != nil {
		fail(w, r, opForgetPassword, err)
		return
	}
	succeed(w, r, okReplies[opForgetPassword], "")
}
