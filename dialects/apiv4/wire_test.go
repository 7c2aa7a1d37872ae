package apiv4

import (
	"strconv"
	"strings"
	"testing"

	"legacyauth/core"
	"legacyauth/gateway"
	"legacyauth/gateway/migrate/migratetest"
)

// codeKinds reads back every code failureReply renders, as a kind that
// renders it.
func TestCodeKindsInvertReplies(t *testing.T) {
	for op := range okReplies {
		for _, k := range core.Kinds() {
			code := failureReply(op, core.E("test", k, "")).Code
			if _, found := codeKinds[op][code]; !found {
				t.Errorf("%s: %s answers %d, which codeKinds cannot read", op, k, code)
			}
		}
	}
	for op, codes := range codeKinds {
		for code, k := range codes {
			if got := failureReply(op, core.E("test", k, "")).Code; got != code {
				t.Errorf("%s: codeKinds reads %d as %s, which the table answers %d", op, code, k, got)
			}
		}
	}
}

// The Wire reads replies in the contract's terms, with expect=0 and 1.
func TestWireFollowsTheContract(t *testing.T) {
	doc := migratetest.Documented(t, "../../contracts/apiv4.yaml", func(path, _ string) string {
		op, _, _ := strings.Cut(path[1:], "/")
		return op
	})
	migratetest.CheckWire(t, New(nil, Options{}), doc, func(c string) []byte { return []byte(`{"code": ` + c + `, "data": "", "msg": ""}`) },
		gateway.Params{}, gateway.NewParams("expect", "1"))
	for op, codes := range codeKinds {
		for code := range codes {
			if doc[op][strconv.Itoa(code)] == nil {
				t.Errorf("%s: code %d is not in the contract", op, code)
			}
		}
	}
}

func TestWireOutcome(t *testing.T) {
	d := New(nil, Options{})
	none, expect1 := gateway.Params{}, gateway.NewParams("expect", "1")
	for _, c := range []struct {
		op     string
		p      gateway.Params
		status int
		body   string
		want   string
	}{
		{opSendSMS, none, 200, "{\n  \"code\": \"200\", \n  \"msg\": \"\\u53d1\"\n}", "ok"},
		{opSendSMS, none, 200, `{"code": -1, "data": "", "msg": ""}`, "already_registered"},
		{opSendSMS, expect1, 200, `{"code": -1, "data": "", "msg": ""}`, "not_registered"},
		{opLogin, none, 200, `{"code": -1, "data": "", "msg": ""}`, "wrong_password"},
		{opLogin, none, 405, "<!DOCTYPE HTML PUBLIC><title>405 Method Not Allowed</title>", "unreadable 405"},
	} {
		if got := d.Outcome(c.op, c.p, c.status, []byte(c.body)); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.op, c.body, got, c.want)
		}
	}
	// The core's unknown phone and wrong password are one -1 on login, as
	// the old server's are.
	if got := d.CoreOutcome(opLogin, none, "not_registered"); got != "wrong_password" {
		t.Errorf("login's not_registered reads as %q", got)
	}
	if got := d.Profile([]byte(`{"code": 200, "data": {"name": "张三"}, "msg": ""}`)); got.Name != "张三" {
		t.Errorf("profile %+v", got)
	}
}
