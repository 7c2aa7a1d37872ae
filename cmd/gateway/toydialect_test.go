package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"legacyauth/core"
	"legacyauth/gateway"
	"legacyauth/gateway/migrate"
)

// toy is a fourth dialect that exists only in this test. Adding it took
// the dialect itself (this type: the gateway.Dialect and migrate.Wire
// methods) and one dialectKinds entry, and no edit anywhere else:
// settings, --help, validation, mounting, the start-up line and migration
// all follow the table.
type toy struct{ svc *core.Service }

func (toy) Name() string { return "toy" }

func (d toy) Routes() []gateway.Route {
	return []gateway.Route{{Op: "exists", Path: "/exists/{phone}", Methods: []string{http.MethodGet}, Handler: d.exists}}
}

func (d toy) exists(w http.ResponseWriter, r *http.Request) {
	phone := gateway.Var(r, "phone")
	gateway.SetPhoneIfMobile(r, phone)
	ok, err := d.svc.IsRegistered(r.Context(), phone)
	gateway.SetOutcome(r, err)
	if err != nil {
		d.Reject(w, r, http.StatusOK, err)
		return
	}
	fmt.Fprintf(w, `{"ok":true,"registered":%t}`, ok)
}

func (toy) Claims(map[string]bool) bool { return false }

func (toy) Reject(w http.ResponseWriter, _ *http.Request, status int, err error) {
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"ok":false,"error":%q}`, core.KindOf(err).String())
}

func (toy) Operations() []migrate.Operation { return []migrate.Operation{{Name: "exists"}} }
func (toy) Phone(_ string, r *http.Request, _ gateway.Params) string {
	return gateway.Var(r, "phone")
}
func (toy) Flow(*http.Request) string { return "" }
func (toy) Outcome(_ string, _ gateway.Params, status int, body []byte) string {
	var reply struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &reply) != nil {
		return fmt.Sprintf("unreadable %d", status)
	}
	if reply.OK {
		return "ok"
	}
	return reply.Error
}
func (toy) CoreOutcome(_ string, _ gateway.Params, outcome string) string { return outcome }
func (toy) Login(gateway.Params) (string, string)                         { return "", "" }
func (toy) Profile([]byte) core.Profile                                   { return core.Profile{} }
func (toy) Redact(body []byte) []byte                                     { return body }

var _ migrate.Wire = toy{}

// toyKind is the one table entry.
var toyKind = dialectKind{
	name: "toy", prefix: "/toy", codeLength: 6, codeNote: "a test's", modesExample: "exists=proxy",
	mount: func(svc *core.Service, _ *DialectConfig, _ *slog.Logger) gateway.Dialect { return toy{svc} },
}

func TestAFourthDialectIsOneTableEntry(t *testing.T) {
	saved := dialectKinds
	dialectKinds = append(slices.Clone(saved), toyKind)
	t.Cleanup(func() { dialectKinds = saved })

	var help bytes.Buffer
	if err := run(t.Context(), []string{"--help"}, func(string) string { return "" }, &help, &help); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--toy-prefix", "GATEWAY_TOY_CODE_LENGTH", "--toy-mode", "--toy-upstream", "--toy-sunset"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("--help lacks %s", want)
		}
	}
	if _, _, err := runCLI(t, nil, "--toy-prefix", "toy"); err == nil {
		t.Errorf("--toy-prefix=toy passed validation")
	}

	t.Run("served by the core", func(t *testing.T) {
		g := startGateway(t, "--toy-prefix", "/t")
		registerV1(t, g, "13700099001")
		for phone, want := range map[string]string{"13700099001": `{"ok":true,"registered":true}`, "13700099002": `{"ok":true,"registered":false}`, "nonsense": `{"ok":false,"error":"invalid"}`} {
			if r := newLimClient(t, g, "").do(http.MethodGet, "/t/exists/"+phone, "", ""); r.body != want {
				t.Errorf("GET /t/exists/%s = %q, want %q", phone, r.body, want)
			}
		}
		if !strings.Contains(g.Log.String(), `"dialect":"toy"`) {
			t.Errorf("no request line names the toy dialect:\n%s", g.Log.String())
		}
	})
	t.Run("proxied to its old server", func(t *testing.T) {
		var got string
		old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = r.URL.Path
			_, _ = io.WriteString(w, `{"ok":true,"registered":true}`)
		}))
		defer old.Close()
		g := startGateway(t, "--toy-mode", "proxy", "--toy-upstream", old.URL)
		r := newLimClient(t, g, "").do(http.MethodGet, "/toy/exists/13700099003", "", "")
		if r.body != `{"ok":true,"registered":true}` || got != "/toy/exists/13700099003" {
			t.Errorf("proxied: %q, the old server got %q", r.body, got)
		}
	})
}
