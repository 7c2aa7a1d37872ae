package resultcode

import (
	"net/http"

	"legacyauth/core"
	"legacyauth/dialects/internal/pyjson"
	"legacyauth/gateway"
)

// Operations, as named in logs (gateway.SetOp), in the table below and in
// contracts/resultcode.yaml (operationId, x-status-codes).
const (
	opSend     = "send_code"     // GET /register
	opVerify   = "verify_code"   // POST /register without register=1
	opRegister = "register"      // POST /register with register=1
	opUpload   = "upload_avatar" // POST /upload
	opLogin    = "login"         // POST /log
	// opRegisterRoute names the /register route until its handler (or
	// Reject) knows which of the three operations a request is.
	opRegisterRoute = "register_dispatch"
)

// Result codes. The seed's codes, then the one the gateway adds.
const (
	rOK            = "0000" // 成功
	rRegistered    = "0001" // send: 该手机号已被注册
	rOther         = "0002" // send: 其他错误
	rCodeWrong     = "0004" // verify: 验证码错误
	rTooMany       = "0005" // verify: 验证码错误次数过多
	rUnknown       = "0006" // upload, register: 未知错误
	rNoUser        = "0007" // login: 用户不存在
	rWrongPassword = "0008" // login: 密码错误
	// rGateway is the gateway's own code for outcomes the seed's verify and
	// login tables cannot express (bad input, server trouble, limits);
	// its message always says what happened.
	rGateway = "0009"
)

// answer is one row of the table: the result code and the message. An
// empty Message renders JSON null, as the seed's None; a non-empty one is
// shown by the app, and is replaced by a more precise Chinese detail (a
// validator message) when the handler has one.
type answer struct {
	Result  string
	Message string
}

// Messages shared by several rows.
const (
	msgSystem   = "系统错误，请稍后再试"
	msgBusy     = "服务繁忙，请稍后再试"
	msgTooOften = "操作过于频繁，请稍后再试"
	msgVerify   = "请先验证手机号"
)

// table maps (operation, core kind) to the reply of a failure. Success is
// always "0000" with a string message (see the handlers). Where the seed
// says message is None (send, verify, upload, login's 0007 and 0008) the
// message stays null; register's 0006 and the gateway's 0009 carry text.
// TestTableTotal keeps every kind answered for every operation, and
// TestContractMatchesTable keeps contracts/resultcode.yaml in step.
var table = map[string]map[core.Kind]answer{
	opSend: {
		core.Internal:          {rOther, ""},
		core.Invalid:           {rOther, ""}, // bad or missing userId
		core.NotRegistered:     {rOther, ""},
		core.AlreadyRegistered: {rRegistered, ""},
		core.WrongPassword:     {rOther, ""},
		core.CodeWrong:         {rOther, ""},
		core.CodeExpired:       {rOther, ""},
		core.TooManyAttempts:   {rOther, ""},
		core.RateLimited:       {rOther, ""}, // + Retry-After
		core.SMSFailed:         {rOther, ""},
		core.Unauthorized:      {rOther, ""},
		core.NotFound:          {rOther, ""},
		core.Unavailable:       {rOther, ""},
	},
	opVerify: {
		core.Internal:          {rGateway, msgSystem},
		core.Invalid:           {rCodeWrong, ""}, // missing or non-numeric code
		core.NotRegistered:     {rGateway, msgSystem},
		core.AlreadyRegistered: {rGateway, msgSystem},
		core.WrongPassword:     {rGateway, msgSystem},
		core.CodeWrong:         {rCodeWrong, ""},
		core.CodeExpired:       {rCodeWrong, ""},
		core.TooManyAttempts:   {rTooMany, ""},
		core.RateLimited:       {rTooMany, ""}, // + Retry-After
		core.SMSFailed:         {rGateway, msgSystem},
		core.Unauthorized:      {rCodeWrong, ""},
		core.NotFound:          {rCodeWrong, ""}, // no flow: no cookie, or it expired
		core.Unavailable:       {rGateway, msgBusy},
	},
	opRegister: {
		core.Internal:          {rUnknown, msgSystem},
		core.Invalid:           {rUnknown, "注册信息格式错误"}, // or the validator's message
		core.NotRegistered:     {rUnknown, msgSystem},
		core.AlreadyRegistered: {rUnknown, "该手机号已被注册"},
		core.WrongPassword:     {rUnknown, msgSystem},
		core.CodeWrong:         {rUnknown, msgVerify},
		core.CodeExpired:       {rUnknown, msgVerify},
		core.TooManyAttempts:   {rUnknown, msgVerify},
		core.RateLimited:       {rUnknown, msgTooOften}, // + Retry-After
		core.SMSFailed:         {rUnknown, msgSystem},
		core.Unauthorized:      {rUnknown, msgVerify}, // ticket used or expired
		core.NotFound:          {rUnknown, msgVerify}, // no verified flow
		core.Unavailable:       {rUnknown, msgBusy},   // + Retry-After when shed (no hash slot in time)
	},
	opUpload: {
		core.Internal:          {rUnknown, ""},
		core.Invalid:           {rUnknown, ""}, // no img, empty, too large, not an image
		core.NotRegistered:     {rUnknown, ""},
		core.AlreadyRegistered: {rUnknown, ""},
		core.WrongPassword:     {rUnknown, ""},
		core.CodeWrong:         {rUnknown, ""},
		core.CodeExpired:       {rUnknown, ""},
		core.TooManyAttempts:   {rUnknown, ""},
		core.RateLimited:       {rUnknown, ""}, // + Retry-After
		core.SMSFailed:         {rUnknown, ""},
		core.Unauthorized:      {rUnknown, ""},
		core.NotFound:          {rUnknown, ""},
		core.Unavailable:       {rUnknown, ""},
	},
	opLogin: {
		core.Internal:          {rGateway, msgSystem},
		core.Invalid:           {rGateway, "手机号或密码格式错误"}, // or the validator's message
		core.NotRegistered:     {rNoUser, ""},
		core.AlreadyRegistered: {rGateway, msgSystem},
		core.WrongPassword:     {rWrongPassword, ""},
		core.CodeWrong:         {rGateway, msgSystem},
		core.CodeExpired:       {rGateway, msgSystem},
		core.TooManyAttempts:   {rGateway, msgTooOften},
		core.RateLimited:       {rGateway, msgTooOften}, // + Retry-After
		core.SMSFailed:         {rGateway, msgSystem},
		core.Unauthorized:      {rGateway, msgSystem},
		core.NotFound:          {rGateway, msgSystem},
		core.Unavailable:       {rGateway, msgBusy}, // + Retry-After when shed (no hash slot in time)
	},
}

