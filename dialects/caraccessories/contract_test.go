package caraccessories

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"legacyauth/core"
)

const contractFile = "../../contracts/caraccessories.yaml"

type contractDoc struct {
	Servers []struct {
		URL string `yaml:"url"`
	} `yaml:"servers"`
	Paths map[string]map[string]struct {
		OperationID string      `yaml:"operationId"`
		StatusCodes []statusRow `yaml:"x-status-codes"`
	} `yaml:"paths"`
}

// statusRow is one row of x-status-codes: exactly these four keys (a
// stray one is how a comma in an unquoted flow-style value shows up).
type statusRow struct {
	Code    int    `yaml:"code"`
	Kind    string `yaml:"kind"`
	Meaning string `yaml:"meaning"`
	Msg     string `yaml:"msg"`
}

func (r *statusRow) UnmarshalYAML(n *yaml.Node) error {
	type plain statusRow
	var keys map[string]any
	if err := n.Decode(&keys); err != nil {
		return err
	}
	if len(keys) != 4 {
		return fmt.Errorf("line %d: x-status-codes row with keys %v, want code, kind, meaning, msg", n.Line, keys)
	}
	return n.Decode((*plain)(r))
}

func loadContract(t *testing.T) contractDoc {
	t.Helper()
	raw, err := os.ReadFile(contractFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc contractDoc
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", contractFile, err)
	}
	return doc
}

// Every route is in the contract, and the contract has nothing else.
func TestContractRoutes(t *testing.T) {
	doc := loadContract(t)
	if len(doc.Servers) != 1 || doc.Servers[0].URL != DefaultPrefix {
		t.Errorf("servers = %+v, want one with url %s", doc.Servers, DefaultPrefix)
	}
	var inCode, inDoc []string
	for _, rt := range New(nil, Options{}).Routes() {
		for _, m := range rt.Methods {
			inCode = append(inCode, m+" "+rt.Path)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			inDoc = append(inDoc, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(inCode)
	sort.Strings(inDoc)
	if strings.Join(inCode, "\n") != strings.Join(inDoc, "\n") {
		t.Errorf("routes and %s differ:\ncode:\n  %s\ncontract:\n  %s", contractFile,
			strings.Join(inCode, "\n  "), strings.Join(inDoc, "\n  "))
	}
}

// The contract's x-status-codes are the reply table, row for row.
func TestContractTable(t *testing.T) {
	doc := loadContract(t)
	kinds := map[string]core.Kind{}
	for _, k := range core.Kinds() {
		kinds[k.String()] = k
	}
	for _, rt := range New(nil, Options{}).Routes() {
		op := doc.Paths[rt.Path]["post"]
		if op.OperationID != rt.Op {
			t.Errorf("%s: operationId %q, want %q", rt.Path, op.OperationID, rt.Op)
		}
		seen := map[string]bool{}
		for _, row := range op.StatusCodes {
			if seen[row.Kind] {
				t.Errorf("%s: kind %s listed twice", rt.Op, row.Kind)
			}
			seen[row.Kind] = true
			want := success
			if row.Kind != "ok" {
				k, known := kinds[row.Kind]
				if !known {
					t.Errorf("%s: unknown kind %q", rt.Op, row.Kind)
					continue
				}
				want = replies[rt.Op][k]
			}
			if row.Code != want.Status || row.Msg != want.Msg || row.Meaning == "" {
				t.Errorf("%s %s: contract says %d %q, table says %d %q (meaning %q)", rt.Op, row.Kind, row.Code, row.Msg, want.Status, want.Msg, row.Meaning)
			}
		}
		if !seen["ok"] {
			t.Errorf("%s: no ok row", rt.Op)
		}
		for name := range kinds {
			if !seen[name] {
				t.Errorf("%s: kind %s missing from x-status-codes", rt.Op, name)
			}
		}
	}
}
