package twilio

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTwilio is a local stand-in for api.twilio.com's Messages resource. It
// checks what the real API checks before it accepts a message: HTTP Basic
// auth with the account SID and auth token (Twilio clients send no
// X-Twilio-Signature; that header is on Twilio's webhooks to us), the
// account in the path, the form encoding and the message fields. Then it
// answers the configured reply.
type fakeTwilio struct {
	t     *testing.T
	srv   *httptest.Server
	sid   string
	token string

	mu       sync.Mutex
	got      []fakeRequest
	reply    fakeReply
	authFail int // requests refused by the Basic auth check
}

type fakeRequest struct {
	Path      string
	UserAgent string
	Form      map[string]string
	Fields    []string // every form field name, to catch unexpected ones
}

type fakeReply struct {
	Status int           // 0: 201
	Body   string        // "": a queued message resource
	Delay  time.Duration // sleep before answering (time-out tests)
}

var fakeE164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

func newFake(t *testing.T, sid, token string) *fakeTwilio {
	f := &fakeTwilio{t: t, sid: sid, token: token}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTwilio) setReply(r fakeReply) {
	f.mu.Lock()
	f.reply = r
	f.mu.Unlock()
}

func (f *fakeTwilio) requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.got...)
}

func (f *fakeTwilio) authFailures() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.authFail
}

func twilioError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"code":` + itoa(code) + `,"message":` + quote(msg) +
		`,"more_info":"https://www.twilio.com/docs/errors/` + itoa(code) + `","status":` + itoa(status) + `}`))
}

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	// Basic auth, computed here from the settings, not taken from the SDK.
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(f.sid+":"+f.token))
	if r.Header.Get("Authorization") != want {
		f.mu.Lock()
		f.authFail++
		f.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		twilioError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if r.Method != http.MethodPost {
		twilioError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	if r.URL.Path != "/2010-04-01/Accounts/"+f.sid+"/Messages.json" {
		twilioError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		twilioError(w, http.StatusBadRequest, 20001, "bad content type "+ct)
		return
	}
	if err := r.ParseForm(); err != nil {
		twilioError(w, http.StatusBadRequest, 20001, "unreadable form")
		return
	}
	req := fakeRequest{Path: r.URL.Path, UserAgent: r.UserAgent(), Form: map[string]string{}}
	for k, v := range r.PostForm {
		req.Fields = append(req.Fields, k)
		if len(v) != 1 {
			twilioError(w, http.StatusBadRequest, 20001, "repeated field "+k)
			return
		}
		req.Form[k] = v[0]
	}
	f.mu.Lock()
	f.got = append(f.got, req)
	reply := f.reply
	f.mu.Unlock()

	// The checks Twilio makes on the message itself.
	to, from, svc, body := req.Form["To"], req.Form["From"], req.Form["MessagingServiceSid"], req.Form["Body"]
	switch {
	case to == "":
		twilioError(w, 400, 21604, "A 'To' phone number is required.")
		return
	case !fakeE164.MatchString(to):
		twilioError(w, 400, 21211, "The 'To' number "+to+" is not a valid phone number.")
		return
	case from == "" && svc == "":
		twilioError(w, 400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message")
		return
	case from != "" && svc != "":
		// Twilio accepts both (From wins); the adapter must send only one.
		f.t.Errorf("fake: both From and MessagingServiceSid sent")
	case body == "":
		twilioError(w, 400, 21602, "Message body is required.")
		return
	}

	if reply.Delay > 0 {
		select {
		case <-time.After(reply.Delay):
		case <-r.Context().Done():
			return
		}
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusCreated
	}
	out := reply.Body
	if out == "" {
		st := "queued"
		if svc != "" {
			st = "accepted"
		}
		out = `{"account_sid":"` + f.sid + `","api_version":"2010-04-01","body":` + quote(body) +
			`,"direction":"outbound-api","error_code":null,"error_message":null,"from":` + quote(from) +
			`,"messaging_service_sid":` + nullable(svc) + `,"num_segments":"1","sid":"SM0123456789abcdef0123456789abcdef","status":"` + st +
			`","to":` + quote(to) + `,"uri":"/2010-04-01/Accounts/` + f.sid + `/Messages/SM0123456789abcdef0123456789abcdef.json"}`
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(out))
}

func nullable(s string) string {
	if s == "" {
		return "null"
	}
	return quote(s)
}
