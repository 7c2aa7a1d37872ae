package migrate

import (
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
)

// A path variable that is not a plain value never goes to the old server
// (which may normalise /sendsms/.. into another endpoint).
func TestCleanPathVars(t *testing.T) {
	for v, want := range map[string]bool{
		"13800000000": true, "+8613800000000": true, "abc-DEF": true,
		"..": false, ".": false, "a/b": false, `a\b`: false, "%2e%2e": false, "1?x=1": false, "": true,
	} {
		r := mux.SetURLVars(httptest.NewRequest("GET", "/x", nil), map[string]string{"mobile": v})
		if got := cleanPathVars(r); got != want {
			t.Errorf("cleanPathVars(%q) = %v, want %v", v, got, want)
		}
	}
}
