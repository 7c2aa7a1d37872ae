package gateway

import (
	"errors"
	"slices"
	"testing"

	"legacyauth/core"
)

func TestValidateMessagesInChinese(t *testing.T) {
	type req struct {
		Phone    string `label:"手机号" validate:"required,mobile"`
		Password string `label:"密码" validate:"required,min=8,letters_digits"`
	}
	cases := []struct {
		name string
		in   req
		want string // "" means valid
	}{
		{"valid", req{"13812341234", "abc12345"}, ""},
		{"missing phone", req{"", "abc12345"}, "手机号为必填字段"},
		{"bad phone", req{"23812341234", "abc12345"}, "手机号必须是1开头的11位手机号"},
		{"short password", req{"13812341234", "abc1"}, "密码长度必须至少为8个字符"},
		{"no digit", req{"13812341234", "abcdefghi"}, "密码必须同时包含字母和数字"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(c.in)
			if c.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if core.KindOf(err) != core.Invalid {
				t.Fatalf("kind = %v, want invalid (err %v)", core.KindOf(err), err)
			}
			var ce *core.Error
			if !errors.As(err, &ce) || ce.Msg != c.want {
				t.Fatalf("message = %q, want %q", ce.Msg, c.want)
			}
		})
	}
}

func TestDecodeJSONObject(t *testing.T) {
	cases := []struct {
		name, body string
		want       map[string]string // nil: refused
	}{
		{"plain", `{"mobile": "13800000000"}`, map[string]string{"mobile": "13800000000"}},
		{"trailing comma", "{\n\"mobile\": \"1\", \n}", map[string]string{"mobile": "1"}},
		{"comma inside a string kept", `{"a": "x,}"}`, map[string]string{"a": "x,}"}},
		{"same key same value", `{"a": "1", "a": "1"}`, map[string]string{"a": "1"}},
		{"same key other value", `{"a": "1", "a": "2"}`, nil},
		{"number for string", `{"a": 1}`, nil},
		{"null is absent", `{"a": null}`, map[string]string{}},
		{"array", `["a"]`, nil},
		{"two objects", `{"a": "1"}{"b": "2"}`, nil},
		{"truncated", `{"a": "1"`, nil},
		{"empty object", `{}`, map[string]string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := decodeJSONObject([]byte(c.body))
			if c.want == nil {
				if err == nil || HTTPStatus(err) != 400 {
					t.Fatalf("got %v, %v; want a 400 BadInput", got, err)
				}
				return
			}
			if err != nil || len(got.values) != len(c.want) {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
			for k, v := range c.want {
				if got.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, got.Get(k), v)
				}
			}
		})
	}
}

// A JSON body's parameters keep the order of its keys, as a query's do,
// so which of several faulty fields is reported does not vary.
func TestDecodeJSONObjectKeepsOrder(t *testing.T) {
	got, err := decodeJSONObject([]byte(`{"z": "1", "a": "2", "m": "3", "a": "2", "b": null, "c": "4",}`))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, kv := range got.values {
		names = append(names, kv.name)
	}
	if want := []string{"z", "a", "m", "c"}; !slices.Equal(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
}
