package migrate

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"legacyauth/gateway"
)

// opOfContract names the migration layer's operation of a contract's path
// (every dialect's table is per operation; apiv4's operationIds name the
// method too, and resultcode's POST /register rows name their operation).
var opOfContract = map[string]map[string]string{
	"caraccessories": {"/get_verification_code": "get_verification_code", "/registration": "registration", "/login": "login", "/forget_password": "forget_password"},
	"apiv4": {"/sendsms/{mobile}": "sendsms", "/isregister/{phone}": "isregister", "/register": "register", "/login": "login",
		"/verify_code": "verify_code", "/forget_password": "forget_password"},
	"resultcode": {"/register get": "send_code", "/upload": "upload_avatar", "/log": "login"},
}

// TestOutcomesFollowTheContracts: every code a contract documents for an
// operation is in the outcome table, under a name the contract gives that
// code there (a code standing for several kinds takes one of them), and
// the table has no code the contract lacks. Shadow comparisons and the
// outcome of proxied requests therefore speak the contracts' terms.
func TestOutcomesFollowTheContracts(t *testing.T) {
	for dialect, sp := range specs {
		raw, err := os.ReadFile("../../contracts/" + dialect + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Paths map[string]map[string]yaml.Node
		}
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		kinds := map[string]map[string][]string{} // op -> code -> kinds
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
					t.Fatalf("%s %s %s: %v", dialect, method, path, err)
				}
				for _, row := range o.Rows {
					op := row.Operation
					if op == "" {
						op = opOfContract[dialect][path]
					}
					if op == "" {
						op = opOfContract[dialect][path+" "+method]
					}
					if op == "" {
						t.Fatalf("%s %s %s: no operation for this path", dialect, method, path)
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
		var ops []string
		for op := range sp.ops {
			ops = append(ops, op)
		}
		sort.Strings(ops)
		for _, op := range ops {
			documented := kinds[op]
			if documented == nil {
				t.Errorf("%s %s: not in the contract", dialect, op)
				continue
			}
			for code, ks := range documented {
				name, found := sp.ops[op].outcomes[code]
				if !found {
					t.Errorf("%s %s: code %s (%v) missing from the outcome table", dialect, op, code, ks)
					continue
				}
				if !slices.Contains(ks, name) {
					t.Errorf("%s %s: code %s is %q here, but the contract gives it %v", dialect, op, code, name, ks)
				}
				if sp.refine != nil {
					p := gateway.NewParams("expect", "1")
					if r := sp.refine(op, p, name); !slices.Contains(ks, r) {
						t.Errorf("%s %s: code %s with expect=1 is %q, not among %v", dialect, op, code, r, ks)
					}
				}
			}
			for code := range sp.ops[op].outcomes {
				if documented[code] == nil {
					t.Errorf("%s %s: code %s is not in the contract", dialect, op, code)
				}
			}
		}
		for op := range kinds {
			if _, found := sp.ops[op]; !found {
				t.Errorf("%s: the contract's operation %s is not in the table", dialect, op)
			}
		}
	}
}

func TestOutcomeOfReplies(t *testing.T) {
	none := gateway.Params{}
	expect1 := gateway.NewParams("expect", "1")
	for _, c := range []struct {
		dialect, op string
		p           gateway.Params
		status      int
		body        string
		want        string
	}{
		{"caraccessories", "login", none, 200, `{"status":1,"msg":"Ok"}`, "ok"},
		{"caraccessories", "login", none, 200, `{"status":-3,"msg":"手机号未注册"}`, "not_registered"},
		{"caraccessories", "forget_password", none, 200, `{"status":-3,"msg":"手机号没有注册"}`, "not_registered"},
		{"caraccessories", "registration", none, 200, `{"status":-3,"msg":"验证码不正确"}`, "code_wrong"},
		{"caraccessories", "login", none, 200, `{"status":-9,"msg":"?"}`, "code -9"},
		{"apiv4", "sendsms", none, 200, "{\n  \"code\": \"200\", \n  \"msg\": \"\\u53d1\"\n}", "ok"},
		{"apiv4", "sendsms", none, 200, `{"code": -1, "data": "", "msg": ""}`, "already_registered"},
		{"apiv4", "sendsms", expect1, 200, `{"code": -1, "data": "", "msg": ""}`, "not_registered"},
		{"apiv4", "login", none, 200, `{"code": -1, "data": "", "msg": ""}`, "wrong_password"},
		{"apiv4", "login", none, 405, "<!DOCTYPE HTML PUBLIC><title>405 Method Not Allowed</title>", "unreadable 405"},
		{"resultcode", "login", none, 200, `{"result": "0007", "message": null}`, "not_registered"},
		{"resultcode", "verify_code", none, 200, `{"result": "0000", "message": null}`, "ok"},
		{"resultcode", "verify_code", none, 200, `{"result": "0000", "message": ""}`, "ok"},
	} {
		if got := specs[c.dialect].outcome(c.op, c.p, c.status, []byte(c.body)); got != c.want {
			t.Errorf("%s %s %s: %q, want %q", c.dialect, c.op, c.body, got, c.want)
		}
	}
}

func TestRedact(t *testing.T) {
	body := []byte("{\n  \"code\": 200, \n  \"data\": {\"token\": \"5a2dd48054d694b0fcaeef1ecca767a2\", \"user_id\": \"f223fa5c92e846349031b0eb06868478\", \"phone\": \"13812341234\"}}")
	got := specs["apiv4"].redact(body)
	for _, secret := range []string{"5a2dd48054d694b0fcaeef1ecca767a2", "f223fa5c92e846349031b0eb06868478", "13812341234"} {
		if strings.Contains(got, secret) {
			t.Errorf("redacted body still holds %s: %s", secret, got)
		}
	}
	if !strings.Contains(got, "138****1234") || !strings.Contains(got, `"code": 200`) {
		t.Errorf("redacted too much: %s", got)
	}
	if got := specs["resultcode"].redact([]byte(`{"result": "0000", "message": "4821"}`)); got != `{"result": "0000", "message": "****"}` {
		t.Errorf("resultcode's echoed code: %s", got)
	}
}

func TestParseModes(t *testing.T) {
	m, err := ParseModes("apiv4", " login=shadow , register=proxy")
	if err != nil || m["login"] != Shadow || m["register"] != Proxy || len(m) != 2 {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"login", "login=mirror", "registration=proxy", "login=core,login=proxy"} {
		if _, err := ParseModes("apiv4", bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if m, err := ParseModes("resultcode", "register=proxy,send_code=core"); err != nil || len(m) != 2 {
		t.Errorf("resultcode's dispatched operations: %v %v", m, err)
	}
	for _, bad := range []string{"ftp://old", "old:8080", "http://old/?x=1", "http://u:p@old/"} {
		if _, err := ParseUpstream(bad); err == nil {
			t.Errorf("upstream %q: no error", bad)
		}
	}
}

// The bucket of a phone never changes, and the buckets are even enough
// that a percentage means what it says.
func TestBucket(t *testing.T) {
	const n = 20000
	under := 0
	for i := range n {
		phone := fmt.Sprintf("+86138%08d", i*7919%100000000)
		b := Bucket(phone)
		if b != Bucket(phone) || b < 0 || b > 99 {
			t.Fatalf("Bucket(%s) = %d, then %d", phone, b, Bucket(phone))
		}
		if b < 30 {
			under++
		}
	}
	if share := float64(under) / n; share < 0.28 || share > 0.32 {
		t.Errorf("%.3f of phones under 30, want about 0.30", share)
	}
}
