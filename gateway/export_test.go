package gateway

import (
	"net/http"

	"github.com/gorilla/mux"
)

// MountMatches returns, for each mount of g, what the gateway's own
// matching and the mount's gorilla/mux router make of r.
func MountMatches(g *Gateway, r *http.Request) (fast, router []mux.RouteMatch, fastOK, routerOK []bool) {
	for _, m := range g.mounts {
		var a, b mux.RouteMatch
		_, ok := m.match(r, &a)
		fastOK = append(fastOK, ok)
		routerOK = append(routerOK, m.router.Match(r, &b))
		fast, router = append(fast, a), append(router, b)
	}
	return fast, router, fastOK, routerOK
}
