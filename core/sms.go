package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// SMS is one verification code to deliver.
type SMS struct {
	Phone   string `json:"phone"` // E.164
	Code    string `json:"code"`
	Purpose string `json:"purpose"`
	Dialect string `json:"dialect"`
}

// Sender delivers verification codes. An error means the code was not
// sent; the operation then fails with SMSFailed.
type Sender interface {
	Send(ctx context.Context, m SMS) error
}

// LogSender is the development sender: it writes the code to the log
// instead of sending it. It is the only place a code is ever logged.
type LogSender struct{ Log *slog.Logger }

// Send logs the code.
func (s LogSender) Send(_ context.Context, m SMS) error {
	s.Log.Warn("development SMS sender: code not sent, shown here instead",
		"phone", MaskPhone(m.Phone), "code", m.Code, "purpose", m.Purpose, "dialect", m.Dialect)
	return nil
}

// WebhookSender POSTs each SMS as JSON to URL. A reply other than 2xx, or
// no reply within Timeout, is a failure.
type WebhookSender struct {
	URL     string
	Client  *http.Client
	Timeout time.Duration
}

// Send posts the SMS.
func (s WebhookSender) Send(ctx context.Context, m SMS) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// Not err itself: *url.Error quotes the URL, whose query or user
		// info may hold the SMS provider's key, and the error is logged.
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("sms webhook %s failed: %w", req.Method, ue.Err)
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("sms webhook answered %s", resp.Status)
	}
	return nil
}

// TestPhone is a number whose code is fixed and never sent: for app-store
// review, QA and contract tests against a running gateway. Pattern is an
// E.164 number whose trailing digits may be "x" wildcards
// (+8613800000xxx); Code is the code's digits, cut to the length a send
// asks for.
type TestPhone struct {
	Pattern string
	Code    string
}

// ParseTestPhones reads GATEWAY_TEST_PHONES: comma-separated PHONE=CODE
// entries.
func ParseTestPhones(s string) ([]TestPhone, error) {
	var out []TestPhone
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		pattern, code, ok := strings.Cut(entry, "=")
		pattern, code = strings.TrimSpace(pattern), strings.TrimSpace(code)
		if !ok || code == "" || !allDigits(code) || len(code) > maxCodeLen {
			return nil, fmt.Errorf("test phone %q: want PHONE=CODE with a code of 1 to %d digits", entry, maxCodeLen)
		}
		fixed := strings.TrimRight(pattern, "x")
		if _, err := NormalizePhone(fixed + strings.Repeat("0", len(pattern)-len(fixed))); err != nil || !strings.HasPrefix(pattern, "+") {
			return nil, fmt.Errorf("test phone %q: want an E.164 number (+86...) whose last digits may be x", entry)
		}
		out = append(out, TestPhone{Pattern: pattern, Code: code})
	}
	return out, nil
}

// Matches reports whether phone (E.164) is covered by the pattern.
func (t TestPhone) Matches(phone string) bool {
	if len(phone) != len(t.Pattern) {
		return false
	}
	for i := 0; i < len(phone); i++ {
		if t.Pattern[i] != phone[i] && !(t.Pattern[i] == 'x' && phone[i] >= '0' && phone[i] <= '9') {
			return false
		}
	}
	return true
}

// Count is how many numbers the pattern covers.
func (t TestPhone) Count() int {
	n := 1
	for i := len(t.Pattern) - 1; i >= 0 && t.Pattern[i] == 'x'; i-- {
		n *= 10
	}
	return n
}

// codeFor returns the fixed code of a test phone, cut to n digits, and
// whether phone is one.
func codeFor(phones []TestPhone, phone string, n int) (string, bool) {
	for _, t := range phones {
		if t.Matches(phone) {
			return t.Code[:min(n, len(t.Code))], true
		}
	}
	return "", false
}

// countryAllowed reports whether phone (E.164) begins with one of the
// calling codes ("+86"); an empty list allows every country.
func countryAllowed(countries []string, phone string) bool {
	if len(countries) == 0 {
		return true
	}
	for _, c := range countries {
		if strings.HasPrefix(phone, c) {
			return true
		}
	}
	return false
}

// ScrubProviderText prepares a text that came back from an SMS provider
// (or its SDK) for an error or a log: the secrets and the code become
// "[redacted]"; the phone, in its E.164, digits-only and local forms, is
// masked; then it is cut to 300 bytes (after, so that nothing cut in two
// escapes), keeping valid UTF-8.
func ScrubProviderText(text, phone, code string, secrets ...string) string {
	for _, v := range append(secrets, code) {
		if v != "" {
			text = strings.ReplaceAll(text, v, "[redacted]")
		}
	}
	if phone != "" {
		masked := MaskPhone(phone)
		// Longest first, so no shorter form leaves a remnant.
		for _, p := range []string{phone, strings.TrimPrefix(phone, "+"), LocalPhone(phone)} {
			if len(p) >= 7 {
				text = strings.ReplaceAll(text, p, masked)
			}
		}
	}
	const max = 300
	if len(text) > max {
		text = strings.ToValidUTF8(text[:max], "") + "..."
	}
	return text
}
