package pathtpl

import (
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// A simple template matches what mux's Path matches, with the same
// variable value; templates that are not simple are left to mux.
func TestTemplateIsMuxPath(t *testing.T) {
	templates := []string{"/register", "/", "/api/v4.0/isregister/{phone}", "/api/v4.0/sendsms/{mobile}", "/sendsms/{mobile}",
		"/caraccessories/app/login", "/{x}", "/a.b+c(d)/{v}", "/v1/avatars/{name}", "/trailing/"}
	paths := []string{"", "/", "/register", "/register/", "/Register", "/registerx", "//register", "/api/v4.0/isregister/",
		"/api/v4.0/isregister/13812345678", "/api/v4.0/isregister/+86 138", "/api/v4.0/isregister/a/b", "/api/v4.0/isregister//",
		"/api/v4X0/isregister/1", "/api/v4.0/isregister/\n", "/api/v4.0/isregister/\xff\xfe", "/api/v4.0/isregister/%2F",
		"/a.b+c(d)/1", "/aXb+c(d)/1", "/trailing", "/trailing/", "/x", "/x/", "/v1/avatars/ab.jpg"}
	rng := rand.New(rand.NewPCG(7, 8))
	alphabet := []string{"/", "a", "register", "api", "v4.0", ".", "isregister", "{", "}", "\n", "\xff", "1", " ", "%2F"}
	for range 3000 {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		paths = append(paths, b.String())
	}
	for _, tpl := range templates {
		pt, ok := Parse(tpl)
		if !ok {
			t.Fatalf("%q: not simple", tpl)
		}
		route := mux.NewRouter().Path(tpl)
		for _, p := range append(paths, tpl, pt.Literal, pt.Literal+"v", pt.Literal+"v/") {
			r := httptest.NewRequest("GET", "/", nil)
			r.URL.Path = p
			var rm mux.RouteMatch
			want := route.Match(r, &rm)
			got, gotOK := pt.Match(p)
			if gotOK != want || pt.Var != "" && want && rm.Vars[pt.Var] != got {
				t.Fatalf("template %q, path %q: match %v %q, mux %v %v", tpl, p, gotOK, got, want, rm.Vars)
			}
		}
	}
	for _, tpl := range []string{"/a/{id:[0-9]+}", "/{a}/{b}", "/{a}/x", "/a}", "/a/{}", "/a/{b{c}", "login", "", "{x}"} {
		if _, ok := Parse(tpl); ok {
			t.Errorf("%q: taken as simple, want it left to mux", tpl)
		}
	}
}
