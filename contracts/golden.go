// Package contracts replays golden cases (testdata/<dialect>/<case>.txtar,
// format in GOLDEN-FORMAT.md) against a running server and reports every
// difference. The in-process golden test and `gateway contract verify` both
// use it, so an operator can point the same files at the old server and at
// the gateway.
package contracts

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/tools/txtar"
)

// Case is one golden file.
type Case struct {
	Name      string // "<dialect>/<case>"
	Dialect   string
	File      string
	Setup     []Directive
	Exchanges []Exchange
	// Departs is why the gateway answers this case otherwise than the old
	// server did (a `departs <reason>` line), "" when both answer alike;
	// a run against an old server skips it.
	Departs string
	archive *txtar.Archive
}

// Directive is one `setup` line of a case's comment.
type Directive struct {
	Verb string // register, code, advance, option
	Args []string
}

// Exchange is one request and its expected response; the indexes point at
// the archive's sections so -update can rewrite the response.
type Exchange struct {
	Request, Response string
	respIndex         int
}

// Load reads every case under dir (dir/<dialect>/*.txtar), sorted by name.
func Load(dir string) ([]*Case, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.txtar"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var cases []*Case
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		c, err := Parse(f, data)
		if err != nil {
			return nil, err
		}
		cases = append(cases, c)
	}
	return cases, nil
}

// Parse reads one case.
func Parse(file string, data []byte) (*Case, error) {
	a := txtar.Parse(data)
	dialect := filepath.Base(filepath.Dir(file))
	c := &Case{
		Name:    dialect + "/" + strings.TrimSuffix(filepath.Base(file), ".txtar"),
		Dialect: dialect,
		File:    file,
		archive: a,
	}
	for i, line := range strings.Split(string(a.Comment), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if f[0] == "departs" && len(f) > 1 {
			c.Departs = strings.Join(f[1:], " ")
			continue
		}
		if f[0] != "setup" || len(f) < 2 {
			return nil, fmt.Errorf("%s:%d: want `setup <verb> ...`, `departs <reason>` or a # comment", file, i+1)
		}
		c.Setup = append(c.Setup, Directive{Verb: f[1], Args: f[2:]})
	}
	var pending *Exchange
	for i, sec := range a.Files {
		kind, num, _ := strings.Cut(sec.Name, " ")
		switch kind {
		case "request":
			if pending != nil {
				return nil, fmt.Errorf("%s: request %q has no response", file, num)
			}
			pending = &Exchange{Request: string(sec.Data)}
		case "response":
			if pending == nil {
				return nil, fmt.Errorf("%s: response %q without a request", file, num)
			}
			pending.Response, pending.respIndex = string(sec.Data), i
			c.Exchanges = append(c.Exchanges, *pending)
			pending = nil
		default:
			return nil, fmt.Errorf("%s: unknown section %q", file, sec.Name)
		}
	}
	if pending != nil || len(c.Exchanges) == 0 {
		return nil, fmt.Errorf("%s: want request/response pairs", file)
	}
	return c, nil
}

// Options returns the case's `setup option name=value` settings.
func (c *Case) Options() map[string]string {
	opts := map[string]string{}
	for _, d := range c.Setup {
		if d.Verb == "option" {
			for _, a := range d.Args {
				k, v, _ := strings.Cut(a, "=")
				opts[k] = v
			}
		}
	}
	return opts
}

// Target is a server to replay cases against.
type Target struct {
	BaseURL string
	// LastCode returns the last code the server sent by SMS (an in-process
	// recording sender, or a webhook sink). Nil skips cases that need codes.
	LastCode func() string
	// Advance moves the server's clock. Nil skips cases that need it.
	Advance func(time.Duration)
	// InProcess is true when the caller started the server with the case's
	// options; otherwise cases with options are skipped.
	InProcess bool
	Timeout   time.Duration

	// TestCode is the fixed code of the target's test numbers
	// (GATEWAY_TEST_PHONES): a dialect's code is its first
	// CodeLength[dialect] digits. Set with Phones; it replaces LastCode.
	TestCode   string
	CodeLength map[string]int
	// Phones, when set, gives every case fresh numbers: each mainland
	// mobile in a case (11 digits starting with 1) is replaced, the same
	// way throughout the case, by a number Phones returns (11 digits), so
	// a case can run again on a target that kept the last run's users.
	Phones func(ctx context.Context) (string, error)
	// OldServer is true when the target is an old server: cases that need
	// /v1 set-up, which old servers lack, and cases where the gateway
	// departs from them (Case.Departs) are skipped.
	OldServer bool
}

