package apiv4

import (
	"os"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"legacyauth/core"
)

type statusCode struct {
	Code    int    `yaml:"code"`
	Kind    string `yaml:"kind"`
	Msg     string `yaml:"msg"`
	Meaning string `yaml:"meaning"`
}

type contractDoc struct {
	Servers []struct {
		URL string `yaml:"url"`
	} `yaml:"servers"`
	Paths map[string]map[string]yaml.Node `yaml:"paths"` // method (or "parameters") -> operation
}

type contractOp struct {
	OperationID string       `yaml:"operationId"`
	StatusCodes []statusCode `yaml:"x-status-codes"`
}

var methods = map[string]bool{"get": true, "post": true, "put": true, "patch": true, "delete": true, "head": true, "options": true}

func loadContract(t *testing.T) contractDoc {
	t.Helper()
	raw, err := os.ReadFile("../../contracts/apiv4.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc contractDoc
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// Every route is in contracts/apiv4.yaml (path and method) and vice versa.
func TestContractListsEveryRoute(t *testing.T) {
	doc := loadContract(t)
	if len(doc.Servers) == 0 || doc.Servers[0].URL != DefaultPrefix {
		t.Errorf("servers = %+v, want [{url: %s}]", doc.Servers, DefaultPrefix)
	}
	var fromRoutes, fromDoc []string
	for _, rt := range New(nil, Options{}).Routes() {
		for _, m := range rt.Methods {
			fromRoutes = append(fromRoutes, m+" "+rt.Path)
		}
	}
	for path, ops := range doc.Paths {
		for m := range ops {
			if !methods[m] {
				continue
			}
			fromDoc = append(fromDoc, strings.ToUpper(m)+" "+path)
		}
	}
	sort.Strings(fromRoutes)
	sort.Strings(fromDoc)
	if strings.Join(fromRoutes, "\n") != strings.Join(fromDoc, "\n") {
		t.Errorf("routes:\n  %s\ncontract:\n  %s", strings.Join(fromRoutes, "\n  "), strings.Join(fromDoc, "\n  "))
	}
}

// The x-status-codes of every operation are the reply table: one row per
// core kind plus "ok", with the table's code and message.
func TestContractStatusCodesMatchTable(t *testing.T) {
	doc := loadContract(t)
	for _, rt := range New(nil, Options{}).Routes() {
		for _, m := range rt.Methods {
			node, ok := doc.Paths[rt.Path][strings.ToLower(m)]
			if !ok {
				continue // reported by TestContractListsEveryRoute
			}
			var op contractOp
			if err := node.Decode(&op); err != nil {
				t.Fatalf("%s %s: %v", m, rt.Path, err)
			}
			rows := map[string]statusCode{}
			for _, sc := range op.StatusCodes {
				if _, dup := rows[sc.Kind]; dup {
					t.Errorf("%s %s: kind %s listed twice", m, rt.Path, sc.Kind)
				}
				if sc.Meaning == "" {
					t.Errorf("%s %s: kind %s has no meaning", m, rt.Path, sc.Kind)
				}
				rows[sc.Kind] = sc
			}
			want := map[string]reply{"ok": okReplies[rt.Op]}
			for _, k := range core.Kinds() {
				want[k.String()] = failureReply(rt.Op, core.E("test", k, ""))
			}
			for kind, rep := range want {
				got, ok := rows[kind]
				if !ok {
					t.Errorf("%s %s: x-status-codes has no row for %s", m, rt.Path, kind)
					continue
				}
				if got.Code != rep.Code || got.Msg != rep.Msg {
					t.Errorf("%s %s %s: contract says %d %q, table %d %q", m, rt.Path, kind, got.Code, got.Msg, rep.Code, rep.Msg)
				}
				delete(rows, kind)
			}
			for kind := range rows {
				t.Errorf("%s %s: x-status-codes lists unknown kind %q", m, rt.Path, kind)
			}
		}
	}
}
