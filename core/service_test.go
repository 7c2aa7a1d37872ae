package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/core/memdb"
	"legacyauth/internal/testkit"
)

var testSecret = bytes.Repeat([]byte{0x5a}, 32)

var (
	hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)
	// A random (version 4, RFC 4122 variant) UUID without dashes.
	uuid4 = regexp.MustCompile(`^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$`)
)

// harness is a Service over a fresh memdb store in a temporary directory.
type harness struct {
	svc    *core.Service
	store  *memdb.Store
	clock  *testkit.Clock
	sms    *testkit.SMSRecorder
	cfg    core.Config // as given to core.New, before defaults
	closed bool
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newHarness(tb testing.TB, mods ...func(*core.Config)) *harness {
	tb.Helper()
	dir := tb.TempDir()
	store, err := memdb.Open(dir, memdb.Options{})
	if err != nil {
		tb.Fatalf("memdb.Open: %v", err)
	}
	h := &harness{store: store, clock: testkit.NewClock(time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)), sms: &testkit.SMSRecorder{}}
	tb.Cleanup(func() {
		if h.closed {
			return
		}
		if err := store.Close(); err != nil {
			tb.Errorf("store.Close: %v", err)
		}
	})
	h.cfg = core.Config{Secret: testSecret, Hash: testkit.FastHash, Sender: h.sms, Now: h.clock.Now, Log: quietLog()}
	for _, m := range mods {
		m(&h.cfg)
	}
	h.svc = h.service(tb)
	return h
}

// service builds another Service over the harness's store and clock.
func (h *harness) service(tb testing.TB, mods ...func(*core.Config)) *core.Service {
	tb.Helper()
	cfg := h.cfg
	for _, m := range mods {
		m(&cfg)
	}
	svc, err := core.New(h.store, h.store, cfg)
	if err != nil {
		tb.Fatalf("core.New: %v", err)
	}
	return svc
}

func (h *harness) close(tb testing.TB) {
	tb.Helper()
	h.closed = true
	if err := h.store.Close(); err != nil {
		tb.Fatalf("store.Close: %v", err)
	}
}

// phoneN returns a distinct valid mainland mobile for each n.
func phoneN(n int) string { return fmt.Sprintf("138%08d", n) }

func e164(local string) string { return "+86" + local }

// sendCode sends a code and returns it as the SMS carried it.
func (h *harness) sendCode(t testing.TB, phone string, purpose core.Purpose) string {
	t.Helper()
	res, err := h.svc.SendCode(context.Background(), core.SendCodeRequest{Phone: phone, Purpose: purpose, Dialect: "test"})
	if err != nil {
		t.Fatalf("SendCode(%s, %v): %v", phone, purpose, err)
	}
	m := h.sms.MessageTo(t, res.Phone)
	if m.Code != res.Code {
		t.Fatalf("SMS code %q, result code %q", m.Code, res.Code)
	}
	return m.Code
}

// register creates an account through a Register code.
func (h *harness) register(t testing.TB, phone, password, device string) *core.LoginResult {
	t.Helper()
	code := h.sendCode(t, phone, core.PurposeRegister)
	res, err := h.svc.Register(context.Background(), core.RegisterRequest{
		Phone: phone, Password: password, Proof: core.Proof{Code: code}, DeviceID: device,
	})
	if err != nil {
		t.Fatalf("Register(%s): %v", phone, err)
	}
	return res
}

func (h *harness) login(t testing.TB, phone, password, device string) *core.LoginResult {
	t.Helper()
	res, err := h.svc.Login(context.Background(), core.LoginRequest{Phone: phone, Password: password, DeviceID: device})
	if err != nil {
		t.Fatalf("Login(%s): %v", phone, err)
	}
	return res
}

// storedUser reads the user straight from the store.
func (h *harness) storedUser(t testing.TB, phone string) *core.User {
	t.Helper()
	u, err := h.store.UserByPhone(context.Background(), e164(phone))
	if err != nil {
		t.Fatalf("store.UserByPhone(%s): %v", phone, err)
	}
	return u
}

func wantKind(t testing.TB, err error, want core.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", want)
	}
	var ce *core.Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %T (%v), want a *core.Error of kind %v", err, err, want)
	}
	if got := core.KindOf(err); got != want {
		t.Fatalf("got kind %v (%v), want %v", got, err, want)
	}
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wrongCode returns a code of the same length that differs in every digit.
func wrongCode(code string) string {
	b := []byte(code)
	for i, c := range b {
		b[i] = '0' + (c-'0'+1)%10
	}
	return string(b)
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	store, err := memdb.Open(dir, memdb.Options{})
	if err != nil {
		t.Fatalf("memdb.Open: %v", err)
	}
	t.Cleanup(func() { store.Close() })

	t.Run("ShortSecret", func(t *testing.T) {
		_, err := core.New(store, store, core.Config{Secret: make([]byte, 31), Hash: testkit.FastHash})
		wantKind(t, err, core.Invalid)
	})
	t.Run("Defaults", func(t *testing.T) {
		svc, err := core.New(store, store, core.Config{Secret: testSecret, Log: quietLog()})
		mustOK(t, err)
		cfg := svc.Config()
		checks := []struct {
			name      string
			got, want any
		}{
			{"CodeTTL", cfg.CodeTTL, 5 * time.Minute},
			{"TicketTTL", cfg.TicketTTL, 10 * time.Minute},
			{"SessionTTL", cfg.SessionTTL, 30 * 24 * time.Hour},
			{"FlowTTL", cfg.FlowTTL, 30 * time.Minute},
			{"MaxCodeAttempts", cfg.MaxCodeAttempts, 5},
			{"DefaultCodeLen", cfg.DefaultCodeLen, 6},
			{"Hash", cfg.Hash, core.DefaultHashParams},
			{"HashConcurrency", cfg.HashConcurrency, max(1, runtime.GOMAXPROCS(0)-1)},
			{"HashWait", cfg.HashWait, time.Second},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
			}
		}
		if _, ok := cfg.Sender.(core.LogSender); !ok {
			t.Errorf("default Sender is %T, want core.LogSender", cfg.Sender)
		}
		if cfg.Now == nil || cfg.Log == nil {
			t.Errorf("Now or Log not defaulted")
		}
	})
	t.Run("Ping", func(t *testing.T) {
		svc, err := core.New(store, store, core.Config{Secret: testSecret, Hash: testkit.FastHash, Log: quietLog()})
		mustOK(t, err)
		mustOK(t, svc.Ping(context.Background()))
	})
}

