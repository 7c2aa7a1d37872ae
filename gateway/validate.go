package gateway

import (
	"errors"
	"reflect"
	"strings"
	"unicode"

	"github.com/go-playground/locales/zh"
	ut "github.com/go-playground/universal-translator"
	"github.com/go-playground/validator/v10"
	zhtrans "github.com/go-playground/validator/v10/translations/zh"

	"legacyauth/core"
)

// The one validator instance every dialect shares (it caches struct
// metadata, so one instance is also the cheap choice). Struct fields name
// themselves in messages by their `label` tag.
var (
	validate   = validator.New(validator.WithRequiredStructEnabled())
	translator ut.Translator
)

func init() {
	translator, _ = ut.New(zh.New()).GetTranslator("zh")
	if err := zhtrans.RegisterDefaultTranslations(validate, translator); err != nil {
		panic(err) // the library's own table: fails only on a programming error
	}
	validate.RegisterTagNameFunc(func(f reflect.StructField) string {
		if l := f.Tag.Get("label"); l != "" {
			return l
		}
		return f.Name
	})
	custom := []struct {
		tag, msg string
		fn       validator.Func
	}{
		// mobile: a mainland mobile number, ^1\d{10}$.
		{"mobile", "{0}必须是1开头的11位手机号", func(fl validator.FieldLevel) bool {
			return core.IsMainlandMobile(fl.Field().String())
		}},
		// letters_digits: at least one letter and one digit (resultcode's password rule).
		{"letters_digits", "{0}必须同时包含字母和数字", func(fl validator.FieldLevel) bool {
			s := fl.Field().String()
			return strings.IndexFunc(s, unicode.IsLetter) >= 0 && strings.IndexFunc(s, unicode.IsDigit) >= 0
		}},
	}
	for _, c := range custom {
		if err := validate.RegisterValidation(c.tag, c.fn); err != nil {
			panic(err)
		}
		if err := validate.RegisterTranslation(c.tag, translator,
			func(ut ut.Translator) error { return ut.Add(c.tag, c.msg, true) },
			func(ut ut.Translator, fe validator.FieldError) string {
				t, _ := ut.T(c.tag, fe.Field())
				return t
			}); err != nil {
			panic(err)
		}
	}
}

// Validate checks a struct's `validate` tags. It returns nil or a
// *core.Error of kind Invalid whose message is the first failure, in
// Chinese, naming the field by its label (e.g. "手机号为必填字段").
func Validate(v any) error {
	err := validate.Struct(v)
	if err == nil {
		return nil
	}
	var fes validator.ValidationErrors
	if errors.As(err, &fes) && len(fes) > 0 {
		return core.E("gateway.Validate", core.Invalid, fes[0].Translate(translator))
	}
	return core.Wrap("gateway.Validate", core.Internal, err)
}
