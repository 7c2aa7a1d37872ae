package apiv4

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"legacyauth/core"
	"legacyauth/gateway"
)

// reply is one legacy answer: the body's code and msg.
type reply struct {
	Code int
	Msg  string
	// Bare renders `{"code": "200", "msg": ...}`: code as a string and no
	// data key, exactly the capture of a successful /sendsms.
	Bare bool
}

// Codes the document does not name. The app shows msg for every code
// other than 200, so any negative code with a clear message is valid;
// these are the gateway's, documented in contracts/apiv4.yaml.
const (
	codeOK          = 200
	codeInvalid     = -3 // the request is malformed; msg says which field
	codeRateLimited = -4 // too many requests; Retry-After says when to retry
	codeServer      = -5 // the server failed; try again later
	codeSMSFailed   = -6 // the SMS could not be sent
)

// okReplies are the success replies, by operation. isregister's depends
// on expect: see isRegisterOK.
var okReplies = map[string]reply{
	opSendSMS:        {codeOK, "发送成功", true}, // the capture: "code": "200", no data
	opIsRegister:     {codeOK, "手机号未注册", false},
	opRegister:       {codeOK, "注册成功", false},
	opLogin:          {codeOK, "登录成功", false},
	opVerifyCode:     {codeOK, "验证码正确", false},
	opForgetPassword: {codeOK, "修改成功", false},
}

// isRegisterOK is isregister's success with expect=1: the phone is
// registered, as the reset flow wants.
var isRegisterOK = reply{codeOK, "手机号已注册", false}

// commonFailures answer a kind the same way in every operation, unless
// failures overrides it. A kind an operation cannot produce still has an
// answer here, so the table is total.
var commonFailures = map[core.Kind]reply{
	core.Internal:          {codeServer, "服务器繁忙，请稍后再试", false},
	core.Invalid:           {codeInvalid, "请求参数错误", false}, // validator and reader errors show their own message
	core.NotRegistered:     {-1, "手机号未注册", false},
	core.AlreadyRegistered: {-1, "手机号已经被注册", false},
	core.WrongPassword:     {-1, "手机号或密码错误", false},
	core.CodeWrong:         {-2, "验证码错误", false},
	core.CodeExpired:       {-2, "验证码已过期", false},
	core.TooManyAttempts:   {-2, "验证码错误次数过多，请重新获取", false},
	core.RateLimited:       {codeRateLimited, "请求过于频繁，请稍后再试", false},
	core.SMSFailed:         {codeSMSFailed, "短信发送失败，请稍后再试", false},
	core.Unauthorized:      {-1, "请先验证验证码", false},
	core.NotFound:          {codeServer, "服务器繁忙，请稍后再试", false},
	core.Unavailable:       {codeServer, "服务器繁忙，请稍后再试", false}, // a store did not answer, or shed (no hash slot in time: + Retry-After)
}

// failures are the per-operation exceptions to commonFailures: the
// documented codes of each endpoint.
var failures = map[string]map[core.Kind]reply{
	// -1 registered / not registered against expect: the common rows.
	opSendSMS: {},
	// -1 when the phone is not as expected: the common rows.
	opIsRegister: {},
	// -1 already registered (common), -2 wrong code. No ticket is used, but
	// a refused proof is a wrong code to the user.
	opRegister: {
		core.Unauthorized: {-2, "验证码错误", false},
	},
	// One answer for an unknown phone and a wrong password: the document
	// says so, and it does not reveal who is registered.
	opLogin: {
		core.NotRegistered: {-1, "手机号或密码错误", false},
		core.WrongPassword: {-1, "手机号或密码错误", false},
	},
	// -1 for every way a code can be not correct.
	opVerifyCode: {
		core.CodeWrong:       {-1, "验证码错误", false},
		core.CodeExpired:     {-1, "验证码已过期", false},
		core.TooManyAttempts: {-1, "验证码错误次数过多，请重新获取", false},
	},
	// -1 "not correct": no verify_code within the window for this phone, or
	// its ticket already used (Unauthorized, common row), or an unknown
	// phone. Code kinds cannot happen (step 2 carries no code).
	opForgetPassword: {
		core.CodeWrong:       {-1, "验证码错误", false},
		core.CodeExpired:     {-1, "验证码已过期", false},
		core.TooManyAttempts: {-1, "验证码错误次数过多，请重新获取", false},
	},
}

// failureReply returns the reply to err in operation op.
func failureReply(op string, err error) reply {
	k := core.KindOf(err)
	rep, ok := failures[op][k]
	if !ok {
		rep = commonFailures[k]
	}
	if k == core.Invalid {
		if msg := userMessage(err); msg != "" {
			rep.Msg = msg
		}
	}
	return rep
}

