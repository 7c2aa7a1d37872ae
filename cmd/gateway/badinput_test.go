package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"legacyauth/core"
)

// The bad-input matrix: for every dialect and for /v1, requests that are
// malformed, of the wrong type, too large, not UTF-8, carrying control
// characters, too long, incomplete, mistyped, polluted with repeated
// parameters, uploads that are not images or carry a path in their file
// name, and unknown or unserved methods. Each must get the dialect's own
// clear error reply (HTTP status, body shape, error code), never a panic
// or a bare 500, and must leave nothing behind: the phone stays
// unregistered, no SMS is sent, no file in the data directory changes (so
// no user or session reached the store's log), and no goroutine or file
// descriptor outlives the table.

// badCase is one request of the matrix and the reply it must get.
type badCase struct {
	name    string
	method  string
	target  string // path and query
	ctype   string
	body    []byte
	chunked bool // no Content-Length: the server must find the size by reading
	// expect sends Expect: 100-continue, so a body the server refuses on its
	// declared length alone is never written (it would race the server's
	// close of the connection).
	expect bool
	header []string // extra header name, value pairs

	status int
	code   any    // the dialect's error code: int (caraccessories, apiv4), string (resultcode's result, v1's problem code)
	phone  string // a phone named by the request: it must stay unregistered

	// stores marks the one kind of case that stores something: an upload
	// of a real image, which must land under a random name in the avatars
	// directory and nowhere else. It checks the reply and returns the
	// stored name.
	stores func(t *testing.T, dataDir string, body []byte) string
}

// badShape checks that a reply is the dialect's error body for want and
// returns what is wrong with it.
type badShape func(status int, h http.Header, body []byte, want *badCase) []string