func TestSendCode(t *testing.T) {
	ctx := context.Background()
	const registered = "13900000001"

	t.Run("Purposes", func(t *testing.T) {
		h := newHarness(t)
		h.register(t, registered, "pw", "")
		tests := []struct {
			name    string
			phone   string
			purpose core.Purpose
			want    core.Kind // Internal means success
		}{
			{"AnyUnregistered", phoneN(1), core.PurposeAny, core.Internal},
			{"AnyRegistered", registered, core.PurposeAny, core.Internal},
			{"RegisterUnregistered", phoneN(2), core.PurposeRegister, core.Internal},
			{"AlreadyRegistered", registered, core.PurposeRegister, core.AlreadyRegistered},
			{"ResetRegistered", registered, core.PurposeReset, core.Internal},
			{"NotRegistered", phoneN(3), core.PurposeReset, core.NotRegistered},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := len(h.sms.Sent())
				res, err := h.svc.SendCode(ctx, core.SendCodeRequest{Phone: tt.phone, Purpose: tt.purpose})
				if tt.want != core.Internal {
					wantKind(t, err, tt.want)
					if len(h.sms.Sent()) != before {
						t.Errorf("an SMS was sent for a refused request")
					}
					return
				}
				mustOK(t, err)
				if res.Phone != e164(tt.phone) {
					t.Errorf("Phone = %q, want %q", res.Phone, e164(tt.phone))
				}
				if len(h.sms.Sent()) != before+1 {
					t.Errorf("sent %d SMS, want 1", len(h.sms.Sent())-before)
				}
			})
		}
	})

	t.Run("Length", func(t *testing.T) {
		tests := []struct {
			name       string
			defaultLen int // Config.DefaultCodeLen
			length     int
			want       int // 0: Invalid
		}{
			{"Default", 0, 0, 6},
			{"ConfiguredDefault", 8, 0, 8},
			{"Min", 0, 4, 4},
			{"Max", 0, 10, 10},
			{"TooShort", 0, 3, 0},
			{"TooLong", 0, 11, 0},
			{"Negative", 0, -1, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, func(c *core.Config) { c.DefaultCodeLen = tt.defaultLen })
				res, err := h.svc.SendCode(ctx, core.SendCodeRequest{Phone: phoneN(1), Length: tt.length})
				if tt.want == 0 {
					wantKind(t, err, core.Invalid)
					return
				}
				mustOK(t, err)
				if !regexp.MustCompile(fmt.Sprintf(`^[0-9]{%d}$`, tt.want)).MatchString(res.Code) {
					t.Errorf("code %q, want %d digits", res.Code, tt.want)
				}
			})
		}
	})

	t.Run("InvalidPhone", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.svc.SendCode(ctx, core.SendCodeRequest{Phone: "12345"})
		wantKind(t, err, core.Invalid)
		if len(h.sms.Sent()) != 0 {
			t.Errorf("an SMS was sent")
		}
	})

	t.Run("SMSCarriesRequest", func(t *testing.T) {
		h := newHarness(t)
		res, err := h.svc.SendCode(ctx, core.SendCodeRequest{Phone: " 13812345678 ", Purpose: core.PurposeRegister, Dialect: "apiv4"})
		mustOK(t, err)
		want := core.SMS{Phone: "+8613812345678", Code: res.Code, Purpose: "register", Dialect: "apiv4"}
		if got := h.sms.MessageTo(t, "+8613812345678"); got != want {
			t.Errorf("SMS = %+v, want %+v", got, want)
		}
		if wantExp := h.clock.Now().Add(5 * time.Minute); !res.ExpiresAt.Equal(wantExp) {
			t.Errorf("ExpiresAt = %v, want %v", res.ExpiresAt, wantExp)
		}
	})

	t.Run("ReplacesPrevious", func(t *testing.T) {
		h := newHarness(t)
		phone := phoneN(1)
		first := h.sendCode(t, phone, core.PurposeAny)
		second := h.sendCode(t, phone, core.PurposeAny)
		for second == first { // one chance in a million; send again until they differ
			second = h.sendCode(t, phone, core.PurposeAny)
		}
		_, err := h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phone, Code: first})
		wantKind(t, err, core.CodeWrong)
		_, err = h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phone, Code: second})
		mustOK(t, err)
	})

	t.Run("ReplacingResetsAttempts", func(t *testing.T) {
		h := newHarness(t)
		phone := phoneN(1)
		code := h.sendCode(t, phone, core.PurposeAny)
		for range 5 {
			_, _ = h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phone, Code: wrongCode(code)})
		}
		code = h.sendCode(t, phone, core.PurposeAny)
		_, err := h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phone, Code: code})
		mustOK(t, err)
	})

	t.Run("SMSFailed", func(t *testing.T) {
		h := newHarness(t)
		h.sms.Fail(errors.New("carrier down"))
		_, err := h.svc.SendCode(ctx, core.SendCodeRequest{Phone: phoneN(1)})
		wantKind(t, err, core.SMSFailed)
	})
}

func TestIsRegistered(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.register(t, phoneN(1), "pw", "")
	tests := []struct {
		name  string
		phone string
		want  bool
		kind  core.Kind // Internal means no error
	}{
		{"Registered", phoneN(1), true, core.Internal},
		{"RegisteredE164", e164(phoneN(1)), true, core.Internal},
		{"Unregistered", phoneN(2), false, core.Internal},
		{"BadPhone", "not a phone", false, core.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.svc.IsRegistered(ctx, tt.phone)
			if tt.kind != core.Internal {
				wantKind(t, err, tt.kind)
				return
			}
			mustOK(t, err)
			if got != tt.want {
				t.Errorf("IsRegistered = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCodePurposes(t *testing.T) {
	ctx := context.Background()
	// VerifyCode checks no registration, so every pairing can be tried.
	tests := []struct {
		name     string
		sent     core.Purpose
		used     core.Purpose
		wantKind core.Kind // Internal means accepted
	}{
		{"AnyServesAny", core.PurposeAny, core.PurposeAny, core.Internal},
		{"AnyServesRegister", core.PurposeAny, core.PurposeRegister, core.Internal},
		{"AnyServesReset", core.PurposeAny, core.PurposeReset, core.Internal},
		{"RegisterServesRegister", core.PurposeRegister, core.PurposeRegister, core.Internal},
		{"RegisterNotReset", core.PurposeRegister, core.PurposeReset, core.CodeWrong},
		{"RegisterNotAny", core.PurposeRegister, core.PurposeAny, core.CodeWrong},
		{"ResetServesReset", core.PurposeReset, core.PurposeReset, core.Internal},
		{"ResetNotRegister", core.PurposeReset, core.PurposeRegister, core.CodeWrong},
		{"ResetNotAny", core.PurposeReset, core.PurposeAny, core.CodeWrong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			phone := phoneN(1)
			if tt.sent == core.PurposeReset {
				h.register(t, phone, "pw", "")
			}
			code := h.sendCode(t, phone, tt.sent)
			_, err := h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phone, Purpose: tt.used, Code: code})
			if tt.wantKind != core.Internal {
				wantKind(t, err, tt.wantKind)
				// A refused purpose counts as a wrong try but does not consume the code.
				_, err = h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phone, Purpose: tt.sent, Code: code})
			}
			mustOK(t, err)
		})
	}

	t.Run("AnyCodeRegisters", func(t *testing.T) {
		h := newHarness(t)
		code := h.sendCode(t, phoneN(1), core.PurposeAny)
		_, err := h.svc.Register(ctx, core.RegisterRequest{Phone: phoneN(1), Password: "pw", Proof: core.Proof{Code: code}})
		mustOK(t, err)
	})
	t.Run("AnyCodeResets", func(t *testing.T) {
		h := newHarness(t)
		h.register(t, phoneN(1), "old", "")
		code := h.sendCode(t, phoneN(1), core.PurposeAny)
		mustOK(t, h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(1), Password: "new", Proof: core.Proof{Code: code}}))
		h.login(t, phoneN(1), "new", "")
	})
	t.Run("RegisterCodeDoesNotReset", func(t *testing.T) {
		h := newHarness(t)
		phone := phoneN(1)
		code := h.sendCode(t, phone, core.PurposeRegister)
		// The phone gets registered behind the code's back (say, by another
		// gateway instance); the Register code must still not reset it.
		u := &core.User{ID: strings.Repeat("ab", 16), Phone: e164(phone), PasswordHash: mustHash(t, "old"), CreatedAt: h.clock.Now()}
		mustOK(t, h.store.CreateUser(ctx, u, nil))
		err := h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phone, Password: "new", Proof: core.Proof{Code: code}})
		wantKind(t, err, core.CodeWrong)
		if got := h.storedUser(t, phone).PasswordHash; got != u.PasswordHash {
			t.Errorf("the password hash changed")
		}
	})
}

func mustHash(t testing.TB, password string) string {
	t.Helper()
	h, err := core.HashPassword(password, testkit.FastHash)
	mustOK(t, err)
	return h
}

