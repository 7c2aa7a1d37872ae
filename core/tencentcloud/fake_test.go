package tencentcloud

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakeTencent is a local stand-in for sms.tencentcloudapi.com. It checks
// what Tencent Cloud checks: the TC3-HMAC-SHA256 signature, recomputed here
// from the shared secret key by the algorithm of the API 3.0 signing docs
// (not by the SDK's signer), the common X-TC-* headers, and SendSms's body
// fields. Then it answers what reply says.
type fakeTencent struct {
	t         *testing.T
	secretID  string
	secretKey string
	region    string

	mu    sync.Mutex
	got   []received
	reply func(w http.ResponseWriter, r *http.Request, rec received)
	srv   *httptest.Server
}

// received is what one request carried, and what the fake made of it.
type received struct {
	Method, Path, Host  string
	Action, Version     string
	Region, Timestamp   string
	Language            string
	ContentType         string
	SignatureOK         bool
	SignatureProblem    string
	CredentialID        string
	PhoneNumberSet      []string
	SmsSdkAppId         string
	SignName            string
	TemplateId          string
	TemplateParamSet    []string
	UnknownBodyFields   []string
	RawBody             string
	AuthorizationHeader string
}

func newFake(t *testing.T, secretID, secretKey, region string) *fakeTencent {
	f := &fakeTencent{t: t, secretID: secretID, secretKey: secretKey, region: region}
	f.reply = func(w http.ResponseWriter, _ *http.Request, rec received) {
		okReply(w, rec)
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTencent) setReply(fn func(w http.ResponseWriter, r *http.Request, rec received)) {
	f.mu.Lock()
	f.reply = fn
	f.mu.Unlock()
}

func (f *fakeTencent) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.got...)
}

var authRe = regexp.MustCompile(`^TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([a-z]+)/tc3_request, SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})$`)

func (f *fakeTencent) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := received{
		Method: r.Method, Path: r.URL.Path, Host: r.Host,
		Action: r.Header.Get("X-TC-Action"), Version: r.Header.Get("X-TC-Version"),
		Region: r.Header.Get("X-TC-Region"), Timestamp: r.Header.Get("X-TC-Timestamp"),
		Language: r.Header.Get("X-TC-Language"), ContentType: r.Header.Get("Content-Type"),
		RawBody: string(body), AuthorizationHeader: r.Header.Get("Authorization"),
	}
	rec.SignatureOK, rec.SignatureProblem = f.checkSignature(r, body, &rec)

	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		rec.UnknownBodyFields = append(rec.UnknownBodyFields, "(body is not a JSON object)")
	}
	for k, v := range fields {
		var err error
		switch k {
		case "PhoneNumberSet":
			err = json.Unmarshal(v, &rec.PhoneNumberSet)
		case "SmsSdkAppId":
			err = json.Unmarshal(v, &rec.SmsSdkAppId)
		case "SignName":
			err = json.Unmarshal(v, &rec.SignName)
		case "TemplateId":
			err = json.Unmarshal(v, &rec.TemplateId)
		case "TemplateParamSet":
			err = json.Unmarshal(v, &rec.TemplateParamSet)
		default:
			rec.UnknownBodyFields = append(rec.UnknownBodyFields, k)
		}
		if err != nil {
			rec.UnknownBodyFields = append(rec.UnknownBodyFields, k+" (wrong type)")
		}
	}

	f.mu.Lock()
	f.got = append(f.got, rec)
	reply := f.reply
	f.mu.Unlock()

	// Tencent answers a bad signature with HTTP 200 and an Error, before
	// looking at the action.
	if !rec.SignatureOK {
		errorReply(w, "AuthFailure.SignatureFailure", "The provided credentials could not be validated. Please check your signature is correct.")
		return
	}
	reply(w, r, rec)
}

// checkSignature recomputes the TC3-HMAC-SHA256 signature of r.
func (f *fakeTencent) checkSignature(r *http.Request, body []byte, rec *received) (bool, string) {
	m := authRe.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return false, "Authorization header is not TC3-HMAC-SHA256"
	}
	id, date, svc, signed, sig := m[1], m[2], m[3], m[4], m[5]
	rec.CredentialID = id
	if id != f.secretID {
		return false, "unknown secret ID"
	}
	if svc != "sms" {
		return false, "credential scope service is " + svc
	}
	if signed != "content-type;host" {
		return false, "signed headers are " + signed
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
	if err != nil {
		return false, "no X-TC-Timestamp"
	}
	if d := time.Since(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return false, "timestamp more than 5 minutes off"
	}
	if want := time.Unix(ts, 0).UTC().Format("2006-01-02"); date != want {
		return false, "credential date " + date + " is not the timestamp's UTC date " + want
	}
	if r.Header.Get("X-TC-Action") != "SendSms" || r.Header.Get("X-TC-Version") != "2021-01-11" || r.Header.Get("X-TC-Region") != f.region {
		return false, "X-TC-Action/Version/Region"
	}

	payloadHash := sha256.Sum256(body)
	canonical := "POST\n" +
		"/\n" +
		"\n" + // no query string
		"content-type:" + r.Header.Get("Content-Type") + "\n" +
		"host:" + r.Host + "\n" +
		"\n" +
		"content-type;host\n" +
		hex.EncodeToString(payloadHash[:])
	canonicalHash := sha256.Sum256([]byte(canonical))
	toSign := "TC3-HMAC-SHA256\n" + r.Header.Get("X-TC-Timestamp") + "\n" +
		date + "/sms/tc3_request\n" + hex.EncodeToString(canonicalHash[:])

	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	kDate := mac([]byte("TC3"+f.secretKey), date)
	kService := mac(kDate, "sms")
	kSigning := mac(kService, "tc3_request")
	want := hex.EncodeToString(mac(kSigning, toSign))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return false, "signature mismatch"
	}
	return true, ""
}

// okReply is Tencent's success reply: one SendStatus per number.
func okReply(w http.ResponseWriter, rec received) {
	statusReply(w, rec, "Ok", "send success")
}

// statusReply is a call that succeeded with this per-number status.
func statusReply(w http.ResponseWriter, rec received, code, message string) {
	phone := ""
	if len(rec.PhoneNumberSet) > 0 {
		phone = rec.PhoneNumberSet[0]
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"Response":{"SendStatusSet":[{"SerialNo":"5000:1045710669157053657849499619","PhoneNumber":%q,"Fee":1,"SessionContext":"","Code":%q,"Message":%q,"IsoCode":"CN"}],"RequestId":"a0aabda6-cf91-4f3e-a81f-9198114a2279"}}`,
		phone, code, message)
}

// errorReply is a call that failed.
func errorReply(w http.ResponseWriter, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"Response":{"Error":{"Code":%q,"Message":%q},"RequestId":"ed93f3cb-f35e-473f-b9f3-0d451b8b79c6"}}`, code, message)
}
