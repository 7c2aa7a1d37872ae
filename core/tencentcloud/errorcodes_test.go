package tencentcloud

import (
	"testing"
	"time"

	"legacyauth/core"
)

func TestClassifyTable(t *testing.T) {
	// Noon in China: the daily limits wait 12 hours.
	now := time.Date(2025, 6, 1, 4, 0, 0, 0, time.UTC)
	const day = 12 * time.Hour
	cases := []struct {
		code  string
		kind  core.Kind
		retry time.Duration
	}{
		// The number's own limits: no failover.
		{"LimitExceeded.PhoneNumberDailyLimit", core.RateLimited, day},
		{"LimitExceeded.PhoneNumberSameContentDailyLimit", core.RateLimited, day},
		{"LimitExceeded.PhoneNumberOneHourLimit", core.RateLimited, time.Hour},
		{"LimitExceeded.PhoneNumberThirtySecondLimit", core.RateLimited, 30 * time.Second},
		{"LimitExceeded.DeliveryFrequencyLimit", core.RateLimited, time.Minute},
		// The number: no failover.
		{"InvalidParameterValue.IncorrectPhoneNumber", core.Invalid, 0},
		{"FailedOperation.PhoneNumberInBlacklist", core.Invalid, 0},
		{"FailedOperation.PhoneNumberOnBlacklist", core.Invalid, 0},
		{"UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber", core.Invalid, 0},
		{"UnsupportedOperation.UnsuportedRegion", core.Invalid, 0},
		{"UnsupportedOperation.UnsupportedRegion", core.Invalid, 0},
		{"MissingParameter.EmptyPhoneNumberSet", core.Invalid, 0},
		// The account or the provider: the next provider is tried.
		{"AuthFailure.SignatureFailure", core.SMSFailed, 0},
		{"AuthFailure.SecretIdNotFound", core.SMSFailed, 0},
		{"AuthFailure.InvalidSecretId", core.SMSFailed, 0},
		{"AuthFailure.SignatureExpire", core.SMSFailed, 0},
		{"AuthFailure.UnauthorizedOperation", core.SMSFailed, 0},
		{"FailedOperation.SignatureIncorrectOrUnapproved", core.SMSFailed, 0},
		{"FailedOperation.TemplateIncorrectOrUnapproved", core.SMSFailed, 0},
		{"FailedOperation.InsufficientBalanceInSmsPackage", core.SMSFailed, 0},
		{"FailedOperation.ContainSensitiveWord", core.SMSFailed, 0},
		{"InvalidParameterValue.TemplateParameterFormatError", core.SMSFailed, 0},
		{"InvalidParameterValue.SdkAppIdNotExist", core.SMSFailed, 0},
		{"UnauthorizedOperation.SmsSdkAppIdVerifyFail", core.SMSFailed, 0},
		{"UnauthorizedOperation.SerivceSuspendDueToArrears", core.SMSFailed, 0},
		{"UnauthorizedOperation.RequestIpNotInWhitelist", core.SMSFailed, 0},
		{"LimitExceeded.AppDailyLimit", core.SMSFailed, 0},
		{"LimitExceeded.DailyLimit", core.SMSFailed, 0},
		{"RequestLimitExceeded", core.SMSFailed, 0},
		{"InternalError", core.SMSFailed, 0},
		{"InternalError.Timeout", core.SMSFailed, 0},
		{"InternalError.SendAndRecvFail", core.SMSFailed, 0},
		{"InternalError.OtherError", core.SMSFailed, 0},
		// Unknown codes, and near misses of known ones.
		{"", core.SMSFailed, 0},
		{"SomethingNew", core.SMSFailed, 0},
		{"AuthFailure.SomethingNew", core.SMSFailed, 0},
		{"limitexceeded.phonenumberdailylimit", core.SMSFailed, 0},
		{"LimitExceeded.PhoneNumberWeeklyLimit", core.SMSFailed, 0},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		seen[c.code] = true
		kind, retry := classify(c.code, now)
		if kind != c.kind || retry != c.retry {
			t.Errorf("classify(%q) = %v, %v; want %v, %v", c.code, kind, retry, c.kind, c.retry)
		}
	}
	// Every code the table does not make SMSFailed is listed above: a
	// code cannot stop the failover without a test saying so.
	for code, o := range errorKinds {
		if o.kind != core.SMSFailed && !seen[code] {
			t.Errorf("table maps %q to %v but this test does not list it", code, o.kind)
		}
		if o.kind != core.RateLimited && o.retryAfter != 0 {
			t.Errorf("%q has a RetryAfter but is not RateLimited", code)
		}
		if o.kind == core.RateLimited && o.retryAfter == 0 {
			t.Errorf("%q is RateLimited without a RetryAfter", code)
		}
		if o.kind != core.SMSFailed && o.kind != core.RateLimited && o.kind != core.Invalid {
			t.Errorf("%q maps to %v, which the failover does not handle", code, o.kind)
		}
	}
}

func TestDailyLimitWaitsUntilChinaMidnight(t *testing.T) {
	cases := []struct {
		now  time.Time
		want time.Duration
	}{
		{time.Date(2025, 6, 1, 15, 59, 0, 0, time.UTC), time.Minute},                                       // 23:59 in China
		{time.Date(2025, 6, 1, 16, 0, 0, 0, time.UTC), 24 * time.Hour},                                     // 00:00 in China
		{time.Date(2025, 12, 31, 23, 0, 0, 0, chinaTime), time.Hour},                                       // year end
		{time.Date(2025, 3, 9, 1, 30, 0, 0, time.FixedZone("EST", -5*3600)), 9*time.Hour + 30*time.Minute}, // 14:30 in China
	}
	for _, c := range cases {
		kind, got := classify("LimitExceeded.PhoneNumberDailyLimit", c.now)
		if kind != core.RateLimited || got != c.want {
			t.Errorf("at %v: %v, %v; want rate_limited, %v", c.now, kind, got, c.want)
		}
	}
}
