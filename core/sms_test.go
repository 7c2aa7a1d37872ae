package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"legacyauth/core"
)

// webhook is an httptest.Server that records the requests it gets.
type webhook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	ctypes []string
	method []string
}

func newWebhook(t *testing.T, status int) *webhook {
	t.Helper()
	w := &webhook{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.bodies = append(w.bodies, b)
		w.ctypes = append(w.ctypes, r.Header.Get("Content-Type"))
		w.method = append(w.method, r.Method)
		w.mu.Unlock()
		rw.WriteHeader(status)
		_, _ = io.WriteString(rw, "reply body")
	}))
	t.Cleanup(w.srv.Close)
	return w
}

// newSilentServer is a webhook that never answers: each request waits
// until the client gives up or the test ends.
func newSilentServer(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	return srv
}

func TestWebhookSender(t *testing.T) {
	ctx := context.Background()
	msg := core.SMS{Phone: "+8613812341234", Code: "012345", Purpose: "reset", Dialect: "apiv4"}

	t.Run("Body", func(t *testing.T) {
		w := newWebhook(t, http.StatusOK)
		mustOK(t, core.WebhookSender{URL: w.srv.URL, Timeout: 5 * time.Second}.Send(ctx, msg))
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.bodies) != 1 {
			t.Fatalf("%d requests, want 1", len(w.bodies))
		}
		if w.method[0] != http.MethodPost || w.ctypes[0] != "application/json" {
			t.Errorf("%s with Content-Type %q, want POST application/json", w.method[0], w.ctypes[0])
		}
		var got map[string]any
		if err := json.Unmarshal(w.bodies[0], &got); err != nil {
			t.Fatalf("body %q: %v", w.bodies[0], err)
		}
		want := map[string]any{"phone": msg.Phone, "code": msg.Code, "purpose": msg.Purpose, "dialect": msg.Dialect}
		if len(got) != len(want) {
			t.Errorf("body has fields %v, want exactly %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("field %q = %#v, want %#v", k, got[k], v)
			}
		}
	})

	t.Run("Status", func(t *testing.T) {
		tests := []struct {
			name    string
			status  int
			wantErr bool
		}{
			{"OK", http.StatusOK, false},
			{"Accepted", http.StatusAccepted, false},
			{"NoContent", http.StatusNoContent, false},
			{"BadRequest", http.StatusBadRequest, true},
			{"NotFound", http.StatusNotFound, true},
			{"TooManyRequests", http.StatusTooManyRequests, true},
			{"ServerError", http.StatusInternalServerError, true},
			{"BadGateway", http.StatusBadGateway, true},
			{"NotModified", http.StatusNotModified, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				w := newWebhook(t, tt.status)
				err := core.WebhookSender{URL: w.srv.URL, Client: w.srv.Client()}.Send(ctx, msg)
				if (err != nil) != tt.wantErr {
					t.Errorf("status %d: err = %v, want error %v", tt.status, err, tt.wantErr)
				}
			})
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		srv := newSilentServer(t)
		err := core.WebhookSender{URL: srv.URL, Timeout: 50 * time.Millisecond}.Send(ctx, msg)
		if err == nil {
			t.Fatalf("a webhook that never answers gave no error")
		}
	})

	t.Run("Unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		if err := (core.WebhookSender{URL: url, Timeout: time.Second}).Send(ctx, msg); err == nil {
			t.Errorf("a closed server gave no error")
		}
	})

	t.Run("BadURL", func(t *testing.T) {
		if err := (core.WebhookSender{URL: "://nope"}).Send(ctx, msg); err == nil {
			t.Errorf("a malformed URL gave no error")
		}
	})

	t.Run("ThroughService", func(t *testing.T) {
		tests := []struct {
			name   string
			status int
			want   core.Kind // Internal means success
		}{
			{"Delivered", http.StatusOK, core.Internal},
			{"SMSFailed", http.StatusServiceUnavailable, core.SMSFailed},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				w := newWebhook(t, tt.status)
				h := newHarness(t, func(c *core.Config) { c.Sender = core.WebhookSender{URL: w.srv.URL, Timeout: 5 * time.Second} })
				res, err := h.svc.SendCode(ctx, core.SendCodeRequest{Phone: "13812341234", Purpose: core.PurposeRegister, Dialect: "resultcode"})
				if tt.want != core.Internal {
					wantKind(t, err, tt.want)
					return
				}
				mustOK(t, err)
				var got core.SMS
				w.mu.Lock()
				defer w.mu.Unlock()
				if err := json.Unmarshal(w.bodies[0], &got); err != nil {
					t.Fatal(err)
				}
				if want := (core.SMS{Phone: "+8613812341234", Code: res.Code, Purpose: "register", Dialect: "resultcode"}); got != want {
					t.Errorf("webhook got %+v, want %+v", got, want)
				}
			})
		}
	})

	t.Run("TimeoutThroughService", func(t *testing.T) {
		srv := newSilentServer(t)
		h := newHarness(t, func(c *core.Config) { c.Sender = core.WebhookSender{URL: srv.URL, Timeout: 50 * time.Millisecond} })
		_, err := h.svc.SendCode(ctx, core.SendCodeRequest{Phone: "13812341234"})
		wantKind(t, err, core.SMSFailed)
	})
}

func TestLogSender(t *testing.T) {
	var buf bytes.Buffer
	s := core.LogSender{Log: slog.New(slog.NewJSONHandler(&buf, nil))}
	mustOK(t, s.Send(context.Background(), core.SMS{Phone: "+8613812341234", Code: "654321", Purpose: "any", Dialect: "v1"}))
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	if rec["phone"] != "138****1234" || rec["code"] != "654321" || rec["purpose"] != "any" || rec["dialect"] != "v1" {
		t.Errorf("log record %v", rec)
	}
	if strings.Contains(buf.String(), "13812341234") {
		t.Errorf("the full phone number was logged")
	}
}

// The webhook's URL may carry the SMS provider's key; a failure is logged,
// so its error must not quote the URL.
func TestWebhookErrorHidesURL(t *testing.T) {
	s := core.WebhookSender{URL: "http://user:secretpass@127.0.0.1:1/send?apikey=SECRET123", Timeout: time.Second}
	err := s.Send(t.Context(), core.SMS{Phone: "+8613800000000", Code: "123456"})
	if err == nil {
		t.Fatal("a send to a closed port succeeded")
	}
	for _, secret := range []string{"SECRET123", "secretpass", "123456"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q holds %q", err, secret)
		}
	}
}