// Result is the outcome of one case.
type Result struct {
	Case    *Case
	Skipped string   // why the case did not run, if it did not
	Diffs   []string // one readable diff per mismatching exchange
	Actual  []string // each response as received, in the golden format
	// Received holds each response as received, for further checks
	// (schema validation).
	Received []Received
	matched  []bool
}

// Failed reports whether the case ran and mismatched.
func (r *Result) Failed() bool { return len(r.Diffs) > 0 }

// Run replays a case.
func Run(ctx context.Context, t Target, c *Case) *Result {
	res := &Result{Case: c}
	if why := t.cannotRun(c); why != "" {
		res.Skipped = why
		return res
	}
	if t.TestCode != "" {
		code := t.testCode(c.Dialect)
		t.LastCode = func() string { return code }
	}
	if t.Phones != nil {
		fresh, err := freshPhones(ctx, t.Phones, c)
		if err != nil {
			res.Diffs = append(res.Diffs, fmt.Sprintf("%s: %v", c.File, err))
			return res
		}
		c = fresh
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: t.timeout(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, d := range c.Setup {
		if err := t.setup(ctx, client, c.Dialect, d); err != nil {
			res.Diffs = append(res.Diffs, fmt.Sprintf("%s: setup %s %v: %v", c.File, d.Verb, d.Args, err))
			return res
		}
	}
	for i, ex := range c.Exchanges {
		actual, err := t.exchange(ctx, client, ex.Request)
		if err != nil {
			res.Diffs = append(res.Diffs, fmt.Sprintf("%s: exchange %d: %v%s", c.File, i+1, err, t.unreachable(err)))
			return res
		}
		res.Actual = append(res.Actual, actual.String())
		res.Received = append(res.Received, Received{Status: actual.status, Header: actual.header, Body: []byte(actual.body), Request: actual.request})
		d := compare(c.File, i+1, ex.Response, actual, t.code())
		if d != "" {
			d += limitHint(ex.Response, actual)
			res.Diffs = append(res.Diffs, d)
		}
		res.matched = append(res.matched, d == "")
	}
	return res
}

func (t Target) timeout() time.Duration {
	if t.Timeout > 0 {
		return t.Timeout
	}
	return 10 * time.Second
}

// testCode is the test numbers' code as sender ("v1" or a dialect) sends
// it: its first CodeLength[sender] digits.
func (t Target) testCode(sender string) string {
	n := t.CodeLength[sender]
	if n <= 0 || n > len(t.TestCode) {
		n = len(t.TestCode)
	}
	return t.TestCode[:n]
}

func (t Target) code() string {
	if t.LastCode == nil {
		return ""
	}
	return t.LastCode()
}

func (t Target) cannotRun(c *Case) string {
	usesCode := strings.Contains(string(txtar.Format(c.archive)), "{{code}}")
	if t.OldServer && c.Departs != "" {
		return "the gateway departs from the old server here (" + c.Departs + "): TestGolden checks it against the gateway"
	}
	for _, d := range c.Setup {
		switch d.Verb {
		case "advance":
			if t.Advance == nil {
				return "needs the server's clock (setup advance): it runs in-process only (go test ./cmd/gateway -run TestGolden)"
			}
		case "option":
			if !t.InProcess {
				return "needs a gateway started with " + strings.Join(d.Args, " ") + ": it runs in-process only (go test ./cmd/gateway -run TestGolden)"
			}
		case "register", "code":
			usesCode = true
			if t.OldServer && (d.Verb == "register" || viaV1(c.Dialect, d)) {
				return "needs /v1 set-up (setup " + d.Verb + "), which an old server does not have: verify it against the gateway"
			}
		}
	}
	if usesCode && t.LastCode == nil && t.TestCode == "" {
		if t.OldServer {
			return "needs the codes the server sends: an old server's SMS go to real phones"
		}
		return "needs the codes the server sends: pass --test-phones as the target's GATEWAY_TEST_PHONES, or --sms-sink with the target's GATEWAY_SMS_WEBHOOK"
	}
	return ""
}

func (t Target) setup(ctx context.Context, client *http.Client, dialect string, d Directive) error {
	switch {
	case d.Verb == "advance" && len(d.Args) == 1:
		dur, err := time.ParseDuration(d.Args[0])
		if err != nil {
			return err
		}
		t.Advance(dur)
		return nil
	case d.Verb == "option":
		return nil // applied by whoever started the server
	case d.Verb == "code" && len(d.Args) == 2:
		return t.sendCode(ctx, client, dialect, d.Args[0], d.Args[1])
	case d.Verb == "register" && (len(d.Args) == 2 || len(d.Args) == 3):
		if err := t.postV1(ctx, client, "/v1/codes", map[string]string{"phone": d.Args[0], "purpose": "register"}, http.StatusOK); err != nil {
			return err
		}
		code := t.code()
		if t.TestCode != "" {
			code = t.testCode("v1") // sent through /v1, not the case's dialect
		}
		u := map[string]string{"phone": d.Args[0], "password": d.Args[1], "code": code}
		if len(d.Args) == 3 {
			u["device_id"] = d.Args[2]
		}
		return t.postV1(ctx, client, "/v1/users", u, http.StatusCreated)
	}
	return fmt.Errorf("unknown directive")
}

// viaV1 reports whether a `setup code` directive sends through /v1 (see
// sendCode).
func viaV1(dialect string, d Directive) bool {
	if d.Verb != "code" || len(d.Args) != 2 {
		return false
	}
	purpose := d.Args[1]
	return !(dialect == "apiv4" && (purpose == "register" || purpose == "reset")) &&
		!(dialect == "caraccessories" && purpose == "any")
}

// sendCode asks for a code through the case's own dialect, at its default
// mount: the gateway accepts a code only in the dialect that sent it.
func (t Target) sendCode(ctx context.Context, client *http.Client, dialect, phone, purpose string) error {
	var req *http.Request
	var err error
	switch {
	case dialect == "apiv4" && (purpose == "register" || purpose == "reset"):
		expect := map[string]string{"register": "0", "reset": "1"}[purpose]
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, t.BaseURL+"/api/v4.0/sendsms/"+url.PathEscape(phone)+"?expect="+expect, nil)
	case dialect == "caraccessories" && purpose == "any":
		b, _ := json.Marshal(map[string]string{"mobile": phone})
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, t.BaseURL+"/caraccessories/app/get_verification_code", bytes.NewReader(b))
		if req != nil {
			req.Header.Set("Content-Type", "application/json")
		}
	default:
		return t.postV1(ctx, client, "/v1/codes", map[string]string{"phone": phone, "purpose": purpose}, http.StatusOK)
	}
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var reply struct {
		Code   any `json:"code"`
		Status any `json:"status"`
	}
	_ = json.Unmarshal(got, &reply)
	if resp.StatusCode != http.StatusOK || (fmt.Sprint(reply.Code) != "200" && fmt.Sprint(reply.Status) != "1") {
		return fmt.Errorf("%s's send answered %d: %s%s", dialect, resp.StatusCode, got, setupHint(resp))
	}
	return nil
}

