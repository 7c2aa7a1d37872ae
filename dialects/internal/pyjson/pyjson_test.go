package pyjson

import "testing"

// Expected values are what Python 2.7's json.dumps printed.
func TestAppendString(t *testing.T) {
	for in, want := range map[string]string{
		"":             `""`,
		"Ok":           `"Ok"`,
		"发送成功":         `"\u53d1\u9001\u6210\u529f"`,
		"a\"b\\c":      `"a\"b\\c"`,
		"\n\r\t\b\f":   `"\n\r\t\b\f"`,
		"\x00\x1f\x7f": `"\u0000\u001f\u007f"`,
		"😀":            `"\ud83d\ude00"`,
		"/<>&'":        `"/<>&'"`,
	} {
		if got := string(AppendString(nil, in)); got != want {
			t.Errorf("AppendString(%q) = %s, want %s", in, got, want)
		}
	}
}
