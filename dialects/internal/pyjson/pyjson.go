// Package pyjson writes JSON strings byte for byte as Python's json module
// did with ensure_ascii (the default), which both the Flask (apiv4) and the
// Pyramid (resultcode) servers used.
package pyjson

import "unicode/utf16"

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string the way Python's
// encode_basestring_ascii did: printable ASCII (space to '~') as is; '"',
// '\\' and the five short escapes in backslash form; everything else as
// \uXXXX in lowercase hex, characters outside the BMP as a surrogate pair.
// Invalid UTF-8 decodes to U+FFFD; the gateway refuses such input before
// it could reach a reply.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, `\"`...)
		case r == '\\':
			b = append(b, `\\`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\b':
			b = append(b, `\b`...)
		case r == '\f':
			b = append(b, `\f`...)
		case r >= ' ' && r <= '~':
			b = append(b, byte(r))
		case r > 0xffff:
			hi, lo := utf16.EncodeRune(r)
			b = appendU4(appendU4(b, hi), lo)
		default:
			b = appendU4(b, r)
		}
	}
	return append(b, '"')
}

func appendU4(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}