func (t Target) postV1(ctx context.Context, client *http.Client, path string, body map[string]string, want int) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.BaseURL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != want {
		return fmt.Errorf("%s answered %d: %s%s", path, resp.StatusCode, got, setupHint(resp))
	}
	return nil
}

// Received is a response as received, with the request that got it.
type Received struct {
	Status  int
	Header  http.Header
	Body    []byte
	Request Sent
}

// Sent is a request as sent: placeholders filled in, Target the path and
// query.
type Sent struct {
	Method, Target string
	Header         http.Header
	Body           []byte
}

// RequestLine returns the method and target (path and query) of the
// exchange's request.
func (e Exchange) RequestLine() (method, target string) {
	line, _, _ := strings.Cut(e.Request, "\n")
	method, target, _ = strings.Cut(line, " ")
	return method, strings.TrimSpace(target)
}

// response is a received response, kept in the golden format.
type response struct {
	status  int
	header  http.Header
	body    string
	request Sent
}

// String renders the response with every header, sorted (for -update and
// for diffs).
func (r *response) String() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.status) + "\n")
	names := make([]string, 0, len(r.header))
	for n := range r.header {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, v := range r.header[n] {
			b.WriteString(n + ": " + v + "\n")
		}
	}
	b.WriteString("\n" + r.body + "\n")
	return b.String()
}

func (t Target) exchange(ctx context.Context, client *http.Client, raw string) (*response, error) {
	raw = strings.ReplaceAll(raw, "{{code}}", t.code())
	head, body, _ := strings.Cut(raw, "\n\n")
	body = strings.TrimSuffix(body, "\n")
	lines := strings.Split(strings.TrimSuffix(head, "\n"), "\n")
	method, target, ok := strings.Cut(lines[0], " ")
	if !ok {
		return nil, fmt.Errorf("bad request line %q", lines[0])
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.BaseURL+strings.TrimSpace(target), rd)
	if err != nil {
		return nil, err
	}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("bad header line %q", l)
		}
		if strings.EqualFold(strings.TrimSpace(k), "Host") {
			req.Host = strings.TrimSpace(v)
			continue
		}
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	sent := Sent{Method: method, Target: strings.TrimSpace(target), Header: req.Header.Clone(), Body: []byte(body)}
	if req.Host != "" {
		sent.Header.Set("Host", req.Host)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: string(got), request: sent}, nil
}