func TestCodeExpiry(t *testing.T) {
	ctx := context.Background()
	const ttl = time.Minute
	tests := []struct {
		name    string
		advance time.Duration
		want    core.Kind // Internal means accepted
	}{
		{"Fresh", 0, core.Internal},
		{"JustBefore", ttl - time.Second, core.Internal},
		{"CodeExpired", ttl + time.Second, core.CodeExpired},
		{"LongExpired", 24 * time.Hour, core.CodeExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *core.Config) { c.CodeTTL = ttl })
			code := h.sendCode(t, phoneN(1), core.PurposeAny)
			h.clock.Advance(tt.advance)
			_, err := h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phoneN(1), Code: code})
			if tt.want == core.Internal {
				mustOK(t, err)
				return
			}
			wantKind(t, err, tt.want)
		})
	}
	t.Run("DefaultTTL", func(t *testing.T) {
		h := newHarness(t)
		code := h.sendCode(t, phoneN(1), core.PurposeRegister)
		h.clock.Advance(5*time.Minute + time.Second)
		_, err := h.svc.Register(ctx, core.RegisterRequest{Phone: phoneN(1), Password: "pw", Proof: core.Proof{Code: code}})
		wantKind(t, err, core.CodeExpired)
	})
}

func TestCodeBurn(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		max  int // Config.MaxCodeAttempts; 0 is the default, 5
	}{
		{"Default", 0},
		{"Three", 3},
		{"One", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *core.Config) { c.MaxCodeAttempts = tt.max })
			limit := h.svc.Config().MaxCodeAttempts
			phone := phoneN(1)
			code := h.sendCode(t, phone, core.PurposeAny)
			for i := 1; i < limit; i++ {
				_, err := h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phone, Code: wrongCode(code)})
				wantKind(t, err, core.CodeWrong)
			}
			_, err := h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phone, Code: wrongCode(code)})
			wantKind(t, err, core.TooManyAttempts)
			_, err = h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phone, Code: code})
			wantKind(t, err, core.TooManyAttempts)
			_, err = h.svc.Register(ctx, core.RegisterRequest{Phone: phone, Password: "pw", Proof: core.Proof{Code: code}})
			wantKind(t, err, core.TooManyAttempts)
			if ok, _ := h.svc.IsRegistered(ctx, phone); ok {
				t.Errorf("a burned code registered the phone")
			}
		})
	}
	t.Run("AcrossOperations", func(t *testing.T) {
		h := newHarness(t)
		phone := phoneN(1)
		code := h.sendCode(t, phone, core.PurposeRegister)
		bad := core.Proof{Code: wrongCode(code)}
		for range 2 {
			_, err := h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phone, Purpose: core.PurposeRegister, Code: bad.Code})
			wantKind(t, err, core.CodeWrong)
			_, err = h.svc.Register(ctx, core.RegisterRequest{Phone: phone, Password: "pw", Proof: bad})
			wantKind(t, err, core.CodeWrong)
		}
		_, err := h.svc.Register(ctx, core.RegisterRequest{Phone: phone, Password: "pw", Proof: bad})
		wantKind(t, err, core.TooManyAttempts)
		_, err = h.svc.Register(ctx, core.RegisterRequest{Phone: phone, Password: "pw", Proof: core.Proof{Code: code}})
		wantKind(t, err, core.TooManyAttempts)
	})
	t.Run("NoCodeSent", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phoneN(1), Code: "123456"})
		wantKind(t, err, core.CodeWrong)
	})
	t.Run("EmptyCode", func(t *testing.T) {
		h := newHarness(t)
		h.sendCode(t, phoneN(1), core.PurposeAny)
		_, err := h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phoneN(1)})
		wantKind(t, err, core.Invalid)
	})
	t.Run("BadPhone", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: "+0123", Code: "123456"})
		wantKind(t, err, core.Invalid)
	})
}

