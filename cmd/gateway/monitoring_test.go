package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"legacyauth/internal/oldserver"
	"legacyauth/internal/testkit"
)

// The monitoring files operators load: Prometheus rules and the Grafana
// dashboard (docs/operations.md links both).
const (
	rulesFile     = "../../deploy/prometheus/rules.yaml"
	dashboardFile = "../../deploy/grafana/legacy-auth.json"
)

// seriesLabels maps each metric name a query may select to the label
// names its series carry.
type seriesLabels map[string]map[string]bool

// targetLabels are added by Prometheus to every series it scrapes.
var targetLabels = []string{"job", "instance"}

// exportedMetrics builds a whole gateway with every optional series
// registered (SMS providers, a dialect shadowed to an old server, limits
// on), exercises it until every family has a series, and reads the names
// and label names from its registry: counters and gauges under their
// name, histograms as _bucket (with le), _sum and _count, summaries as
// the name (with quantile), _sum and _count. Prometheus's own "up" is
// added.
func exportedMetrics(t *testing.T) seriesLabels {
	t.Helper()
	old := startOld(t, oldserver.Caraccessories, deterministic())
	old.AddUser(oldserver.User{ID: strings.Repeat("ab", 16), Phone: "13800009001", Password: "12345", Name: "Ann"})
	cfg, err := parseConfig([]string{"--data-dir", t.TempDir(), "--sms-providers=log",
		"--caraccessories-mode=shadow", "--caraccessories-upstream=" + old.URL}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	a, err := build(cfg, slog.New(slog.DiscardHandler), overrides{Now: clock.Now, Hash: testkit.FastHash})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	get := func(path string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	post(t, srv.URL+"/caraccessories/app/login", `{"mobile": "13800009001", "password": "12345"}`) // shadowed: relayed, replayed, compared
	post(t, srv.URL+"/caraccessories/app/get_verification_code", `{"mobile": "13800009002"}`)      // acts: not shadowed
	get("/api/v4.0/sendsms/13800009003")                                                           // the core sends a code through the providers
	get("/api/v4.0/isregister/13800009004")                                                        // a store answer that is an error kind
	get("/no/such/path")

	want := []string{"gateway_shadow_comparisons_total", "gateway_sms_provider_duration_seconds_bucket", "gateway_store_errors_total"}
	var got seriesLabels
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got = gathered(t, a.Metrics.Registry().Gather)
		missing := slices.DeleteFunc(slices.Clone(want), func(n string) bool { return got[n] != nil })
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the exercise did not make %v: renamed? then rename it in deploy/ and here", missing)
		}
	}
	got["up"] = map[string]bool{}
	for _, ls := range got {
		for _, l := range targetLabels {
			ls[l] = true
		}
	}
	return got
}

func gathered(t *testing.T, gather func() ([]*dto.MetricFamily, error)) seriesLabels {
	t.Helper()
	mfs, err := gather()
	if err != nil {
		t.Fatal(err)
	}
	out := seriesLabels{}
	add := func(name string, labels map[string]bool, extra ...string) {
		ls := maps.Clone(labels)
		for _, e := range extra {
			ls[e] = true
		}
		out[name] = ls
	}
	for _, mf := range mfs {
		labels := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = true
			}
		}
		name := mf.GetName()
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			add(name+"_bucket", labels, "le")
			add(name+"_sum", labels)
			add(name+"_count", labels)
		case dto.MetricType_SUMMARY:
			add(name, labels, "quantile")
			add(name+"_sum", labels)
			add(name+"_count", labels)
		default:
			add(name, labels)
		}
	}
	return out
}

// checker checks PromQL expressions against the exported series and the
// recording rules.
type checker struct {
	p        parser.Parser
	exported seriesLabels
	recorded seriesLabels               // recording rules' names and their output labels
	uses     map[string][]string        // metric -> where it is used, for the coverage check
	expands  map[string]map[string]bool // recording rule -> the exported metrics it reads
}

// check parses expr and returns its problems: a metric neither exported
// nor recorded, a label a selector matches or an aggregation groups by
// that the series do not have.
func (c *checker) check(where, expr string) []error {
	e, err := c.p.ParseExpr(expr)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", where, err)}
	}
	var errs []error
	c.labelsOf(e, where, &errs)
	return errs
}

