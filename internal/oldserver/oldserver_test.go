package oldserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"legacyauth/contracts"
	"legacyauth/internal/oldserver"
	"legacyauth/internal/testkit"
)

// setupShim answers the golden files' set-up requests (/v1/codes and
// /v1/users, which the old servers never had) by seeding the double
// directly, and hands everything else to it.
func setupShim(s *oldserver.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		switch r.URL.Path {
		case "/v1/codes":
			_ = json.NewDecoder(r.Body).Decode(&body)
			s.SendCode(body["phone"])
			w.WriteHeader(http.StatusOK)
		case "/v1/users":
			_ = json.NewDecoder(r.Body).Decode(&body)
			s.AddUser(oldserver.User{Phone: body["phone"], Password: body["password"], DeviceID: body["device_id"]})
			w.WriteHeader(http.StatusCreated)
		default:
			s.ServeHTTP(w, r)
		}
	})
}

// differs lists the golden cases whose replies the old servers did not
// give: the gateway's deliberate departures (docs/dialects.md)
// and its own codes for outcomes the documents do not name. Every other
// case must pass against the double as it does against the gateway.
var differs = map[string]string{
	// Gateway-defined codes and transport errors (the documents name none).
	"caraccessories/get_verification_code_invalid_mobile":     "gateway's -1 invalid input",
	"caraccessories/get_verification_code_missing_mobile":     "gateway's -1 invalid input",
	"caraccessories/get_verification_code_method_not_allowed": "gateway's 405 body",
	"caraccessories/get_verification_code_form_body":          "gateway's reading of a form body",
	"caraccessories/login_missing_password":                   "gateway's -1 invalid input",
	"caraccessories/registration_malformed_json":              "gateway's 400",
	"caraccessories/registration_missing_password":            "gateway's -1 invalid input",
	"caraccessories/registration_number_value":                "gateway's -1 for a number where a string belongs",
	"caraccessories/registration_too_many_attempts":           "the gateway burns a code after 5 wrong tries",
	"caraccessories/forget_password_too_many_attempts":        "the gateway burns a code after 5 wrong tries",
	"apiv4/isregister_invalid_phone":                          "gateway's -3 invalid input",
	"apiv4/isregister_post_not_allowed":                       "gateway's 405 body (Werkzeug's is HTML)",
	"apiv4/login_invalid_phone":                               "gateway's -3 invalid input",
	"apiv4/register_code_required":                            "the old server checked no code",
	"apiv4/register_code_wrong":                               "the old server checked no code",
	"apiv4/register_code_expired":                             "the old server checked no code",
	"apiv4/register_too_many_attempts":                        "the old server checked no code",
	"apiv4/register_malformed_json":                           "the old server read no JSON body",
	"apiv4/register_number_for_string":                        "the old server read no JSON body",
	"apiv4/register_ok_json":                                  "the old server read no JSON body",
	"apiv4/register_password_too_short":                       "gateway's -3 (6-14 was the app's rule)",
	"apiv4/register_repeated_parameter":                       "gateway refuses repeated parameters",
	"apiv4/register_wrong_content_type":                       "gateway's 415",
	"apiv4/sendsms_invalid_expect":                            "gateway's -3 invalid input",
	"apiv4/sendsms_invalid_phone":                             "gateway's -3 invalid input",
	"apiv4/sendsms_json_body":                                 "the old server read no JSON body",
	"apiv4/sendsms_method_not_allowed":                        "gateway's 405 body (Werkzeug's is HTML)",
	"apiv4/verify_code_code_required":                         "gateway's -3 invalid input",
	"apiv4/verify_code_expired":                               "the old server checked no code",
	"apiv4/verify_code_post_not_allowed":                      "gateway's 405 body (Werkzeug's is HTML)",
	"apiv4/verify_code_too_many_attempts":                     "the old server checked no code",
	"apiv4/verify_code_wrong":                                 "the old server checked no code",
	"apiv4/forget_password_password_too_short":                "gateway's -3 (6-14 was the app's rule)",
	"apiv4/forget_password_used_once":                         "the old server needed no verify_code",
	"apiv4/forget_password_without_verify":                    "the old server needed no verify_code",
	"resultcode/log_invalid_phone":                            "gateway's 0009",
	"resultcode/log_json_body":                                "gateway's 415",
	"resultcode/log_method_not_allowed":                       "gateway's 405 body",
	"resultcode/log_missing_password":                         "gateway's 0009",
	"resultcode/register_method_not_allowed":                  "gateway's 405 body",
	"resultcode/register_send_ok":                             "the old server echoed the code",
	"resultcode/register_send_repeated_userid":                "gateway refuses repeated parameters",
	"resultcode/register_step2_bad_gender":                    "the old server echoed the code; message null",
	"resultcode/register_step2_bad_head_image":                "the old server echoed the code; message null",
	"resultcode/register_step2_multipart":                     "the old server echoed the code; message null",
	"resultcode/register_step2_no_flow":                       "gateway's message text",
	"resultcode/register_step2_not_verified":                  "the old server echoed the code; message text",
	"resultcode/register_step2_ok":                            "the old server echoed the code; message null",
	"resultcode/register_step2_weak_password":                 "the old server echoed the code; message null",
	"resultcode/register_verify_code_v_ignored":               "the old server compared code_v with code",
	"resultcode/register_verify_json_body":                    "gateway's 415",
	"resultcode/register_verify_missing_code":                 "the old server echoed the code",
	"resultcode/register_verify_no_flow":                      "the old server compared code_v with code, flow or not",
	"resultcode/register_verify_ok":                           "the old server echoed the code and compared code_v with code",
	"resultcode/register_verify_too_many_attempts":            "the old server echoed the code",
	"resultcode/upload_method_not_allowed":                    "gateway's 405 body (Pyramid's predicates answered 404)",
	"resultcode/upload_not_image":                             "the old server stored anything",
	"resultcode/upload_ok":                                    "the old server answered its own file path",
	"resultcode/upload_path_traversal":                        "the old server answered its own file path",
	"resultcode/register_verify_code_wrong":                   "the old server echoed the code",
}