func TestTicket(t *testing.T) {
	ctx := context.Background()

	// verified sends a code for purpose and trades it for a ticket.
	verifiedAs := func(t *testing.T, h *harness, phone string, purpose core.Purpose, forRecentCheck bool) string {
		t.Helper()
		code := h.sendCode(t, phone, core.PurposeAny)
		ticket, err := h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phone, Purpose: purpose, Code: code, ForRecentCheck: forRecentCheck})
		mustOK(t, err)
		if forRecentCheck != (ticket == "") || !forRecentCheck && !hex32.MatchString(ticket) {
			t.Fatalf("ticket %q (recent check %v)", ticket, forRecentCheck)
		}
		return ticket
	}
	verified := func(t *testing.T, h *harness, phone string, purpose core.Purpose) string {
		t.Helper()
		return verifiedAs(t, h, phone, purpose, false)
	}

	t.Run("CodeIsConsumed", func(t *testing.T) {
		h := newHarness(t)
		code := h.sendCode(t, phoneN(1), core.PurposeRegister)
		_, err := h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phoneN(1), Purpose: core.PurposeRegister, Code: code})
		mustOK(t, err)
		_, err = h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phoneN(1), Purpose: core.PurposeRegister, Code: code})
		wantKind(t, err, core.CodeWrong)
	})

	t.Run("RegisterWithTicket", func(t *testing.T) {
		h := newHarness(t)
		ticket := verified(t, h, phoneN(1), core.PurposeRegister)
		_, err := h.svc.Register(ctx, core.RegisterRequest{Phone: phoneN(1), Password: "pw", Proof: core.Proof{Ticket: ticket}})
		mustOK(t, err)
	})

	t.Run("RegisterWithRecentCheck", func(t *testing.T) {
		h := newHarness(t)
		verifiedAs(t, h, phoneN(1), core.PurposeRegister, true)
		_, err := h.svc.Register(ctx, core.RegisterRequest{Phone: phoneN(1), Password: "pw", Proof: core.Proof{RecentCheck: true}})
		mustOK(t, err)
	})

	// A recent check takes only a verification made for it, from the same
	// client address: not a ticket someone else got from /v1, not one made
	// from another address.
	t.Run("RecentCheckNeedsItsOwnVerification", func(t *testing.T) {
		h := newHarness(t)
		h.register(t, phoneN(1), "pw", "")
		verified(t, h, phoneN(1), core.PurposeReset) // an ordinary ticket, e.g. the victim's through /v1
		err := h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(1), Password: "attacker", Proof: core.Proof{RecentCheck: true}})
		wantKind(t, err, core.Unauthorized)

		victim, attacker := core.WithClientIP(ctx, "198.51.100.7"), core.WithClientIP(ctx, "203.0.113.9")
		code := h.sendCode(t, phoneN(1), core.PurposeReset)
		_, err = h.svc.VerifyCode(victim, core.VerifyCodeRequest{Phone: phoneN(1), Purpose: core.PurposeReset, Code: code, ForRecentCheck: true})
		mustOK(t, err)
		err = h.svc.ResetPassword(attacker, core.ResetRequest{Phone: phoneN(1), Password: "attacker", Proof: core.Proof{RecentCheck: true}})
		wantKind(t, err, core.Unauthorized)
		mustOK(t, h.svc.ResetPassword(victim, core.ResetRequest{Phone: phoneN(1), Password: "mine", Proof: core.Proof{RecentCheck: true}}))
		h.login(t, phoneN(1), "mine", "")
	})

	t.Run("RecentCheckIsShortLived", func(t *testing.T) {
		h := newHarness(t) // TicketTTL 10 minutes; a recent check lives RecentCheckTTL
		h.register(t, phoneN(1), "pw", "")
		verifiedAs(t, h, phoneN(1), core.PurposeReset, true)
		h.clock.Advance(core.RecentCheckTTL + time.Second)
		err := h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(1), Password: "new", Proof: core.Proof{RecentCheck: true}})
		wantKind(t, err, core.Unauthorized)
	})

	proofs := []struct {
		name   string
		recent bool // verify with ForRecentCheck
		proof  func(ticket string) core.Proof
	}{
		{"Ticket", false, func(ticket string) core.Proof { return core.Proof{Ticket: ticket} }},
		{"RecentCheck", true, func(string) core.Proof { return core.Proof{RecentCheck: true} }},
	}
	for _, p := range proofs {
		verified := func(t *testing.T, h *harness, phone string, purpose core.Purpose) string {
			t.Helper()
			return verifiedAs(t, h, phone, purpose, p.recent)
		}
		t.Run(p.name, func(t *testing.T) {
			t.Run("OneUse", func(t *testing.T) {
				h := newHarness(t)
				h.register(t, phoneN(1), "pw0", "")
				ticket := verified(t, h, phoneN(1), core.PurposeReset)
				mustOK(t, h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(1), Password: "pw1", Proof: p.proof(ticket)}))
				err := h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(1), Password: "pw2", Proof: p.proof(ticket)})
				wantKind(t, err, core.Unauthorized)
				h.login(t, phoneN(1), "pw1", "")
			})
			t.Run("BoundToPhone", func(t *testing.T) {
				h := newHarness(t)
				h.register(t, phoneN(1), "pw", "")
				h.register(t, phoneN(2), "pw", "")
				ticket := verified(t, h, phoneN(1), core.PurposeReset)
				err := h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(2), Password: "new", Proof: p.proof(ticket)})
				wantKind(t, err, core.Unauthorized)
				// Still good for its own phone.
				mustOK(t, h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(1), Password: "new", Proof: p.proof(ticket)}))
			})
			t.Run("BoundToPurpose", func(t *testing.T) {
				h := newHarness(t)
				h.register(t, phoneN(1), "pw", "")
				for _, purpose := range []core.Purpose{core.PurposeRegister, core.PurposeAny} {
					ticket := verified(t, h, phoneN(1), purpose)
					err := h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(1), Password: "new", Proof: p.proof(ticket)})
					wantKind(t, err, core.Unauthorized)
				}
				ticket := verified(t, h, phoneN(2), core.PurposeReset)
				_, err := h.svc.Register(ctx, core.RegisterRequest{Phone: phoneN(2), Password: "pw", Proof: p.proof(ticket)})
				wantKind(t, err, core.Unauthorized)
			})
			t.Run("Expiry", func(t *testing.T) {
				h := newHarness(t, func(c *core.Config) { c.TicketTTL = time.Minute })
				h.register(t, phoneN(1), "pw", "")
				ticket := verified(t, h, phoneN(1), core.PurposeReset)
				h.clock.Advance(time.Minute + time.Second)
				err := h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(1), Password: "new", Proof: p.proof(ticket)})
				wantKind(t, err, core.Unauthorized)
			})
			t.Run("JustBeforeExpiry", func(t *testing.T) {
				h := newHarness(t, func(c *core.Config) { c.TicketTTL = time.Minute })
				h.register(t, phoneN(1), "pw", "")
				ticket := verified(t, h, phoneN(1), core.PurposeReset)
				h.clock.Advance(time.Minute - time.Second)
				mustOK(t, h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(1), Password: "new", Proof: p.proof(ticket)}))
			})
			t.Run("NoneIssued", func(t *testing.T) {
				h := newHarness(t)
				h.register(t, phoneN(1), "pw", "")
				err := h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(1), Password: "new", Proof: p.proof(strings.Repeat("0", 32))})
				wantKind(t, err, core.Unauthorized)
			})
		})
	}

	t.Run("WrongValue", func(t *testing.T) {
		h := newHarness(t)
		h.register(t, phoneN(1), "pw", "")
		ticket := verified(t, h, phoneN(1), core.PurposeReset)
		for _, bad := range []string{strings.Repeat("0", 32), "x", strings.ToUpper(ticket)} {
			err := h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(1), Password: "new", Proof: core.Proof{Ticket: bad}})
			wantKind(t, err, core.Unauthorized)
		}
		// A wrong value does not consume the real one.
		mustOK(t, h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(1), Password: "new", Proof: core.Proof{Ticket: ticket}}))
	})

	t.Run("NewTicketReplacesOld", func(t *testing.T) {
		h := newHarness(t)
		h.register(t, phoneN(1), "pw", "")
		first := verified(t, h, phoneN(1), core.PurposeReset)
		second := verified(t, h, phoneN(1), core.PurposeReset)
		err := h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(1), Password: "new", Proof: core.Proof{Ticket: first}})
		wantKind(t, err, core.Unauthorized)
		mustOK(t, h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(1), Password: "new", Proof: core.Proof{Ticket: second}}))
	})
}