// labelsOf infers the label names of e's result (nil with known false when
// it cannot tell) and records the problems it meets on the way.
func (c *checker) labelsOf(e parser.Expr, where string, errs *[]error) (labels map[string]bool, known bool) {
	switch e := e.(type) {
	case *parser.VectorSelector:
		name := e.Name
		for _, m := range e.LabelMatchers {
			if m.Name == model.MetricNameLabel && name == "" {
				name = m.Value
			}
		}
		ls, ok := c.exported[name]
		if !ok {
			ls, ok = c.recorded[name]
		}
		if !ok {
			*errs = append(*errs, fmt.Errorf("%s: metric %s: the gateway does not export it and no recording rule defines it", where, name))
			return nil, false
		}
		c.uses[name] = append(c.uses[name], where)
		for _, m := range e.LabelMatchers {
			if m.Name != model.MetricNameLabel && !ls[m.Name] {
				*errs = append(*errs, fmt.Errorf("%s: %s has no label %q (it has %v)", where, name, m.Name, sorted(ls)))
			}
		}
		return ls, true
	case *parser.MatrixSelector:
		return c.labelsOf(e.VectorSelector, where, errs)
	case *parser.SubqueryExpr:
		return c.labelsOf(e.Expr, where, errs)
	case *parser.ParenExpr:
		return c.labelsOf(e.Expr, where, errs)
	case *parser.UnaryExpr:
		return c.labelsOf(e.Expr, where, errs)
	case *parser.StepInvariantExpr:
		return c.labelsOf(e.Expr, where, errs)
	case *parser.NumberLiteral, *parser.StringLiteral:
		return nil, false
	case *parser.AggregateExpr:
		inner, ok := c.labelsOf(e.Expr, where, errs)
		if e.Param != nil {
			c.labelsOf(e.Param, where, errs)
		}
		if ok {
			for _, g := range e.Grouping {
				if !inner[g] {
					*errs = append(*errs, fmt.Errorf("%s: %s by (%s): the series have no label %q (they have %v)", where, e.Op, strings.Join(e.Grouping, ", "), g, sorted(inner)))
				}
			}
		}
		if e.Without {
			if !ok {
				return nil, false
			}
			out := maps.Clone(inner)
			for _, g := range e.Grouping {
				delete(out, g)
			}
			return out, true
		}
		out := map[string]bool{}
		for _, g := range e.Grouping {
			out[g] = true
		}
		return out, true
	case *parser.Call:
		var first map[string]bool
		firstKnown := false
		for i, arg := range e.Args {
			ls, ok := c.labelsOf(arg, where, errs)
			if ok && !firstKnown && i == len(e.Args)-1 || ok && !firstKnown && e.Func.Name != "histogram_quantile" {
				first, firstKnown = ls, true
			}
		}
		switch e.Func.Name {
		case "label_replace", "label_join", "vector", "scalar", "time":
			return nil, false
		case "histogram_quantile":
			if firstKnown {
				if !first["le"] {
					*errs = append(*errs, fmt.Errorf("%s: histogram_quantile over series without le", where))
				}
				out := maps.Clone(first)
				delete(out, "le")
				return out, true
			}
		}
		return first, firstKnown
	case *parser.BinaryExpr:
		l, lok := c.labelsOf(e.LHS, where, errs)
		r, rok := c.labelsOf(e.RHS, where, errs)
		if e.VectorMatching != nil && lok && rok {
			for _, m := range e.VectorMatching.MatchingLabels {
				if !l[m] || !r[m] {
					*errs = append(*errs, fmt.Errorf("%s: on/ignoring (%s): a side has no label %q", where, strings.Join(e.VectorMatching.MatchingLabels, ", "), m))
				}
			}
		}
		if lok {
			return l, true
		}
		return r, rok
	}
	*errs = append(*errs, fmt.Errorf("%s: expression %T not understood by the test", where, e))
	return nil, false
}

func sorted(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// readRules parses the rules with Prometheus's own rule parser (which
// also parses every expression and template).
func readRules(t *testing.T, p parser.Parser) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.LegacyValidation, p, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil || t.Failed() {
		t.FailNow()
	}
	return groups
}

type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int     `json:"id"`
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"` // a collapsed row's
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

// grafanaVars are Grafana's built-in interval variables, replaced by a
// duration before parsing.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "${__rate_interval}", "5m", "$__interval", "1m", "${__interval}", "1m", "$__range", "1h", "${__range}", "1h")

