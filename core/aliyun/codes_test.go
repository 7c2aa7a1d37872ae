package aliyun

import (
	"testing"

	"legacyauth/core"
)

// documentedCodes restates the error table from the documentation, with the
// HTTP status each code comes with (business codes in a 200 reply) and a
// message like Alibaba Cloud's, for the fake to send.
var documentedCodes = []struct {
	code    string
	kind    core.Kind
	status  int
	message string
}{
	{"isv.BUSINESS_LIMIT_CONTROL", core.RateLimited, 200, "触发分钟级流控Permits:1"},
	{"isv.MOBILE_NUMBER_ILLEGAL", core.Invalid, 200, "非法手机号"},
	{"isv.MOBILE_COUNT_OVER_LIMIT", core.Invalid, 200, "手机号码数量超过限制"},

	{"isv.SMS_SIGNATURE_ILLEGAL", core.SMSFailed, 200, "该账号下找不到对应签名"},
	{"isv.SMS_SIGN_ILLEGAL", core.SMSFailed, 200, "签名禁止使用"},
	{"isv.SIGN_STATE_ILLEGAL", core.SMSFailed, 200, "签名状态为不可用"},
	{"isv.SMS_SIGNATURE_SCENE_ILLEGAL", core.SMSFailed, 200, "签名和模板类型不一致"},
	{"isv.SMS_TEMPLATE_ILLEGAL", core.SMSFailed, 200, "该账号下找不到对应模板"},
	{"isv.TEMPLATE_MISSING_PARAMETERS", core.SMSFailed, 200, "模板缺少变量"},
	{"isv.INVALID_JSON_PARAM", core.SMSFailed, 200, "JSON参数不合法，只接受字符串值"},
	{"isv.INVALID_PARAMETERS", core.SMSFailed, 200, "参数异常"},
	{"isv.PARAM_LENGTH_LIMIT", core.SMSFailed, 200, "参数超出长度限制"},
	{"isv.PARAM_NOT_SUPPORT_URL", core.SMSFailed, 200, "不支持URL"},
	{"isv.BLACK_KEY_CONTROL_LIMIT", core.SMSFailed, 200, "黑名单管控"},
	{"isv.SMS_CONTENT_ILLEGAL", core.SMSFailed, 200, "短信内容包含禁止发送内容"},
	{"isv.EXTEND_CODE_ERROR", core.SMSFailed, 200, "扩展码使用错误"},
	{"isv.DOMESTIC_NUMBER_NOT_SUPPORTED", core.SMSFailed, 200, "国际/港澳台消息模板不支持发送境内号码"},
	{"isv.DENY_IP_RANGE", core.SMSFailed, 200, "源IP地址所在的地区被禁用"},
	{"isv.DAY_LIMIT_CONTROL", core.SMSFailed, 200, "触发日发送限额"},
	{"isv.MONTH_LIMIT_CONTROL", core.SMSFailed, 200, "触发月发送限额"},
	{"isv.AMOUNT_NOT_ENOUGH", core.SMSFailed, 200, "账户余额不足"},
	{"isv.OUT_OF_SERVICE", core.SMSFailed, 200, "业务停机"},
	{"isv.PRODUCT_UN_SUBSCRIPT", core.SMSFailed, 200, "未开通云通信产品的阿里云客户"},
	{"isv.PRODUCT_UNSUBSCRIBE", core.SMSFailed, 200, "产品未开通"},
	{"isv.ACCOUNT_NOT_EXISTS", core.SMSFailed, 200, "账户不存在"},
	{"isv.ACCOUNT_ABNORMAL", core.SMSFailed, 200, "账户异常"},
	{"isp.RAM_PERMISSION_DENY", core.SMSFailed, 200, "RAM权限DENY"},
	{"isp.SYSTEM_ERROR", core.SMSFailed, 200, "系统错误"},

	{"InvalidAccessKeyId.NotFound", core.SMSFailed, 404, "Specified access key is not found."},
	{"InvalidAccessKeyId.Inactive", core.SMSFailed, 400, "Specified access key is disabled."},
	{"SignatureDoesNotMatch", core.SMSFailed, 400, "Specified signature is not matched with our calculation."},
	{"IncompleteSignature", core.SMSFailed, 400, "The request signature does not conform to Aliyun standards."},
	{"SignatureNonceUsed", core.SMSFailed, 400, "Specified signature nonce was used already."},
	{"InvalidTimeStamp.Expired", core.SMSFailed, 400, "Specified time stamp or date value is expired."},
	{"InvalidTimeStamp.Format", core.SMSFailed, 400, "Specified time stamp or date value is not well formatted."},
	{"MissingParameter", core.SMSFailed, 400, "PhoneNumbers is mandatory for this action."},
	{"Forbidden.RAM", core.SMSFailed, 403, "User not authorized to operate on the specified resource."},
	{"Throttling.User", core.SMSFailed, 400, "Request was denied due to user flow control."},
	{"InternalError", core.SMSFailed, 500, "The request processing has failed due to some unknown error."},
	{"ServiceUnavailable", core.SMSFailed, 503, "The request has failed due to a temporary failure of the server."},
}

func TestKindOf(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range documentedCodes {
		seen[c.code] = true
		if got := kindOf(c.code); got != c.kind {
			t.Errorf("kindOf(%q) = %v, want %v", c.code, got, c.kind)
		}
	}
	// The table and this restatement of the documentation must agree.
	for code := range codes {
		if !seen[code] {
			t.Errorf("code %q is in the table but not in the documented list", code)
		}
	}
	for _, unknown := range []string{"", "isv.SOMETHING_NEW", "OK", "isv.business_limit_control"} {
		if got := kindOf(unknown); got != core.SMSFailed {
			t.Errorf("kindOf(%q) = %v, want SMSFailed", unknown, got)
		}
	}
}