// The golden files drive the double: every case the old server answered
// as the gateway does passes against it, byte for byte.
func TestGoldenCasesAgainstTheDouble(t *testing.T) {
	cases, err := contracts.Load("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]int{}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			clock := testkit.NewClock(testkit.DefaultStart)
			s := oldserver.MustNew(c.Dialect, oldserver.Options{Now: clock.Now})
			srv := httptest.NewServer(setupShim(s))
			defer srv.Close()
			res := contracts.Run(context.Background(), contracts.Target{BaseURL: srv.URL, LastCode: s.LastCode, Advance: clock.Advance}, c)
			why, ok := differs[c.Name]
			if !ok && c.Departs != "" { // the case's own `departs` line
				why, ok = c.Departs, true
			}
			if ok {
				if res.Skipped == "" && !res.Failed() {
					t.Errorf("listed as differing (%s) but passes: remove it from the list", why)
				}
				t.Skipf("differs on purpose: %s", why)
			}
			if res.Skipped != "" {
				t.Skip(res.Skipped)
			}
			for _, d := range res.Diffs {
				t.Error(d)
			}
			ran[c.Dialect]++
		})
	}
	for _, d := range []string{oldserver.Caraccessories, oldserver.APIv4, oldserver.Resultcode} {
		if ran[d] < 5 {
			t.Errorf("only %d golden cases of %s ran against the double", ran[d], d)
		}
	}
	var unknown []string
	names := map[string]bool{}
	for _, c := range cases {
		names[c.Name] = true
	}
	for n := range differs {
		if !names[n] {
			unknown = append(unknown, n)
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		t.Errorf("differs names cases that do not exist: %v", unknown)
	}
}