var dashVar = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?|\[\[([A-Za-z0-9_]+)\]\]`)

// TestMonitoringFiles checks deploy/prometheus/rules.yaml and
// deploy/grafana/legacy-auth.json against the gateway's registry: every
// rule and every dashboard query parses, and names only metrics (and
// labels of them) that the gateway exports or a recording rule defines;
// the dashboard covers what operators need.
func TestMonitoringFiles(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	c := &checker{p: p, exported: exportedMetrics(t), recorded: seriesLabels{}, uses: map[string][]string{}, expands: map[string]map[string]bool{}}
	groups := readRules(t, p)

	// Recording rules first: their names are series the rest may read.
	var alerts int
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			where := fmt.Sprintf("rules.yaml %s/%s%s", g.Name, r.Record, r.Alert)
			usesBefore := maps.Clone(c.uses)
			errs := []error{}
			e, err := p.ParseExpr(r.Expr)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			ls, known := c.labelsOf(e, where, &errs)
			for _, err := range errs {
				t.Error(err)
			}
			if r.Alert != "" {
				alerts++
				continue
			}
			if _, dup := c.recorded[r.Record]; dup {
				t.Errorf("%s: recorded twice", where)
			}
			if !known {
				t.Errorf("%s: the test cannot tell the labels of %q", where, r.Expr)
			}
			c.recorded[r.Record] = ls
			reads := map[string]bool{}
			for name, ws := range c.uses {
				if len(ws) > len(usesBefore[name]) {
					if sub, ok := c.expands[name]; ok {
						maps.Copy(reads, sub)
					} else {
						reads[name] = true
					}
				}
			}
			c.expands[r.Record] = reads
		}
	}
	if alerts == 0 || len(c.recorded) == 0 {
		t.Fatalf("rules.yaml has %d alerts and %d recording rules", alerts, len(c.recorded))
	}

	// The dashboard.
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	substitute := func(where, expr string) string {
		expr = grafanaVars.Replace(expr)
		return dashVar.ReplaceAllStringFunc(expr, func(m string) string {
			sm := dashVar.FindStringSubmatch(m)
			name := sm[1] + sm[2]
			if !vars[name] {
				t.Errorf("%s: variable %s is not defined in the dashboard's templating", where, m)
			}
			return "x"
		})
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		where := "dashboard variable " + v.Name
		lv := regexp.MustCompile(`^label_values\((.+),\s*([A-Za-z_]+)\)$`).FindStringSubmatch(q)
		if lv == nil {
			t.Errorf("%s: query %q is not label_values(selector, label)", where, q)
			continue
		}
		for _, err := range c.check(where, lv[1]+" and on() vector(0)") {
			t.Error(err)
		}
		if e, err := p.ParseExpr(lv[1]); err == nil {
			var errs []error
			if ls, ok := c.labelsOf(e, where, &errs); ok && !ls[lv[2]] {
				t.Errorf("%s: %s has no label %q", where, lv[1], lv[2])
			}
		}
	}
	uses := map[string]bool{}
	var walk func(ps []panel)
	queries := 0
	walk = func(ps []panel) {
		for _, pn := range ps {
			if pn.Type == "row" {
				walk(pn.Panels)
				continue
			}
			if len(pn.Targets) == 0 {
				t.Errorf("dashboard panel %q has no query", pn.Title)
			}
			for _, tg := range pn.Targets {
				where := fmt.Sprintf("dashboard panel %q (%s)", pn.Title, tg.RefID)
				before := maps.Clone(c.uses)
				for _, err := range c.check(where, substitute(where, tg.Expr)) {
					t.Error(err)
				}
				queries++
				for name, ws := range c.uses {
					if len(ws) > len(before[name]) {
						if sub, ok := c.expands[name]; ok {
							maps.Copy(uses, sub)
						} else {
							uses[name] = true
						}
					}
				}
			}
		}
	}
	walk(d.Panels)
	if queries == 0 {
		t.Fatal("the dashboard has no queries")
	}
	// What the dashboard must show (issue 17), as the metrics its queries
	// read, directly or through recording rules.
	for topic, metric := range map[string]string{
		"traffic per dialect":           "gateway_requests_total",
		"client versions":               "gateway_client_requests_total",
		"SMS sends by provider":         "gateway_sms_provider_sends_total",
		"the pumping signal":            "gateway_sms_codes_total",
		"limits and locks":              "gateway_rate_limit_rejections_total",
		"login latency":                 "gateway_request_duration_seconds_bucket",
		"hash capacity (CPU and cores)": "go_sched_gomaxprocs_threads",
		"store health":                  "gateway_store_up",
		"store errors":                  "gateway_store_errors_total",
		"migration step":                "gateway_migration_requests_total",
		"shadow mismatch rate":          "gateway_shadow_comparisons_total",
	} {
		if !uses[metric] {
			t.Errorf("the dashboard shows no %s (%s)", topic, metric)
		}
	}
	// Every recording rule is there for the dashboard or an alert.
	for name := range c.recorded {
		if len(c.uses[name]) == 0 {
			t.Errorf("recording rule %s is used by no alert and no panel", name)
		}
	}
	if t.Failed() {
		names := slices.Collect(maps.Keys(c.exported))
		sort.Strings(names)
		t.Logf("the gateway exports: %s", strings.Join(names, " "))
	}
}
