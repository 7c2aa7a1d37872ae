package fuzzkit

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"legacyauth/core"
)

const goldenCase = `# two requests, one with a code, one with a form body
setup register 13800000001 111111
setup code 13800000001 reset
setup register 13800000002 222222
-- request 1 --
GET /api/v4.0/login?phone=13800000001&code={{code}}
-- response 1 --
200

{}
-- request 2 --
POST /api/v4.0/register
content-type :  application/x-www-form-urlencoded
X-Other: 1

phone=13800000002&password=222222

-- response 2 --
200

{}
`

func writeCase(t *testing.T, name, text string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "apiv4")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReadSeeds(t *testing.T) {
	dir := writeCase(t, "a.txtar", goldenCase)
	wantAccounts := map[string]string{"13800000001": "111111", "13800000002": "222222"}
	for _, tc := range []struct {
		prefix string
		want   []Seed
	}{
		{"", []Seed{
			{Method: "GET", Target: "/api/v4.0/login?phone=13800000001&code=12345", Body: []byte{}},
			{Method: "POST", Target: "/api/v4.0/register", ContentType: "application/x-www-form-urlencoded", Body: []byte("phone=13800000002&password=222222\n")},
		}},
		{"/api/v4.0", []Seed{
			{Method: "GET", Target: "/login?phone=13800000001&code=12345", Body: []byte{}},
			{Method: "POST", Target: "/register", ContentType: "application/x-www-form-urlencoded", Body: []byte("phone=13800000002&password=222222\n")},
		}},
	} {
		seeds, accounts, err := ReadSeeds(dir, tc.prefix)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(seeds, tc.want) {
			t.Errorf("prefix %q: seeds\n%q\nwant\n%q", tc.prefix, seeds, tc.want)
		}
		if !reflect.DeepEqual(accounts, wantAccounts) {
			t.Errorf("prefix %q: accounts %v, want %v", tc.prefix, accounts, wantAccounts)
		}
	}
}

func TestReadSeedsRefuses(t *testing.T) {
	if _, _, err := ReadSeeds(t.TempDir(), ""); err == nil {
		t.Error("a directory without golden cases gave no error")
	}
	dir := writeCase(t, "bad.txtar", "-- request --\nGARBAGE\n-- response --\n200\n")
	if _, _, err := ReadSeeds(dir, ""); err == nil {
		t.Error("a request without a target gave no error")
	}
}

// TestReadSeedsGolden reads the module's own golden cases, as the fuzz
// targets do.
func TestReadSeedsGolden(t *testing.T) {
	for _, d := range []string{"apiv4", "caraccessories", "resultcode"} {
		seeds, accounts, err := ReadSeeds(filepath.Join("..", "..", "testdata", d), "")
		if err != nil {
			t.Fatal(err)
		}
		if len(seeds) == 0 || len(accounts) == 0 {
			t.Errorf("%s: %d seeds, %d accounts", d, len(seeds), len(accounts))
		}
		for _, s := range seeds {
			if Request(s.Method, s.Target, s.ContentType, s.Body) == nil {
				t.Errorf("%s: seed %q %q makes no request", d, s.Method, s.Target)
			}
		}
	}
}

func TestRequest(t *testing.T) {
	r := Request("POST", "/x/login?a=1", "application/json", []byte(`{"a":1}`))
	if r == nil {
		t.Fatal("no request")
	}
	body, _ := io.ReadAll(r.Body)
	if r.Method != "POST" || r.URL.Path != "/x/login" || r.URL.RawQuery != "a=1" || r.Host != "fuzz.test" ||
		r.Header.Get("Content-Type") != "application/json" || r.ContentLength != 7 || string(body) != `{"a":1}` ||
		r.RemoteAddr != "192.0.2.1:1234" {
		t.Errorf("request %+v, body %q", r, body)
	}
	if r := Request("GET", "/", "", nil); r == nil || r.Header.Get("Content-Type") != "" || r.ContentLength != 0 {
		t.Errorf("bodiless GET: %+v", r)
	}
	for _, in := range [][3]string{
		{"GET", "/a\r\nX-Injected: 1", ""},
		{"GET", "/", "text/plain\nX-Injected: 1"},
		{"GET", "/a b", ""},
		{"G(T", "/", ""},
		{"GET", "", ""},
	} {
		if r := Request(in[0], in[1], in[2], nil); r != nil {
			t.Errorf("Request(%q, %q, %q) = %+v, want nil", in[0], in[1], in[2], r)
		}
	}
}

