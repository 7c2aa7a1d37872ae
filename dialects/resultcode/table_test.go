package resultcode

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"legacyauth/core"
)

var operations = []string{opSend, opVerify, opRegister, opUpload, opLogin}

// TestTableTotal: every kind has an answer for every operation, failures
// never answer "0000", and the message rule holds (null exactly where the
// seed says None).
func TestTableTotal(t *testing.T) {
	fourDigits := regexp.MustCompile(`^[0-9]{4}$`)
	if len(table) != len(operations) {
		t.Errorf("table has %d operations, want %d", len(table), len(operations))
	}
	for _, op := range operations {
		for _, k := range core.Kinds() {
			a, ok := table[op][k]
			if !ok {
				t.Errorf("%s: no answer for %v", op, k)
				continue
			}
			if !fourDigits.MatchString(a.Result) || a.Result == rOK {
				t.Errorf("%s/%v: result %q, want 4 digits other than 0000", op, k, a.Result)
			}
			switch a.Result {
			case rUnknown:
				if (op == opRegister) != (a.Message != "") {
					t.Errorf("%s/%v: 0006 carries a message on register only, got %q", op, k, a.Message)
				}
			case rGateway:
				if a.Message == "" {
					t.Errorf("%s/%v: the gateway's 0009 must say what happened", op, k)
				}
			default: // the seed's codes, whose message is None
				if a.Message != "" {
					t.Errorf("%s/%v: %s must have a null message, got %q", op, k, a.Result, a.Message)
				}
			}
		}
		if len(table[op]) != len(core.Kinds()) {
			t.Errorf("%s: %d rows, want %d", op, len(table[op]), len(core.Kinds()))
		}
	}
	if got := lookup("nonsense", core.Internal); got.Result != rGateway || got.Message == "" {
		t.Errorf("lookup fallback = %+v", got)
	}
}

// contract is the part of contracts/resultcode.yaml the tests read.
type contract struct {
	Servers []struct{ URL string }
	Paths   map[string]map[string]struct {
		OperationID string `yaml:"operationId"`
		StatusCodes []struct {
			Code      string
			Kind      string
			Operation string
			Meaning   string
			Message   *string // null, the text, or absent on ok rows
		} `yaml:"x-status-codes"`
	}
}

func loadContract(t *testing.T) contract {
	t.Helper()
	raw, err := os.ReadFile("../../contracts/resultcode.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c contract
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRoutesInContract: every route is in the contract and vice versa.
func TestRoutesInContract(t *testing.T) {
	c := loadContract(t)
	if len(c.Servers) == 0 || c.Servers[0].URL != DefaultPrefix {
		t.Errorf("servers = %+v, want [{url: %s}]", c.Servers, DefaultPrefix)
	}
	var fromRoutes, fromYAML []string
	for _, r := range New(nil, Options{}).Routes() {
		for _, m := range r.Methods {
			fromRoutes = append(fromRoutes, m+" "+r.Path)
		}
	}
	for p, methods := range c.Paths {
		for m := range methods {
			fromYAML = append(fromYAML, strings.ToUpper(m)+" "+p)
		}
	}
	sort.Strings(fromRoutes)
	sort.Strings(fromYAML)
	if strings.Join(fromRoutes, "\n") != strings.Join(fromYAML, "\n") {
		t.Errorf("routes:\n%s\ncontract:\n%s", strings.Join(fromRoutes, "\n"), strings.Join(fromYAML, "\n"))
	}
}

// TestContractMatchesTable: x-status-codes lists exactly the table's
// (operation, code, kind) triples, plus "0000" ok per operation, and each
// failure row's message is the table's (null where it renders null).
func TestContractMatchesTable(t *testing.T) {
	c := loadContract(t)
	want := map[string]bool{}
	for _, op := range operations {
		want[op+" "+rOK+" ok"] = true
		for k, a := range table[op] {
			want[op+" "+a.Result+" "+k.String()] = true
		}
	}
	got := map[string]bool{}
	for p, methods := range c.Paths {
		for m, o := range methods {
			if len(o.StatusCodes) == 0 {
				t.Errorf("%s %s: no x-status-codes", m, p)
			}
			for _, s := range o.StatusCodes {
				op := o.OperationID
				if s.Operation != "" {
					op = s.Operation
				}
				key := op + " " + s.Code + " " + s.Kind
				if got[key] {
					t.Errorf("%s %s: %s listed twice", m, p, key)
				}
				got[key] = true
				if s.Meaning == "" {
					t.Errorf("%s %s: %s has no meaning", m, p, key)
				}
				if s.Kind == "ok" {
					continue
				}
				kind := kindByName(s.Kind)
				want := table[op][kind].Message
				if (s.Message == nil) != (want == "") || s.Message != nil && *s.Message != want {
					t.Errorf("%s %s: %s: message %v, want %q (\"\" is null)", m, p, key, deref(s.Message), want)
				}
			}
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("contract lacks %s", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("contract lists %s, which the table does not answer", k)
		}
	}
}

func kindByName(name string) core.Kind {
	for _, k := range core.Kinds() {
		if k.String() == name {
			return k
		}
	}
	return core.Kind(255)
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}
