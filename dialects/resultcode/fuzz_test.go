package resultcode_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"legacyauth/dialects/resultcode"
	"legacyauth/gateway"
	"legacyauth/internal/fuzzkit"
)

// FuzzResultcode feeds arbitrary requests (method, target with its query,
// content type, body: forms and multipart uploads) through the gateway
// with this dialect mounted, the way the HTTP server would hand them over.
// Whatever comes in, the handler must not panic, must answer a status the
// contract knows, and the body must be exactly what json.dumps wrote:
// {"result": "<code>", "message": <text or null>} with a code of the
// contract. The corpus starts from the golden cases' requests.
func FuzzResultcode(f *testing.F) {
	svc := fuzzkit.Service(f, fuzzkit.Seeds(f, "../../testdata/resultcode", ""))
	fuzzkit.FuzzHandler(f, fuzzkit.Gateway(gateway.Mount{Dialect: resultcode.New(svc, resultcode.Options{}), Prefix: resultcode.DefaultPrefix}), checkReply)
}

// knownResults are the body's codes: the document's and the gateway's.
var knownResults = map[string]bool{"0000": true, "0001": true, "0002": true, "0004": true, "0005": true, "0006": true, "0007": true, "0008": true, "0009": true}

func checkReply(w *httptest.ResponseRecorder) string {
	if msg, done := fuzzkit.CheckHead(w, "application/json"); done {
		return msg
	}
	body := w.Body.Bytes()
	if !bytes.HasPrefix(body, []byte(`{"result": "`)) || !bytes.Contains(body, []byte(`", "message": `)) || !bytes.HasSuffix(body, []byte("}")) {
		return "body is not {\"result\": ..., \"message\": ...} as json.dumps wrote it"
	}
	for _, c := range body {
		if c < 0x20 || c > 0x7e {
			return "body is not ASCII (json.dumps escapes everything else)"
		}
	}
	var rep map[string]json.RawMessage
	if err := json.Unmarshal(body, &rep); err != nil || len(rep) != 2 {
		return fmt.Sprintf("body is not a two-key JSON object: %v", err)
	}
	var result string
	if err := json.Unmarshal(rep["result"], &result); err != nil || !knownResults[result] {
		return fmt.Sprintf("result %s is not in the contract", rep["result"])
	}
	var message *string
	if err := json.Unmarshal(rep["message"], &message); err != nil {
		return "message is neither text nor null"
	}
	if w.Code != http.StatusOK && result == "0000" {
		return fmt.Sprintf("HTTP %d with result 0000", w.Code)
	}
	return ""
}
