package twilio

import (
	"testing"

	"legacyauth/core"
)

// The expected kinds are written out here, not read from errorCodes, so a
// change to the table has to be made twice, on purpose.
func TestKindTable(t *testing.T) {
	for _, c := range []struct {
		code, status int
		want         core.Kind
	}{
		// The recipient number: no failover.
		{21211, 400, core.Invalid},
		{21265, 400, core.Invalid},
		{21266, 400, core.Invalid},
		{21268, 400, core.Invalid},
		{21408, 400, core.Invalid},
		{21610, 400, core.Invalid},
		{21614, 400, core.Invalid},
		{21635, 400, core.Invalid},
		// The number's own limit: no failover, the user waits.
		{14107, 400, core.RateLimited},
		// The account, sender, body or Twilio: the next provider is tried.
		{20003, 401, core.SMSFailed},
		{20429, 429, core.SMSFailed},
		{21608, 400, core.SMSFailed},
		{30002, 400, core.SMSFailed},
		{63017, 400, core.SMSFailed},
		{63038, 400, core.SMSFailed},
		{21212, 400, core.SMSFailed},
		{21601, 400, core.SMSFailed},
		{21606, 400, core.SMSFailed},
		{21611, 400, core.SMSFailed},
		{21612, 400, core.SMSFailed},
		{21659, 400, core.SMSFailed},
		{21660, 400, core.SMSFailed},
		{21602, 400, core.SMSFailed},
		{21617, 400, core.SMSFailed},
		{30007, 400, core.SMSFailed},
		// Unknown codes, no code, and any 5xx.
		{99999, 400, core.SMSFailed},
		{0, 400, core.SMSFailed},
		{20500, 500, core.SMSFailed},
		{21211, 503, core.SMSFailed},
		{14107, 500, core.SMSFailed},
	} {
		if got, _ := kindOf(c.code, c.status); got != c.want {
			t.Errorf("kindOf(%d, %d) = %v, want %v", c.code, c.status, got, c.want)
		}
	}
	for code, ci := range errorCodes {
		if ci.Desc == "" {
			t.Errorf("%d has no description", code)
		}
		if ci.Kind != core.Invalid && ci.Kind != core.RateLimited && ci.Kind != core.SMSFailed {
			t.Errorf("%d maps to %v, which the failover does not know", code, ci.Kind)
		}
	}
}