// rejectReply is the reply to a request refused before its handler.
func rejectReply(status int, err error) reply {
	rep := commonFailures[core.KindOf(err)]
	switch {
	case core.KindOf(err) != core.Invalid:
	case status == http.StatusMethodNotAllowed:
		rep.Msg = "不支持的请求方法"
	case status == http.StatusRequestEntityTooLarge:
		rep.Msg = "请求内容过大"
	default:
		if msg := userMessage(err); msg != "" {
			rep.Msg = msg
		}
	}
	return rep
}

// shown marks an Invalid error whose message was written for the user (in
// Chinese, by gateway.Validate), so the reply carries it.
type shown struct{ err error }

func (s shown) Error() string { return s.err.Error() }
func (s shown) Unwrap() error { return s.err }

// userMessage returns the message of an error written for the user: the
// reader's (gateway.BadInput) or the validator's (marked shown); "" for
// core errors, whose messages are English and for logs.
func userMessage(err error) string {
	if bad, ok := errors.AsType[*gateway.BadInput](err); ok {
		return bad.Err.Msg
	}
	if s, ok := errors.AsType[shown](err); ok {
		if ce, ok := errors.AsType[*core.Error](s.err); ok {
			return ce.Msg
		}
	}
	return ""
}

// fail answers err in operation op: the HTTP status of a transport error
// (gateway.HTTPStatus), 200 otherwise, and the table's reply.
func fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	gateway.SetOutcome(r, err)
	gateway.SetRetryAfter(w, err)
	writeReply(w, r, gateway.HTTPStatus(err), failureReply(op, err), "")
}

// succeed answers a success of op with data ("" when none).
func succeed(w http.ResponseWriter, r *http.Request, rep reply, data any) {
	gateway.SetOutcome(r, nil)
	writeReply(w, r, http.StatusOK, rep, data)
}

// Content-Type's value on every reply (gateway.HeaderValue).
var hvJSON = gateway.HeaderValue("application/json")

// writeReply renders the body as Flask's jsonify did: pretty-printed,
// except for requests marked X-Requested-With: XMLHttpRequest, which Flask
// 0.10 answered on one line. The replies of the tables with no data are
// rendered once (prerendered); others each time.
func writeReply(w http.ResponseWriter, r *http.Request, status int, rep reply, data any) {
	xhr := strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest") // werkzeug's is_xhr
	var b []byte
	var length []string
	if pr := prerendered[rep]; pr != nil && isEmptyData(rep, data) {
		b, length = pr.pretty, pr.prettyLen
		if xhr {
			b, length = pr.xhr, pr.xhrLen
		}
	} else {
		indent := 2
		if xhr {
			indent = 0
		}
		b = pyJSON(replyBody(rep, data), indent)
		length = []string{strconv.Itoa(len(b))}
	}
	h := w.Header()
	h["Content-Type"] = hvJSON
	h["Content-Length"] = length
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// isEmptyData reports whether data is what the prerendered replies hold:
// "" (no data for a Bare reply).
func isEmptyData(rep reply, data any) bool {
	s, ok := data.(string)
	return ok && s == "" || rep.Bare && data == nil
}

func replyBody(rep reply, data any) object {
	if rep.Bare {
		return object{"code": strconv.Itoa(rep.Code), "msg": rep.Msg}
	}
	return object{"code": rep.Code, "data": data, "msg": rep.Msg}
}

// rendering is one reply's body in both forms, and their lengths.
type rendering struct {
	pretty, xhr       []byte
	prettyLen, xhrLen []string // Content-Length values (gateway.HeaderValue)
}

// prerendered holds every reply of the tables (and the rejections' fixed
// messages) rendered with data "" (Bare ones have no data): the bodies
// of isregister, verify_code, forget_password, sendsms and of every
// failure without a message of the caller's.
var prerendered = func() map[reply]*rendering {
	reps := []reply{isRegisterOK}
	for _, rep := range okReplies {
		reps = append(reps, rep)
	}
	for _, rep := range commonFailures {
		reps = append(reps, rep)
	}
	for _, m := range failures {
		for _, rep := range m {
			reps = append(reps, rep)
		}
	}
	inv := commonFailures[core.Invalid]
	for _, msg := range []string{"不支持的请求方法", "请求内容过大"} {
		inv.Msg = msg
		reps = append(reps, inv)
	}
	out := map[reply]*rendering{}
	for _, rep := range reps {
		var data any = ""
		if rep.Bare {
			data = nil
		}
		pretty, xhr := pyJSON(replyBody(rep, data), 2), pyJSON(replyBody(rep, data), 0)
		out[rep] = &rendering{pretty: pretty, xhr: xhr, prettyLen: gateway.HeaderValue(strconv.Itoa(len(pretty))), xhrLen: gateway.HeaderValue(strconv.Itoa(len(xhr)))}
	}
	return out
}()
