package caraccessories

import (
	"strconv"
	"testing"

	"legacyauth/gateway"
	"legacyauth/gateway/migrate/migratetest"
)

// codeKinds reads back every status replies renders, as a kind that
// renders it.
func TestCodeKindsInvertReplies(t *testing.T) {
	for op, kinds := range replies {
		for k, rep := range kinds {
			if _, found := codeKinds[op][rep.Status]; !found {
				t.Errorf("%s: %s answers %d, which codeKinds cannot read", op, k, rep.Status)
			}
		}
	}
	for op, codes := range codeKinds {
		for status, k := range codes {
			if got := lookup(op, k).Status; got != status {
				t.Errorf("%s: codeKinds reads %d as %s, which replies answers %d", op, status, k, got)
			}
		}
	}
}

// The Wire reads replies in the contract's terms.
func TestWireFollowsTheContract(t *testing.T) {
	doc := migratetest.Documented(t, "../../contracts/caraccessories.yaml", func(path, _ string) string { return path[1:] })
	migratetest.CheckWire(t, New(nil, Options{}), doc, func(c string) []byte { return []byte(`{"status":` + c + `,"msg":"x"}`) })
	for op, codes := range codeKinds {
		for status := range codes {
			if doc[op][strconv.Itoa(status)] == nil {
				t.Errorf("%s: status %d is not in the contract", op, status)
			}
		}
	}
}

func TestWireOutcome(t *testing.T) {
	d := New(nil, Options{})
	for _, c := range []struct {
		op, body, want string
	}{
		{opLogin, `{"status":1,"msg":"Ok"}`, "ok"},
		{opLogin, `{"status":-3,"msg":"手机号未注册"}`, "not_registered"},
		{opReset, `{"status":-3,"msg":"手机号没有注册"}`, "not_registered"},
		{opRegister, `{"status":-3,"msg":"验证码不正确"}`, "code_wrong"},
		{opLogin, `{"status":-9,"msg":"?"}`, "code -9"},
		{opLogin, `<html>`, "unreadable 200"},
	} {
		if got := d.Outcome(c.op, gateway.Params{}, 200, []byte(c.body)); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.op, c.body, got, c.want)
		}
	}
}
