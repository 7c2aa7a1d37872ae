package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"legacyauth/dialects/apiv4"
	"legacyauth/dialects/caraccessories"
	"legacyauth/dialects/resultcode"
	"legacyauth/gateway"
	"legacyauth/internal/fuzzkit"
)

// The gateway's route matching (only routes whose literal beginning the
// path has) answers as each mount's gorilla/mux router does: same match,
// route, handler, variables and error, for every dialect route's path
// with variables good and bad, their prefixes, extensions, case and
// slash variants, under every method, with the dialects at their default
// prefixes and all at the root (where paths are shared).
func TestMountMatchIsRouterMatch(t *testing.T) {
	svc := fuzzkit.Service(t, nil)
	dialects := []gateway.Dialect{
		caraccessories.New(svc, caraccessories.Options{}),
		apiv4.New(svc, apiv4.Options{}),
		resultcode.New(svc, resultcode.Options{}),
	}
	defaults := map[string]string{caraccessories.Name: caraccessories.DefaultPrefix, apiv4.Name: apiv4.DefaultPrefix, resultcode.Name: resultcode.DefaultPrefix}
	for _, layout := range []string{"defaults", "root"} {
		var mounts []gateway.Mount
		var paths []string
		for _, d := range dialects {
			prefix := gateway.CleanPrefix(defaults[d.Name()])
			if layout == "root" {
				prefix = ""
			}
			mounts = append(mounts, gateway.Mount{Dialect: d, Prefix: prefix})
			for _, rt := range d.Routes() {
				p := prefix + rt.Path
				for _, v := range []string{"13812345678", "+8613812345678", "", "a/b", "%2F", "..", "x y"} {
					full := p
					if i := strings.Index(p, "{"); i >= 0 {
						full = p[:i] + v + p[strings.Index(p, "}")+1:]
					}
					paths = append(paths, full, full+"/", full+"x", strings.ToUpper(full), "/"+full)
				}
				for i := range len(p) {
					paths = append(paths, p[:i])
				}
			}
		}
		paths = append(paths, "/", "", "/no/such/path", "//login", "/v1/session")
		gw := gateway.New(gateway.Options{Mounts: mounts, Log: fuzzkit.Quiet})
		for _, path := range paths {
			for _, method := range []string{"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"} {
				r := httptest.NewRequest(method, "/", nil)
				r.URL.Path = path
				fast, router, fastOK, routerOK := gateway.MountMatches(gw, r)
				for i := range fast {
					f, m := fast[i], router[i]
					same := fastOK[i] == routerOK[i] && f.Route == m.Route && f.MatchErr == m.MatchErr &&
						reflect.DeepEqual(f.Vars, m.Vars) && handlerID(f.Handler) == handlerID(m.Handler)
					if !same {
						t.Fatalf("%s: %s %q, mount %d: gateway %v %+v, router %v %+v", layout, method, path, i, fastOK[i], f, routerOK[i], m)
					}
				}
			}
		}
	}
}

func handlerID(h http.Handler) uintptr {
	if h == nil {
		return 0
	}
	return reflect.ValueOf(h).Pointer()
}
