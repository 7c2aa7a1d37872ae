package gateway

import (
	"errors"
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