func TestRegister(t *testing.T) {
	ctx := context.Background()

	t.Run("Success", func(t *testing.T) {
		h := newHarness(t, func(c *core.Config) { c.SessionTTL = time.Hour })
		phone := phoneN(1)
		code := h.sendCode(t, phone, core.PurposeRegister)
		avatar, err := h.svc.StoreAvatar(ctx, encodeImage(t, "png"))
		mustOK(t, err)
		prof := core.Profile{Name: "张三", Nickname: "zs", Gender: "1", Avatar: "/avatar/" + avatar}
		now := h.clock.Now()
		res, err := h.svc.Register(ctx, core.RegisterRequest{
			Phone: phone, Password: "s3cret", Proof: core.Proof{Code: code}, Profile: prof, DeviceID: "dev-1",
		})
		mustOK(t, err)
		if !uuid4.MatchString(res.User.ID) {
			t.Errorf("user id %q is not a dashless UUIDv4 in lowercase hex", res.User.ID)
		}
		if !hex32.MatchString(res.Token) {
			t.Errorf("token %q is not 32 lowercase hex", res.Token)
		}
		if res.DeviceChanged {
			t.Errorf("DeviceChanged on registration")
		}
		if !res.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Errorf("ExpiresAt = %v, want %v", res.ExpiresAt, now.Add(time.Hour))
		}
		if res.User.Phone != e164(phone) || res.User.Profile != prof || res.User.DeviceID != "dev-1" || !res.User.CreatedAt.Equal(now) {
			t.Errorf("returned user = %+v", res.User)
		}

		u := h.storedUser(t, phone)
		if u.ID != res.User.ID || u.Phone != e164(phone) || u.Profile != prof || u.DeviceID != "dev-1" {
			t.Errorf("stored user = %+v, want %+v", u, res.User)
		}
		if !u.CreatedAt.Equal(now) || !u.UpdatedAt.Equal(now) {
			t.Errorf("stored times %v / %v, want %v", u.CreatedAt, u.UpdatedAt, now)
		}
		ok, stale, err := core.VerifyPassword("s3cret", u.PasswordHash, testkit.FastHash)
		if err != nil || !ok || stale {
			t.Errorf("stored hash: ok=%v stale=%v err=%v", ok, stale, err)
		}
		byID, err := h.store.UserByID(ctx, res.User.ID)
		mustOK(t, err)
		if byID.Phone != e164(phone) {
			t.Errorf("UserByID phone = %q", byID.Phone)
		}

		au, sess, err := h.svc.Authenticate(ctx, res.Token)
		mustOK(t, err)
		if au.ID != res.User.ID || sess.UserID != res.User.ID || !sess.ExpiresAt.Equal(res.ExpiresAt) {
			t.Errorf("Authenticate = %+v, %+v", au, sess)
		}
		// The code is spent.
		_, err = h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phone, Purpose: core.PurposeRegister, Code: code})
		wantKind(t, err, core.CodeWrong)
	})

	t.Run("E164Phone", func(t *testing.T) {
		h := newHarness(t)
		res := h.register(t, e164(phoneN(1)), "pw", "")
		if res.User.Phone != e164(phoneN(1)) {
			t.Errorf("phone %q", res.User.Phone)
		}
		h.login(t, phoneN(1), "pw", "") // the local form finds the same user
	})

	t.Run("AlreadyRegistered", func(t *testing.T) {
		h := newHarness(t)
		phone := phoneN(1)
		first := h.register(t, phone, "pw", "")
		code := h.sendCode(t, phone, core.PurposeAny)
		// More refused tries than the attempt limit: none of them may count.
		for range h.svc.Config().MaxCodeAttempts + 2 {
			_, err := h.svc.Register(ctx, core.RegisterRequest{Phone: phone, Password: "other", Proof: core.Proof{Code: wrongCode(code)}})
			wantKind(t, err, core.AlreadyRegistered)
		}
		_, err := h.svc.Register(ctx, core.RegisterRequest{Phone: phone, Password: "other", Proof: core.Proof{Code: code}})
		wantKind(t, err, core.AlreadyRegistered)
		if u := h.storedUser(t, phone); u.ID != first.User.ID {
			t.Errorf("the stored user changed")
		}
		// The code was neither burned nor consumed.
		_, err = h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phone, Code: code})
		mustOK(t, err)
	})

	t.Run("WrongCode", func(t *testing.T) {
		h := newHarness(t)
		code := h.sendCode(t, phoneN(1), core.PurposeRegister)
		_, err := h.svc.Register(ctx, core.RegisterRequest{Phone: phoneN(1), Password: "pw", Proof: core.Proof{Code: wrongCode(code)}})
		wantKind(t, err, core.CodeWrong)
		if ok, _ := h.svc.IsRegistered(ctx, phoneN(1)); ok {
			t.Errorf("registered with a wrong code")
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		h := newHarness(t)
		phone := phoneN(1)
		code := h.sendCode(t, phone, core.PurposeRegister)
		long := strings.Repeat("x", 257)
		valid := func() core.RegisterRequest {
			return core.RegisterRequest{Phone: phone, Password: "pw", Proof: core.Proof{Code: code}}
		}
		tests := []struct {
			name string
			mod  func(*core.RegisterRequest)
		}{
			{"BadPhone", func(r *core.RegisterRequest) { r.Phone = "1381234" }},
			{"EmptyPhone", func(r *core.RegisterRequest) { r.Phone = "" }},
			{"EmptyPassword", func(r *core.RegisterRequest) { r.Password = "" }},
			{"LongPassword", func(r *core.RegisterRequest) { r.Password = long }},
			{"LongDevice", func(r *core.RegisterRequest) { r.DeviceID = long }},
			{"LongName", func(r *core.RegisterRequest) { r.Profile.Name = long }},
			{"LongNickname", func(r *core.RegisterRequest) { r.Profile.Nickname = long }},
			{"LongAvatar", func(r *core.RegisterRequest) { r.Profile.Avatar = long }},
			{"LongMultibyteName", func(r *core.RegisterRequest) { r.Profile.Name = strings.Repeat("张", 86) }}, // 258 bytes
			{"InvalidUTF8Password", func(r *core.RegisterRequest) { r.Password = "pw\xff" }},
			{"InvalidUTF8Name", func(r *core.RegisterRequest) { r.Profile.Name = "\xc3\x28" }},
			{"InvalidUTF8Nickname", func(r *core.RegisterRequest) { r.Profile.Nickname = "\xed\xa0\x80" }}, // a surrogate
			{"InvalidUTF8Device", func(r *core.RegisterRequest) { r.DeviceID = "\x80" }},
			{"BadGender", func(r *core.RegisterRequest) { r.Profile.Gender = "2" }},
			{"WordGender", func(r *core.RegisterRequest) { r.Profile.Gender = "male" }},
			{"NoProof", func(r *core.RegisterRequest) { r.Proof = core.Proof{} }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req := valid()
				tt.mod(&req)
				_, err := h.svc.Register(ctx, req)
				wantKind(t, err, core.Invalid)
			})
		}
		// Refused requests spent no attempt: the code still registers, with
		// fields exactly at the limit.
		req := valid()
		req.Password = strings.Repeat("p", 256)
		req.Profile = core.Profile{Name: strings.Repeat("n", 256), Gender: "0"}
		req.DeviceID = strings.Repeat("d", 256)
		_, err := h.svc.Register(ctx, req)
		mustOK(t, err)
		h.login(t, phone, req.Password, "")
	})
}

func TestLogin(t *testing.T) {
	ctx := context.Background()

	t.Run("Errors", func(t *testing.T) {
		h := newHarness(t)
		h.register(t, phoneN(1), "right", "")
		tests := []struct {
			name string
			req  core.LoginRequest
			want core.Kind
		}{
			{"NotRegistered", core.LoginRequest{Phone: phoneN(2), Password: "right"}, core.NotRegistered},
			{"WrongPassword", core.LoginRequest{Phone: phoneN(1), Password: "wrong"}, core.WrongPassword},
			{"CaseMatters", core.LoginRequest{Phone: phoneN(1), Password: "RIGHT"}, core.WrongPassword},
			{"BadPhone", core.LoginRequest{Phone: "abc", Password: "right"}, core.Invalid},
			{"EmptyPassword", core.LoginRequest{Phone: phoneN(1)}, core.Invalid},
			{"LongPassword", core.LoginRequest{Phone: phoneN(1), Password: strings.Repeat("x", 257)}, core.Invalid},
			{"LongDevice", core.LoginRequest{Phone: phoneN(1), Password: "right", DeviceID: strings.Repeat("x", 257)}, core.Invalid},
			{"InvalidUTF8", core.LoginRequest{Phone: phoneN(1), Password: "right\xff"}, core.Invalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res, err := h.svc.Login(ctx, tt.req)
				wantKind(t, err, tt.want)
				if res != nil {
					t.Errorf("a result came with the error")
				}
			})
		}
	})

	t.Run("Success", func(t *testing.T) {
		h := newHarness(t)
		reg := h.register(t, phoneN(1), "pw", "dev")
		h.clock.Advance(time.Hour)
		res := h.login(t, e164(phoneN(1)), "pw", "dev")
		if res.User.ID != reg.User.ID {
			t.Errorf("user id %q, want %q", res.User.ID, reg.User.ID)
		}
		if !hex32.MatchString(res.Token) || res.Token == reg.Token {
			t.Errorf("token %q", res.Token)
		}
		if want := h.clock.Now().Add(h.svc.Config().SessionTTL); !res.ExpiresAt.Equal(want) {
			t.Errorf("ExpiresAt = %v, want %v", res.ExpiresAt, want)
		}
		// Both sessions live.
		for _, tok := range []string{reg.Token, res.Token} {
			_, _, err := h.svc.Authenticate(ctx, tok)
			mustOK(t, err)
		}
	})

	t.Run("DeviceChanged", func(t *testing.T) {
		tests := []struct {
			name       string
			regDevice  string
			logins     []string // devices of successive logins
			wantChange []bool
			wantStored string // the device stored at the end
		}{
			{"SameDevice", "A", []string{"A"}, []bool{false}, "A"},
			{"OtherDevice", "A", []string{"B", "B", "A"}, []bool{true, false, true}, "A"},
			{"EmptyRequestDevice", "A", []string{"", "A"}, []bool{false, false}, "A"},
			{"FirstDevice", "", []string{"A", "B"}, []bool{false, true}, "B"},
			{"NeverAnyDevice", "", []string{"", ""}, []bool{false, false}, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t)
				h.register(t, phoneN(1), "pw", tt.regDevice)
				for i, dev := range tt.logins {
					res := h.login(t, phoneN(1), "pw", dev)
					if res.DeviceChanged != tt.wantChange[i] {
						t.Errorf("login %d from %q: DeviceChanged = %v, want %v", i, dev, res.DeviceChanged, tt.wantChange[i])
					}
				}
				if got := h.storedUser(t, phoneN(1)).DeviceID; got != tt.wantStored {
					t.Errorf("stored device %q, want %q", got, tt.wantStored)
				}
			})
		}
	})
}

