// Package fuzzkit is the plumbing the gateway's fuzz targets share: it
// seeds a target's corpus from the golden cases (testdata/<dialect>/*.txtar),
// builds a core over a memdb store holding the accounts those cases
// register, turns the fuzzer's (method, target, content type, body) into
// the request an HTTP/1.1 server would hand over, and crashes the process
// when a request hangs. CheckHead is the one check that the single-dialect
// targets made word for word alike: the reply's status and Content-Type.
//
// The targets themselves (their names, seeds and the checks of each
// dialect's body) stay in each package's fuzz_test.go, so each keeps its
// corpus under that package's testdata/fuzz/<FuzzName>/. Only _test.go
// files may import this package.
package fuzzkit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"legacyauth/contracts"
	"legacyauth/core"
	"legacyauth/core/memdb"
	"legacyauth/gateway"
	"legacyauth/internal/testkit"
)

// Quiet is the log of the fuzzed core and gateway. It formats every record
// and throws it away, so a log call that would panic on some input still
// does.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// HangTimeout is how long Watchdog lets a request go unanswered.
const HangTimeout = 10 * time.Second

// Seed is one golden request, as the fuzzer's arguments.
type Seed struct {
	Method, Target, ContentType string
	Body                        []byte
}

// Seeds adds the requests of dir's golden cases to f's corpus, each target
// with prefix cut off its front ("" keeps it whole), and returns the
// accounts the cases' setup registers (phone -> password), so that logins
// can succeed.
func Seeds(f *testing.F, dir, prefix string) map[string]string {
	f.Helper()
	seeds, accounts, err := ReadSeeds(dir, prefix)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		f.Add(s.Method, s.Target, s.ContentType, s.Body)
	}
	return accounts
}

// ReadSeeds reads dir's golden cases: their requests in file order (the
// {{code}} placeholder filled in, prefix cut off each target) and the
// accounts their setup registers.
func ReadSeeds(dir, prefix string) ([]Seed, map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txtar"))
	if err != nil || len(files) == 0 {
		return nil, nil, fmt.Errorf("no golden cases in %s: %v", dir, err)
	}
	var seeds []Seed
	accounts := map[string]string{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, err
		}
		gc, err := contracts.Parse(file, data)
		if err != nil {
			return nil, nil, err
		}
		for _, d := range gc.Setup {
			if d.Verb == "register" && len(d.Args) >= 2 {
				accounts[d.Args[0]] = d.Args[1]
			}
		}
		for _, ex := range gc.Exchanges {
			s, ok := parseSeed(strings.ReplaceAll(ex.Request, "{{code}}", "12345"))
			if !ok {
				return nil, nil, fmt.Errorf("%s: unreadable request %q", file, ex.Request)
			}
			if prefix != "" {
				s.Target = strings.TrimPrefix(s.Target, prefix)
			}
			seeds = append(seeds, s)
		}
	}
	return seeds, accounts, nil
}

// parseSeed reads a golden request: the request line, headers, a blank
// line and the body (minus one final newline).
func parseSeed(raw string) (Seed, bool) {
	head, body, _ := strings.Cut(raw, "\n\n")
	lines := strings.Split(strings.TrimSuffix(head, "\n"), "\n")
	method, target, ok := strings.Cut(lines[0], " ")
	if !ok {
		return Seed{}, false
	}
	s := Seed{Method: method, Target: strings.TrimSpace(target), Body: []byte(strings.TrimSuffix(body, "\n"))}
	for _, l := range lines[1:] {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Type") {
			s.ContentType = strings.TrimSpace(v)
		}
	}
	return s, true
}

