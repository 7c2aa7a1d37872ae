package aliyun

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeDysms is a local stand-in for dysmsapi.aliyuncs.com. It checks what
// Alibaba Cloud checks on a SendSms call signed with ACS3-HMAC-SHA256, with
// its own implementation of the documented algorithm (not the SDK's):
//
//	CanonicalRequest = Method \n CanonicalURI \n CanonicalQueryString \n
//	                   CanonicalHeaders \n SignedHeaders \n HashedRequestPayload
//	StringToSign     = "ACS3-HMAC-SHA256" \n hex(sha256(CanonicalRequest))
//	Signature        = hex(hmac-sha256(AccessKeySecret, StringToSign))
//
// then the clock skew (15 minutes), nonce reuse, and the SendSms fields. A
// request that fails a check gets the error Alibaba Cloud would send; one
// that passes gets the configured reply.
type fakeDysms struct {
	t      *testing.T
	srv    *httptest.Server
	keyID  string
	secret string

	mu     sync.Mutex
	reply  fakeReply
	got    []fakeRequest
	nonces map[string]bool
}

// fakeReply is what the fake answers a request that passed its checks.
type fakeReply struct {
	Status      int           // 0 means 200
	Body        string        // "" means a SendSms success
	ContentType string        // "" means application/json
	Delay       time.Duration // sleep before answering
}

// fakeRequest is what the fake saw of one request.
type fakeRequest struct {
	Method    string
	Host      string
	Action    string // x-acs-action
	Version   string // x-acs-version
	Query     url.Values
	SigOK     bool   // the ACS3-HMAC-SHA256 signature matched
	Failed    string // the check that failed, "" if none
	Signature string // as sent, to check it never reaches an error text
}

const fakeRequestID = "5F1D2E3C-AAAA-4BBB-8CCC-DDDDEEEEFFFF"

func newFake(t *testing.T, keyID, secret string) *fakeDysms {
	t.Helper()
	f := &fakeDysms{t: t, keyID: keyID, secret: secret, nonces: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDysms) URL() string { return f.srv.URL }

func (f *fakeDysms) setReply(r fakeReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reply = r
}

func (f *fakeDysms) requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.got...)
}

// only returns the single request the fake received, failing otherwise.
func (f *fakeDysms) only() fakeRequest {
	f.t.Helper()
	got := f.requests()
	if len(got) != 1 {
		f.t.Fatalf("fake received %d requests, want 1", len(got))
	}
	return got[0]
}

func (f *fakeDysms) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := fakeRequest{
		Method:  r.Method,
		Host:    r.Host,
		Action:  r.Header.Get("x-acs-action"),
		Version: r.Header.Get("x-acs-version"),
		Query:   r.URL.Query(),
	}
	status, code, msg := f.check(r, body, &rec)
	f.mu.Lock()
	f.got = append(f.got, rec)
	reply := f.reply
	f.mu.Unlock()

	if code != "" {
		writeJSON(w, status, map[string]string{"Code": code, "Message": msg, "RequestId": fakeRequestID})
		return
	}
	if reply.Delay > 0 {
		select {
		case <-time.After(reply.Delay):
		case <-r.Context().Done(): // the client gave up; let the server close
			return
		}
	}
	if reply.Status == 0 {
		reply.Status = http.StatusOK
	}
	if reply.Body == "" {
		reply.Body = `{"Code":"OK","Message":"OK","BizId":"900619746936498440^0","RequestId":"` + fakeRequestID + `"}`
	}
	if reply.ContentType == "" {
		reply.ContentType = "application/json;charset=utf-8"
	}
	w.Header().Set("Content-Type", reply.ContentType)
	w.WriteHeader(reply.Status)
	_, _ = io.WriteString(w, reply.Body)
}

