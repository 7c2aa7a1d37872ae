package core_test

import (
	"testing"

	"legacyauth/core"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string // "" means Invalid
	}{
		{"Mainland", "13812341234", "+8613812341234"},
		{"MainlandSpaces", " \t13812341234\n", "+8613812341234"},
		{"MainlandE164", "+8613812341234", "+8613812341234"},
		{"MainlandE164Spaces", " +8613812341234 ", "+8613812341234"},
		{"US", "+14155552671", "+14155552671"},
		{"UK", "+447911123456", "+447911123456"},
		{"ShortestE164", "+12345678", "+12345678"},
		{"LongestE164", "+123456789012345", "+123456789012345"},

		{"Empty", "", ""},
		{"Blank", "   ", ""},
		{"Plus", "+", ""},
		{"TenDigits", "1381234123", ""},
		{"TwelveDigits", "138123412345", ""},
		{"NotStartingWith1", "23812341234", ""},
		{"NationalWithZero", "013812341234", ""},
		{"NoPlus", "8613812341234", ""},
		{"DoublePlus", "++8613812341234", ""},
		{"LeadingZeroCountry", "+0123456789", ""},
		{"TooShortE164", "+1234567", ""},
		{"TooLongE164", "+1234567890123456", ""},
		{"PlusMainlandNotMobile", "+862112345678", ""},
		{"PlusMainlandShort", "+86138123412", ""},
		{"PlusMainlandLong", "+86138123412345", ""},
		{"Dashes", "138-1234-1234", ""},
		{"InnerSpace", "+86 13812341234", ""},
		{"Letters", "1381234abcd", ""},
		{"FullWidthDigits", "１３８１２３４１２３４", ""},
		{"ArabicIndicDigits", "١٣٨١٢٣٤١٢٣٤", ""},
		{"InvalidUTF8", "1381234123\xff", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := core.NormalizePhone(tt.raw)
			if tt.want == "" {
				wantKind(t, err, core.Invalid)
				if got != "" {
					t.Errorf("returned %q with the error", got)
				}
				return
			}
			mustOK(t, err)
			if got != tt.want {
				t.Errorf("NormalizePhone(%q) = %q, want %q", tt.raw, got, tt.want)
			}
			// Normalizing is idempotent.
			if again, err := core.NormalizePhone(got); err != nil || again != got {
				t.Errorf("NormalizePhone(%q) = %q, %v; want it unchanged", got, again, err)
			}
		})
	}
}

func TestLocalPhone(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"Mainland", "+8613812341234", "13812341234"},
		{"Foreign", "+14155552671", "+14155552671"},
		{"AlreadyLocal", "13812341234", "13812341234"},
		{"Empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := core.LocalPhone(tt.in); got != tt.want {
				t.Errorf("LocalPhone(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMaskPhone(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"Local", "13812341234", "138****1234"},
		{"E164Mainland", "+8613812341234", "138****1234"},
		{"Foreign", "+14155552671", "+14****2671"},
		{"Short", "123456", "****"},
		{"Empty", "", "****"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := core.MaskPhone(tt.in); got != tt.want {
				t.Errorf("MaskPhone(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestIsMainlandMobile(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"13812341234", true},
		{"19999999999", true},
		{"+8613812341234", false},
		{"23812341234", false},
		{"1381234123", false},
		{"138123412345", false},
		{"1381234123a", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := core.IsMainlandMobile(tt.in); got != tt.want {
				t.Errorf("IsMainlandMobile(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParsePurpose(t *testing.T) {
	for _, p := range []core.Purpose{core.PurposeAny, core.PurposeRegister, core.PurposeReset} {
		t.Run(p.String(), func(t *testing.T) {
			got, ok := core.ParsePurpose(p.String())
			if !ok || got != p {
				t.Errorf("ParsePurpose(%q) = %v, %v", p.String(), got, ok)
			}
		})
	}
	t.Run("Unknown", func(t *testing.T) {
		if _, ok := core.ParsePurpose("login"); ok {
			t.Errorf("accepted an unknown purpose")
		}
		if core.Purpose(9).String() != "unknown" {
			t.Errorf("Purpose(9) = %q", core.Purpose(9).String())
		}
	})
}