// Request builds the request an HTTP/1.1 server would hand to a handler
// for these parts, or nil when a server would refuse them before any
// handler runs (a bad method, target or header).
func Request(method, target, contentType string, body []byte) *http.Request {
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

// Watchdog crashes the fuzz process, with every goroutine's stack, when a
// request is not answered within HangTimeout: a hang is a failure too, and
// the fuzzer keeps the input that caused it. Stop it once the reply is in.
func Watchdog(method, target, contentType string, body []byte) *time.Timer {
	return time.AfterFunc(HangTimeout, func() {
		buf := make([]byte, 1<<20)
		panic(fmt.Sprintf("no reply within %v to %s %q (Content-Type %q, body %q):\n%s", HangTimeout, method, target, contentType, body, buf[:runtime.Stack(buf, true)]))
	})
}

// Fuzz runs f's fuzz function. Each input (method, target, content type,
// body) becomes the request Request builds (an input a server would
// refuse is skipped) and serve answers it under a Watchdog; a non-empty
// msg from serve fails the input, with the reply.
func Fuzz(f *testing.F, serve func(r *http.Request) (w *httptest.ResponseRecorder, msg string)) {
	f.Fuzz(func(t *testing.T, method, target, contentType string, body []byte) {
		defer Watchdog(method, target, contentType, body).Stop()
		r := Request(method, target, contentType, body)
		if r == nil {
			return // not a request an HTTP/1.1 server would hand to a handler
		}
		if w, msg := serve(r); msg != "" {
			t.Fatalf("%s %q (Content-Type %q, body %q): %s\nreply %d %q", method, target, contentType, body, msg, w.Code, w.Body.String())
		}
	})
}

// FuzzHandler is Fuzz for a target that checks only h's reply: check
// returns what is wrong with it, "" when nothing is.
func FuzzHandler(f *testing.F, h http.Handler, check func(*httptest.ResponseRecorder) string) {
	Fuzz(f, func(r *http.Request) (*httptest.ResponseRecorder, string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w, check(w)
	})
}

// Gateway is the handler the HTTP server would run: a gateway with these
// mounts and a Quiet log.
func Gateway(mounts ...gateway.Mount) http.Handler {
	return gateway.New(gateway.Options{Mounts: mounts, Log: Quiet})
}

// CheckHead is the first check of a reply from a gateway with one dialect
// mounted. A 404 must be the gateway's own "no route" reply, and ends the
// check (done). Any other status must be one the dialects' contracts know
// (200, 400, 405, 413, 415) and come with the dialect's contentType; then,
// unless that is wrong (done), the caller goes on to check the body. msg
// is what is wrong, "" when nothing is.
func CheckHead(w *httptest.ResponseRecorder, contentType string) (msg string, done bool) {
	switch w.Code {
	case http.StatusNotFound: // no route: the gateway's own 404
		if w.Body.String() != "404 page not found\n" {
			return "unexpected 404 body", true
		}
		return "", true
	case http.StatusOK, http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
	default:
		return fmt.Sprintf("HTTP status %d is not in the contract", w.Code), true
	}
	if ct := w.Header().Get("Content-Type"); ct != contentType {
		return fmt.Sprintf("Content-Type %q", ct), true
	}
	return "", false
}

// Service is one core per fuzz process: a fast hash, a store in a temp
// dir that never sweeps or syncs, a Quiet log, and accounts (phone ->
// password) registered through SendCode and Register.
func Service(tb testing.TB, accounts map[string]string) *core.Service {
	tb.Helper()
	store, err := memdb.Open(tb.TempDir(), memdb.Options{SweepInterval: -1, NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	sms := &inbox{}
	svc, err := core.New(store, store, core.Config{
		Secret: []byte(strings.Repeat("f", 32)),
		Hash:   testkit.FastHash,
		Sender: sms,
		Log:    Quiet,
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	for phone, password := range accounts {
		if _, err := svc.SendCode(ctx, core.SendCodeRequest{Phone: phone, Purpose: core.PurposeRegister}); err != nil {
			tb.Fatal(err)
		}
		if _, err := svc.Register(ctx, core.RegisterRequest{Phone: phone, Password: password, Proof: core.Proof{Code: sms.last()}}); err != nil {
			tb.Fatal(err)
		}
	}
	return svc
}

// inbox keeps only the last code sent: unlike testkit.SMSRecorder it does
// not grow with every code the fuzzer has the core send.
type inbox struct {
	mu   sync.Mutex
	code string
}

func (i *inbox) Send(_ context.Context, m core.SMS) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.code = m.Code
	return nil
}

func (i *inbox) last() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.code
}
