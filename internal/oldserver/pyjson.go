package oldserver

import (
	"fmt"
	"sort"
	"strconv"
	"unicode/utf16"
)

// dict is a Python dict as the old views built it. Keys are written in
// the order given by keys (Python 2 dicts have no order of their own: the
// Flask server sorted them; the Pyramid server's two keys came out as
// the gateway's golden files show).
type dict struct {
	keys []string
	vals map[string]any
}

// sorted returns a dict whose keys are written sorted, as Flask's
// jsonify (JSON_SORT_KEYS) did.
func sorted(m map[string]any) dict {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return dict{keys: keys, vals: m}
}

// ordered returns a dict written in the order of its key/value pairs.
func ordered(kv ...any) dict {
	d := dict{vals: map[string]any{}}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		d.keys = append(d.keys, k)
		d.vals[k] = kv[i+1]
	}
	return d
}

// dumps renders v as Python 2.7's json.dumps(v, indent=indent) did with
// its defaults: ensure_ascii, separators (", ", ": ") — so with an indent
// every line ending in a comma keeps a trailing space —, no newline at the
// end. indent 0 is the one-line form. v holds dict, map[string]any
// (sorted), string, int, bool or nil.
func dumps(v any, indent int) []byte {
	var b []byte
	var enc func(v any, depth int)
	newline := func(depth int) {
		if indent > 0 {
			b = append(b, '\n')
			for range depth * indent {
				b = append(b, ' ')
			}
		}
	}
	enc = func(v any, depth int) {
		switch v := v.(type) {
		case nil:
			b = append(b, "null"...)
		case bool:
			b = strconv.AppendBool(b, v)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case string:
			b = pyString(b, v)
		case map[string]any:
			enc(sorted(v), depth)
		case dict:
			if len(v.keys) == 0 {
				b = append(b, "{}"...)
				return
			}
			b = append(b, '{')
			for i, k := range v.keys {
				if i > 0 {
					b = append(b, ", "...)
				}
				newline(depth + 1)
				b = pyString(b, k)
				b = append(b, ": "...)
				enc(v.vals[k], depth+1)
			}
			newline(depth)
			b = append(b, '}')
		default:
			panic(fmt.Sprintf("oldserver: dumps cannot render %T", v))
		}
	}
	enc(v, 0)
	return b
}

// pyString is encode_basestring_ascii: printable ASCII as is, the short
// escapes, everything else \uXXXX in lowercase hex (surrogate pairs above
// the BMP).
func pyString(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	u4 := func(r rune) {
		b = append(b, '\\', 'u', hexd[r>>12&15], hexd[r>>8&15], hexd[r>>4&15], hexd[r&15])
	}
	b = append(b, '"')
	for _, r := range s {
		switch r {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		default:
			switch {
			case r >= ' ' && r <= '~':
				b = append(b, byte(r))
			case r > 0xffff:
				hi, lo := utf16.EncodeRune(r)
				u4(hi)
				u4(lo)
			default:
				u4(r)
			}
		}
	}
	return append(b, '"')
}