// lookup returns the table's row; an operation or kind missing from the
// table (a bug TestTableTotal catches) still gets a reply the app can show.
func lookup(op string, kind core.Kind) answer {
	if a, ok := table[op][kind]; ok {
		return a
	}
	return answer{rGateway, msgSystem}
}

// succeed writes "0000" with a string message (never null).
func succeed(w http.ResponseWriter, message string) {
	write(w, http.StatusOK, rOK, &message)
}

// fail writes the table's reply to err for op under status. detail, when
// not empty, replaces the row's message if the row carries one.
func (d *Dialect) fail(w http.ResponseWriter, op string, status int, err error, detail string) {
	a := lookup(op, core.KindOf(err))
	gateway.SetRetryAfter(w, err)
	if a.Message == "" {
		write(w, status, a.Result, nil)
		return
	}
	msg := a.Message
	if detail != "" {
		msg = detail
	}
	write(w, status, a.Result, &msg)
}

// The header values of every reply (gateway.HeaderValue).
var (
	hvJSON    = gateway.HeaderValue("application/json")
	hvNoStore = gateway.HeaderValue("no-store")
)

// write renders the body exactly as Pyramid's json renderer did.
func write(w http.ResponseWriter, status int, result string, message *string) {
	h := w.Header()
	h["Content-Type"] = hvJSON
	h["Cache-Control"] = hvNoStore
	w.WriteHeader(status)
	_, _ = w.Write(encode(result, message))
}

// encode returns {"result": <result>, "message": <message or null>} as
// Python's json.dumps wrote it with its defaults: separators ", " and
// ": ", ensure_ascii (every character outside printable ASCII as a
// lowercase \uXXXX escape, surrogate pairs beyond the BMP), keys in the
// order the view built the dict, no trailing newline.
func encode(result string, message *string) []byte {
	b := make([]byte, 0, 64)
	b = append(b, `{"result": `...)
	b = pyjson.AppendString(b, result)
	b = append(b, `, "message": `...)
	if message == nil {
		b = append(b, "null"...)
	} else {
		b = pyjson.AppendString(b, *message)
	}
	return append(b, '}')
}
