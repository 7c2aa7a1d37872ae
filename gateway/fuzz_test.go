package gateway_test

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

	"github.com/gorilla/mux"

	"legacyauth/contracts"
	"legacyauth/core"
	"legacyauth/core/memdb"
	"legacyauth/dialects/apiv4"
	"legacyauth/dialects/caraccessories"
	"legacyauth/dialects/resultcode"
	"legacyauth/gateway"
)

// FuzzDetection feeds arbitrary requests (method, target, content type,
// body) to a gateway with all three dialects mounted at the same prefix,
// "/", so that /login, /register and /forget_password belong to two
// dialects each and the request's field names decide. Whatever comes in,
// the gateway must not panic and must answer either its own "no dialect"
// 404 (and count it) or a reply in the body of a dialect that serves the
// request's path, with a status the contracts know. The corpus starts from
// every golden case's request, moved to the root.
func FuzzDetection(f *testing.F) {
	accounts := map[string]string{}
	for _, dialect := range []string{"caraccessories", "apiv4", "resultcode"} {
		for phone, pw := range detectionSeeds(f, dialect) {
			accounts[phone] = pw
		}
	}
	gw, owners := detectionGateway(f, accounts)
	f.Fuzz(func(t *testing.T, method, target, contentType string, body []byte) {
		defer watchdog(method, target, contentType, body).Stop()
		r := detectionRequest(method, target, contentType, body)
		if r == nil {
			return // not a request an HTTP/1.1 server would hand to a handler
		}
		want := owners(r)
		failures := gw.DetectionFailures()
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, r)
		if msg := checkDetection(w, want, gw.DetectionFailures()-failures); msg != "" {
			t.Fatalf("%s %q (Content-Type %q, body %q): %s\nreply %d %q", method, target, contentType, body, msg, w.Code, w.Body.String())
		}
	})
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

// notFoundBody marks the gateway's own "no dialect claims this" reply.
const notFoundBody = "fuzz: no dialect\n"

// replyDialect names the dialect whose body shape a reply has ("" when
// none): caraccessories' compact {"status":..,"msg":..}, apiv4's Flask
// {"code": .., ...}, resultcode's json.dumps {"result": .., "message": ..}.
func replyDialect(w *httptest.ResponseRecorder) string {
	b := w.Body.Bytes()
	ct := w.Header().Get("Content-Type")
	switch {
	case ct == "application/json;charset=UTF-8" && bytes.HasPrefix(b, []byte(`{"status":`)) && bytes.Contains(b, []byte(`,"msg":"`)):
		return caraccessories.Name
	case ct == "application/json" && bytes.HasPrefix(b, []byte(`{"result": "`)) && bytes.Contains(b, []byte(`", "message": `)):
		return resultcode.Name
	case ct == "application/json" && bytes.HasPrefix(b, []byte("{")) && bytes.Contains(b, []byte(`"code": `)) && bytes.Contains(b, []byte(`"msg": "`)):
		return apiv4.Name
	}
	return ""
}

func checkDetection(w *httptest.ResponseRecorder, owners map[string]bool, undetected int64) string {
	switch w.Code {
	case http.StatusNotFound:
		if w.Body.String() != notFoundBody {
			return "a 404 that is not the gateway's own"
		}
		if undetected != 1 {
			return fmt.Sprintf("an undetected request counted %d times, want once", undetected)
		}
		return ""
	case http.StatusOK, http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
	default:
		return fmt.Sprintf("HTTP status %d is in no contract", w.Code)
	}
	if undetected != 0 {
		return "a request a dialect answered was counted as undetected"
	}
	d := replyDialect(w)
	if d == "" {
		return "the reply is in no dialect's body"
	}
	if !owners[d] {
		return fmt.Sprintf("%s answered a path it does not serve (the path's dialects: %v)", d, owners)
	}
	return ""
}

