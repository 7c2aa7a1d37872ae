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
