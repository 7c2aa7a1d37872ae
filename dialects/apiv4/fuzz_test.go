package apiv4_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"legacyauth/contracts"
	"legacyauth/core"
	"legacyauth/core/memdb"
	"legacyauth/dialects/apiv4"
	"legacyauth/gateway"
)

// FuzzApiv4 feeds arbitrary requests (method, target with its query,
// content type, body) through the gateway with this dialect mounted, the
// way the HTTP server would hand them over. Whatever comes in, the handler
// must not panic, must answer a status the contract knows, and the body
// must be Flask's {"code": <int>, "data": ..., "msg": "<text>"} (or the
// captured bare {"code": "200", "msg": ...} of /sendsms) with a code of
// the contract. The corpus starts from the golden cases' requests.
func FuzzApiv4(f *testing.F) {
	h := fuzzGateway(f, fuzzSeeds(f, "../../testdata/apiv4"))
	f.Fuzz(func(t *testing.T, method, target, contentType string, body []byte) {
		defer watchdog(method, target, contentType, body).Stop()
		r := fuzzRequest(method, target, contentType, body)
		if r == nil {
			return // not a request an HTTP/1.1 server would hand to a handler
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if msg := checkReply(w); msg != "" {
			t.Fatalf("%s %q (Content-Type %q, body %q): %s\nreply %d %q", method, target, contentType, body, msg, w.Code, w.Body.String())
		}
	})
}

// knownCodes are the body's codes: the document's and the gateway's.
var knownCodes = map[int]bool{200: true, -1: true, -2: true, -3: true, -4: true, -5: true, -6: true}

func checkReply(w *httptest.ResponseRecorder) string {
	body := w.Body.Bytes()
	switch w.Code {
	case http.StatusNotFound: // no route: the gateway's own 404
		if string(body) != "404 page not found\n" {
			return "unexpected 404 body"
		}
		return ""
	case http.StatusOK, http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
	default:
		return fmt.Sprintf("HTTP status %d is not in the contract", w.Code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		return fmt.Sprintf("Content-Type %q", ct)
	}
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

// watchdog crashes the fuzz process, with every goroutine's stack, when a
// request is not answered within seconds: a hang is a failure too, and
// the fuzzer keeps the input that caused it.
func watchdog(method, target, contentType string, body []byte) *time.Timer {
	return time.AfterFunc(10*time.Second, func() {
		buf := make([]byte, 1<<20)
		panic(fmt.Sprintf("no reply within 10s to %s %q (Content-Type %q, body %q):\n%s", method, target, contentType, body, buf[:runtime.Stack(buf, true)]))
	})
}

// fuzzSeed is one request of a golden case.
type fuzzSeed struct {
	method, target, contentType string
	body                        []byte
}

// fuzzCorpus is what the golden cases give the fuzzer besides their
// requests: the accounts their setup registers (so logins can succeed).
type fuzzCorpus struct {
	accounts map[string]string // phone -> password
}

// fuzzSeeds reads the golden cases of dir and adds their requests to f's
// corpus.
func fuzzSeeds(f *testing.F, dir string) fuzzCorpus {
	f.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.txtar"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden cases in %s: %v", dir, err)
	}
	c := fuzzCorpus{accounts: map[string]string{}}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		gc, err := contracts.Parse(file, data)
		if err != nil {
			f.Fatal(err)
		}
		for _, d := range gc.Setup {
			if d.Verb == "register" && len(d.Args) >= 2 {
				c.accounts[d.Args[0]] = d.Args[1]
			}
		}
		for _, ex := range gc.Exchanges {
			s, ok := parseSeed(strings.ReplaceAll(ex.Request, "{{code}}", "12345"))
			if !ok {
				f.Fatalf("%s: unreadable request %q", file, ex.Request)
			}
			f.Add(s.method, s.target, s.contentType, s.body)
		}
	}
	return c
}

// parseSeed reads a golden request: the request line, headers, a blank
// line and the body (minus one final newline).
func parseSeed(raw string) (fuzzSeed, bool) {
	head, body, _ := strings.Cut(raw, "\n\n")
	lines := strings.Split(strings.TrimSuffix(head, "\n"), "\n")
	method, target, ok := strings.Cut(lines[0], " ")
	if !ok {
		return fuzzSeed{}, false
	}
	s := fuzzSeed{method: method, target: strings.TrimSpace(target), body: []byte(strings.TrimSuffix(body, "\n"))}
	for _, l := range lines[1:] {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Type") {
			s.contentType = strings.TrimSpace(v)
		}
	}
	return s, true
}

// fuzzRequest builds the request an HTTP/1.1 server would hand to the
// handler for these parts, or nil when a server would refuse them before
// any handler runs (a bad method, target or header).
func fuzzRequest(method, target, contentType string, body []byte) *http.Request {
	if strings.ContainsAny(method+target+contentType, "\r\n") {
		return nil
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: fuzz.test\r\n", method, target)
	if contentType != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", contentType)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	r, err := http.ReadRequest(bufio.NewReader(&b))
	if err != nil {
		return nil
	}
	r.RemoteAddr = "192.0.2.1:1234"
	return r
}

// fuzzGateway is one gateway per fuzz process: this dialect at its
// default prefix over a core with a fast hash and a store in a temp dir,
// holding the golden cases' accounts.
func fuzzGateway(f *testing.F, c fuzzCorpus) http.Handler {
	f.Helper()
	store, err := memdb.Open(f.TempDir(), memdb.Options{SweepInterval: -1, NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	sms := &fuzzInbox{}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := core.New(store, store, core.Config{
		Secret: []byte(strings.Repeat("f", 32)),
		Hash:   core.HashParams{MemoryKiB: 64, Time: 1, Threads: 1},
		Sender: sms,
		Log:    quiet,
	})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	for phone, password := range c.accounts {
		if _, err := svc.SendCode(ctx, core.SendCodeRequest{Phone: phone, Purpose: core.PurposeRegister}); err != nil {
			f.Fatal(err)
		}
		if _, err := svc.Register(ctx, core.RegisterRequest{Phone: phone, Password: password, Proof: core.Proof{Code: sms.last()}}); err != nil {
			f.Fatal(err)
		}
	}
	return gateway.New(gateway.Options{
		Mounts: []gateway.Mount{{Dialect: apiv4.New(svc, apiv4.Options{}), Prefix: apiv4.DefaultPrefix}},
		Log:    quiet,
	})
}

// fuzzInbox keeps only the last code sent.
type fuzzInbox struct {
	mu   sync.Mutex
	code string
}

func (i *fuzzInbox) Send(_ context.Context, m core.SMS) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.code = m.Code
	return nil
}

func (i *fuzzInbox) last() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.code
}
