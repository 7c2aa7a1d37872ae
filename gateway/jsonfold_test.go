package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// foldKey agrees with strings.EqualFold, which is how encoding/json
// matches a key to a field, on the runes whose folding is surprising.
func TestFoldKeyIsEqualFold(t *testing.T) {
	names := []string{"phone", "Phone", "PHONE", "pHoNe", "password", "pasſword", "PASSWORD", "key", "\u212Aey", "KEY",
		"ß", "ẞ", "ss", "Σ", "σ", "ς", "θ", "ϑ", "Θ", "µ", "Μ", "μ", "i", "I", "İ", "ı", "手机", "", "a_b", "A_B"}
	for _, a := range names {
		for _, b := range names {
			if got, want := foldKey(a) == foldKey(b), strings.EqualFold(a, b); got != want {
				t.Errorf("%q, %q: foldKey equal %v, EqualFold %v", a, b, got, want)
			}
		}
	}
}

// encoding/json binds every case variant of a key to one field: the
// gateway's two JSON readers refuse variants with different values (as
// exact repeats), keep those with the same value, and do so the same way
// with a handful of keys (linear search) and with many (a map).
func TestCaseFoldedKeys(t *testing.T) {
	var v struct{ Password string }
	if err := json.Unmarshal([]byte(`{"password":"a","pasſword":"b"}`), &v); err != nil || v.Password != "b" {
		t.Fatalf("encoding/json no longer binds the last variant (%q, %v): revisit why this is refused", v.Password, err)
	}
	many := ""
	for i := range 40 {
		many += fmt.Sprintf(`"k%d":"v",`, i)
	}
	for _, pad := range []string{"", many} {
		for body, refused := range map[string]bool{
			`{` + pad + `"phone":"1","Phone":"2"}`:             true,
			`{` + pad + `"phone":"1","PHONE":"2"}`:             true,
			`{` + pad + `"password":"1","pasſword":"2"}`:       true,
			`{` + pad + `"key":"1","\u212Aey":"2"}`:            true,
			`{` + pad + `"phone":"1","Phone":"1","PHONE":"2"}`: true,
			`{` + pad + `"phone":"1","phone":"2"}`:             true,
			`{` + pad + `"phone":"1","Phone":"1"}`:             false,
			`{` + pad + `"phone":"1","phone":"1"}`:             false,
			`{` + pad + `"phone":"1","phones":"2"}`:            false,
		} {
			_, err := decodeJSONObject([]byte(body))
			if got := err != nil; got != refused {
				t.Errorf("decodeJSONObject(%.60s…): refused %v, want %v (%v)", body[len(pad):], got, refused, err)
			}
			if refused && err != nil && !strings.Contains(err.Error(), "重复且取值不同") {
				t.Errorf("decodeJSONObject: %v, want the repeated-parameter reply", err)
			}
			if got := CheckJSONText([]byte(body)) != nil; got != refused {
				t.Errorf("CheckJSONText(%.60s…): refused %v, want %v", body[len(pad):], got, refused)
			}
		}
	}
}

// A request's keys, in lower case as the contracts spell them, are
// checked without an allocation more than before (54 for decodeJSONObject
// and 43 for CheckJSONText on a three-key body, with Go 1.26, both before
// and after): foldKey returns them as they are.
func TestFoldKeyAllocs(t *testing.T) {
	if foldKey("device_identifier") != "device_identifier" || testing.AllocsPerRun(100, func() { _ = foldKey("device_identifier") }) != 0 {
		t.Error("foldKey allocates for a lower-case key")
	}
}
