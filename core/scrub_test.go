package core_test

import (
	"strings"
	"testing"

	"legacyauth/core"
)

func TestScrubProviderText(t *testing.T) {
	const phone, code, secret = "+8613812345678", "246810", "s3cr3t-token-value"
	for _, text := range []string{
		"To +8613812345678 refused",
		"number 8613812345678 is blocked",
		"手机号13812345678无效",
		"code 246810 with key s3cr3t-token-value",
		strings.Repeat("x", 295) + "+8613812345678 " + secret, // straddles the cut
	} {
		got := core.ScrubProviderText(text, phone, code, secret)
		for _, leak := range []string{"13812345678", code, secret, "s3cr3t"} {
			if strings.Contains(got, leak) {
				t.Errorf("ScrubProviderText(%q) = %q: holds %q", text, got, leak)
			}
		}
		if len(got) > 303 {
			t.Errorf("ScrubProviderText(%q) is %d bytes, want at most 300 and the ellipsis", text, len(got))
		}
	}
}