func TestResetPassword(t *testing.T) {
	ctx := context.Background()

	t.Run("RevokesSessions", func(t *testing.T) {
		h := newHarness(t)
		reg := h.register(t, phoneN(1), "old", "dev")
		again := h.login(t, phoneN(1), "old", "dev")
		other := h.register(t, phoneN(2), "pw", "")
		code := h.sendCode(t, phoneN(1), core.PurposeReset)
		mustOK(t, h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(1), Password: "new", Proof: core.Proof{Code: code}}))

		for _, tok := range []string{reg.Token, again.Token} {
			_, _, err := h.svc.Authenticate(ctx, tok)
			wantKind(t, err, core.Unauthorized)
		}
		_, _, err := h.svc.Authenticate(ctx, other.Token)
		mustOK(t, err) // another user's session is untouched

		_, err = h.svc.Login(ctx, core.LoginRequest{Phone: phoneN(1), Password: "old"})
		wantKind(t, err, core.WrongPassword)
		res := h.login(t, phoneN(1), "new", "")
		_, _, err = h.svc.Authenticate(ctx, res.Token)
		mustOK(t, err)
		if u := h.storedUser(t, phoneN(1)); u.ID != reg.User.ID {
			t.Errorf("the user's id changed")
		}
	})

	t.Run("Errors", func(t *testing.T) {
		h := newHarness(t)
		h.register(t, phoneN(1), "old", "")
		code := h.sendCode(t, phoneN(1), core.PurposeReset)
		tests := []struct {
			name string
			req  core.ResetRequest
			want core.Kind
		}{
			{"NotRegistered", core.ResetRequest{Phone: phoneN(2), Password: "new", Proof: core.Proof{Code: code}}, core.NotRegistered},
			{"BadPhone", core.ResetRequest{Phone: "12", Password: "new", Proof: core.Proof{Code: code}}, core.Invalid},
			{"EmptyPassword", core.ResetRequest{Phone: phoneN(1), Proof: core.Proof{Code: code}}, core.Invalid},
			{"LongPassword", core.ResetRequest{Phone: phoneN(1), Password: strings.Repeat("x", 257), Proof: core.Proof{Code: code}}, core.Invalid},
			{"InvalidUTF8", core.ResetRequest{Phone: phoneN(1), Password: "\xff", Proof: core.Proof{Code: code}}, core.Invalid},
			{"NoProof", core.ResetRequest{Phone: phoneN(1), Password: "new"}, core.Invalid},
			{"CodeWrong", core.ResetRequest{Phone: phoneN(1), Password: "new", Proof: core.Proof{Code: wrongCode(code)}}, core.CodeWrong},
			{"BadTicket", core.ResetRequest{Phone: phoneN(1), Password: "new", Proof: core.Proof{Ticket: "nope"}}, core.Unauthorized},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantKind(t, h.svc.ResetPassword(ctx, tt.req), tt.want)
			})
		}
		h.login(t, phoneN(1), "old", "") // nothing changed
	})
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	const ttl = time.Hour
	h := newHarness(t, func(c *core.Config) { c.SessionTTL = ttl })
	reg := h.register(t, phoneN(1), "pw", "")

	t.Run("BadFormat", func(t *testing.T) {
		for _, tok := range []string{"", "abc", strings.ToUpper(reg.Token), reg.Token + "0", reg.Token[:31], " " + reg.Token[1:], strings.Repeat("g", 32)} {
			_, _, err := h.svc.Authenticate(ctx, tok)
			wantKind(t, err, core.Unauthorized)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		_, _, err := h.svc.Authenticate(ctx, strings.Repeat("0", 32))
		wantKind(t, err, core.Unauthorized)
	})
	t.Run("Expiry", func(t *testing.T) {
		h.clock.Advance(ttl - time.Second)
		u, _, err := h.svc.Authenticate(ctx, reg.Token)
		mustOK(t, err)
		if u.ID != reg.User.ID {
			t.Errorf("user %q, want %q", u.ID, reg.User.ID)
		}
		h.clock.Advance(2 * time.Second)
		_, _, err = h.svc.Authenticate(ctx, reg.Token)
		wantKind(t, err, core.Unauthorized)
	})
}

func TestLogout(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	reg := h.register(t, phoneN(1), "pw", "")
	other := h.login(t, phoneN(1), "pw", "")

	mustOK(t, h.svc.Logout(ctx, reg.Token))
	_, _, err := h.svc.Authenticate(ctx, reg.Token)
	wantKind(t, err, core.Unauthorized)
	_, _, err = h.svc.Authenticate(ctx, other.Token)
	mustOK(t, err) // only the one session is revoked

	t.Run("Twice", func(t *testing.T) { wantKind(t, h.svc.Logout(ctx, reg.Token), core.Unauthorized) })
	t.Run("BadFormat", func(t *testing.T) { wantKind(t, h.svc.Logout(ctx, "nope"), core.Unauthorized) })
	t.Run("Unknown", func(t *testing.T) { wantKind(t, h.svc.Logout(ctx, strings.Repeat("f", 32)), core.Unauthorized) })
}

func encodeImage(t testing.TB, format string) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, nil)
	case "gif":
		err = gif.Encode(&buf, img, nil)
	default:
		t.Fatalf("unknown format %q", format)
	}
	mustOK(t, err)
	return buf.Bytes()
}

