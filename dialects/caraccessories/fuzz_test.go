package caraccessories_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"legacyauth/dialects/caraccessories"
	"legacyauth/gateway"
	"legacyauth/internal/fuzzkit"
)

// FuzzCaraccessories feeds arbitrary requests (method, target, content
// type, body) through the gateway with this dialect mounted, the way the
// HTTP server would hand them over. Whatever comes in, the handler must
// not panic, must answer a status the contract knows, and the body must be
// exactly {"status":<int>,"msg":"<text>"} with a code of the contract.
// The corpus starts from the golden cases' requests.
func FuzzCaraccessories(f *testing.F) {
	svc := fuzzkit.Service(f, fuzzkit.Seeds(f, "../../testdata/caraccessories", ""))
	fuzzkit.FuzzHandler(f, fuzzkit.Gateway(gateway.Mount{Dialect: caraccessories.New(svc, caraccessories.Options{}), Prefix: caraccessories.DefaultPrefix}), checkReply)
}

// replyShape is the whole reply, compact, status first.
var replyShape = regexp.MustCompile(`^\{"status":-?[0-9]+,"msg":".*"\}$`)

// knownStatus are the body's codes: the document's and the gateway's.
var knownStatus = map[int]bool{1: true, -1: true, -2: true, -3: true, -4: true, -5: true, -6: true}

func checkReply(w *httptest.ResponseRecorder) string {
	if msg, done := fuzzkit.CheckHead(w, "application/json;charset=UTF-8"); done {
		return msg
	}
	body := w.Body.Bytes()
	if !replyShape.Match(body) {
		return "body is not {\"status\":<int>,\"msg\":\"<text>\"}"
	}
	var rep struct {
		Status *int    `json:"status"`
		Msg    *string `json:"msg"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil || rep.Status == nil || rep.Msg == nil || *rep.Msg == "" {
		return fmt.Sprintf("body does not decode as {status, msg}: %v", err)
	}
	if !knownStatus[*rep.Status] {
		return fmt.Sprintf("status %d is not in the contract", *rep.Status)
	}
	if w.Code != http.StatusOK && *rep.Status != -1 {
		return fmt.Sprintf("HTTP %d with status %d, want -1 (invalid input)", w.Code, *rep.Status)
	}
	return ""
}
