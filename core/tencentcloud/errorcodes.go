package tencentcloud

import (
	"time"

	"legacyauth/core"
)

// outcome is what the failover chain must do with one Tencent Cloud error
// code: its kind and, for RateLimited, how long the caller should wait.
type outcome struct {
	kind       core.Kind
	retryAfter time.Duration // untilNextDay: until the next midnight, China time
}

// untilNextDay marks the per-number daily limits: Tencent counts them per
// natural day in China Standard Time, so the wait ends at the next midnight
// there, not 24 hours later.
const untilNextDay time.Duration = -1

// errorKinds maps the documented error codes of SMS SendSms (API 2021-01-11)
// and the common API 3.0 error codes to kinds. Sources: the error code
// constants of tencentcloud-sdk-go sms/v20210111/errors.go (Chinese and
// international editions), the SMS "API 3.0 send error codes" page
// (cloud.tencent.com/document/api/382/59177) and the common error codes page
// (cloud.tencent.com/document/api/382/52075). The same codes come back both
// as a call's Error.Code and as a number's SendStatusSet[].Code.
//
// Only the number's own limits are RateLimited and only a bad or refused
// number is Invalid: another provider would hit the same wall, and trying it
// would spend money for nothing (or let a pumper bypass Tencent's limits).
// Everything else is about this account or this provider (credentials,
// signature, template, balance, account-wide quotas, outages): the next
// provider may well succeed, so it is SMSFailed. Codes not listed here are
// SMSFailed too (see classify).
var errorKinds = map[string]outcome{
	// The number's own frequency limits (console: 30 s / 1 h / day).
	"LimitExceeded.PhoneNumberThirtySecondLimit":     {core.RateLimited, 30 * time.Second},
	"LimitExceeded.PhoneNumberOneHourLimit":          {core.RateLimited, time.Hour},
	"LimitExceeded.PhoneNumberDailyLimit":            {core.RateLimited, untilNextDay},
	"LimitExceeded.PhoneNumberSameContentDailyLimit": {core.RateLimited, untilNextDay},
	// The pre-2021 name of the same per-number frequency policy, still
	// listed on the send error code page.
	"LimitExceeded.DeliveryFrequencyLimit": {core.RateLimited, time.Minute},

	// The number is malformed, opted out, or outside what can be sent to.
	"InvalidParameterValue.IncorrectPhoneNumber":                      {core.Invalid, 0},
	"FailedOperation.PhoneNumberInBlacklist":                          {core.Invalid, 0},
	"FailedOperation.PhoneNumberOnBlacklist":                          {core.Invalid, 0}, // international SDK's spelling
	"UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber": {core.Invalid, 0},
	"UnsupportedOperation.UnsuportedRegion":                           {core.Invalid, 0}, // sic, as the SDK spells it
	"UnsupportedOperation.UnsupportedRegion":                          {core.Invalid, 0}, // as the docs page spells it
	"MissingParameter.EmptyPhoneNumberSet":                            {core.Invalid, 0},

	// Account-wide quotas: another provider's account is not affected.
	"LimitExceeded.AppDailyLimit":                       {core.SMSFailed, 0},
	"LimitExceeded.DailyLimit":                          {core.SMSFailed, 0},
	"LimitExceeded.PhoneNumberCountLimit":               {core.SMSFailed, 0},
	"RequestLimitExceeded":                              {core.SMSFailed, 0},
	"RequestLimitExceeded.GlobalRegionUinLimitExceeded": {core.SMSFailed, 0},
	"RequestLimitExceeded.IPLimitExceeded":              {core.SMSFailed, 0},
	"RequestLimitExceeded.UinLimitExceeded":             {core.SMSFailed, 0},
	"LimitExceeded":                                     {core.SMSFailed, 0},

	// Credentials and permissions.
	"AuthFailure.InvalidAuthorization":                               {core.SMSFailed, 0},
	"AuthFailure.InvalidSecretId":                                    {core.SMSFailed, 0},
	"AuthFailure.MFAFailure":                                         {core.SMSFailed, 0},
	"AuthFailure.SecretIdNotFound":                                   {core.SMSFailed, 0},
	"AuthFailure.SignatureExpire":                                    {core.SMSFailed, 0},
	"AuthFailure.SignatureFailure":                                   {core.SMSFailed, 0},
	"AuthFailure.TokenFailure":                                       {core.SMSFailed, 0},
	"AuthFailure.UnauthorizedOperation":                              {core.SMSFailed, 0},
	"UnauthorizedOperation.RequestIpNotInWhitelist":                  {core.SMSFailed, 0},
	"UnauthorizedOperation.RequestPermissionDeny":                    {core.SMSFailed, 0},
	"UnauthorizedOperation.SdkAppIdIsDisabled":                       {core.SMSFailed, 0},
	"UnauthorizedOperation.SdkAppidIsDisabled":                       {core.SMSFailed, 0},
	"UnauthorizedOperation.SerivceSuspendDueToArrears":               {core.SMSFailed, 0}, // sic
	"UnauthorizedOperation.SmsSdkAppIdVerifyFail":                    {core.SMSFailed, 0},
	"UnauthorizedOperation.SmsSdkAppidVerifyFail":                    {core.SMSFailed, 0},
	"UnauthorizedOperation.IndividualUserMarketingSmsPermissionDeny": {core.SMSFailed, 0},
	"InvalidParameter.AppidAndBizId":                                 {core.SMSFailed, 0},
	"InvalidParameterValue.SdkAppIdNotExist":                         {core.SMSFailed, 0},
	"IpInBlacklist":                                                  {core.SMSFailed, 0},
	"IpNotInWhitelist":                                               {core.SMSFailed, 0},

	// Sign name, template and content.
	"FailedOperation.SignatureIncorrectOrUnapproved":            {core.SMSFailed, 0},
	"FailedOperation.TemplateIncorrectOrUnapproved":             {core.SMSFailed, 0},
	"FailedOperation.MissingSignatureList":                      {core.SMSFailed, 0},
	"FailedOperation.MissingTemplateList":                       {core.SMSFailed, 0},
	"InvalidParameterValue.MissingSignatureList":                {core.SMSFailed, 0},
	"FailedOperation.ContainSensitiveWord":                      {core.SMSFailed, 0},
	"InvalidParameter.DirtyWordFound":                           {core.SMSFailed, 0},
	"InvalidParameterValue.ContentLengthLimit":                  {core.SMSFailed, 0},
	"InvalidParameterValue.TemplateParameterFormatError":        {core.SMSFailed, 0},
	"InvalidParameterValue.TemplateParameterLengthLimit":        {core.SMSFailed, 0},
	"InvalidParameterValue.ProhibitedUseUrlInTemplateParameter": {core.SMSFailed, 0},
	"FailedOperation.MarketingSendTimeConstraint":               {core.SMSFailed, 0},

	// Balance.
	"FailedOperation.InsufficientBalanceInSmsPackage": {core.SMSFailed, 0},

	// Malformed requests (a bug here, or an API change) and provider faults.
	"FailedOperation.FailResolvePacket":      {core.SMSFailed, 0},
	"FailedOperation.JsonParseFail":          {core.SMSFailed, 0},
	"FailedOperation.OtherError":             {core.SMSFailed, 0},
	"FailedOperation.ParametersOtherError":   {core.SMSFailed, 0},
	"FailedOperation":                        {core.SMSFailed, 0},
	"InvalidParameter":                       {core.SMSFailed, 0},
	"InvalidParameter.InvalidParameters":     {core.SMSFailed, 0},
	"InvalidParameterValue":                  {core.SMSFailed, 0},
	"MissingParameter":                       {core.SMSFailed, 0},
	"InvalidAction":                          {core.SMSFailed, 0},
	"ActionOffline":                          {core.SMSFailed, 0},
	"NoSuchProduct":                          {core.SMSFailed, 0},
	"NoSuchVersion":                          {core.SMSFailed, 0},
	"UnsupportedOperation":                   {core.SMSFailed, 0},
	"UnsupportedOperation.":                  {core.SMSFailed, 0}, // sic, listed by the SDK
	"InternalError":                          {core.SMSFailed, 0},
	"InternalError.JsonParseFail":            {core.SMSFailed, 0},
	"InternalError.OtherError":               {core.SMSFailed, 0},
	"InternalError.RequestTimeException":     {core.SMSFailed, 0},
	"InternalError.RestApiInterfaceNotExist": {core.SMSFailed, 0},
	"InternalError.SendAndRecvFail":          {core.SMSFailed, 0},
	"InternalError.SigFieldMissing":          {core.SMSFailed, 0},
	"InternalError.SigVerificationFail":      {core.SMSFailed, 0},
	"InternalError.Timeout":                  {core.SMSFailed, 0},
	"InternalError.UnknownError":             {core.SMSFailed, 0},
	"ResourceUnavailable":                    {core.SMSFailed, 0},
	"ServiceUnavailable":                     {core.SMSFailed, 0},
}

// chinaTime is China Standard Time (UTC+8, no daylight saving), fixed so
// that no tzdata is needed.
var chinaTime = time.FixedZone("CST", 8*3600)

// classify returns the kind of a Tencent Cloud error code and, for
// RateLimited, how long to wait from now. Unknown codes are SMSFailed: a
// code we do not know is no reason to stop the failover.
func classify(code string, now time.Time) (core.Kind, time.Duration) {
	o, ok := errorKinds[code]
	if !ok {
		return core.SMSFailed, 0
	}
	if o.retryAfter == untilNextDay {
		t := now.In(chinaTime)
		midnight := time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, chinaTime)
		return o.kind, midnight.Sub(t)
	}
	return o.kind, o.retryAfter
}
