package contracts

import (
	"net/http"
	"strings"
	"testing"
)

func TestPattern(t *testing.T) {
	cases := []struct {
		golden, text string
		match        bool
	}{
		{`{"token": "{{hex32}}"}`, `{"token": "0123456789abcdef0123456789abcdef"}`, true},
		{`{"token": "{{hex32}}"}`, `{"token": "0123456789ABCDEF0123456789abcdef"}`, false},
		{`{"token": "{{hex32}}"}`, `{"token": "0123"}`, false},
		{`a.b`, `axb`, false}, // the golden text is literal, not a regexp
		{`x={{digits}};`, `x=12345;`, true},
		{`x={{any}};`, `x=anything at all;`, true},
		{`exact`, `exact `, false},
	}
	for _, c := range cases {
		if got := pattern(c.golden).MatchString(c.text); got != c.match {
			t.Errorf("pattern(%q) on %q = %v, want %v", c.golden, c.text, got, c.match)
		}
	}
}

func TestParse(t *testing.T) {
	good := "# a comment\nsetup register 13800000000 pw\nsetup option resultcode.echo_code=true\n" +
		"-- request 1 --\nGET /a\n-- response 1 --\n200\n\n{}\n-- request 2 --\nGET /b\n-- response 2 --\n404\n"
	c, err := Parse("testdata/x/case.txtar", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "x/case" || c.Dialect != "x" || len(c.Exchanges) != 2 || len(c.Setup) != 2 {
		t.Fatalf("parsed %+v", c)
	}
	if m, p := c.Exchanges[1].RequestLine(); m != "GET" || p != "/b" {
		t.Errorf("RequestLine = %s %s", m, p)
	}
	if c.Options()["resultcode.echo_code"] != "true" {
		t.Errorf("Options = %v", c.Options())
	}
	for name, bad := range map[string]string{
		"no exchanges":         "# nothing\n",
		"response first":       "-- response --\n200\n",
		"request without one":  "-- request --\nGET /\n",
		"unknown section":      "-- body --\nx\n",
		"unknown comment line": "register 1 2\n-- request --\nGET /\n-- response --\n200\n",
	} {
		if _, err := Parse("testdata/x/bad.txtar", []byte(bad)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func TestCompare(t *testing.T) {
	got := &response{status: 200, header: http.Header{"Content-Type": {"application/json"}, "Set-Cookie": {"a=1", "JSESSIONID=0123456789abcdef0123456789abcdef; Path=/"}}, body: `{"msg": "1234"}`}
	ok := "200\nContent-Type: application/json\nSet-Cookie: JSESSIONID={{hex32}}; Path=/\n\n{\"msg\": \"{{code}}\"}\n"
	if d := compare("f", 1, ok, got, "1234"); d != "" {
		t.Errorf("matching response reported: %s", d)
	}
	for name, want := range map[string]string{
		"status": "201\n\n{\"msg\": \"1234\"}\n",
		"header": "200\nContent-Type: text/plain\n\n{\"msg\": \"1234\"}\n",
		"body":   "200\n\n{\"msg\": \"9999\"}\n",
	} {
		if d := compare("f", 1, want, got, "1234"); !strings.Contains(d, name) {
			t.Errorf("%s mismatch not reported: %q", name, d)
		}
	}
}
