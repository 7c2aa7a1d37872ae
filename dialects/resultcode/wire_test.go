package resultcode

import (
	"testing"

	"legacyauth/gateway"
	"legacyauth/gateway/migrate"
	"legacyauth/gateway/migrate/migratetest"
)

// resultKinds reads back every result table renders, as a kind that
// renders it.
func TestResultKindsInvertTable(t *testing.T) {
	for op, kinds := range table {
		for k, a := range kinds {
			if _, found := resultKinds[op][a.Result]; !found {
				t.Errorf("%s: %s answers %s, which resultKinds cannot read", op, k, a.Result)
			}
		}
	}
	for op, results := range resultKinds {
		for result, k := range results {
			if got := lookup(op, k).Result; got != result {
				t.Errorf("%s: resultKinds reads %s as %s, which table answers %s", op, result, k, got)
			}
		}
	}
}

// The Wire reads replies in the contract's terms.
func TestWireFollowsTheContract(t *testing.T) {
	opOf := map[string]string{"/register get": opSend, "/upload post": opUpload, "/log post": opLogin}
	doc := migratetest.Documented(t, "../../contracts/resultcode.yaml", func(path, method string) string { return opOf[path+" "+method] })
	migratetest.CheckWire(t, New(nil, Options{}), doc, func(c string) []byte { return []byte(`{"result": "` + c + `", "message": null}`) })
	for op, results := range resultKinds {
		for result := range results {
			if doc[op][result] == nil {
				t.Errorf("%s: result %s is not in the contract", op, result)
			}
		}
	}
}

func TestWire(t *testing.T) {
	d := New(nil, Options{})
	for _, c := range []struct{ op, body, want string }{
		{opLogin, `{"result": "0007", "message": null}`, "not_registered"},
		{opVerify, `{"result": "0000", "message": null}`, "ok"},
		{opVerify, `{"result": "0000", "message": ""}`, "ok"},
	} {
		if got := d.Outcome(c.op, gateway.Params{}, 200, []byte(c.body)); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.op, c.body, got, c.want)
		}
	}
	if got := string(d.Redact([]byte(`{"result": "0000", "message": "4821"}`))); got != `{"result": "0000", "message": "****"}` {
		t.Errorf("the echoed code: %s", got)
	}
	// Modes name the operations of /register, not the route.
	if m, err := migrate.ParseModes(d, "register=proxy,send_code=core"); err != nil || len(m) != 2 {
		t.Errorf("the dispatched operations: %v %v", m, err)
	}
	if _, err := migrate.ParseModes(d, opRegisterRoute+"=proxy"); err == nil {
		t.Errorf("the route's own name took a mode")
	}
}
