package jsonstr

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"
	"unicode/utf8"
)

// strings returns ordinary and hostile strings: every byte on its own and
// between letters, runes around the escaped ones, and random mixes.
func testStrings() []string {
	strs := []string{"", "0123456789abcdef", "+8613812345678", "张伟", `a"b\c`, "<script>&amp;</script>",
		"line\nbreak\ttab\r\b\f\x00\x1f\x7f", "\u2028\u2029", "\xff\xfe", "a\xc3", "\xed\xa0\x80", "😀 emoji", "\uFFFD", "ok\u00e9\u0080"}
	for c := 0; c < 256; c++ {
		strs = append(strs, string([]byte{byte(c)}), "x"+string([]byte{byte(c)})+"y")
	}
	for _, r := range []rune{0x80, 0x7ff, 0x800, 0x2027, 0x2028, 0x2029, 0x202a, 0xfffd, 0xffff, 0x10000, 0x10ffff} {
		strs = append(strs, string(r))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "\"", "\\", "<", ">", "&", "\n", "\b", "\f", "\x01", "\x7f", "é", "张", "\u2028", "\xff", "\xe2\x80", "😀", " "}
	for range 2000 {
		var b []byte
		for range rng.IntN(12) {
			b = append(b, alphabet[rng.IntN(len(alphabet))]...)
		}
		strs = append(strs, string(b))
	}
	return strs
}

func marshal(t testing.TB, s string) []byte {
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// slogQuoted is how slog's JSONHandler writes s as an attribute's value.
func slogQuoted(t testing.TB, s string) []byte {
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
			return slog.Attr{}
		}
		return a
	}})
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "", 0)
	r.AddAttrs(slog.String("k", s))
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	line := buf.Bytes()
	prefix, suffix := []byte(`{"k":`), []byte("}\n")
	if !bytes.HasPrefix(line, prefix) || !bytes.HasSuffix(line, suffix) {
		t.Fatalf("slog wrote %q", line)
	}
	return line[len(prefix) : len(line)-len(suffix)]
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, s := range testStrings() {
		if got, want := Append([]byte("x"), s), append([]byte("x"), marshal(t, s)...); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	}
}

func TestAppendSlogMatchesJSONHandler(t *testing.T) {
	for _, s := range testStrings() {
		if got, want := AppendSlog(nil, s), slogQuoted(t, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	}
}

func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "a\"b", "<&>\u2028\xff\b\f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Append(nil, s), marshal(t, s); !bytes.Equal(got, want) {
			t.Fatalf("Append(%q) = %s, want %s", s, got, want)
		}
		if got, want := AppendSlog(nil, s), slogQuoted(t, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendSlog(%q) = %s, want %s", s, got, want)
		}
	})
}

// Escaping a string in parts cut next to an ASCII byte gives the escaping
// of the whole, as AppendSlogContents promises.
func TestAppendSlogContentsInParts(t *testing.T) {
	for _, s := range testStrings() {
		whole := AppendSlogContents(nil, s)
		for cut := 0; cut <= len(s); cut++ {
			if cut > 0 && cut < len(s) && s[cut-1] >= utf8.RuneSelf && s[cut] >= utf8.RuneSelf {
				continue // not next to an ASCII byte
			}
			if parts := AppendSlogContents(AppendSlogContents(nil, s[:cut]), s[cut:]); !bytes.Equal(parts, whole) {
				t.Fatalf("%q cut at %d: %s, whole %s", s, cut, parts, whole)
			}
		}
	}
}
