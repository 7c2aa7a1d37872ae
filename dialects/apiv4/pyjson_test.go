package apiv4

import (
	"strings"
	"testing"
)

// The seed's captures of the Flask server, byte for byte: every line that
// ends with a comma ends with ", " (Python 2's item separator under
// indent), and there is no newline after the last brace. The register and
// login captures were edited by hand in the document (missing commas,
// unsorted keys); here they are what the server printed for the same
// values, keys sorted.
const (
	captureSendSMS = `{
  "code": "200", 
  "msg": "\u53d1\u9001\u6210\u529f"
}`
	captureIsRegister = `{
  "code": -1, 
  "data": "", 
  "msg": "\u624b\u673a\u53f7\u5df2\u7ecf\u88ab\u6ce8\u518c"
}`
	captureRegister = `{
  "code": 200, 
  "data": {
    "apply": {}, 
    "change_device": false, 
    "enterprise_id": -1, 
    "name": "asdasd", 
    "token": "9ea13c9003d53e4e17b0b9aaf1e634b0", 
    "user_id": "f223fa5c92e846349031b0eb06868478"
  }, 
  "msg": "\u6ce8\u518c\u6210\u529f"
}`
	captureLogin = `{
  "code": 200, 
  "data": {
    "apply": {
      "apply_eid": 1, 
      "apply_name": "apple", 
      "apply_state": "0"
    }, 
    "change_device": false, 
    "enterprise_id": "-1", 
    "name": "asdasd", 
    "token": "5a2dd48054d694b0fcaeef1ecca767a2", 
    "user_id": "f223fa5c92e846349031b0eb06868478"
  }, 
  "msg": "\u767b\u5f55\u6210\u529f"
}`
	captureVerifyCode = `{
  "code": 200, 
  "data": "", 
  "msg": "\u9a8c\u8bc1\u7801\u6b63\u786e"
}`
	captureForgetPassword = `{
  "code": 200, 
  "data": "", 
  "msg": "\u4fee\u6539\u6210\u529f"
}`
)

func TestPyJSONMatchesCaptures(t *testing.T) {
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"sendsms", object{"code": "200", "msg": "发送成功"}, captureSendSMS},
		{"isregister", object{"code": -1, "data": "", "msg": "手机号已经被注册"}, captureIsRegister},
		{"register", object{"code": 200, "msg": "注册成功", "data": object{
			"change_device": false, "enterprise_id": -1, "token": "9ea13c9003d53e4e17b0b9aaf1e634b0",
			"user_id": "f223fa5c92e846349031b0eb06868478", "name": "asdasd", "apply": object{},
		}}, captureRegister},
		{"login", object{"code": 200, "msg": "登录成功", "data": object{
			"apply":         map[string]any{"apply_eid": 1, "apply_name": "apple", "apply_state": "0"},
			"change_device": false, "enterprise_id": "-1", "token": "5a2dd48054d694b0fcaeef1ecca767a2",
			"user_id": "f223fa5c92e846349031b0eb06868478", "name": "asdasd",
		}}, captureLogin},
		{"verify_code", object{"code": 200, "data": "", "msg": "验证码正确"}, captureVerifyCode},
		{"forget_password", object{"code": 200, "data": "", "msg": "修改成功"}, captureForgetPassword},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(c.want, ", \n") {
				t.Fatal("the capture lost its trailing spaces (an editor stripped them?)")
			}
			if got := string(pyJSON(c.v, 2)); got != c.want {
				t.Errorf("pyJSON =\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}

// Expected values come from CPython: json.dumps(v, indent=2,
// sort_keys=True, separators=(", ", ": ")), the defaults of Python 2.
func TestPyJSONEscapesAsPython(t *testing.T) {
	v := object{
		"s": "emoji \U0001F600 tab\t q\" b\\ del\x7f nul\x00 \u00e9 / \u2028 \ufeff",
		"n": -1, "t": true, "f": false, "z": nil, "e": object{},
		"o": object{"b": 1, "a": "x"},
	}
	wantIndented := "{\n  \"e\": {}, \n  \"f\": false, \n  \"n\": -1, \n  \"o\": {\n    \"a\": \"x\", \n    \"b\": 1\n  }, \n" +
		`  "s": "emoji \ud83d\ude00 tab\t q\" b\\ del\u007f nul\u0000 \u00e9 / \u2028 \ufeff", ` + "\n" +
		"  \"t\": true, \n  \"z\": null\n}"
	wantCompact := `{"e": {}, "f": false, "n": -1, "o": {"a": "x", "b": 1}, ` +
		`"s": "emoji \ud83d\ude00 tab\t q\" b\\ del\u007f nul\u0000 \u00e9 / \u2028 \ufeff", "t": true, "z": null}`
	if got := string(pyJSON(v, 2)); got != wantIndented {
		t.Errorf("indented:\n got %q\nwant %q", got, wantIndented)
	}
	if got := string(pyJSON(v, 0)); got != wantCompact {
		t.Errorf("compact:\n got %q\nwant %q", got, wantCompact)
	}
	for _, s := range []struct{ in, want string }{
		{"\b\f\r\n", `"\b\f\r\n"`},
		{"\x1f ~", `"\u001f ~"`},
		{"<>&'", `"<>&'"`}, // no HTML escaping, unlike encoding/json
	} {
		if got := string(pyJSON(s.in, 2)); got != s.want {
			t.Errorf("pyJSON(%q) = %s, want %s", s.in, got, s.want)
		}
	}
}

func TestPyJSONPanicsOnUnsupportedType(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a float")
		}
	}()
	pyJSON(1.5, 2)
}
