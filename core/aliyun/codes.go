package aliyun

import (
	"strings"
	"time"

	"legacyauth/core"
)

// codes maps the error codes Alibaba Cloud documents for SendSms (the
// "国内消息API错误码" / "Domestic SMS API error codes" page,
// help.aliyun.com/document_detail/101346.html, and Alibaba Cloud's OpenAPI
// common client errors) to what the failover chain must do:
//
//   - RateLimited: the number's own limit at Alibaba Cloud was reached;
//     another provider would only text the same person again, so no failover.
//   - Invalid: the number itself is wrong; every provider would refuse it.
//   - SMSFailed: anything about this account, its credentials, sign name,
//     template, balance or Alibaba Cloud itself; the next provider is tried.
//
// A code that is not listed is SMSFailed (kindOf).
var codes = map[string]core.Kind{
	// The number's own frequency limit for verification codes with one
	// sign name: 1/minute, 5/hour, 10/day by default (console-adjustable).
	"isv.BUSINESS_LIMIT_CONTROL": core.RateLimited,

	// The number.
	"isv.MOBILE_NUMBER_ILLEGAL": core.Invalid, // malformed phone number
	// More numbers than allowed in PhoneNumbers. Send passes exactly one,
	// so this means the one number was read as several: a bad number.
	"isv.MOBILE_COUNT_OVER_LIMIT": core.Invalid,

	// Sign name and template: this account's setup.
	"isv.SMS_SIGNATURE_ILLEGAL":         core.SMSFailed, // sign name unknown or not approved
	"isv.SMS_SIGN_ILLEGAL":              core.SMSFailed, // sign name barred
	"isv.SIGN_STATE_ILLEGAL":            core.SMSFailed, // sign name "unavailable"
	"isv.SMS_SIGNATURE_SCENE_ILLEGAL":   core.SMSFailed, // sign name kind does not fit the template kind
	"isv.SMS_TEMPLATE_ILLEGAL":          core.SMSFailed, // template unknown or not approved
	"isv.TEMPLATE_MISSING_PARAMETERS":   core.SMSFailed, // template variables not all given
	"isv.INVALID_JSON_PARAM":            core.SMSFailed, // TemplateParam not JSON of strings
	"isv.INVALID_PARAMETERS":            core.SMSFailed,
	"isv.PARAM_LENGTH_LIMIT":            core.SMSFailed,
	"isv.PARAM_NOT_SUPPORT_URL":         core.SMSFailed,
	"isv.BLACK_KEY_CONTROL_LIMIT":       core.SMSFailed, // a template variable holds a barred keyword
	"isv.SMS_CONTENT_ILLEGAL":           core.SMSFailed,
	"isv.EXTEND_CODE_ERROR":             core.SMSFailed,
	"isv.DOMESTIC_NUMBER_NOT_SUPPORTED": core.SMSFailed, // an international template used for a mainland number
	"isv.DENY_IP_RANGE":                 core.SMSFailed, // caller's IP outside the mainland
	"isv.DAY_LIMIT_CONTROL":             core.SMSFailed, // the account's own daily total, not the number's
	"isv.MONTH_LIMIT_CONTROL":           core.SMSFailed, // the account's own monthly total
	"isv.AMOUNT_NOT_ENOUGH":             core.SMSFailed, // balance
	"isv.OUT_OF_SERVICE":                core.SMSFailed, // suspended for balance
	"isv.PRODUCT_UN_SUBSCRIPT":          core.SMSFailed,
	"isv.PRODUCT_UNSUBSCRIBE":           core.SMSFailed,
	"isv.ACCOUNT_NOT_EXISTS":            core.SMSFailed,
	"isv.ACCOUNT_ABNORMAL":              core.SMSFailed,
	"isp.RAM_PERMISSION_DENY":           core.SMSFailed, // the key's RAM user lacks SMS permission
	"isp.SYSTEM_ERROR":                  core.SMSFailed, // Alibaba Cloud itself

	// OpenAPI common errors: credentials, signing, clock, permissions.
	"InvalidAccessKeyId.NotFound": core.SMSFailed,
	"InvalidAccessKeyId.Inactive": core.SMSFailed,
	"SignatureDoesNotMatch":       core.SMSFailed,
	"IncompleteSignature":         core.SMSFailed,
	"SignatureNonceUsed":          core.SMSFailed,
	"InvalidTimeStamp.Expired":    core.SMSFailed, // the host's clock is off by over 15 minutes
	"InvalidTimeStamp.Format":     core.SMSFailed,
	"MissingParameter":            core.SMSFailed,
	"Forbidden.RAM":               core.SMSFailed,
	"Throttling.User":             core.SMSFailed, // the account's API rate, not the number's
	"InternalError":               core.SMSFailed,
	"ServiceUnavailable":          core.SMSFailed,
}

// kindOf returns the kind for an Alibaba Cloud error code; unknown codes
// are SMSFailed, so a new code never stops the failover.
func kindOf(code string) core.Kind {
	if k, ok := codes[code]; ok {
		return k
	}
	return core.SMSFailed
}

// retryAfter reads which window isv.BUSINESS_LIMIT_CONTROL hit from its
// message ("触发分钟级流控Permits:1", "触发小时级流控Permits:5",
// "触发天级流控Permits:10"); one minute when it does not say.
func retryAfter(message string) time.Duration {
	m := strings.ToLower(message)
	switch {
	case strings.Contains(m, "天级") || strings.Contains(m, "day"):
		return 24 * time.Hour
	case strings.Contains(m, "小时") || strings.Contains(m, "hour"):
		return time.Hour
	default:
		return time.Minute
	}
}
