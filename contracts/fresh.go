package contracts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"syscall"
)

// digitRun finds numbers; only 11-digit ones starting with 1 are phones: longer runs
// (an E.164 number with its 86) are left alone.
var digitRun = regexp.MustCompile(`[0-9]+`)

// freshPhones returns a copy of c whose mainland mobiles (11 digits
// starting with 1) are replaced by numbers from next, one per distinct
// number, the same throughout the case: its set-up, requests and expected
// responses.
func freshPhones(ctx context.Context, next func(context.Context) (string, error), c *Case) (*Case, error) {
	m := map[string]string{}
	var err error
	swap := func(s string) string {
		return digitRun.ReplaceAllStringFunc(s, func(d string) string {
			if len(d) != 11 || d[0] != '1' || err != nil {
				return d
			}
			if p, ok := m[d]; ok {
				return p
			}
			var p string
			if p, err = next(ctx); err != nil {
				return d
			}
			m[d] = p
			return p
		})
	}
	cp := *c
	cp.Setup = make([]Directive, len(c.Setup))
	for i, d := range c.Setup {
		args := make([]string, len(d.Args))
		for j, a := range d.Args {
			args[j] = swap(a)
		}
		cp.Setup[i] = Directive{Verb: d.Verb, Args: args}
	}
	cp.Exchanges = make([]Exchange, len(c.Exchanges))
	for i, ex := range c.Exchanges {
		cp.Exchanges[i] = Exchange{Request: swap(ex.Request), Response: swap(ex.Response), respIndex: ex.respIndex}
	}
	if err != nil {
		return nil, fmt.Errorf("fresh phone numbers: %w", err)
	}
	return &cp, nil
}

// Hints name the likely cause of a failure and its fix.
const (
	hintLimited = "the target's limits refused it: start the target with GATEWAY_TEST_PHONES and pass the same --test-phones " +
		"(test numbers are free of the SMS and look-up limits), or with GATEWAY_LIMITS=off"
	hintRegistered = "the phone is registered on the target already (a former run?): pass --test-phones for fresh numbers on every run, or use an empty store"
	hintNoV1       = "the target has no /v1 (an old server?): pass --old-server to skip the cases that need it"
)

// setupHint explains a set-up request's unexpected reply.
func setupHint(resp *http.Response) string {
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "":
		return " (" + hintLimited + ")"
	case resp.StatusCode == http.StatusConflict:
		return " (" + hintRegistered + ")"
	case resp.StatusCode == http.StatusNotFound && strings.HasPrefix(resp.Request.URL.Path, "/v1/"):
		return " (" + hintNoV1 + ")"
	}
	return ""
}

// limitHint explains a mismatch caused by a rate limit: the reply carries
// Retry-After (every dialect's rate-limited reply does, and /v1's 429)
// where the golden one does not.
func limitHint(want string, got *response) string {
	if got.header.Get("Retry-After") == "" || strings.Contains(strings.ToLower(want), "retry-after") {
		return ""
	}
	return fmt.Sprintf("\n  cause: rate-limited (Retry-After: %s): %s", got.header.Get("Retry-After"), hintLimited)
}

// unreachable explains a request that got no reply.
func (t Target) unreachable(err error) string {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return " (nothing listens at " + t.BaseURL + ": is the target running there?)"
	}
	return ""
}