// The quirks of the documents the golden files cannot show, since the
// gateway does not share them.
func TestOldQuirks(t *testing.T) {
	t.Run("apiv4 checks no code and resets without verify_code", func(t *testing.T) {
		s := oldserver.MustNew(oldserver.APIv4, oldserver.Options{})
		_, body := do(t, s, "POST", "/api/v4.0/register", "application/x-www-form-urlencoded", "phone=13800000001&name=A&password=123456&device_identifier=d&code=nonsense")
		if !strings.Contains(body, `"code": 200`) {
			t.Fatalf("register with any code: %s", body)
		}
		_, body = do(t, s, "GET", "/api/v4.0/forget_password?phone=13800000001&password=654321", "", "")
		if u, _ := s.User("13800000001"); !strings.Contains(body, `"code": 200`) || u.Password != "654321" {
			t.Fatalf("forget_password without verify_code: %s, password %q", body, u.Password)
		}
		_, body = do(t, s, "GET", "/api/v4.0/login?phone=13800000001&password=654321", "", "", "X-Requested-With", "XMLHttpRequest")
		if !strings.HasPrefix(body, `{"code": 200, "data": {"apply": {}, "change_device": false, "enterprise_id": "-1", "name": "A", "token": "`) {
			t.Fatalf("XHR login is not Flask's one line: %s", body)
		}
	})
	t.Run("apiv4 wrong method is Werkzeug's page", func(t *testing.T) {
		s := oldserver.MustNew(oldserver.APIv4, oldserver.Options{})
		resp, body := do(t, s, "POST", "/api/v4.0/verify_code", "", "")
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" || !strings.Contains(body, "<title>405 Method Not Allowed</title>") {
			t.Fatalf("%d %v %q", resp.StatusCode, resp.Header, body)
		}
	})
	t.Run("resultcode echoes the code and compares code_v", func(t *testing.T) {
		s := oldserver.MustNew(oldserver.Resultcode, oldserver.Options{})
		resp, body := do(t, s, "GET", "/register?userId=13800000002", "", "")
		code := s.LastCode()
		if body != `{"result": "0000", "message": "`+code+`"}` || len(code) != 4 {
			t.Fatalf("send: %s (code %s)", body, code)
		}
		cookie := resp.Cookies()[0]
		_, body = do(t, s, "POST", "/register", "application/x-www-form-urlencoded", "code_v=1111&code=1111", "Cookie", cookie.Name+"="+cookie.Value)
		if body != `{"result": "0000", "message": null}` {
			t.Fatalf("verify by comparison: %s", body)
		}
		_, body = do(t, s, "POST", "/register", "application/x-www-form-urlencoded", "register=1&password=abc12345&nickname=%E5%B0%8F", "Cookie", cookie.Name+"="+cookie.Value)
		if u, ok := s.User("13800000002"); body != `{"result": "0000", "message": null}` || !ok || u.Nickname != "小" {
			t.Fatalf("step 2: %s %+v", body, u)
		}
		_, body = do(t, s, "POST", "/log", "application/x-www-form-urlencoded", "userId=13800000002&password=abc12345")
		if !strings.HasPrefix(body, `{"result": "0000", "message": "`) {
			t.Fatalf("login: %s", body)
		}
	})
	t.Run("requests are counted and can be delayed", func(t *testing.T) {
		s := oldserver.MustNew(oldserver.Caraccessories, oldserver.Options{})
		srv := httptest.NewServer(s)
		defer srv.Close()
		s.SetDelay(200 * time.Millisecond)
		client := &http.Client{Timeout: 50 * time.Millisecond}
		if _, err := client.Post(srv.URL+"/caraccessories/app/login", "application/json", strings.NewReader(`{}`)); err == nil {
			t.Fatal("a delayed reply came before the client's time-out")
		}
		s.SetDelay(0)
		resp, err := http.Post(srv.URL+"/caraccessories/app/login", "application/json", strings.NewReader(`{"mobile":"13800000003","password":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != `{"status":-3,"msg":"手机号未注册"}` || resp.Header.Get("Server") != "Apache-Coyote/1.1" {
			t.Fatalf("%s %v", b, resp.Header)
		}
		if s.Requests() != 2 || s.RequestsTo("/login") != 2 {
			t.Errorf("counted %d requests, %d to /login; want 2 and 2", s.Requests(), s.RequestsTo("/login"))
		}
	})
}

// helpers for the tests above

func do(t *testing.T, h http.Handler, method, target, ctype, body string, header ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result(), rec.Body.String()
}
