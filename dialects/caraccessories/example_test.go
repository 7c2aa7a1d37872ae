package caraccessories_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"legacyauth/core"
	"legacyauth/core/memdb"
	"legacyauth/dialects/caraccessories"
	"legacyauth/gateway"
)

// phone is what the example's SMS sender delivers to: the last code.
type phone struct{ code string }

func (p *phone) Send(_ context.Context, m core.SMS) error { p.code = m.Code; return nil }

// The old app's sign-up: ask for a code, register with it, log in. Every
// reply is {"status":..,"msg":..}; registration and login also set the
// JSESSIONID cookie on the mount prefix.
func Example() {
	dir, _ := os.MkdirTemp("", "caraccessories-example")
	defer os.RemoveAll(dir)
	store, err := memdb.Open(dir, memdb.Options{SweepInterval: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	sms := &phone{}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := core.New(store, store, core.Config{
		Secret: []byte("an example secret of at least 32 bytes"),
		Hash:   core.HashParams{MemoryKiB: 64, Time: 1, Threads: 1},
		Sender: sms,
		Log:    quiet,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	gw := gateway.New(gateway.Options{
		Mounts: []gateway.Mount{{Dialect: caraccessories.New(svc, caraccessories.Options{}), Prefix: caraccessories.DefaultPrefix}},
		Log:    quiet,
	})
	post := func(endpoint, body string) {
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, caraccessories.DefaultPrefix+endpoint, strings.NewReader(body)))
		fmt.Println(endpoint, rec.Code, rec.Body)
		if c := rec.Result().Cookies(); len(c) == 1 {
			fmt.Printf("  cookie %s, path %s\n", c[0].Name, c[0].Path)
		}
	}

	post("/get_verification_code", `{"mobile": "13800001999", }`) // the document's trailing comma
	fmt.Println("  code of", len(sms.code), "digits")
	post("/registration", `{"mobile": "13800001999", "code": "`+sms.code+`", "password": "12345"}`)
	post("/registration", `{"mobile": "13800001999", "code": "`+sms.code+`", "password": "12345"}`)
	post("/login", `{"mobile": "13800001999", "password": "1234"}`)
	post("/login", `{"mobile": "13800001999", "password": "12345"}`)
	post("/login", `{"mobile": "138"}`)
	// Output:
	// /get_verification_code 200 {"status":1,"msg":"Ok"}
	//   code of 5 digits
	// /registration 200 {"status":1,"msg":"Ok"}
	//   cookie JSESSIONID, path /caraccessories/app
	// /registration 200 {"status":-5,"msg":"手机号已注册"}
	// /login 200 {"status":-4,"msg":"密码不正确"}
	// /login 200 {"status":1,"msg":"Ok"}
	//   cookie JSESSIONID, path /caraccessories/app
	// /login 200 {"status":-1,"msg":"手机号必须是1开头的11位手机号"}
}
