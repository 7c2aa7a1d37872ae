package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
)

// varsDialect echoes its routes' path variables as the gateway gives them.
type varsDialect struct{}

func (varsDialect) Name() string                { return "vars" }
func (varsDialect) Claims(map[string]bool) bool { return true }
func (varsDialect) Reject(w http.ResponseWriter, _ *http.Request, status int, _ error) {
	w.WriteHeader(status)
}

func (varsDialect) Routes() []Route {
	echo := func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "phone=%q id=%q other=%q all=%v", Var(r, "phone"), Var(r, "id"), Var(r, "other"), Vars(r))
	}
	return []Route{
		{Op: "simple", Path: "/simple/{phone}", Methods: []string{"GET"}, Handler: echo},
		{Op: "pattern", Path: "/pattern/{id:[0-9]+}", Methods: []string{"GET"}, Handler: echo}, // mux's Path
		{Op: "literal", Path: "/literal", Methods: []string{"GET"}, Handler: echo},
	}
}

// Var and Vars give a route's variables whether the gateway matched it by
// a simple template or by mux's Path, nothing on a route without any, and
// fall back to mux.Vars for a handler called with mux.SetURLVars.
func TestVars(t *testing.T) {
	g := New(Options{Mounts: []Mount{{Dialect: varsDialect{}, Prefix: "/p"}}, Log: slog.New(slog.DiscardHandler)})
	for path, want := range map[string]string{
		"/p/simple/138":   `phone="138" id="" other="" all=map[phone:138]`,
		"/p/pattern/42":   `phone="" id="42" other="" all=map[id:42]`,
		"/p/literal":      `phone="" id="" other="" all=map[]`,
		"/p/simple/a%2Fb": "404 page not found\n", // mux matches the decoded path: [^/]+ does not take a/b
	} {
		w := httptest.NewRecorder()
		g.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Body.String() != want {
			t.Errorf("%s: %s, want %s", path, w.Body.String(), want)
		}
	}
	r := mux.SetURLVars(httptest.NewRequest("GET", "/x", nil), map[string]string{"phone": "139"})
	if Var(r, "phone") != "139" || Vars(r)["phone"] != "139" {
		t.Errorf("without the gateway: Var %q, Vars %v; want mux's 139", Var(r, "phone"), Vars(r))
	}
}
