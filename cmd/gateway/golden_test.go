package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"legacyauth/contracts"
	"legacyauth/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files' responses from what the gateway answers")

// testGateway is a whole gateway on its own data directory, served over
// real HTTP on loopback.
type testGateway struct {
	*app
	URL   string
	SMS   *testkit.SMSRecorder
	Clock *testkit.Clock
	Log   *testkit.Buffer
}

// startGateway builds the production wiring with a recording SMS sender, a
// test clock and a fast hash. args are flags, as on the command line.
func startGateway(t testing.TB, args ...string) *testGateway {
	t.Helper()
	cfg, err := parseConfig(append([]string{"--data-dir", t.TempDir()}, args...), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	tg := &testGateway{SMS: &testkit.SMSRecorder{}, Clock: testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), Log: &testkit.Buffer{}}
	log := slog.New(slog.NewJSONHandler(tg.Log, nil))
	a, err := build(cfg, log, overrides{Sender: tg.SMS, Now: tg.Clock.Now, Hash: testkit.FastHash})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	tg.app, tg.URL = a, srv.URL
	return tg
}

// optionFlags turns a case's `setup option` settings into flags:
// resultcode.echo_code=true becomes --resultcode-echo-code=true.
func optionFlags(opts map[string]string) []string {
	var args []string
	for k, v := range opts {
		name := strings.NewReplacer(".", "-", "_", "-").Replace(k)
		args = append(args, "--"+name+"="+v)
	}
	return args
}

// TestGolden replays every testdata/<dialect>/<case>.txtar against its own
// in-process gateway. -update rewrites the responses that differ.
func TestGolden(t *testing.T) {
	cases, err := contracts.Load("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no golden cases under testdata/")
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			// Limits off unless a case turns them on (setup option limits=on):
			// setup steps send codes faster than the SMS cooldown allows.
			g := startGateway(t, append([]string{"--limits=off"}, optionFlags(c.Options())...)...)
			res := contracts.Run(context.Background(), contracts.Target{
				BaseURL: g.URL, LastCode: g.SMS.Last, Advance: g.Clock.Advance, InProcess: true,
			}, c)
			if res.Skipped != "" {
				t.Fatalf("in-process run skipped: %s", res.Skipped)
			}
			checkSchemas(t, g, c, res)
			checkNoSecretsLogged(t, g, c, res)
			if !res.Failed() {
				return
			}
			if *update {
				if err := os.WriteFile(c.File, contracts.Update(res, g.SMS.Last()), 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("rewrote %s", c.File)
				return
			}
			for _, d := range res.Diffs {
				t.Error(d)
			}
		})
	}
}

// checkSchemas validates every exchange of a case, request and reply of
// every status, against its dialect's OpenAPI document
// (contracts/<dialect>.yaml) with kin-openapi's openapi3filter. A request
// the document does not allow is an error unless the gateway refused it as
// such (its log line's outcome): a case may send a bad request on purpose.
func checkSchemas(t *testing.T, g *testGateway, c *contracts.Case, res *contracts.Result) {
	t.Helper()
	doc, err := loadDocument(c.Dialect)
	if err != nil {
		t.Errorf("contract of %s: %v", c.Dialect, err)
		return
	}
	for i, got := range res.Received {
		refused := refusedOutcomes[outcomeOf(g, got.Header.Get("X-Request-Id"))]
		if err := doc.Validate(context.Background(), got, !refused); err != nil {
			t.Errorf("%s: exchange %d: %v", c.File, i+1, err)
		}
	}
}

// refusedOutcomes are the gateway's outcomes for a request outside the
// contract.
var refusedOutcomes = map[string]bool{"invalid": true, "method_not_allowed": true, "body_too_large": true, "unsupported_media_type": true, "malformed": true}

// outcomeOf reads the outcome of request id from the gateway's log.
func outcomeOf(g *testGateway, id string) string {
	for _, line := range strings.Split(g.Log.String(), "\n") {
		if id == "" || !strings.Contains(line, `"request_id":"`+id+`"`) {
			continue
		}
		var l struct{ Msg, Outcome string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "request" {
			return l.Outcome
		}
	}
	return ""
}

var documents sync.Map // dialect -> *contracts.Document, loaded once

func loadDocument(dialect string) (*contracts.Document, error) {
	if d, ok := documents.Load(dialect); ok {
		return d.(*contracts.Document), nil
	}
	d, err := contracts.LoadDocument(filepath.Join("..", "..", "contracts", dialect+".yaml"))
	if err != nil {
		return nil, err
	}
	documents.Store(dialect, d)
	return d, nil
}

var (
	logTime       = regexp.MustCompile(`"time":"[^"]*"`)
	passwordParam = regexp.MustCompile(`password"?\s*[:=]\s*"?([^"&\s,}]+)`)
	// Bearer secrets in replies: apiv4's token, resultcode's token (its
	// message), /v1's token; user ids are not secrets and may be logged.
	tokenValue  = regexp.MustCompile(`"(?:token|message)":\s*"([0-9a-f]{32})"`)
	cookieValue = regexp.MustCompile(`=([0-9a-f]{32})`)
)

// checkNoSecretsLogged greps the gateway's whole log for every secret the
// case used: passwords sent, codes sent by SMS, tokens and ids answered.
func checkNoSecretsLogged(t *testing.T, g *testGateway, c *contracts.Case, res *contracts.Result) {
	t.Helper()
	// Timestamps out: a 4-digit code such as 2026 would match the year.
	log := logTime.ReplaceAllString(g.Log.String(), "")
	var secrets []string
	for _, ex := range c.Exchanges {
		for _, m := range passwordParam.FindAllStringSubmatch(ex.Request, -1) {
			secrets = append(secrets, m[1])
		}
	}
	for _, m := range g.SMS.Sent() {
		secrets = append(secrets, m.Code)
	}
	for _, r := range res.Received {
		for _, m := range tokenValue.FindAllStringSubmatch(string(r.Body), -1) {
			secrets = append(secrets, m[1])
		}
		for _, v := range r.Header.Values("Set-Cookie") { // session tokens and flow ids
			for _, m := range cookieValue.FindAllStringSubmatch(v, -1) {
				secrets = append(secrets, m[1])
			}
		}
	}
	for _, s := range secrets {
		if s == "{{code}}" || len(s) < 4 {
			continue
		}
		// As a whole word: a 4-digit code may occur inside a longer number.
		if regexp.MustCompile(`\b` + regexp.QuoteMeta(s) + `\b`).MatchString(log) {
			t.Errorf("%s: the log holds a secret the case used (%q)", c.File, s)
		}
	}
}
