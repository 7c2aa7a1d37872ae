// Package migratetest checks a dialect's migrate.Wire against its
// contract (contracts/<dialect>.yaml), for the dialect's own tests.
package migratetest

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"testing"

	"gopkg.in/yaml.v3"

	"legacyauth/core"
	"legacyauth/gateway"
	"legacyauth/gateway/migrate"
)

// Documented reads the codes a contract documents, by operation: code ->
// the kinds the contract gives it there. opOf names the operation of a
// row that names none, by its path and method.
func Documented(t testing.TB, contract string, opOf func(path, method string) string) map[string]map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(contract)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]yaml.Node
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]map[string][]string{}
	for path, methods := range doc.Paths {
		for method, node := range methods {
			if method == "parameters" {
				continue
			}
			var o struct {
				Rows []struct {
					Code      any
					Result    any
					Kind      string
					Operation string
				} `yaml:"x-status-codes"`
			}
			if err := node.Decode(&o); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			for _, row := range o.Rows {
				op := row.Operation
				if op == "" {
					op = opOf(path, method)
				}
				if op == "" {
					t.Fatalf("%s %s: no operation for this path", method, path)
				}
				code := fmt.Sprint(row.Code)
				if row.Code == nil {
					code = fmt.Sprint(row.Result)
				}
				if kinds[op] == nil {
					kinds[op] = map[string][]string{}
				}
				kinds[op][code] = append(kinds[op][code], row.Kind)
			}
		}
	}
	return kinds
}

// CheckWire checks w against the contract's documented codes (see
// Documented): every operation is in the contract and the contract's
// every operation in w; a reply with a documented code (body renders one)
// reads back, under each of params, as a kind the contract gives that
// code; and the reply the dialect renders for each core kind reads back
// as "ok" or a kind, never as an unknown code.
func CheckWire(t *testing.T, w migrate.Wire, documented map[string]map[string][]string, body func(code string) []byte, params ...gateway.Params) {
	t.Helper()
	if len(params) == 0 {
		params = []gateway.Params{{}}
	}
	ops := migrate.Ops(w)
	sort.Strings(ops)
	for _, op := range ops {
		codes := documented[op]
		if codes == nil {
			t.Errorf("%s: not in the contract", op)
			continue
		}
		for code, ks := range codes {
			for _, p := range params {
				if got := w.Outcome(op, p, 200, body(code)); !slices.Contains(ks, got) {
					t.Errorf("%s: code %s reads as %q, but the contract gives it %v", op, code, got, ks)
				}
			}
		}
		for _, k := range core.Kinds() {
			for _, p := range params {
				if got := w.CoreOutcome(op, p, k.String()); got != "ok" && !known(got) {
					t.Errorf("%s: the reply to %s reads as %q", op, k, got)
				}
			}
		}
		if got := w.CoreOutcome(op, params[0], "ok"); got != "ok" {
			t.Errorf("%s: the success reply reads as %q", op, got)
		}
	}
	for op := range documented {
		if !slices.Contains(ops, op) {
			t.Errorf("the contract's operation %s is not among the Wire's", op)
		}
	}
}

func known(kind string) bool {
	_, found := core.ParseKind(kind)
	return found
}
