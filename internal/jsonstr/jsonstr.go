// Package jsonstr appends Go strings as JSON string literals, byte for
// byte as encoding/json or log/slog's JSONHandler would: the hand-written
// encoders of hot replies and of the request log need the same output
// without reflection or a value's boxing.
package jsonstr

import "unicode/utf8"

// Append appends s quoted as encoding/json does by default (HTML escaping
// on): ", \ and the controls escaped (\b \f \n \r \t, others \u00xx), <, >
// and & as \u003c \u003e \u0026, U+2028 and U+2029 as \u2028 and \u2029,
// each invalid UTF-8 byte as \ufffd.
func Append(b []byte, s string) []byte { return appendQuoted(b, s, true) }

// AppendSlog appends s quoted as log/slog's JSONHandler does: like Append,
// but <, > and & as they are, and \b and \f as \u0008 and \u000c.
func AppendSlog(b []byte, s string) []byte { return appendQuoted(b, s, false) }

// AppendSlogContents appends s escaped as AppendSlog does, without the
// quotes: for a string written in parts. Escaping parts one by one gives
// the escaping of their concatenation when every cut is next to an ASCII
// byte (an invalid UTF-8 sequence is escaped byte by byte either way).
func AppendSlogContents(b []byte, s string) []byte { return appendEscaped(b, s, false) }

func appendQuoted(b []byte, s string, encodingJSON bool) []byte {
	return append(appendEscaped(append(b, '"'), s, encodingJSON), '"')
}

func appendEscaped(b []byte, s string, encodingJSON bool) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!encodingJSON || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b' && encodingJSON:
				b = append(b, '\\', 'b')
			case c == '\f' && encodingJSON:
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}