// badMatrix runs one dialect's cases against its own gateway.
func badMatrix(t *testing.T, shape badShape, cases []badCase) {
	root := t.TempDir()
	dataDir := filepath.Join(root, "jail", "a", "b", "data")
	g := startGateway(t, "--data-dir", dataDir)
	avatars := filepath.Join(dataDir, "avatars")

	tr := &http.Transport{ExpectContinueTimeout: 10 * time.Second, DisableCompression: true}
	client := &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer tr.CloseIdleConnections()

	etcPasswd := statString("/etc/passwd")
	goroutines, fds := runtime.NumGoroutine(), fdCount(t)

	for i := range cases {
		c := &cases[i]
		t.Run(c.name, func(t *testing.T) {
			before := snapshotTree(t, root)
			smsBefore := g.SMS.Last()

			status, hdr, body, err := sendBad(g.URL, client, c)
			if err != nil {
				t.Fatalf("%s %s: no reply (a panic closes the connection): %v", c.method, c.target, err)
			}
			var problems []string
			if status >= 500 {
				problems = append(problems, fmt.Sprintf("server error %d: %q", status, body))
			}
			problems = append(problems, shape(status, hdr, body, c)...)
			if c.method == http.MethodHead && len(body) != 0 {
				problems = append(problems, fmt.Sprintf("HEAD reply has a body: %q", body))
			}
			for _, ck := range hdr.Values("Set-Cookie") {
				if hc, err := http.ParseSetCookie(ck); err == nil && hc.Value != "" && hc.MaxAge >= 0 {
					problems = append(problems, "a session or flow cookie was set: "+ck)
				}
			}
			if c.phone != "" {
				if reg, err := g.Service.IsRegistered(context.Background(), c.phone); err != nil || reg {
					problems = append(problems, fmt.Sprintf("phone %s registered=%v (err %v) after bad input", c.phone, reg, err))
				}
			}
			if got := g.SMS.Last(); got != smsBefore {
				problems = append(problems, "an SMS was sent")
			}
			changed := diffTree(before, snapshotTree(t, root))
			if c.stores != nil && len(problems) == 0 {
				name := c.stores(t, dataDir, body)
				want := filepath.Join(avatars, name)
				if len(changed) != 1 || changed[0] != want {
					problems = append(problems, fmt.Sprintf("files changed: %q, want only the new avatar %s", changed, want))
				}
				changed = nil
			}
			if len(changed) > 0 {
				problems = append(problems, fmt.Sprintf("bad input changed the data directory or its surroundings: %q", changed))
			}
			if len(problems) == 0 {
				return
			}
			for _, p := range problems {
				t.Errorf("%s %s: %s", c.method, c.target, p)
			}
			t.Logf("reply: %d %s %q", status, hdr.Get("Content-Type"), body)
		})
	}

	if got := statString("/etc/passwd"); got != etcPasswd {
		t.Errorf("/etc/passwd changed: %s, was %s", got, etcPasswd)
	}
	if _, err := os.Stat(filepath.Join("..", "etc", "passwd")); err == nil {
		t.Errorf("../etc/passwd exists next to the working directory")
	}

	// Nothing may outlive the table: close the client's idle connections
	// and wait (polling, with a deadline) for the server's side to end.
	tr.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for {
		gr, fd := runtime.NumGoroutine(), fdCount(t)
		if gr <= goroutines && fd <= fds {
			break
		}
		if time.Now().After(deadline) {
			var dump bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&dump, 1)
			t.Fatalf("leak: %d goroutines (was %d), %d open files (was %d)\n%s", gr, goroutines, fd, fds, dump.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sendBad sends a case's request and returns the reply.
func sendBad(base string, client *http.Client, c *badCase) (int, http.Header, []byte, error) {
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
		if c.chunked {
			body = io.MultiReader(body) // hides the length
		}
	}
	req, err := http.NewRequest(c.method, base+c.target, body)
	if err != nil {
		return 0, nil, nil, err
	}
	if c.chunked {
		req.ContentLength = -1
	}
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	if c.expect {
		req.Header.Set("Expect", "100-continue")
	}
	for i := 0; i+1 < len(c.header); i += 2 {
		req.Header.Add(c.header[i], c.header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header, b, err
}

// fdCount is the number of open file descriptors of the process.
func fdCount(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

func statString(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d bytes, %v", fi.Size(), fi.ModTime())
}

// snapshotTree maps every path under root to its size and time of change.
func snapshotTree(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			m[p] = "dir"
		} else {
			m[p] = fmt.Sprintf("%v %d %v", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// diffTree lists the paths added, removed or changed between two snapshots.
func diffTree(before, after map[string]string) []string {
	var d []string
	for p, v := range after {
		if before[p] != v {
			d = append(d, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			d = append(d, p)
		}
	}
	sort.Strings(d)
	return d
}

// jsonKeys decodes a JSON object, numbers kept as json.Number.
func jsonKeys(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the object")
	}
	return m, nil
}

func hasExactly(m map[string]any, keys ...string) bool {
	if len(m) != len(keys) {
		return false
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

// checkStatus is every shape's first check; a HEAD reply has no body to
// check beyond its type.
func checkStatus(status int, h http.Header, want *badCase, ctype string) (problems []string, headOnly bool) {
	if status != want.status {
		problems = append(problems, fmt.Sprintf("HTTP status %d, want %d", status, want.status))
	}
	if got := h.Get("Content-Type"); got != ctype {
		problems = append(problems, fmt.Sprintf("Content-Type %q, want %q", got, ctype))
	}
	return problems, want.method == http.MethodHead
}

// shapeCaraccessories: exactly {"status":<int>,"msg":"<text>"}, compact,
// status first.
func shapeCaraccessories(status int, h http.Header, body []byte, want *badCase) []string {
	p, head := checkStatus(status, h, want, "application/json;charset=UTF-8")
	if head {
		return p
	}
	m, err := jsonKeys(body)
	switch {
	case err != nil || !hasExactly(m, "status", "msg") || !bytes.HasPrefix(body, []byte(`{"status":`)):
		return append(p, fmt.Sprintf("body is not {\"status\":<int>,\"msg\":<text>}: %q", body))
	case fmt.Sprint(m["status"]) != fmt.Sprint(want.code):
		p = append(p, fmt.Sprintf("status %v, want %v", m["status"], want.code))
	}
	if msg, ok := m["msg"].(string); !ok || msg == "" {
		p = append(p, fmt.Sprintf("msg %#v, want a message", m["msg"]))
	}
	return p
}

// shapeAPIv4: {"code": <int>, "data": ..., "msg": "<text>"}.
func shapeAPIv4(status int, h http.Header, body []byte, want *badCase) []string {
	p, head := checkStatus(status, h, want, "application/json")
	if head {
		return p
	}
	m, err := jsonKeys(body)
	switch {
	case err != nil || !hasExactly(m, "code", "data", "msg"):
		return append(p, fmt.Sprintf("body is not {\"code\", \"data\", \"msg\"}: %q", body))
	case fmt.Sprint(m["code"]) != fmt.Sprint(want.code):
		p = append(p, fmt.Sprintf("code %v, want %v", m["code"], want.code))
	}
	if _, isNum := m["code"].(json.Number); !isNum {
		p = append(p, fmt.Sprintf("code %#v is not a number", m["code"]))
	}
	if msg, ok := m["msg"].(string); !ok || msg == "" {
		p = append(p, fmt.Sprintf("msg %#v, want a message", m["msg"]))
	}
	return p
}

// shapeResultcode: {"result": "<4 digits>", "message": <text or null>}.
func shapeResultcode(status int, h http.Header, body []byte, want *badCase) []string {
	p, head := checkStatus(status, h, want, "application/json")
	if head {
		return p
	}
	m, err := jsonKeys(body)
	if err != nil || !hasExactly(m, "result", "message") || !bytes.HasPrefix(body, []byte(`{"result": "`)) {
		return append(p, fmt.Sprintf("body is not {\"result\": ..., \"message\": ...}: %q", body))
	}
	if m["result"] != want.code {
		p = append(p, fmt.Sprintf("result %#v, want %q", m["result"], want.code))
	}
	if _, isText := m["message"].(string); !isText && m["message"] != nil {
		p = append(p, fmt.Sprintf("message %#v is neither text nor null", m["message"]))
	}
	return p
}

// shapeV1: an RFC 9457 problem whose code is want.code.
func shapeV1(status int, h http.Header, body []byte, want *badCase) []string {
	if want.status < 400 { // a success (an upload): its checker looks at the body
		if status != want.status {
			return []string{fmt.Sprintf("HTTP status %d, want %d: %q", status, want.status, body)}
		}
		return nil
	}
	p, head := checkStatus(status, h, want, "application/problem+json")
	if head {
		return p
	}
	m, err := jsonKeys(body)
	if err != nil {
		return append(p, fmt.Sprintf("body is not a problem: %q", body))
	}
	for _, k := range []string{"type", "title", "status", "code"} {
		if _, ok := m[k]; !ok {
			p = append(p, fmt.Sprintf("problem lacks %q: %q", k, body))
		}
	}
	if m["code"] != want.code {
		p = append(p, fmt.Sprintf("problem code %#v, want %q (detail %v)", m["code"], want.code, m["detail"]))
	}
	if fmt.Sprint(m["status"]) != fmt.Sprint(status) {
		p = append(p, fmt.Sprintf("problem status %v differs from the HTTP status %d", m["status"], status))
	}
	return p
}

// Bodies shared by the tables.
var (
	// over64K is a JSON object (and a form) just over the 64 KiB limit.
	over64KJSON = []byte(`{"mobile": "13900000000", "phone": "13900000000", "password": "` + strings.Repeat("a", 64<<10) + `"}`)
	over64KForm = []byte("userId=13900000000&phone=13900000000&password=" + strings.Repeat("a", 64<<10))
	// overAvatar starts like a PNG and is over the avatar limit plus the
	// multipart slack; overAvatarForm carries it as a well-formed upload.
	// Built on first use (the test binary also runs as a gateway child).
	overAvatar = sync.OnceValue(func() []byte {
		return append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, core.MaxAvatarBytes+64<<10+4<<10)...)
	})
	overAvatarForm = sync.OnceValues(func() ([]byte, string) {
		return multipartBody(badPart{"img", "big.png", "image/png", overAvatar()})
	})
)

// badPNG is a real 2x2 PNG.
func badPNG(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type badPart struct {
	field, filename, ctype string
	data                   []byte
}

// multipartBody builds a multipart/form-data body and its Content-Type.
// File names are written as given (no escaping, no cleaning), as a
// hostile client would.
func multipartBody(parts ...badPart) ([]byte, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := `form-data; name="` + p.field + `"`
		if p.filename != "" {
			cd += `; filename="` + p.filename + `"`
		}
		h.Set("Content-Disposition", cd)
		if p.ctype != "" {
			h.Set("Content-Type", p.ctype)
		}
		pw, _ := w.CreatePart(h)
		_, _ = pw.Write(p.data)
	}
	_ = w.Close()
	return b.Bytes(), w.FormDataContentType()
}

var avatarName = regexp.MustCompile(`^[0-9a-f]{32}\.png$`)

// storedAvatar checks that name is a random avatar name and that the
// stored file holds exactly the uploaded image.
func storedAvatar(t *testing.T, dataDir, name string, want []byte) {
	t.Helper()
	if !avatarName.MatchString(name) || strings.Contains(name, "passwd") {
		t.Fatalf("avatar stored as %q, want a random name", name)
	}
	got, err := os.ReadFile(filepath.Join(dataDir, "avatars", name))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("stored avatar %s: %v, %d bytes, want the %d uploaded", name, err, len(got), len(want))
	}
}

const formType = "application/x-www-form-urlencoded"

func TestBadInput_caraccessories(t *testing.T) {
	const p = "/caraccessories/app"
	js := func(s string) []byte { return []byte(s) }
	cases := []badCase{
		{name: "malformed JSON", method: "POST", target: p + "/registration", ctype: "application/json",
			body: js(`{"mobile": "13900000101", "code": "12345", "password":`), status: 400, code: -1, phone: "13900000101"},
		{name: "JSON array", method: "POST", target: p + "/login", ctype: "application/json",
			body: js(`["13900000102", "pw"]`), status: 400, code: -1, phone: "13900000102"},
		{name: "data after the object", method: "POST", target: p + "/login", ctype: "application/json",
			body: js(`{"mobile": "13900000103", "password": "pw"} {"mobile": "13900000104"}`), status: 400, code: -1, phone: "13900000103"},
		{name: "wrong content type: form", method: "POST", target: p + "/registration", ctype: formType,
			body: js("mobile=13900000105&code=12345&password=pw"), status: 415, code: -1, phone: "13900000105"},
		{name: "wrong content type: multipart", method: "POST", target: p + "/login", ctype: "multipart/form-data; boundary=xyz",
			body: js("--xyz\r\nContent-Disposition: form-data; name=\"mobile\"\r\n\r\n13900000106\r\n--xyz--\r\n"), status: 415, code: -1, phone: "13900000106"},
		{name: "oversized body, declared", method: "POST", target: p + "/registration", ctype: "application/json",
			body: over64KJSON, expect: true, status: 413, code: -1, phone: "13900000000"},
		{name: "oversized body, chunked", method: "POST", target: p + "/login", ctype: "application/json",
			body: over64KJSON, chunked: true, status: 413, code: -1, phone: "13900000000"},
		{name: "invalid UTF-8 outside strings", method: "POST", target: p + "/login", ctype: "application/json",
			body: js("{\"mobile\": \"13900000107\", \xff: \"pw\"}"), status: 400, code: -1, phone: "13900000107"},
		{name: "invalid UTF-8 in a value", method: "POST", target: p + "/registration", ctype: "application/json",
			body: js("{\"mobile\": \"13900000108\", \"code\": \"12345\", \"password\": \"pw\xff\xfe\"}"), status: 400, code: -1, phone: "13900000108"},
		{name: "invalid UTF-8 in a key", method: "POST", target: p + "/get_verification_code", ctype: "application/json",
			body: js("{\"mobile\": \"13900000109\", \"x\xff\": \"1\"}"), status: 400, code: -1, phone: "13900000109"},
		{name: "control character, escaped", method: "POST", target: p + "/login", ctype: "application/json",
			body: js(`{"mobile": "13900000110", "password": "p\u0000w"}`), status: 400, code: -1, phone: "13900000110"},
		{name: "control character, raw in a string", method: "POST", target: p + "/login", ctype: "application/json",
			body: js("{\"mobile\": \"13900000111\", \"password\": \"p\x01w\"}"), status: 400, code: -1, phone: "13900000111"},
		{name: "control character: C1", method: "POST", target: p + "/login", ctype: "application/json",
			body: js(`{"mobile": "13900000112", "password": "p\u0085w"}`), status: 400, code: -1, phone: "13900000112"},
		{name: "over-long mobile", method: "POST", target: p + "/get_verification_code", ctype: "application/json",
			body: js(`{"mobile": "139000001` + strings.Repeat("3", 300) + `"}`), status: 200, code: -1},
		{name: "over-long password", method: "POST", target: p + "/login", ctype: "application/json",
			body: js(`{"mobile": "13900000114", "password": "` + strings.Repeat("p", 300) + `"}`), status: 200, code: -1, phone: "13900000114"},
		{name: "missing fields", method: "POST", target: p + "/registration", ctype: "application/json",
			body: js(`{"mobile": "13900000115"}`), status: 200, code: -1, phone: "13900000115"},
		{name: "empty body", method: "POST", target: p + "/login", status: 200, code: -1},
		{name: "number for a string", method: "POST", target: p + "/registration", ctype: "application/json",
			body: js(`{"mobile": 13900000116, "code": "12345", "password": "pw"}`), status: 400, code: -1, phone: "13900000116"},
		{name: "object for a string", method: "POST", target: p + "/login", ctype: "application/json",
			body: js(`{"mobile": "13900000117", "password": {"$ne": ""}}`), status: 400, code: -1, phone: "13900000117"},
		{name: "repeated key, different values", method: "POST", target: p + "/registration", ctype: "application/json",
			body: js(`{"mobile": "13900000118", "code": "12345", "password": "pw", "mobile": "13900000119"}`), status: 400, code: -1, phone: "13900000118"},
		{name: "unknown method", method: "PROPFIND", target: p + "/login", status: 405, code: -1},
		{name: "GET", method: "GET", target: p + "/login?mobile=13900000120&password=pw", status: 405, code: -1, phone: "13900000120"},
		{name: "HEAD", method: "HEAD", target: p + "/registration", status: 405, code: -1},
		{name: "OPTIONS", method: "OPTIONS", target: p + "/get_verification_code", status: 405, code: -1},
	}
	badMatrix(t, shapeCaraccessories, cases)
}

func TestBadInput_apiv4(t *testing.T) {
	const p = "/api/v4.0"
	form := func(s string) []byte { return []byte(s) }
	reg := func(phone string) string {
		return "phone=" + phone + "&name=Ann&password=abc12345&device_identifier=d1&code=123456"
	}
	cases := []badCase{
		{name: "malformed JSON", method: "POST", target: p + "/register", ctype: "application/json",
			body: form(`{"phone": "13900000201", "name": "Ann",`), status: 400, code: -3, phone: "13900000201"},
		{name: "malformed query", method: "GET", target: p + "/register?phone=13900000202&name=%zz", status: 400, code: -3, phone: "13900000202"},
		{name: "malformed form", method: "POST", target: p + "/login", ctype: formType,
			body: form("phone=13900000203&password=%"), status: 400, code: -3, phone: "13900000203"},
		{name: "malformed JSON from an XHR (one-line reply)", method: "POST", target: p + "/login", ctype: "application/json",
			header: []string{"X-Requested-With", "XMLHttpRequest"},
			body:   form(`{"phone": "13900000226"`), status: 400, code: -3, phone: "13900000226"},
		{name: "wrong content type: text/plain", method: "POST", target: p + "/register", ctype: "text/plain",
			body: form(reg("13900000204")), status: 415, code: -3, phone: "13900000204"},
		{name: "wrong content type: multipart", method: "POST", target: p + "/login", ctype: "multipart/form-data; boundary=xyz",
			body: form("--xyz\r\nContent-Disposition: form-data; name=\"phone\"\r\n\r\n13900000205\r\n--xyz--\r\n"), status: 415, code: -3, phone: "13900000205"},
		{name: "oversized form, declared", method: "POST", target: p + "/register", ctype: formType,
			body: over64KForm, expect: true, status: 413, code: -3, phone: "13900000000"},
		{name: "oversized JSON, chunked", method: "POST", target: p + "/login", ctype: "application/json",
			body: over64KJSON, chunked: true, status: 413, code: -3, phone: "13900000000"},
		{name: "invalid UTF-8 in the form", method: "POST", target: p + "/register", ctype: formType,
			body: form(reg("13900000206") + "&nickname=%FF%FE"), status: 400, code: -3, phone: "13900000206"},
		{name: "invalid UTF-8 in the query", method: "GET", target: p + "/register?" + strings.Replace(reg("13900000207"), "Ann", "An%C3", 1), status: 400, code: -3, phone: "13900000207"},
		{name: "invalid UTF-8 in JSON", method: "POST", target: p + "/login", ctype: "application/json",
			body: form("{\"phone\": \"13900000208\", \"password\": \"abc12345\xff\", \"device_identifier\": \"d\"}"), status: 400, code: -3, phone: "13900000208"},
		{name: "control character in the form", method: "POST", target: p + "/register", ctype: formType,
			body: form(strings.Replace(reg("13900000209"), "Ann", "A%00nn", 1)), status: 400, code: -3, phone: "13900000209"},
		{name: "control character: tab in the query", method: "GET", target: p + "/login?phone=13900000210&password=abc%0912345", status: 400, code: -3, phone: "13900000210"},
		{name: "control character: DEL in JSON", method: "POST", target: p + "/register", ctype: "application/json",
			body: form(`{"phone": "13900000211", "name": "A\u007fnn", "password": "abc12345", "device_identifier": "d", "code": "123456"}`), status: 400, code: -3, phone: "13900000211"},
		{name: "control character in a path parameter", method: "GET", target: p + "/isregister/1390000021%00", status: 200, code: -3},
		{name: "over-long name", method: "POST", target: p + "/register", ctype: formType,
			body: form(strings.Replace(reg("13900000212"), "Ann", strings.Repeat("n", 65), 1)), status: 200, code: -3, phone: "13900000212"},
		{name: "over-long password", method: "POST", target: p + "/register", ctype: formType,
			body: form(strings.Replace(reg("13900000213"), "abc12345", strings.Repeat("p1", 8), 1)), status: 200, code: -3, phone: "13900000213"},
		{name: "over-long login password", method: "POST", target: p + "/login", ctype: formType,
			body: form("phone=13900000214&password=" + strings.Repeat("p", 300)), status: 200, code: -3, phone: "13900000214"},
		{name: "over-long path phone", method: "GET", target: p + "/isregister/139" + strings.Repeat("0", 300), status: 200, code: -3},
		{name: "dot segment as the path phone", method: "GET", target: p + "/sendsms/..", status: 200, code: -3},
		{name: "missing code", method: "POST", target: p + "/register", ctype: formType,
			body: form(strings.Replace(reg("13900000215"), "&code=123456", "", 1)), status: 200, code: -3, phone: "13900000215"},
		{name: "missing everything", method: "POST", target: p + "/login", status: 200, code: -3},
		{name: "number for a string", method: "POST", target: p + "/register", ctype: "application/json",
			body: form(`{"phone": 13900000216, "name": "Ann", "password": "abc12345", "device_identifier": "d", "code": "123456"}`), status: 400, code: -3, phone: "13900000216"},
		{name: "bool for a string", method: "GET", target: p + "/sendsms/13900000217?expect=true", status: 200, code: -3, phone: "13900000217"},
		{name: "repeated form parameter", method: "POST", target: p + "/register", ctype: formType,
			body: form(reg("13900000218") + "&phone=13900000219"), status: 400, code: -3, phone: "13900000218"},
		{name: "query and form disagree", method: "POST", target: p + "/register?phone=13900000220", ctype: formType,
			body: form(reg("13900000221")), status: 400, code: -3, phone: "13900000221"},
		{name: "repeated JSON key", method: "POST", target: p + "/login", ctype: "application/json",
			body: form(`{"phone": "13900000222", "password": "abc12345", "password": "abc123456"}`), status: 400, code: -3, phone: "13900000222"},
		{name: "unknown method", method: "PROPFIND", target: p + "/register", status: 405, code: -3},
		{name: "DELETE", method: "DELETE", target: p + "/sendsms/13900000223", status: 405, code: -3, phone: "13900000223"},
		{name: "POST where GET only", method: "POST", target: p + "/isregister/13900000224", ctype: formType, body: form("expect=0"), status: 405, code: -3},
		{name: "HEAD", method: "HEAD", target: p + "/register?" + reg("13900000225"), status: 405, code: -3, phone: "13900000225"},
		{name: "OPTIONS", method: "OPTIONS", target: p + "/login", status: 405, code: -3},
	}
	badMatrix(t, shapeAPIv4, cases)
}

func TestBadInput_resultcode(t *testing.T) {
	form := func(s string) []byte { return []byte(s) }
	pngData := badPNG(t)
	traversal, traversalType := multipartBody(badPart{"img", "../../etc/passwd", "image/png", pngData})
	notImage, notImageType := multipartBody(badPart{"img", "avatar.png", "image/png", []byte("#!/bin/sh\nrm -rf /\n")})
	twoImages, twoImagesType := multipartBody(badPart{"img", "a.png", "image/png", pngData}, badPart{"img", "b.png", "image/png", pngData})
	imgAsField, imgAsFieldType := multipartBody(badPart{"img", "", "", pngData})
	storesAvatar := func(t *testing.T, dataDir string, body []byte) string {
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		msg, _ := m["message"].(string)
		name, ok := strings.CutPrefix(msg, "/v1/avatars/")
		if m["result"] != "0000" || !ok {
			t.Fatalf("upload reply %s, want 0000 with /v1/avatars/<name>", body)
		}
		storedAvatar(t, dataDir, name, pngData)
		return name
	}
	emptyForm, emptyFormType := multipartBody()
	bigForm, bigFormType := overAvatarForm()
	cases := []badCase{
		{name: "malformed form", method: "POST", target: "/log", ctype: formType,
			body: form("userId=13900000301&password=%zz"), status: 400, code: "0009", phone: "13900000301"},
		{name: "malformed multipart", method: "POST", target: "/log", ctype: "multipart/form-data; boundary=xyz",
			body: form("--xyz\r\nContent-Disposition: form-data; name=\"userId\"\r\n\r\n13900000302"), status: 400, code: "0009", phone: "13900000302"},
		{name: "multipart without boundary", method: "POST", target: "/upload", ctype: "multipart/form-data",
			body: traversal, status: 400, code: "0006"},
		{name: "malformed JSON (JSON is not read)", method: "POST", target: "/log", ctype: "application/json",
			body: form(`{"userId": "13900000303", "password":`), status: 415, code: "0009", phone: "13900000303"},
		{name: "wrong content type", method: "POST", target: "/register", ctype: "text/plain",
			body: form("code=1234"), status: 415, code: "0004"},
		{name: "wrong content type: upload as a raw body", method: "POST", target: "/upload", ctype: "image/png",
			body: pngData, status: 415, code: "0006"},
		{name: "oversized form, declared", method: "POST", target: "/log", ctype: formType,
			body: over64KForm, expect: true, status: 413, code: "0009", phone: "13900000000"},
		{name: "oversized form, chunked", method: "POST", target: "/register", ctype: formType,
			body: over64KForm, chunked: true, status: 413, code: "0004"},
		{name: "oversized upload, declared", method: "POST", target: "/upload", ctype: bigFormType,
			body: bigForm, expect: true, status: 413, code: "0006"},
		{name: "oversized upload, chunked", method: "POST", target: "/upload", ctype: bigFormType,
			body: bigForm, chunked: true, status: 413, code: "0006"},
		{name: "invalid UTF-8", method: "POST", target: "/log", ctype: formType,
			body: form("userId=13900000304&password=abc%FF12345"), status: 400, code: "0009", phone: "13900000304"},
		{name: "invalid UTF-8 in the query", method: "GET", target: "/register?userId=13900000305&x=%C0%AF", status: 400, code: "0002", phone: "13900000305"},
		// A PNG's bytes sent as a plain field are not UTF-8.
		{name: "invalid UTF-8 in a multipart field", method: "POST", target: "/register", ctype: imgAsFieldType,
			body: imgAsField, status: 400, code: "0004"},
		{name: "control character", method: "POST", target: "/log", ctype: formType,
			body: form("userId=13900000306&password=abc%0012345"), status: 400, code: "0009", phone: "13900000306"},
		{name: "control character: CR LF in the query", method: "GET", target: "/register?userId=13900000307%0D%0ASet-Cookie:%20x=1", status: 400, code: "0002", phone: "13900000307"},
		{name: "over-long userId", method: "POST", target: "/log", ctype: formType,
			body: form("userId=139" + strings.Repeat("0", 300) + "&password=abc12345"), status: 200, code: "0009"},
		{name: "over-long password", method: "POST", target: "/log", ctype: formType,
			body: form("userId=13900000308&password=" + strings.Repeat("a1", 200)), status: 200, code: "0009", phone: "13900000308"},
		{name: "step 2: invalid UTF-8", method: "POST", target: "/register", ctype: formType,
			body: form("register=1&password=abc12345&nickname=%FF"), status: 400, code: "0006"},
		{name: "step 2: malformed form", method: "POST", target: "/register", ctype: formType,
			body: form("register=1&password=abc12345&nickname=100%"), status: 400, code: "0006"},
		{name: "over-long code", method: "POST", target: "/register", ctype: formType,
			body: form("code_v=0&code=" + strings.Repeat("1", 11)), status: 200, code: "0004"},
		{name: "missing password", method: "POST", target: "/log", ctype: formType,
			body: form("userId=13900000309"), status: 200, code: "0009", phone: "13900000309"},
		{name: "missing userId", method: "GET", target: "/register", status: 200, code: "0002"},
		{name: "missing code", method: "POST", target: "/register", ctype: formType,
			body: form("code_v=1234"), status: 200, code: "0004"},
		{name: "missing img", method: "POST", target: "/upload", ctype: emptyFormType,
			body: emptyForm, status: 200, code: "0006"},
		{name: "img as a field, not a file", method: "POST", target: "/upload", ctype: imgAsFieldType,
			body: imgAsField, status: 400, code: "0006"},
		{name: "number for a string (JSON)", method: "POST", target: "/log", ctype: "application/json",
			body: form(`{"userId": 13900000310, "password": "abc12345"}`), status: 415, code: "0009", phone: "13900000310"},
		{name: "letters for the code", method: "POST", target: "/register", ctype: formType,
			body: form("code=12ab"), status: 200, code: "0004"},
		{name: "repeated parameter", method: "POST", target: "/log", ctype: formType,
			body: form("userId=13900000311&userId=13900000312&password=abc12345"), status: 400, code: "0009", phone: "13900000311"},
		{name: "query and body disagree", method: "POST", target: "/log?userId=13900000313", ctype: formType,
			body: form("userId=13900000314&password=abc12345"), status: 400, code: "0009", phone: "13900000314"},
		{name: "repeated userId in the query", method: "GET", target: "/register?userId=13900000315&userId=13900000316", status: 400, code: "0002", phone: "13900000315"},
		{name: "two img files", method: "POST", target: "/upload", ctype: twoImagesType,
			body: twoImages, status: 400, code: "0006"},
		{name: "not an image", method: "POST", target: "/upload", ctype: notImageType,
			body: notImage, status: 200, code: "0006"},
		{name: "path traversal file name", method: "POST", target: "/upload", ctype: traversalType,
			body: traversal, status: 200, code: "0000", stores: storesAvatar},
		{name: "unknown method", method: "PROPFIND", target: "/log", status: 405, code: "0009"},
		{name: "DELETE", method: "DELETE", target: "/register", status: 405, code: "0004"},
		{name: "GET where POST only", method: "GET", target: "/upload", status: 405, code: "0006"},
		{name: "HEAD", method: "HEAD", target: "/register?userId=13900000317", status: 405, code: "0004", phone: "13900000317"},
		{name: "OPTIONS", method: "OPTIONS", target: "/upload", status: 405, code: "0006"},
	}
	badMatrix(t, shapeResultcode, cases)
}

func TestBadInput_v1(t *testing.T) {
	js := func(s string) []byte { return []byte(s) }
	const jt = "application/json"
	pngData := badPNG(t)
	traversal, traversalType := multipartBody(badPart{"file", "../../etc/passwd", "image/png", pngData})
	notImage, notImageType := multipartBody(badPart{"img", "a.png", "image/png", []byte("<?php system($_GET['c']); ?>")})
	bigForm, bigFormType := overAvatarForm()
	storesAvatar := func(t *testing.T, dataDir string, body []byte) string {
		var m map[string]string
		_ = json.Unmarshal(body, &m)
		if m["url"] != "/v1/avatars/"+m["name"] {
			t.Fatalf("upload reply %s, want {name, url}", body)
		}
		storedAvatar(t, dataDir, m["name"], pngData)
		return m["name"]
	}
	user := func(phone, extra string) []byte {
		return js(`{"phone": "` + phone + `", "password": "abc12345", "code": "123456"` + extra + `}`)
	}
	cases := []badCase{
		{name: "malformed JSON", method: "POST", target: "/v1/users", ctype: jt,
			body: js(`{"phone": "13900000401", "password": "abc12345", `), status: 400, code: "invalid", phone: "13900000401"},
		{name: "two objects", method: "POST", target: "/v1/sessions", ctype: jt,
			body: js(`{"phone": "13900000402", "password": "abc12345"}{}`), status: 400, code: "invalid", phone: "13900000402"},
		{name: "unknown field", method: "POST", target: "/v1/users", ctype: jt,
			body: user("13900000403", `, "admin": "1"`), status: 400, code: "invalid", phone: "13900000403"},
		{name: "wrong content type: text/plain", method: "POST", target: "/v1/users", ctype: "text/plain",
			body: user("13900000404", ""), status: 415, code: "unsupported_media_type", phone: "13900000404"},
		{name: "wrong content type: form", method: "POST", target: "/v1/sessions", ctype: formType,
			body: js("phone=13900000405&password=abc12345"), status: 415, code: "unsupported_media_type", phone: "13900000405"},
		{name: "wrong charset", method: "POST", target: "/v1/users", ctype: "application/json; charset=iso-8859-1",
			body: user("13900000406", ""), status: 415, code: "unsupported_media_type", phone: "13900000406"},
		{name: "oversized JSON, declared", method: "POST", target: "/v1/users", ctype: jt,
			body: over64KJSON, expect: true, status: 413, code: "too_large", phone: "13900000000"},
		{name: "oversized JSON, chunked", method: "POST", target: "/v1/sessions", ctype: jt,
			body: over64KJSON, chunked: true, status: 413, code: "too_large", phone: "13900000000"},
		{name: "oversized avatar, declared", method: "POST", target: "/v1/avatars", ctype: "image/png",
			body: overAvatar(), expect: true, status: 413, code: "too_large"},
		{name: "oversized avatar, chunked multipart", method: "POST", target: "/v1/avatars", ctype: bigFormType,
			body: bigForm, chunked: true, status: 413, code: "too_large"},
		{name: "oversized avatar, chunked raw", method: "POST", target: "/v1/avatars", ctype: "application/octet-stream",
			body: overAvatar(), chunked: true, status: 413, code: "too_large"},
		{name: "invalid UTF-8 outside strings", method: "POST", target: "/v1/users", ctype: jt,
			body: js("{\"phone\": \"13900000407\", \xff}"), status: 400, code: "invalid", phone: "13900000407"},
		{name: "invalid UTF-8 in a value", method: "POST", target: "/v1/users", ctype: jt,
			body: user("13900000408", ", \"name\": \"Ann\xff\""), status: 400, code: "invalid", phone: "13900000408"},
		{name: "control character in the phone", method: "POST", target: "/v1/phones/lookup", ctype: jt,
			body: js(`{"phone": "1390000\u00000409"}`), status: 400, code: "invalid"},
		{name: "control character in the avatar reference", method: "POST", target: "/v1/users", ctype: jt,
			body: user("13900000410", `, "avatar": "/v1/avatars/x\r\nLocation: http://evil"`), status: 400, code: "invalid", phone: "13900000410"},
		{name: "over-long password", method: "POST", target: "/v1/users", ctype: jt,
			body: js(`{"phone": "13900000411", "password": "` + strings.Repeat("p", 257) + `", "code": "123456"}`), status: 400, code: "invalid", phone: "13900000411"},
		{name: "over-long name", method: "POST", target: "/v1/users", ctype: jt,
			body: user("13900000412", `, "name": "`+strings.Repeat("n", 300)+`"`), status: 400, code: "invalid", phone: "13900000412"},
		{name: "over-long phone", method: "POST", target: "/v1/codes", ctype: jt,
			body: js(`{"phone": "139` + strings.Repeat("0", 300) + `", "purpose": "register"}`), status: 400, code: "invalid"},
		{name: "missing proof", method: "POST", target: "/v1/users", ctype: jt,
			body: js(`{"phone": "13900000413", "password": "abc12345"}`), status: 400, code: "invalid", phone: "13900000413"},
		{name: "missing purpose", method: "POST", target: "/v1/codes", ctype: jt,
			body: js(`{"phone": "13900000414"}`), status: 400, code: "invalid", phone: "13900000414"},
		{name: "empty body", method: "POST", target: "/v1/sessions", ctype: jt, status: 400, code: "invalid"},
		{name: "number for a string", method: "POST", target: "/v1/users", ctype: jt,
			body: js(`{"phone": 13900000415, "password": "abc12345", "code": "123456"}`), status: 400, code: "invalid", phone: "13900000415"},
		{name: "string for a number", method: "POST", target: "/v1/codes", ctype: jt,
			body: js(`{"phone": "13900000416", "purpose": "register", "length": "6"}`), status: 400, code: "invalid", phone: "13900000416"},
		{name: "repeated key, different values", method: "POST", target: "/v1/phones/lookup", ctype: jt,
			body: js(`{"phone": "13900000417", "phone": "13900000418"}`), status: 400, code: "invalid", phone: "13900000417"},
		{name: "not an image, raw", method: "POST", target: "/v1/avatars", ctype: "image/png",
			body: js("<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"), status: 400, code: "invalid"},
		{name: "not an image, multipart", method: "POST", target: "/v1/avatars", ctype: notImageType,
			body: notImage, status: 400, code: "invalid"},
		{name: "upload of the wrong type", method: "POST", target: "/v1/avatars", ctype: "text/html",
			body: pngData, status: 415, code: "unsupported_media_type"},
		{name: "multipart without boundary", method: "POST", target: "/v1/avatars", ctype: "multipart/form-data",
			body: traversal, status: 400, code: "invalid"},
		{name: "multipart without the field", method: "POST", target: "/v1/avatars", ctype: notImageType,
			body: bytes.Replace(notImage, []byte(`name="img"`), []byte(`name="photo"`), 1), status: 400, code: "invalid"},
		{name: "path traversal file name", method: "POST", target: "/v1/avatars", ctype: traversalType,
			body: traversal, status: 201, stores: storesAvatar},
		{name: "path traversal in the avatar path", method: "GET", target: "/v1/avatars/..%2f..%2fsecret", status: 404, code: "not_found"},
		{name: "unknown method", method: "PROPFIND", target: "/v1/users", status: 405, code: "method_not_allowed"},
		{name: "GET where POST only", method: "GET", target: "/v1/codes?phone=13900000419&purpose=register", status: 405, code: "method_not_allowed", phone: "13900000419"},
		{name: "HEAD", method: "HEAD", target: "/v1/sessions", status: 405, code: "method_not_allowed"},
		{name: "OPTIONS", method: "OPTIONS", target: "/v1/users", status: 405, code: "method_not_allowed"},
	}
	badMatrix(t, shapeV1, cases)
}
