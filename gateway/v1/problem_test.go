package v1

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"legacyauth/core"
)

// TestWriteErrorEveryKind renders every kind, including those no core
// operation over /v1 can produce with a healthy store today (rate_limited,
// unavailable, internal), so their status and headers are pinned too.
func TestWriteErrorEveryKind(t *testing.T) {
	want := map[core.Kind]int{
		core.Internal: 500, core.Invalid: 400, core.NotRegistered: 404, core.AlreadyRegistered: 409,
		core.WrongPassword: 401, core.CodeWrong: 422, core.CodeExpired: 422, core.TooManyAttempts: 422,
		core.RateLimited: 429, core.SMSFailed: 502, core.Unauthorized: 401, core.NotFound: 404,
		core.Unavailable: 503,
	}
	for _, k := range core.Kinds() {
		t.Run(k.String(), func(t *testing.T) {
			err := &core.Error{Op: "test", Kind: k, Msg: "safe message", Err: errors.New("secret cause"), RetryAfter: 1500 * time.Millisecond}
			rec := httptest.NewRecorder()
			code, status := writeError(rec, core.Wrap("outer", core.Internal, err), false)
			if status != want[k] || rec.Code != want[k] || code != k.String() {
				t.Fatalf("got %d %q, want %d %q", rec.Code, code, want[k], k.String())
			}
			p := decodeProblem(t, rec)
			if p.Code != k.String() || p.Status != want[k] || p.Type != ProblemTypeBase+k.String() || p.Title == "" {
				t.Errorf("problem = %+v", p)
			}
			if strings.Contains(rec.Body.String(), "secret cause") {
				t.Errorf("the cause leaked: %s", rec.Body)
			}
			switch k {
			case core.Internal:
				if p.Detail != "" {
					t.Errorf("internal detail %q sent", p.Detail)
				}
			default:
				if p.Detail != "safe message" {
					t.Errorf("detail = %q", p.Detail)
				}
			}
			// A shed request (Unavailable with RetryAfter) asks for a wait too.
			if got := rec.Header().Get("Retry-After"); (k == core.RateLimited || k == core.Unavailable) != (got != "") || (got != "" && got != "2") {
				t.Errorf("Retry-After = %q", got)
			}
			if got := rec.Header().Get("WWW-Authenticate"); (want[k] == 401) != strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate = %q", got)
			}
		})
	}
}

func TestWriteErrorPlainError(t *testing.T) {
	rec := httptest.NewRecorder()
	code, status := writeError(rec, errors.New("db exploded at row 7"), false)
	if code != "internal" || status != 500 || strings.Contains(rec.Body.String(), "exploded") {
		t.Fatalf("got %s %d %s", code, status, rec.Body)
	}
}

func TestWriteProblem(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteProblem(rec, http.StatusNotFound, CodeNotFound, "Not found", "nothing here")
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q", ct)
	}
	p := decodeProblem(t, rec)
	if p != (Problem{Type: ProblemTypeBase + "not_found", Title: "Not found", Status: 404, Detail: "nothing here", Code: "not_found"}) {
		t.Errorf("problem = %+v", p)
	}
}

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) Problem {
	t.Helper()
	var p Problem
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body: %v", err)
	}
	return p
}
