package caraccessories

import (
	"encoding/json"
	"net/http"

	"legacyauth/core"
	"legacyauth/gateway"
)

// reply is one answer of the contract: the body's status and msg.
type reply struct {
	Status int    `json:"status"`
	Msg    string `json:"msg"`
}

// success is every endpoint's success: the document's {"status": 1, "msg": "Ok"}.
var success = reply{1, "Ok"}

// Codes the document does not have, defined by the gateway (and listed in
// contracts/caraccessories.yaml) for outcomes no documented code fits.
var (
	badInput    = reply{-1, "请求参数不正确"}     // the validator's or the gateway's own message replaces this one when there is one
	serverError = reply{-2, "服务器繁忙，请稍后再试"} // "server busy, try later": also a shed request's (Unavailable with Retry-After)
	tooMany     = reply{-6, "请求过于频繁，请稍后再试"}
)

// Each endpoint's documented failures, in the document's words.
var (
	smsFailed = reply{-3, "短信发送失败"}
	smsTooOft = reply{-3, "短信发送过于频繁，请稍后再试"}

	regCodeWrong = reply{-3, "验证码不正确"}
	regTooMany   = reply{-3, "验证码错误次数过多，请重新获取验证码"}
	regExpired   = reply{-4, "验证码已过期"}
	regTaken     = reply{-5, "手机号已注册"}

	loginUnknown  = reply{-3, "手机号未注册"}
	loginWrongPwd = reply{-4, "密码不正确"}

	resetUnknown   = reply{-3, "手机号没有注册"}
	resetCodeWrong = reply{-4, "验证码不正确"}
	resetTooMany   = reply{-4, "验证码错误次数过多，请重新获取验证码"}
	resetExpired   = reply{-5, "验证码已过期"}
)

// replies is the dialect's one table: (operation, outcome) -> status and
// msg. The same number means different things per endpoint (-3 is "wrong
// code" on registration but "not registered" on forget_password), so the
// table is per operation. An outcome the document does not name takes the
// nearest documented failure when its meaning fits, otherwise a gateway
// code. Kinds an operation cannot return are server errors. The test
// TestRepliesTotal keeps every (operation, kind) answered, and
// TestContractTable keeps contracts/caraccessories.yaml in step.
var replies = map[string]map[core.Kind]reply{
	opSend: {
		core.SMSFailed:   smsFailed,
		core.RateLimited: smsTooOft, // still "SMS not sent", as the app knows it
		core.Invalid:     badInput,
		core.Internal:    serverError,
		core.Unavailable: serverError,
		// Not returned by SendCode with purpose Any:
		core.NotRegistered:     serverError,
		core.AlreadyRegistered: serverError,
		core.WrongPassword:     serverError,
		core.CodeWrong:         serverError,
		core.CodeExpired:       serverError,
		core.TooManyAttempts:   serverError,
		core.Unauthorized:      serverError,
		core.NotFound:          serverError,
	},
	opRegister: {
		core.CodeWrong:         regCodeWrong,
		core.TooManyAttempts:   regTooMany, // the code is burned: still "wrong code", with a message saying why
		core.Unauthorized:      regCodeWrong,
		core.CodeExpired:       regExpired,
		core.AlreadyRegistered: regTaken,
		core.Invalid:           badInput,
		core.RateLimited:       tooMany,
		core.Internal:          serverError,
		core.Unavailable:       serverError,
		// Not returned by Register:
		core.NotRegistered: serverError,
		core.WrongPassword: serverError,
		core.SMSFailed:     serverError,
		core.NotFound:      serverError,
	},
	opLogin: {
		core.NotRegistered:   loginUnknown,
		core.WrongPassword:   loginWrongPwd,
		core.Invalid:         badInput,
		core.RateLimited:     tooMany,
		core.TooManyAttempts: tooMany, // a lockout after wrong passwords, should the core add one
		core.Internal:        serverError,
		core.Unavailable:     serverError,
		// Not returned by Login:
		core.AlreadyRegistered: serverError,
		core.CodeWrong:         serverError,
		core.CodeExpired:       serverError,
		core.SMSFailed:         serverError,
		core.Unauthorized:      serverError,
		core.NotFound:          serverError,
	},
	opReset: {
		core.NotRegistered:   resetUnknown,
		core.CodeWrong:       resetCodeWrong,
		core.TooManyAttempts: resetTooMany,
		core.Unauthorized:    resetCodeWrong,
		core.CodeExpired:     resetExpired,
		core.Invalid:         badInput,
		core.RateLimited:     tooMany,
		core.Internal:        serverError,
		core.Unavailable:     serverError,
		// Not returned by ResetPassword:
		core.AlreadyRegistered: serverError,
		core.WrongPassword:     serverError,
		core.SMSFailed:         serverError,
		core.NotFound:          serverError,
	},
}

// lookup returns the answer to an operation's failure of kind k; a server
// error for what the table lacks (TestRepliesTotal says it lacks nothing).
func lookup(op string, k core.Kind) reply {
	if rep, found := replies[op][k]; found {
		return rep
	}
	return serverError
}

// contentType is what a servlet container writes for
// response.setContentType("application/json;charset=UTF-8").
const contentType = "application/json;charset=UTF-8"

// The header values of every reply (gateway.HeaderValue).
var (
	hvContentType = gateway.HeaderValue(contentType)
	hvNoStore     = gateway.HeaderValue("no-store")
)

// write renders rep with the given HTTP status: compact JSON, status then
// msg, non-ASCII as UTF-8, no trailing newline (a servlet writing its JSON
// string). err is the failure answered, nil on success; a RateLimited one,
// or a shed one (Unavailable: no hash slot in time), adds Retry-After.
func write(w http.ResponseWriter, status int, rep reply, err error) {
	body, jerr := json.Marshal(rep)
	if jerr != nil { // cannot happen: an int and a string
		body = []byte(`{"status":-2,"msg":"服务器繁忙，请稍后再试"}`)
	}
	h := w.Header()
	h["Content-Type"] = hvContentType
	h["Cache-Control"] = hvNoStore // a reply may set a session cookie
	gateway.SetRetryAfter(w, err)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
