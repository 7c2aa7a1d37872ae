package resultcode_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"

	"legacyauth/core"
	"legacyauth/core/memdb"
	"legacyauth/dialects/resultcode"
	"legacyauth/gateway"
)

// inbox is a stand-in for the phone: it receives the SMS.
type inbox struct{ last string }

func (i *inbox) Send(_ context.Context, m core.SMS) error { i.last = m.Code; return nil }

// The old app's registration and login, step by step: send a code (the
// reply no longer echoes it), verify it (the flow is bound to the cookie
// the first reply set), register with the profile, log in.
func Example() {
	dir, _ := os.MkdirTemp("", "resultcode-example")
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := memdb.Open(dir, memdb.Options{Logger: quiet, SweepInterval: -1})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	phone := &inbox{}
	svc, err := core.New(store, store, core.Config{
		Secret: bytes.Repeat([]byte("k"), 32),
		Hash:   core.HashParams{MemoryKiB: 64, Time: 1, Threads: 1},
		Sender: phone,
		Log:    quiet,
	})
	if err != nil {
		panic(err)
	}
	gw := gateway.New(gateway.Options{
		Mounts: []gateway.Mount{{Dialect: resultcode.New(svc, resultcode.Options{}), Prefix: resultcode.DefaultPrefix}},
		Log:    quiet,
	})
	srv := httptest.NewServer(gw)
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	app := &http.Client{Jar: jar}
	show := func(resp *http.Response, err error) {
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		token := regexp.MustCompile(`"[0-9a-f]{32}"`) // the login token varies
		fmt.Println(resp.Status, token.ReplaceAllString(string(b), `"<token>"`))
	}
	form := func(path string, v url.Values) {
		show(app.Post(srv.URL+path, "application/x-www-form-urlencoded", strings.NewReader(v.Encode())))
	}

	show(app.Get(srv.URL + "/register?userId=13800003999"))
	form("/register", url.Values{"code_v": {""}, "code": {phone.last}})
	form("/register", url.Values{"register": {"1"}, "password": {"weakpassword"}})
	form("/register", url.Values{"register": {"1"}, "password": {"abc12345"}, "gender": {"1"}, "nickname": {"小明"}})
	form("/log", url.Values{"userId": {"13800003999"}, "password": {"abc12345"}})
	form("/log", url.Values{"userId": {"13800003999"}, "password": {"wrong1234"}})
	// Output:
	// 200 OK {"result": "0000", "message": ""}
	// 200 OK {"result": "0000", "message": ""}
	// 200 OK {"result": "0006", "message": "\u5bc6\u7801\u5fc5\u987b\u540c\u65f6\u5305\u542b\u5b57\u6bcd\u548c\u6570\u5b57"}
	// 200 OK {"result": "0000", "message": ""}
	// 200 OK {"result": "0000", "message": "<token>"}
	// 200 OK {"result": "0008", "message": null}
}
