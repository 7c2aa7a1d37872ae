// Package pathtpl matches gorilla/mux path templates of the simple kinds
// the gateway's routes use, without regular expressions: a literal
// ("/register"), or a literal ending in one variable with mux's default
// pattern ("/isregister/{phone}"). mux's Path matches with a regular
// expression and then runs it again to extract the variables, about
// 0.7 µs each on every request, the largest part of routing; a Template
// answers the same (TestTemplateIsMuxPath) with string comparisons, as a
// mux MatcherFunc, so gorilla/mux still holds the routes and methods.
package pathtpl

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"
)

// Template is a simple path template.
type Template struct {
	Literal string
	Var     string // the variable's name; "" for a literal template
}

// Parse returns the template's simple form, or false when it needs mux's
// own matching (several variables, a pattern, text after the variable, no
// leading slash).
func Parse(tpl string) (Template, bool) {
	if !strings.HasPrefix(tpl, "/") { // mux refuses it: the route never matches
		return Template{}, false
	}
	open := strings.IndexByte(tpl, '{')
	if open < 0 {
		return Template{Literal: tpl}, !strings.Contains(tpl, "}")
	}
	name, ok := strings.CutSuffix(tpl[open+1:], "}")
	if !ok || name == "" || strings.ContainsAny(name, "{}:") || strings.Contains(tpl[:open], "}") {
		return Template{}, false
	}
	return Template{Literal: tpl[:open], Var: name}, true
}

// Match reports whether path matches, and the variable's value.
func (t Template) Match(path string) (value string, ok bool) {
	if t.Var == "" {
		return "", path == t.Literal
	}
	value, ok = strings.CutPrefix(path, t.Literal)
	// mux's default variable pattern is [^/]+.
	return value, ok && value != "" && !strings.Contains(value, "/")
}

// Matcher is the template as a mux matcher (Route.MatcherFunc). It sets no
// variables: the caller fills them from Match once the route is chosen.
func (t Template) Matcher() mux.MatcherFunc {
	return func(r *http.Request, _ *mux.RouteMatch) bool {
		_, ok := t.Match(r.URL.Path)
		return ok
	}
}

// Path adds tpl's path matcher to route and returns the template: its
// Matcher when it is simple, mux's Path otherwise, which sets the
// variables itself (the Template returned is then the zero one, with no
// variable to fill).
func Path(route *mux.Route, tpl string) (*mux.Route, Template) {
	t, ok := Parse(tpl)
	if !ok {
		return route.Path(tpl), Template{}
	}
	return route.MatcherFunc(t.Matcher()), t
}

// SetVar fills the template's variable in vars (a Route.Match made map,
// or nil) from path, and returns vars.
func (t Template) SetVar(vars map[string]string, path string) map[string]string {
	if t.Var == "" {
		return vars
	}
	if vars == nil {
		vars = map[string]string{}
	}
	vars[t.Var], _ = t.Match(path)
	return vars
}
