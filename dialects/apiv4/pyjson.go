package apiv4

import (
	"fmt"
	"sort"
	"strconv"

	"legacyauth/dialects/internal/pyjson"
)

// object is a JSON object. Its keys are written sorted, as Flask's jsonify
// did (JSON_SORT_KEYS).
type object map[string]any

// pyJSON renders v byte for byte as Python 2's json.dumps(v, indent=2,
// sort_keys=True) did under Flask 0.10's jsonify: keys sorted, two spaces
// per level, the default separators (", " and ": ", so every line that ends
// with a comma ends with ", " — a trailing space), non-ASCII and control
// characters escaped as \uXXXX in lowercase hex (characters outside the BMP
// as a surrogate pair), and no newline after the last brace. With indent 0
// it renders Python's one-line form (`{"a": 1, "b": 2}`), which Flask sent
// to XMLHttpRequest callers.
//
// v may hold object, map[string]any, string, int, bool and nil; anything
// else is a programming error and panics.
func pyJSON(v any, indent int) []byte {
	e := pyEncoder{indent: indent}
	e.value(v, 0)
	return e.buf
}

type pyEncoder struct {
	buf    []byte
	indent int
}

func (e *pyEncoder) value(v any, depth int) {
	switch v := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case bool:
		e.buf = strconv.AppendBool(e.buf, v)
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(v), 10)
	case string:
		e.string(v)
	case object:
		e.object(v, depth)
	case map[string]any:
		e.object(v, depth)
	default:
		panic(fmt.Sprintf("apiv4: pyJSON cannot render %T", v))
	}
}

func (e *pyEncoder) object(m map[string]any, depth int) {
	if len(m) == 0 {
		e.buf = append(e.buf, "{}"...)
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Byte order of UTF-8 is code point order, which is how Python sorts
	// unicode keys (all keys here are ASCII anyway).
	sort.Strings(keys)
	e.buf = append(e.buf, '{')
	for i, k := range keys {
		if i > 0 {
			e.buf = append(e.buf, ", "...)
		}
		e.newline(depth + 1)
		e.string(k)
		e.buf = append(e.buf, ": "...)
		e.value(m[k], depth+1)
	}
	e.newline(depth)
	e.buf = append(e.buf, '}')
}

func (e *pyEncoder) newline(depth int) {
	if e.indent <= 0 {
		return
	}
	e.buf = append(e.buf, '\n')
	for range depth * e.indent {
		e.buf = append(e.buf, ' ')
	}
}

// string follows Python 2's encode_basestring_ascii.
func (e *pyEncoder) string(s string) { e.buf = pyjson.AppendString(e.buf, s) }
