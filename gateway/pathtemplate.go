package gateway

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"
)

// pathTemplate is a route path template of the simple kinds every dialect
// route uses: a literal ("/register"), or a literal ending in one variable
// with mux's default pattern ("/isregister/{phone}"). It matches a path as
// the route's mux.Route.Path would, without a regular expression: mux runs
// one to match and a second to extract the variables, about 0.7 µs each,
// the largest part of routing. TestPathTemplateIsMuxPath holds the two to
// the same answers.
type pathTemplate struct {
	literal string
	varName string // "" for a literal template
}

// parsePathTemplate returns the template's simple form, or false when it
// needs mux's own matching (several variables, a pattern, text after the
// variable).
func parsePathTemplate(tpl string) (pathTemplate, bool) {
	open := strings.IndexByte(tpl, '{')
	if open < 0 {
		return pathTemplate{literal: tpl}, !strings.Contains(tpl, "}")
	}
	name, ok := strings.CutSuffix(tpl[open+1:], "}")
	if !ok || name == "" || strings.ContainsAny(name, "{}:") || strings.Contains(tpl[:open], "}") {
		return pathTemplate{}, false
	}
	return pathTemplate{literal: tpl[:open], varName: name}, true
}

// match reports whether path matches, and the variable's value.
func (t pathTemplate) match(path string) (value string, ok bool) {
	if t.varName == "" {
		return "", path == t.literal
	}
	value, ok = strings.CutPrefix(path, t.literal)
	// mux's default variable pattern is [^/]+.
	return value, ok && value != "" && !strings.Contains(value, "/")
}

// route adds the template's route to router: through a MatcherFunc when
// the template is simple, through Path otherwise.
func addRoute(router *mux.Router, tpl string) (*mux.Route, pathTemplate, bool) {
	t, simple := parsePathTemplate(tpl)
	if !simple {
		return router.Path(tpl), t, false
	}
	return router.NewRoute().MatcherFunc(func(r *http.Request, _ *mux.RouteMatch) bool {
		_, ok := t.match(r.URL.Path)
		return ok
	}), t, true
}
