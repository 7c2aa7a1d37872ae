package v1

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

func marshalIntrospection(t testing.TB, active bool, u User, exp time.Time) []byte {
	want, err := json.Marshal(struct {
		Active    bool      `json:"active"`
		User      User      `json:"user"`
		ExpiresAt time.Time `json:"expires_at"`
	}{active, u, exp})
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// hostileStrings are ordinary and hostile field values: every byte and
// some runes on their own, and random strings of characters JSON escapes.
func hostileStrings() []string {
	strs := []string{"", "0123456789abcdef0123456789abcdef", "+8613812345678", "张伟", "小张", "1",
		"/v1/avatars/ab.jpg", `a"b\c`, "<script>&amp;</script>", "line\nbreak\ttab\r\b\f\x00\x1f\x7f",
		"\u2028\u2029", "\xff\xfe", "a\xc3", "\xed\xa0\x80", "😀 emoji", "\uFFFD", "ok\u00e9\u0080"}
	for c := 0; c < 256; c++ {
		strs = append(strs, string([]byte{byte(c)}), "x"+string([]byte{byte(c)})+"y")
	}
	for _, r := range []rune{0x80, 0x7ff, 0x800, 0x2027, 0x2028, 0x2029, 0x202a, 0xfffd, 0xffff, 0x10000, 0x10ffff} {
		strs = append(strs, string(r))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "\"", "\\", "<", ">", "&", "\n", "\x01", "\x7f", "é", "张", "\u2028", "\xff", "\xe2\x80", "😀", " "}
	for range 2000 {
		var b []byte
		for range rng.IntN(12) {
			b = append(b, alphabet[rng.IntN(len(alphabet))]...)
		}
		strs = append(strs, string(b))
	}
	return strs
}

// The hand-written introspection reply is json.Marshal's, byte for byte:
// hostile strings, and times with and without fractions.
func TestAppendIntrospectionMatchesEncodingJSON(t *testing.T) {
	exp := time.Date(2026, 11, 21, 15, 4, 5, 123456789, time.UTC)
	strs := hostileStrings()
	times := []time.Time{exp, exp.Truncate(time.Second), exp.Truncate(time.Millisecond), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 100, time.FixedZone("", 8*3600))}
	check := func(active bool, u User, tm time.Time) {
		t.Helper()
		want := marshalIntrospection(t, active, u, tm)
		got, ok := appendIntrospection(nil, active, u, tm)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("user %+v at %v:\n got %s (ok %v)\nwant %s", u, tm, got, ok, want)
		}
	}
	for i, s := range strs {
		check(i%2 == 0, User{ID: s, Phone: s, Name: s, Nickname: s, Gender: s, Avatar: s}, times[i%len(times)])
		check(true, User{ID: "id", Name: s, Avatar: strs[(i*7)%len(strs)]}, exp)
	}
	for _, y := range []int{-1, 10000} {
		if _, ok := appendIntrospection(nil, true, User{}, time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)); ok {
			t.Errorf("year %d: ok, want a fall back to encoding/json (which refuses it)", y)
		}
	}
}

func FuzzAppendIntrospection(f *testing.F) {
	f.Add("id", "+8613812345678", "张伟", "<&>", "1", "/a\u2028\xff", int64(1_800_000_000_123_456_789))
	f.Fuzz(func(t *testing.T, id, phone, name, nick, gender, avatar string, ns int64) {
		tm := time.Unix(0, ns).UTC()
		u := User{id, phone, name, nick, gender, avatar}
		got, ok := appendIntrospection(nil, true, u, tm)
		if !ok {
			return
		}
		if want := marshalIntrospection(t, true, u, tm); !bytes.Equal(got, want) {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	})
}

// The hand-written problem body is json.Marshal's, byte for byte, with
// and without a detail.
func TestAppendProblemMatchesEncodingJSON(t *testing.T) {
	strs := hostileStrings()
	for i, s := range strs {
		for _, p := range []Problem{
			{Type: ProblemTypeBase + s, Title: s, Status: 400 + i%200, Detail: s, Code: s},
			{Type: strs[(i*7)%len(strs)], Title: "Not Found", Status: -i, Code: strs[(i*3)%len(strs)]},
		} {
			want, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendProblem(nil, p); !bytes.Equal(got, want) {
				t.Fatalf("%+v:\n got %s\nwant %s", p, got, want)
			}
		}
	}
}
