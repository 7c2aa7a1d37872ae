package gateway

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// expectQuery is what ReadParams must make of a query, by its definition:
// url.ParseQuery's parse; any syntax error refuses it as malformed; a name
// sent twice with different values, or a name or value that is not clean
// text, refuses it too; otherwise one value per name.
func expectQuery(q string) (map[string]string, string) {
	v, err := url.ParseQuery(q)
	if err != nil {
		return nil, "请求参数格式错误"
	}
	out := map[string]string{}
	for name, vals := range v {
		for _, val := range vals[1:] {
			if val != vals[0] {
				return nil, "refused"
			}
		}
		if !cleanText(name) || !cleanText(vals[0]) {
			return nil, "refused"
		}
		out[name] = vals[0]
	}
	return out, ""
}

func checkQuery(t *testing.T, q string) {
	t.Helper()
	want, wantErr := expectQuery(q)
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r.URL.RawQuery = q
	p, err := ReadParams(r, Query)
	var bad *BadInput
	switch {
	case wantErr != "" && err == nil:
		t.Fatalf("query %q: accepted as %v, want it refused", q, p.values)
	case wantErr == "" && err != nil:
		t.Fatalf("query %q: refused (%v), want %v", q, err, want)
	case err != nil && !errors.As(err, &bad):
		t.Fatalf("query %q: error %T, want *BadInput", q, err)
	case err != nil && bad.Status != http.StatusBadRequest:
		t.Fatalf("query %q: status %d, want 400", q, bad.Status)
	case wantErr == "请求参数格式错误" && bad.Err.Msg != wantErr:
		t.Fatalf("query %q: %q, want the malformed-query message", q, bad.Err.Msg)
	case err == nil:
		if len(p.values) != len(want) {
			t.Fatalf("query %q: %d parameters %v, want %v", q, len(p.values), p.values, want)
		}
		for name, val := range want {
			if i := p.find(name); i < 0 || p.values[i].value != val {
				t.Fatalf("query %q: %q = %q (present %v), want %q", q, name, p.Get(name), i >= 0, val)
			}
		}
	}
}

// ReadParams parses a query as url.ParseQuery does, without its map:
// random queries over an alphabet of separators, escapes (good and
// broken), semicolons, controls and repeated names agree with the
// definition above.
func TestReadParamsQueryAgreesWithParseQuery(t *testing.T) {
	for _, q := range []string{"", "&", "&&a=1&", "a", "a=", "=1", "a=1&a=1", "a=1&a=2", "a=1;b=2", "a=%41", "a=%4", "a=%zz", "%61=1&a=1",
		"a=+b", "a=%00", "a=%7f", "a=%C2%80", "a=%ff", "userId=13800003100&expect=0"} {
		checkQuery(t, q)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	alphabet := []string{"a", "b", "c", "=", "=", "&", "&", ";", "%41", "%4", "%", "+", "1", "2", "%20", "é", "%e9", "%00", "\x01", "%2B", "%26"}
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(10) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		checkQuery(t, b.String())
	}
}

// Past indexFrom names Params keeps an index: lookups, repeats with the
// same value and pollution still behave, at every size around the switch.
func TestParamsManyNames(t *testing.T) {
	for n := indexFrom - 2; n <= indexFrom+3; n++ {
		var q []string
		for i := range n {
			q = append(q, fmt.Sprintf("k%d=v%d", i, i))
		}
		same := strings.Join(append(q, "k0=v0", fmt.Sprintf("k%d=v%d", n-1, n-1)), "&")
		checkQuery(t, same)
		checkQuery(t, strings.Join(append(q, fmt.Sprintf("k%d=other", n-1)), "&"))
		p := NewParams("a", "1", "b", "2")
		for i := range n {
			p.set(fmt.Sprintf("k%d", i), fmt.Sprint(i))
		}
		p.set("a", "3")
		if p.Get("a") != "3" || p.Get("b") != "2" || p.Get(fmt.Sprintf("k%d", n-1)) != fmt.Sprint(n-1) || p.Get("absent") != "" {
			t.Fatalf("n=%d: a=%q b=%q last=%q absent=%q", n, p.Get("a"), p.Get("b"), p.Get(fmt.Sprintf("k%d", n-1)), p.Get("absent"))
		}
		if len(p.values) != n+2 {
			t.Fatalf("n=%d: %d values, want %d", n, len(p.values), n+2)
		}
	}
}

// A form body is parsed the same way, with the form's message.
func TestReadParamsForm(t *testing.T) {
	for body, want := range map[string]string{"a=1&b=%E4%BD%A0": "", "a=1;b=2": "表单格式错误", "a=%zz": "表单格式错误", "a=1&a=2": "参数a重复且取值不同"} {
		r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		p, err := ReadParams(r, Form)
		var bad *BadInput
		switch {
		case want == "" && (err != nil || p.Get("a") != "1" || p.Get("b") != "你"):
			t.Errorf("%q: %v, a=%q b=%q", body, err, p.Get("a"), p.Get("b"))
		case want != "" && (!errors.As(err, &bad) || bad.Err.Msg != want):
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}