func TestAvatar(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	pngData := encodeImage(t, "png")

	t.Run("Accepted", func(t *testing.T) {
		tests := []struct {
			name     string
			data     []byte
			wantType string
			wantExt  string
		}{
			{"PNG", pngData, "image/png", ".png"},
			{"JPEG", encodeImage(t, "jpeg"), "image/jpeg", ".jpg"},
			{"GIF", encodeImage(t, "gif"), "image/gif", ".gif"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				name, err := h.svc.StoreAvatar(ctx, tt.data)
				mustOK(t, err)
				if !hex32.MatchString(strings.TrimSuffix(name, tt.wantExt)) || !strings.HasSuffix(name, tt.wantExt) {
					t.Fatalf("name %q, want 32 hex + %s", name, tt.wantExt)
				}
				ct, body, err := h.svc.Avatar(ctx, name)
				mustOK(t, err)
				defer body.Close()
				got, err := io.ReadAll(body)
				mustOK(t, err)
				if ct != tt.wantType || !bytes.Equal(got, tt.data) {
					t.Errorf("round trip: type %q, %d bytes; want %q, %d bytes", ct, len(got), tt.wantType, len(tt.data))
				}
			})
		}
	})

	t.Run("DistinctNames", func(t *testing.T) {
		a, err := h.svc.StoreAvatar(ctx, pngData)
		mustOK(t, err)
		b, err := h.svc.StoreAvatar(ctx, pngData)
		mustOK(t, err)
		if a == b {
			t.Errorf("two stores got the same name %q", a)
		}
	})

	t.Run("MaxSize", func(t *testing.T) {
		data := make([]byte, core.MaxAvatarBytes)
		copy(data, pngData)
		_, err := h.svc.StoreAvatar(ctx, data)
		mustOK(t, err)
	})

	t.Run("Refused", func(t *testing.T) {
		tooLarge := make([]byte, core.MaxAvatarBytes+1)
		copy(tooLarge, pngData)
		tests := []struct {
			name string
			data []byte
		}{
			{"Empty", nil},
			{"Text", []byte("hello, I am not an image")},
			{"HTML", []byte("<html><script>alert(1)</script></html>")},
			{"SVG", []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`)},
			{"TooLarge", tooLarge},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := h.svc.StoreAvatar(ctx, tt.data)
				wantKind(t, err, core.Invalid)
			})
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		stored, err := h.svc.StoreAvatar(ctx, pngData)
		mustOK(t, err)
		id := strings.TrimSuffix(stored, ".png")
		for _, name := range []string{
			"",
			".png",
			"x.png",
			strings.Repeat("0", 32) + ".png", // well formed, never stored
			id + ".jpg",                      // stored under another extension
			id,
			id + ".png.png",
			id + ".exe",
			strings.ToUpper(id) + ".png",
			"../" + stored,
			"../../../../etc/passwd",
			id[:30] + "/." + ".png",
		} {
			t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
				_, body, err := h.svc.Avatar(ctx, name)
				wantKind(t, err, core.NotFound)
				if body != nil {
					body.Close()
					t.Errorf("a body came with the error")
				}
			})
		}
	})
}

func TestFlow(t *testing.T) {
	ctx := context.Background()
	const ttl = 30 * time.Minute

	t.Run("Lifecycle", func(t *testing.T) {
		h := newHarness(t)
		f, err := h.svc.StartFlow(ctx, phoneN(1))
		mustOK(t, err)
		if !hex32.MatchString(f.ID) || f.Phone != e164(phoneN(1)) || !f.ExpiresAt.Equal(h.clock.Now().Add(ttl)) {
			t.Fatalf("StartFlow = %+v", f)
		}
		got, err := h.svc.Flow(ctx, f.ID)
		mustOK(t, err)
		if got.Phone != f.Phone || got.Ticket != "" {
			t.Errorf("Flow = %+v", got)
		}

		h.clock.Advance(ttl - time.Minute)
		got.Ticket = "some-ticket"
		mustOK(t, h.svc.SaveFlow(ctx, got))
		if !got.ExpiresAt.Equal(h.clock.Now().Add(ttl)) {
			t.Errorf("SaveFlow did not extend the flow: %v", got.ExpiresAt)
		}
		h.clock.Advance(2 * time.Minute) // past the first deadline, before the extended one
		got, err = h.svc.Flow(ctx, f.ID)
		mustOK(t, err)
		if got.Ticket != "some-ticket" {
			t.Errorf("saved ticket %q", got.Ticket)
		}

		mustOK(t, h.svc.EndFlow(ctx, f.ID))
		_, err = h.svc.Flow(ctx, f.ID)
		wantKind(t, err, core.NotFound)
		mustOK(t, h.svc.EndFlow(ctx, f.ID)) // ending twice is fine
	})

	t.Run("Expiry", func(t *testing.T) {
		h := newHarness(t)
		f, err := h.svc.StartFlow(ctx, phoneN(1))
		mustOK(t, err)
		h.clock.Advance(ttl + time.Second)
		_, err = h.svc.Flow(ctx, f.ID)
		wantKind(t, err, core.NotFound)
	})

	t.Run("Distinct", func(t *testing.T) {
		h := newHarness(t)
		a, err := h.svc.StartFlow(ctx, phoneN(1))
		mustOK(t, err)
		b, err := h.svc.StartFlow(ctx, phoneN(1))
		mustOK(t, err)
		if a.ID == b.ID {
			t.Fatalf("two flows share id %q", a.ID)
		}
		mustOK(t, h.svc.EndFlow(ctx, a.ID))
		_, err = h.svc.Flow(ctx, b.ID)
		mustOK(t, err)
	})

	t.Run("NotFound", func(t *testing.T) {
		h := newHarness(t)
		for _, id := range []string{"", "nope", strings.Repeat("0", 32), strings.Repeat("A", 32)} {
			_, err := h.svc.Flow(ctx, id)
			wantKind(t, err, core.NotFound)
		}
	})

	t.Run("BadPhone", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.svc.StartFlow(ctx, "x")
		wantKind(t, err, core.Invalid)
	})
}

// TestErrorKinds checks that every kind core can return is produced by some
// operation, so that the gateways' tables are exercised for real errors.
func TestErrorKinds(t *testing.T) {
	ctx := context.Background()
	// Kinds core itself never returns.
	notFromCore := map[core.Kind]string{
		core.RateLimited: "limits are applied by the gateway, not core",
	}
	tests := []struct {
		kind    core.Kind
		produce func(t *testing.T, h *harness) error
	}{
		{core.Internal, func(t *testing.T, h *harness) error {
			// A stored hash core cannot parse is a bug, not the caller's fault.
			u := &core.User{ID: strings.Repeat("cd", 16), Phone: e164(phoneN(1)), PasswordHash: "not a PHC string", CreatedAt: h.clock.Now()}
			mustOK(t, h.store.CreateUser(ctx, u, nil))
			_, err := h.svc.Login(ctx, core.LoginRequest{Phone: phoneN(1), Password: "pw"})
			return err
		}},
		{core.Invalid, func(t *testing.T, h *harness) error {
			_, err := h.svc.SendCode(ctx, core.SendCodeRequest{Phone: "1"})
			return err
		}},
		{core.NotRegistered, func(t *testing.T, h *harness) error {
			_, err := h.svc.Login(ctx, core.LoginRequest{Phone: phoneN(1), Password: "pw"})
			return err
		}},
		{core.AlreadyRegistered, func(t *testing.T, h *harness) error {
			h.register(t, phoneN(1), "pw", "")
			_, err := h.svc.SendCode(ctx, core.SendCodeRequest{Phone: phoneN(1), Purpose: core.PurposeRegister})
			return err
		}},
		{core.WrongPassword, func(t *testing.T, h *harness) error {
			h.register(t, phoneN(1), "pw", "")
			_, err := h.svc.Login(ctx, core.LoginRequest{Phone: phoneN(1), Password: "nope"})
			return err
		}},
		{core.CodeWrong, func(t *testing.T, h *harness) error {
			code := h.sendCode(t, phoneN(1), core.PurposeAny)
			_, err := h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phoneN(1), Code: wrongCode(code)})
			return err
		}},
		{core.CodeExpired, func(t *testing.T, h *harness) error {
			code := h.sendCode(t, phoneN(1), core.PurposeAny)
			h.clock.Advance(time.Hour)
			_, err := h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phoneN(1), Code: code})
			return err
		}},
		{core.TooManyAttempts, func(t *testing.T, h *harness) error {
			code := h.sendCode(t, phoneN(1), core.PurposeAny)
			var err error
			for range h.svc.Config().MaxCodeAttempts {
				_, err = h.svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: phoneN(1), Code: wrongCode(code)})
			}
			return err
		}},
		{core.SMSFailed, func(t *testing.T, h *harness) error {
			h.sms.Fail(errors.New("no route"))
			_, err := h.svc.SendCode(ctx, core.SendCodeRequest{Phone: phoneN(1)})
			return err
		}},
		{core.Unauthorized, func(t *testing.T, h *harness) error {
			_, _, err := h.svc.Authenticate(ctx, strings.Repeat("a", 32))
			return err
		}},
		{core.NotFound, func(t *testing.T, h *harness) error {
			_, _, err := h.svc.Avatar(ctx, strings.Repeat("a", 32)+".png")
			return err
		}},
		{core.Unavailable, func(t *testing.T, h *harness) error {
			h.close(t)
			_, err := h.svc.Login(ctx, core.LoginRequest{Phone: phoneN(1), Password: "pw"})
			return err
		}},
	}

	covered := map[core.Kind]bool{}
	for _, tt := range tests {
		covered[tt.kind] = true
		t.Run(tt.kind.String(), func(t *testing.T) {
			h := newHarness(t)
			wantKind(t, tt.produce(t, h), tt.kind)
		})
	}
	for _, k := range core.Kinds() {
		if _, skip := notFromCore[k]; !covered[k] && !skip {
			t.Errorf("kind %v is produced by no test", k)
		}
	}
}

func TestClosedStore(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	reg := h.register(t, phoneN(1), "pw", "")
	code := h.sendCode(t, phoneN(2), core.PurposeAny)
	h.close(t)
	tests := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return h.svc.Ping(ctx) }},
		{"IsRegistered", func() error { _, err := h.svc.IsRegistered(ctx, phoneN(1)); return err }},
		{"Login", func() error {
			_, err := h.svc.Login(ctx, core.LoginRequest{Phone: phoneN(1), Password: "pw"})
			return err
		}},
		{"Register", func() error {
			_, err := h.svc.Register(ctx, core.RegisterRequest{Phone: phoneN(2), Password: "pw", Proof: core.Proof{Code: code}})
			return err
		}},
		{"Authenticate", func() error { _, _, err := h.svc.Authenticate(ctx, reg.Token); return err }},
		{"SendCodeRegister", func() error {
			_, err := h.svc.SendCode(ctx, core.SendCodeRequest{Phone: phoneN(3), Purpose: core.PurposeRegister})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantKind(t, tt.call(), core.Unavailable) })
	}
}

func TestConcurrentRegister(t *testing.T) {
	ctx := context.Background()
	const n = 50

	t.Run("SamePhoneSameCode", func(t *testing.T) {
		h := newHarness(t)
		phone := phoneN(1)
		code := h.sendCode(t, phone, core.PurposeRegister)
		results := make([]*core.LoginResult, n)
		errs := make([]error, n)
		testkit.Together(n, func(i int) {
			results[i], errs[i] = h.svc.Register(ctx, core.RegisterRequest{
				Phone: phone, Password: fmt.Sprintf("pw%d", i), Proof: core.Proof{Code: code},
			})
		})

		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("goroutines %d and %d both registered", winner, i)
				}
				winner = i
			case core.KindOf(err) != core.CodeWrong && core.KindOf(err) != core.AlreadyRegistered:
				t.Errorf("goroutine %d: %v, want CodeWrong or AlreadyRegistered", i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("nobody registered")
		}
		u := h.storedUser(t, phone)
		if u.ID != results[winner].User.ID {
			t.Errorf("stored user %q, winner %q", u.ID, results[winner].User.ID)
		}
		h.login(t, phone, fmt.Sprintf("pw%d", winner), "")
	})

	t.Run("SamePhoneTwoProofs", func(t *testing.T) {
		// A ticket and a fresh code are two valid proofs at once, so both
		// requests can pass every check before either writes: the store's
		// unique phone must then refuse one.
		h := newHarness(t)
		for round := range 10 {
			phone := phoneN(100 + round)
			ticket, err := h.svc.VerifyCode(ctx, core.VerifyCodeRequest{
				Phone: phone, Purpose: core.PurposeRegister, Code: h.sendCode(t, phone, core.PurposeAny),
			})
			mustOK(t, err)
			code := h.sendCode(t, phone, core.PurposeRegister)
			proofs := []core.Proof{{Ticket: ticket}, {Code: code}}
			errs := make([]error, len(proofs))
			testkit.Together(len(proofs), func(i int) {
				_, errs[i] = h.svc.Register(ctx, core.RegisterRequest{Phone: phone, Password: "pw", Proof: proofs[i]})
			})
			ok := 0
			for _, err := range errs {
				if err == nil {
					ok++
				} else if core.KindOf(err) != core.AlreadyRegistered {
					t.Errorf("round %d: %v, want AlreadyRegistered", round, err)
				}
			}
			if ok != 1 {
				t.Errorf("round %d: %d registrations succeeded, want 1", round, ok)
			}
		}
	})

	t.Run("DistinctPhones", func(t *testing.T) {
		h := newHarness(t)
		ids := make([]string, n)
		errs := make([]error, n)
		testkit.Together(n, func(i int) {
			phone := phoneN(1000 + i)
			res, err := h.svc.SendCode(ctx, core.SendCodeRequest{Phone: phone, Purpose: core.PurposeRegister})
			if err != nil {
				errs[i] = err
				return
			}
			reg, err := h.svc.Register(ctx, core.RegisterRequest{Phone: phone, Password: "pw", Proof: core.Proof{Code: res.Code}})
			if err != nil {
				errs[i] = err
				return
			}
			ids[i] = reg.User.ID
		})
		seen := map[string]bool{}
		for i, err := range errs {
			if err != nil {
				t.Errorf("phone %d: %v", i, err)
				continue
			}
			if seen[ids[i]] {
				t.Errorf("user id %q issued twice", ids[i])
			}
			seen[ids[i]] = true
			if u := h.storedUser(t, phoneN(1000+i)); u.ID != ids[i] {
				t.Errorf("phone %d: stored id %q, want %q", i, u.ID, ids[i])
			}
		}
	})
}

func TestErrorHelpers(t *testing.T) {
	t.Run("KindNames", func(t *testing.T) {
		seen := map[string]bool{}
		for _, k := range core.Kinds() {
			name := k.String()
			if name == "" || seen[name] || strings.HasPrefix(name, "kind(") {
				t.Errorf("kind %d has name %q", k, name)
			}
			seen[name] = true
		}
		if len(core.Kinds()) != int(core.Unavailable)+1 {
			t.Errorf("Kinds() has %d kinds, want %d", len(core.Kinds()), core.Unavailable+1)
		}
	})
	t.Run("KindOf", func(t *testing.T) {
		tests := []struct {
			name string
			err  error
			want core.Kind
		}{
			{"Nil", nil, core.Internal},
			{"Plain", errors.New("x"), core.Internal},
			{"Direct", core.E("op", core.NotFound, "m"), core.NotFound},
			{"Wrapped", fmt.Errorf("ctx: %w", core.E("op", core.WrongPassword, "")), core.WrongPassword},
			{"WrapKeepsKind", core.Wrap("outer", core.Internal, core.E("inner", core.CodeWrong, "")), core.CodeWrong},
			{"WrapPlain", core.Wrap("op", core.SMSFailed, errors.New("x")), core.SMSFailed},
			{"WrapDeadline", core.Wrap("op", core.Internal, fmt.Errorf("q: %w", context.DeadlineExceeded)), core.Unavailable},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := core.KindOf(tt.err); got != tt.want {
					t.Errorf("KindOf = %v, want %v", got, tt.want)
				}
			})
		}
		if core.Wrap("op", core.Internal, nil) != nil {
			t.Errorf("Wrap of nil is not nil")
		}
	})
	t.Run("RetryAfter", func(t *testing.T) {
		limited := &core.Error{Op: "limit", Kind: core.RateLimited, RetryAfter: 3 * time.Second}
		if got := core.RetryAfterOf(core.Wrap("outer", core.Internal, limited)); got != 3*time.Second {
			t.Errorf("RetryAfterOf = %v, want 3s", got)
		}
		if got := core.RetryAfterOf(errors.New("x")); got != 0 {
			t.Errorf("RetryAfterOf(plain) = %v", got)
		}
	})
}

// resetFirst runs a password reset just before a login's RecordLogin, the
// worst moment: the login checked the old password, the reset has landed.
type resetFirst struct {
	core.Store
	before func()
}

func (r resetFirst) RecordLogin(ctx context.Context, userID, checkedHash, deviceID, newHash string, s *core.Session) error {
	r.before()
	return r.Store.RecordLogin(ctx, userID, checkedHash, deviceID, newHash, s)
}

// A login racing a password reset neither undoes the reset nor keeps a
// session: the reset revokes every session, including this one.
func TestLoginRacingReset(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.register(t, phoneN(1), "old-pw", "")
	code := h.sendCode(t, phoneN(1), core.PurposeReset)
	racing, err := core.New(resetFirst{Store: h.store, before: func() {
		mustOK(t, h.svc.ResetPassword(ctx, core.ResetRequest{Phone: phoneN(1), Password: "new-pw", Proof: core.Proof{Code: code}}))
	}}, h.store, h.cfg)
	mustOK(t, err)
	_, err = racing.Login(ctx, core.LoginRequest{Phone: phoneN(1), Password: "old-pw"})
	wantKind(t, err, core.WrongPassword)
	h.login(t, phoneN(1), "new-pw", "")
	_, err = h.svc.Login(ctx, core.LoginRequest{Phone: phoneN(1), Password: "old-pw"})
	wantKind(t, err, core.WrongPassword)
}
