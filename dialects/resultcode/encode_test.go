package resultcode

import (
	"encoding/json"
	"testing"
)

// TestEncode: bytes as Python's json.dumps({"result": ..., "message": ...})
// wrote them (the expected strings were produced by CPython 3, except the
// invalid UTF-8 case, which a Python str cannot hold).
func TestEncode(t *testing.T) {
	str := func(s string) *string { return &s }
	cases := []struct {
		result  string
		message *string
		want    string
	}{
		{"0000", str(""), `{"result": "0000", "message": ""}`},
		{"0002", nil, `{"result": "0002", "message": null}`},
		{"0000", str("/v1/avatars/0123.png"), `{"result": "0000", "message": "/v1/avatars/0123.png"}`},
		{"0006", str("密码必须同时包含字母和数字"), `{"result": "0006", "message": "\u5bc6\u7801\u5fc5\u987b\u540c\u65f6\u5305\u542b\u5b57\u6bcd\u548c\u6570\u5b57"}`},
		{"0006", str("a\"b\\c\n\r\t\b\f\x01\x7f<>&'"), `{"result": "0006", "message": "a\"b\\c\n\r\t\b\f\u0001\u007f<>&'"}`},
		{"0006", str("😀é"), `{"result": "0006", "message": "\ud83d\ude00\u00e9"}`},
		{"0006", str("bad\xffutf8"), `{"result": "0006", "message": "bad\ufffdutf8"}`},
	}
	for _, c := range cases {
		got := string(encode(c.result, c.message))
		if got != c.want {
			t.Errorf("encode(%q, %v) =\n%s\nwant\n%s", c.result, c.message, got, c.want)
		}
		var v struct {
			Result  string  `json:"result"`
			Message *string `json:"message"`
		}
		if err := json.Unmarshal([]byte(got), &v); err != nil || v.Result != c.result {
			t.Errorf("encode(%q): not the JSON it claims: %v", c.result, err)
		}
	}
}
