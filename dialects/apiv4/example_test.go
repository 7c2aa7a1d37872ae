package apiv4_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"

	"legacyauth/core"
	"legacyauth/core/memdb"
	"legacyauth/dialects/apiv4"
	"legacyauth/gateway"
)

// lastCode is an SMS sender that keeps the last code, as the user's phone would.
type lastCode struct{ code string }

func (s *lastCode) Send(_ context.Context, m core.SMS) error { s.code = m.Code; return nil }

// An old app signs up: it asks for a code, then registers with it. Replies
// are what the Flask server printed: sorted keys, two-space indent, a
// trailing space after each comma, \u escapes, no final newline.
func Example() {
	dir, _ := os.MkdirTemp("", "apiv4-example")
	defer os.RemoveAll(dir)
	store, err := memdb.Open(dir, memdb.Options{})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	sms := &lastCode{}
	svc, err := core.New(store, store, core.Config{
		Secret: []byte("an example secret of 32 bytes!!!"),
		Sender: sms,
		Log:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	gw := gateway.New(gateway.Options{
		Mounts: []gateway.Mount{{Dialect: apiv4.New(svc, apiv4.Options{}), Prefix: apiv4.DefaultPrefix}},
		Log:    slog.New(slog.DiscardHandler),
	})
	srv := httptest.NewServer(gw)
	defer srv.Close()

	show := func(resp *http.Response, err error) {
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("%d %s\n%s\n", resp.StatusCode, resp.Header.Get("Content-Type"), strings.ReplaceAll(string(body), " \n", "·\n"))
	}
	show(http.Post(srv.URL+"/api/v4.0/sendsms/13800002901", "application/x-www-form-urlencoded", strings.NewReader("expect=0")))
	form := url.Values{
		"phone": {"13800002901"}, "name": {"于连林"}, "password": {"123456"},
		"device_identifier": {"uuid"}, "code": {"1234567"}, // codes have 6 digits: wrong
	}
	show(http.PostForm(srv.URL+"/api/v4.0/register", form))
	show(http.Get(srv.URL + "/api/v4.0/isregister/13800002901?expect=0"))

	form.Set("code", sms.code)
	resp, err := http.PostForm(srv.URL+"/api/v4.0/register", form)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var reply struct {
		Code int
		Msg  string
		Data struct {
			EnterpriseID int    `json:"enterprise_id"`
			Token        string `json:"token"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		panic(err)
	}
	fmt.Println(reply.Code, reply.Msg, reply.Data.EnterpriseID, len(reply.Data.Token))
	// Output:
	// 200 application/json
	// {
	//   "code": "200",·
	//   "msg": "\u53d1\u9001\u6210\u529f"
	// }
	// 200 application/json
	// {
	//   "code": -2,·
	//   "data": "",·
	//   "msg": "\u9a8c\u8bc1\u7801\u9519\u8bef"
	// }
	// 200 application/json
	// {
	//   "code": 200,·
	//   "data": "",·
	//   "msg": "\u624b\u673a\u53f7\u672a\u6ce8\u518c"
	// }
	// 200 注册成功 -1 32
}