// detectionGateway mounts the three dialects at "/" over one core with a
// fast hash, a store in a temp dir and the golden cases' accounts. It
// also returns owners, which tells by path alone (any method) which
// dialects serve a request.
func detectionGateway(f *testing.F, accounts map[string]string) (*gateway.Gateway, func(*http.Request) map[string]bool) {
	f.Helper()
	store, err := memdb.Open(f.TempDir(), memdb.Options{SweepInterval: -1, NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	sms := &detectionInbox{}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := core.New(store, store, core.Config{
		Secret: []byte(strings.Repeat("d", 32)),
		Hash:   core.HashParams{MemoryKiB: 64, Time: 1, Threads: 1},
		Sender: sms,
		Log:    quiet,
	})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	for phone, password := range accounts {
		if _, err := svc.SendCode(ctx, core.SendCodeRequest{Phone: phone, Purpose: core.PurposeRegister}); err != nil {
			f.Fatal(err)
		}
		if _, err := svc.Register(ctx, core.RegisterRequest{Phone: phone, Password: password, Proof: core.Proof{Code: sms.last()}}); err != nil {
			f.Fatal(err)
		}
	}
	dialects := []gateway.Dialect{
		caraccessories.New(svc, caraccessories.Options{}),
		apiv4.New(svc, apiv4.Options{}),
		resultcode.New(svc, resultcode.Options{}),
	}
	var mounts []gateway.Mount
	paths := map[string]*mux.Router{}
	for _, d := range dialects {
		mounts = append(mounts, gateway.Mount{Dialect: d, Prefix: "/"})
		rt := mux.NewRouter()
		for _, r := range d.Routes() {
			rt.Path(r.Path)
		}
		paths[d.Name()] = rt
	}
	gw := gateway.New(gateway.Options{
		Mounts: mounts,
		Log:    quiet,
		NotFound: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, notFoundBody)
		},
	})
	owners := func(r *http.Request) map[string]bool {
		m := map[string]bool{}
		for name, rt := range paths {
			if rt.Match(r, &mux.RouteMatch{}) {
				m[name] = true
			}
		}
		return m
	}
	return gw, owners
}

// detectionSeeds adds a dialect's golden requests, moved from the
// dialect's default prefix to the root, and returns the accounts its
// cases register.
func detectionSeeds(f *testing.F, dialect string) map[string]string {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", dialect, "*.txtar"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden cases for %s: %v", dialect, err)
	}
	prefix := map[string]string{caraccessories.Name: caraccessories.DefaultPrefix, apiv4.Name: apiv4.DefaultPrefix}[dialect]
	accounts := map[string]string{}
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
				accounts[d.Args[0]] = d.Args[1]
			}
		}
		for _, ex := range gc.Exchanges {
			raw := strings.ReplaceAll(ex.Request, "{{code}}", "12345")
			head, body, _ := strings.Cut(raw, "\n\n")
			lines := strings.Split(strings.TrimSuffix(head, "\n"), "\n")
			method, target, ok := strings.Cut(lines[0], " ")
			if !ok {
				f.Fatalf("%s: bad request line %q", file, lines[0])
			}
			target = strings.TrimSpace(target)
			if prefix != "" {
				target = strings.TrimPrefix(target, prefix)
			}
			var ctype string
			for _, l := range lines[1:] {
				if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Type") {
					ctype = strings.TrimSpace(v)
				}
			}
			f.Add(method, target, ctype, []byte(strings.TrimSuffix(body, "\n")))
		}
	}
	return accounts
}

// detectionRequest builds the request an HTTP/1.1 server would hand to
// the gateway for these parts, or nil when a server would refuse them
// before any handler runs (a bad method, target or header).
func detectionRequest(method, target, contentType string, body []byte) *http.Request {
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

// detectionInbox keeps only the last code sent.
type detectionInbox struct {
	mu   sync.Mutex
	code string
}

func (i *detectionInbox) Send(_ context.Context, m core.SMS) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.code = m.Code
	return nil
}

func (i *detectionInbox) last() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.code
}