// check verifies the request as Alibaba Cloud would, recording what it
// found in rec. It returns the error reply for a failed check, or code "".
func (f *fakeDysms) check(r *http.Request, body []byte, rec *fakeRequest) (status int, code, msg string) {
	fail := func(status int, code, msg string) (int, string, string) {
		rec.Failed = code
		return status, code, msg
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return fail(404, "InvalidApi.NotFound", "Specified api is not found, please check your url and method.")
	}
	if rec.Action != "SendSms" || rec.Version != "2017-05-25" {
		return fail(404, "InvalidApi.NotFound", "Specified api is not found, please check your url and method.")
	}

	// Authorization: ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<a;b>,Signature=<hex>
	auth := r.Header.Get("Authorization")
	const algo = "ACS3-HMAC-SHA256"
	if !strings.HasPrefix(auth, algo+" ") {
		return fail(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.")
	}
	fields := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(auth, algo+" "), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return fail(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.")
		}
		fields[k] = v
	}
	rec.Signature = fields["Signature"]
	if fields["Credential"] != f.keyID {
		return fail(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !sort.StringsAreSorted(signed) {
		return fail(400, "IncompleteSignature", "SignedHeaders must be sorted.")
	}
	// The spec requires host and every x-acs-* header to be signed, so none
	// can be changed in transit.
	signedSet := map[string]bool{}
	for _, h := range signed {
		signedSet[h] = true
	}
	for _, h := range []string{"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"} {
		if !signedSet[h] {
			return fail(400, "IncompleteSignature", "header "+h+" is not signed.")
		}
	}
	for name := range r.Header {
		if l := strings.ToLower(name); strings.HasPrefix(l, "x-acs-") && !signedSet[l] {
			return fail(400, "IncompleteSignature", "header "+l+" is not signed.")
		}
	}

	payload := sha256.Sum256(body)
	hashedPayload := hex.EncodeToString(payload[:])
	if r.Header.Get("x-acs-content-sha256") != hashedPayload {
		return fail(400, "IncompleteSignature", "x-acs-content-sha256 does not match the body.")
	}

	var headers strings.Builder
	for _, h := range signed {
		var v string
		if h == "host" {
			v = r.Host
		} else {
			vals := r.Header.Values(h)
			if len(vals) == 0 {
				return fail(400, "IncompleteSignature", "signed header "+h+" is missing.")
			}
			v = strings.Join(vals, ",")
		}
		headers.WriteString(h + ":" + strings.TrimSpace(v) + "\n")
	}
	canonical := strings.Join([]string{
		r.Method,
		"/",
		canonicalQuery(r.URL.Query()),
		headers.String(),
		strings.Join(signed, ";"),
		hashedPayload,
	}, "\n")
	h := sha256.Sum256([]byte(canonical))
	stringToSign := algo + "\n" + hex.EncodeToString(h[:])
	mac := hmac.New(sha256.New, []byte(f.secret))
	mac.Write([]byte(stringToSign))
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		// Like Alibaba Cloud, quote what the server signed: it holds the
		// query, so the phone and the code. Send must not pass it on.
		return fail(400, "SignatureDoesNotMatch",
			"Specified signature does not match our calculation. server string to sign is:"+stringToSign+" canonical request is:"+canonical)
	}
	rec.SigOK = true

	date, err := time.Parse("2006-01-02T15:04:05Z", r.Header.Get("x-acs-date"))
	if err != nil {
		return fail(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
	}
	if d := time.Since(date); d > 15*time.Minute || d < -15*time.Minute {
		return fail(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
	}
	nonce := r.Header.Get("x-acs-signature-nonce")
	f.mu.Lock()
	used := f.nonces[nonce]
	f.nonces[nonce] = true
	f.mu.Unlock()
	if nonce == "" || used {
		return fail(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
	}

	q := r.URL.Query()
	for _, p := range []string{"PhoneNumbers", "SignName", "TemplateCode", "TemplateParam"} {
		if q.Get(p) == "" {
			return fail(400, "MissingParameter", p+" is mandatory for this action.")
		}
	}
	var param map[string]any
	if err := json.Unmarshal([]byte(q.Get("TemplateParam")), &param); err != nil {
		return fail(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
	}
	for _, v := range param {
		if _, ok := v.(string); !ok {
			return fail(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
		}
	}
	return 0, "", ""
}

// canonicalQuery is the ACS3 CanonicalQueryString: names and values
// percent-encoded per RFC 3986 (only A-Z a-z 0-9 - _ . ~ left as they are,
// a space as %20), sorted by name, "name=value" joined with "&".
func canonicalQuery(q url.Values) string {
	type kv struct{ k, v string }
	var pairs []kv
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, kv{percentEncode(k), percentEncode(v)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
