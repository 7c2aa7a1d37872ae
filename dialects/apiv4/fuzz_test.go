package apiv4_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"legacyauth/dialects/apiv4"
	"legacyauth/gateway"
	"legacyauth/internal/fuzzkit"
)

// FuzzApiv4 feeds arbitrary requests (method, target with its query,
// content type, body) through the gateway with this dialect mounted, the
// way the HTTP server would hand them over. Whatever comes in, the handler
// must not panic, must answer a status the contract knows, and the body
// must be Flask's {"code": <int>, "data": ..., "msg": "<text>"} (or the
// captured bare {"code": "200", "msg": ...} of /sendsms) with a code of
// the contract. The corpus starts from the golden cases' requests.
func FuzzApiv4(f *testing.F) {
	svc := fuzzkit.Service(f, fuzzkit.Seeds(f, "../../testdata/apiv4", ""))
	fuzzkit.FuzzHandler(f, fuzzkit.Gateway(gateway.Mount{Dialect: apiv4.New(svc, apiv4.Options{}), Prefix: apiv4.DefaultPrefix}), checkReply)
}

// knownCodes are the body's codes: the document's and the gateway's.
var knownCodes = map[int]bool{200: true, -1: true, -2: true, -3: true, -4: true, -5: true, -6: true}

func checkReply(w *httptest.ResponseRecorder) string {
	if msg, done := fuzzkit.CheckHead(w, "application/json"); done {
		return msg
	}
	body := w.Body.Bytes()
	if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		return fmt.Sprintf("Content-Length %q for %d bytes", cl, len(body))
	}
	if !bytes.HasPrefix(body, []byte("{")) || !bytes.HasSuffix(body, []byte("}")) {
		return "body is not one JSON object without a trailing newline"
	}
	var rep map[string]json.RawMessage
	if err := json.Unmarshal(body, &rep); err != nil {
		return fmt.Sprintf("body is not JSON: %v", err)
	}
	var msg string
	if err := json.Unmarshal(rep["msg"], &msg); err != nil || msg == "" {
		return "msg is not a message"
	}
	if len(rep) == 2 { // the bare success of /sendsms
		if string(rep["code"]) != `"200"` || w.Code != http.StatusOK {
			return "a body without data must be the bare success {\"code\": \"200\", \"msg\": ...}"
		}
		return ""
	}
	var code int
	if _, hasData := rep["data"]; len(rep) != 3 || !hasData || json.Unmarshal(rep["code"], &code) != nil {
		return "body is not {\"code\": <int>, \"data\": ..., \"msg\": ...}"
	}
	if !knownCodes[code] {
		return fmt.Sprintf("code %d is not in the contract", code)
	}
	if w.Code != http.StatusOK && code != -3 {
		return fmt.Sprintf("HTTP %d with code %d, want -3 (invalid input)", w.Code, code)
	}
	return ""
}