func TestWatchdog(t *testing.T) {
	if !Watchdog("GET", "/", "", nil).Stop() {
		t.Error("the watchdog went off at once")
	}
}

func TestService(t *testing.T) {
	svc := Service(t, map[string]string{"13800000001": "111111", "13800000002": "222222"})
	ctx := context.Background()
	for phone, pw := range map[string]string{"13800000001": "111111", "13800000002": "222222"} {
		if _, err := svc.Login(ctx, core.LoginRequest{Phone: phone, Password: pw}); err != nil {
			t.Errorf("login %s: %v", phone, err)
		}
	}
	if _, err := svc.Login(ctx, core.LoginRequest{Phone: "13800000001", Password: "222222"}); core.KindOf(err) != core.WrongPassword {
		t.Errorf("a wrong password: %v", err)
	}
	if _, err := svc.Login(ctx, core.LoginRequest{Phone: "13800000003", Password: "111111"}); core.KindOf(err) != core.NotRegistered {
		t.Errorf("an unknown phone: %v", err)
	}
}

// FuzzHandlerPlumbing checks that FuzzHandler serves the request Request
// builds (it echoes the body) and skips the inputs a server would refuse.
func FuzzHandlerPlumbing(f *testing.F) {
	f.Add("POST", "/echo?q=1", "text/plain", []byte("hello"))
	f.Add("GET", "/echo", "", []byte{})
	f.Add("GET", "/a\r\nX: 1", "", []byte{}) // refused: never served
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "fuzz.test" || r.RemoteAddr != "192.0.2.1:1234" || r.Method == "" {
			w.WriteHeader(http.StatusTeapot)
		}
		w.Header().Set("X-Length", strconv.FormatInt(r.ContentLength, 10))
		io.Copy(w, r.Body)
	})
	FuzzHandler(f, h, func(w *httptest.ResponseRecorder) string {
		if w.Code != http.StatusOK || w.Header().Get("X-Length") != strconv.Itoa(w.Body.Len()) {
			return "the handler did not get the request Request builds"
		}
		return ""
	})
}

func TestCheckHead(t *testing.T) {
	reply := func(code int, ct, body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(code)
		w.WriteString(body)
		return w
	}
	for _, tc := range []struct {
		w    *httptest.ResponseRecorder
		msg  string
		done bool
	}{
		{reply(http.StatusNotFound, "text/plain; charset=utf-8", "404 page not found\n"), "", true},
		{reply(http.StatusNotFound, "application/json", `{}`), "unexpected 404 body", true},
		{reply(http.StatusInternalServerError, "application/json", `{}`), "HTTP status 500 is not in the contract", true},
		{reply(http.StatusOK, "text/html", `{}`), `Content-Type "text/html"`, true},
		{reply(http.StatusOK, "application/json", `{}`), "", false},
		{reply(http.StatusBadRequest, "application/json", `{}`), "", false},
		{reply(http.StatusMethodNotAllowed, "application/json", `{}`), "", false},
		{reply(http.StatusRequestEntityTooLarge, "application/json", `{}`), "", false},
		{reply(http.StatusUnsupportedMediaType, "application/json", `{}`), "", false},
	} {
		if msg, done := CheckHead(tc.w, "application/json"); msg != tc.msg || done != tc.done {
			t.Errorf("%d %q: CheckHead = %q, %v; want %q, %v", tc.w.Code, tc.w.Body.String(), msg, done, tc.msg, tc.done)
		}
	}
}

// TestGateway checks that a path no dialect serves gets the reply
// CheckHead takes for the gateway's own 404.
func TestGateway(t *testing.T) {
	w := httptest.NewRecorder()
	Gateway().ServeHTTP(w, Request("GET", "/nowhere", "", nil))
	if msg, done := CheckHead(w, "application/json"); msg != "" || !done {
		t.Errorf("a path no dialect serves: %d %q: %q, %v", w.Code, w.Body.String(), msg, done)
	}
}
