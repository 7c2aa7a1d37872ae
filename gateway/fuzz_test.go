package gateway_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/gorilla/mux"

	"legacyauth/dialects/apiv4"
	"legacyauth/dialects/caraccessories"
	"legacyauth/dialects/resultcode"
	"legacyauth/gateway"
	"legacyauth/internal/fuzzkit"
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
	// Each dialect's golden requests, moved from its default prefix to
	// the root (resultcode's already are), and the accounts they use.
	prefix := map[string]string{caraccessories.Name: caraccessories.DefaultPrefix, apiv4.Name: apiv4.DefaultPrefix}
	accounts := map[string]string{}
	for _, dialect := range []string{"caraccessories", "apiv4", "resultcode"} {
		for phone, pw := range fuzzkit.Seeds(f, filepath.Join("..", "testdata", dialect), prefix[dialect]) {
			accounts[phone] = pw
		}
	}
	gw, owners := detectionGateway(f, accounts)
	fuzzkit.Fuzz(f, func(r *http.Request) (*httptest.ResponseRecorder, string) {
		want := owners(r)
		failures := gw.DetectionFailures()
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, r)
		return w, checkDetection(w, want, gw.DetectionFailures()-failures)
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
	svc := fuzzkit.Service(f, accounts)
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
		Log:    fuzzkit.Quiet,
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