// compare checks a response against its golden text and returns a readable
// diff, or "" when they match.
func compare(file string, n int, want string, got *response, code string) string {
	want = strings.ReplaceAll(want, "{{code}}", code)
	head, body, _ := strings.Cut(want, "\n\n")
	body = strings.TrimSuffix(body, "\n")
	lines := strings.Split(strings.TrimSuffix(head, "\n"), "\n")
	var problems []string
	if status, err := strconv.Atoi(strings.TrimSpace(lines[0])); err != nil || status != got.status {
		problems = append(problems, fmt.Sprintf("status: want %s, got %d", strings.TrimSpace(lines[0]), got.status))
	}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		re := pattern(v)
		found := false
		for _, gv := range got.header.Values(k) {
			if re.MatchString(gv) {
				found = true
				break
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("header %s: want %q, got %q", k, v, got.header.Values(k)))
		}
	}
	if !pattern(body).MatchString(got.body) {
		problems = append(problems, "body:\n"+lineDiff(body, got.body))
	}
	if len(problems) == 0 {
		return ""
	}
	return fmt.Sprintf("%s: response %d differs:\n  %s", file, n, strings.Join(problems, "\n  "))
}

var placeholders = map[string]string{
	"{{hex32}}":  `[0-9a-f]{32}`,
	"{{any}}":    `.*?`,
	"{{digits}}": `[0-9]+`,
}

var placeholderRE = regexp.MustCompile(`\{\{(hex32|any|digits)\}\}`)

// pattern turns golden text with placeholders into an anchored regexp.
func pattern(golden string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^`)
	last := 0
	for _, m := range placeholderRE.FindAllStringIndex(golden, -1) {
		b.WriteString(regexp.QuoteMeta(golden[last:m[0]]))
		b.WriteString(placeholders[golden[m[0]:m[1]]])
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(golden[last:]) + `$`)
	return regexp.MustCompile(b.String())
}

// lineDiff shows the first differing line of two texts with its neighbours.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && pattern(w[i]).MatchString(g[i]) {
		i++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "    first difference at body line %d\n", i+1)
	for j := max(0, i-1); j < min(len(w), i+3); j++ {
		fmt.Fprintf(&b, "    - %q\n", w[j])
	}
	for j := max(0, i-1); j < min(len(g), i+3); j++ {
		fmt.Fprintf(&b, "    + %q\n", g[j])
	}
	return strings.TrimRight(b.String(), "\n")
}

// Update rewrites the case's response sections from the responses received,
// keeping the golden header lines' names and turning volatile values
// (32-hex tokens and ids, the code) back into placeholders. It returns the
// new file content.
func Update(res *Result, code string) []byte {
	a := res.Case.archive
	for i, ex := range res.Case.Exchanges {
		if i >= len(res.Actual) {
			break
		}
		if res.matched[i] {
			continue // keep the golden text and its placeholders
		}
		a.Files[ex.respIndex].Data = []byte(rewrite(ex.Response, res.Actual[i], code))
	}
	return txtar.Format(a)
}

var hex32 = regexp.MustCompile(`[0-9a-f]{32}`)

func rewrite(golden, actual, code string) string {
	gHead, _, _ := strings.Cut(golden, "\n\n")
	aHead, aBody, _ := strings.Cut(actual, "\n\n")
	aBody = strings.TrimSuffix(aBody, "\n")
	got := http.Header{}
	sc := bufio.NewScanner(strings.NewReader(aHead))
	sc.Scan()
	status := sc.Text()
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		got.Add(k, v)
	}
	volatile := func(s string) string {
		s = hex32.ReplaceAllString(s, "{{hex32}}")
		if code != "" {
			s = strings.ReplaceAll(s, code, "{{code}}")
		}
		return s
	}
	var b strings.Builder
	b.WriteString(status + "\n")
	for _, l := range strings.Split(gHead, "\n")[1:] {
		k, v, _ := strings.Cut(l, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if gv := got.Values(k); len(gv) > 0 && !pattern(v).MatchString(gv[0]) {
			v = volatile(gv[0])
		}
		b.WriteString(k + ": " + v + "\n")
	}
	b.WriteString("\n" + volatile(aBody) + "\n")
	return b.String()
}
