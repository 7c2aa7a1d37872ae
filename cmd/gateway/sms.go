package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"legacyauth/core"
	"legacyauth/core/aliyun"
	"legacyauth/core/smsfailover"
	"legacyauth/core/tencentcloud"
	"legacyauth/core/twilio"
	"legacyauth/gateway/metrics"
	"legacyauth/gateway/tracing"
)

// smsProviders are the names GATEWAY_SMS_PROVIDERS may list.
var smsProviders = []string{"aliyun", "tencent", "twilio", "webhook", "log"}

// SMSConfig is how codes reach phones.
type SMSConfig struct {
	Providers []string // in order: the first is used, the next are fallbacks
	Aliyun    aliyun.Config
	Tencent   tencentcloud.Config
	Twilio    twilio.Config
	Deadline  time.Duration // a whole send, fallbacks included
	// TestPhones get a fixed code that is never sent; Countries are the
	// calling codes codes are sent to.
	TestPhones []core.TestPhone
	Countries  []string
}

// smsSettings are the SMS providers' settings. Secrets also come from a
// file (the -file forms), as container secrets do.
func smsSettings(c *Config) []setting {
	a, t, w := &c.SMS.Aliyun, &c.SMS.Tencent, &c.SMS.Twilio
	rows := []setting{
		{"sms-providers", "GATEWAY_SMS_PROVIDERS", "", "SMS providers in order, comma-separated, from " + strings.Join(smsProviders, ", ") + ": the first is used, the next are fallbacks; empty: webhook when GATEWAY_SMS_WEBHOOK is set, else log", func(v string) error {
			c.SMS.Providers = nil
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p == "" {
					continue
				}
				if !slices.Contains(smsProviders, p) {
					return fmt.Errorf("unknown provider %q: want %s", p, strings.Join(smsProviders, ", "))
				}
				if slices.Contains(c.SMS.Providers, p) {
					return fmt.Errorf("provider %q named twice", p)
				}
				c.SMS.Providers = append(c.SMS.Providers, p)
			}
			return nil
		}},
		{"sms-deadline", "GATEWAY_SMS_DEADLINE", "10s", "time one code has to be sent, every provider tried included; each provider has GATEWAY_SMS_TIMEOUT of it", dur(&c.SMS.Deadline)},
		{"sms-aliyun-access-key-id", "GATEWAY_SMS_ALIYUN_ACCESS_KEY_ID", "", "Alibaba Cloud AccessKey ID", str(&a.AccessKeyID)},
		{"sms-aliyun-access-key-secret", "GATEWAY_SMS_ALIYUN_ACCESS_KEY_SECRET", "", "Alibaba Cloud AccessKey secret (never logged)", str(&a.AccessKeySecret)},
		{"sms-aliyun-sign-name", "GATEWAY_SMS_ALIYUN_SIGN_NAME", "", "Alibaba Cloud SMS sign name (签名)", str(&a.SignName)},
		{"sms-aliyun-template-code", "GATEWAY_SMS_ALIYUN_TEMPLATE_CODE", "", `Alibaba Cloud SMS template code (SMS_...); its parameter is {"code":"NNNNNN"}`, str(&a.TemplateCode)},
		{"sms-aliyun-endpoint", "GATEWAY_SMS_ALIYUN_ENDPOINT", aliyun.DefaultEndpoint, "Alibaba Cloud SMS endpoint: a host (HTTPS), or a full URL such as http://127.0.0.1:PORT for tests and private endpoints", str(&a.Endpoint)},
		{"sms-tencent-secret-id", "GATEWAY_SMS_TENCENT_SECRET_ID", "", "Tencent Cloud SecretId", str(&t.SecretID)},
		{"sms-tencent-secret-key", "GATEWAY_SMS_TENCENT_SECRET_KEY", "", "Tencent Cloud SecretKey (never logged)", str(&t.SecretKey)},
		{"sms-tencent-sdk-app-id", "GATEWAY_SMS_TENCENT_SDK_APP_ID", "", "Tencent Cloud SMS SdkAppId", str(&t.SDKAppID)},
		{"sms-tencent-sign-name", "GATEWAY_SMS_TENCENT_SIGN_NAME", "", "Tencent Cloud SMS sign name", str(&t.SignName)},
		{"sms-tencent-template-id", "GATEWAY_SMS_TENCENT_TEMPLATE_ID", "", "Tencent Cloud SMS template ID; its one parameter is the code", str(&t.TemplateID)},
		{"sms-tencent-region", "GATEWAY_SMS_TENCENT_REGION", tencentcloud.DefaultRegion, "Tencent Cloud region", str(&t.Region)},
		{"sms-tencent-endpoint", "GATEWAY_SMS_TENCENT_ENDPOINT", tencentcloud.DefaultEndpoint, "Tencent Cloud SMS endpoint: a host (HTTPS), or a full URL for tests and private endpoints", str(&t.Endpoint)},
		{"sms-twilio-account-sid", "GATEWAY_SMS_TWILIO_ACCOUNT_SID", "", "Twilio Account SID (AC...)", str(&w.AccountSID)},
		{"sms-twilio-auth-token", "GATEWAY_SMS_TWILIO_AUTH_TOKEN", "", "Twilio auth token (never logged)", str(&w.AuthToken)},
		{"sms-twilio-from", "GATEWAY_SMS_TWILIO_FROM", "", "Twilio sender: an E.164 number, short code or sender ID (or set the messaging service)", str(&w.From)},
		{"sms-twilio-messaging-service-sid", "GATEWAY_SMS_TWILIO_MESSAGING_SERVICE_SID", "", "Twilio Messaging Service SID (MG...), instead of a sender", str(&w.MessagingServiceSID)},
		{"sms-twilio-endpoint", "GATEWAY_SMS_TWILIO_ENDPOINT", "", "Twilio API endpoint; empty: Twilio's own; a full URL such as http://127.0.0.1:PORT for tests", str(&w.Endpoint)},
		{"sms-twilio-template", "GATEWAY_SMS_TWILIO_TEMPLATE", twilio.DefaultTemplate, "Twilio message body; " + twilio.Placeholder + " is the code", str(&w.Template)},
	}
	for _, purpose := range []string{"register", "reset", "any"} {
		rows = append(rows, setting{"sms-twilio-template-" + purpose, "GATEWAY_SMS_TWILIO_TEMPLATE_" + strings.ToUpper(purpose), "", "Twilio message body for " + purpose + " codes; empty: GATEWAY_SMS_TWILIO_TEMPLATE", func(v string) error {
			if w.Templates == nil {
				w.Templates = map[string]string{}
			}
			if v == "" {
				delete(w.Templates, purpose)
			} else {
				w.Templates[purpose] = v
			}
			return nil
		}})
	}
	rows = append(rows,
		setting{"test-phones", "GATEWAY_TEST_PHONES", "", "test numbers, comma-separated PHONE=CODE (PHONE may end in x wildcards: +8613800000xxx=246810): their code is fixed, never sent, and free of SMS limits (app-store review, QA, contract verify)", func(v string) error {
			p, err := core.ParseTestPhones(v)
			c.SMS.TestPhones = p
			return err
		}},
		setting{"sms-countries", "GATEWAY_SMS_COUNTRIES", "+86", "calling codes codes may be sent to, comma-separated; every legacy contract is mainland-only", func(v string) error {
			c.SMS.Countries = nil
			for _, cc := range strings.Split(v, ",") {
				if cc = strings.TrimSpace(cc); cc == "" {
					continue
				}
				if len(cc) < 2 || cc[0] != '+' || strings.Trim(cc[1:], "0123456789") != "" {
					return fmt.Errorf("calling code %q: want + and digits, such as +86", cc)
				}
				c.SMS.Countries = append(c.SMS.Countries, cc)
			}
			if len(c.SMS.Countries) == 0 {
				return fmt.Errorf("want at least one calling code")
			}
			return nil
		}},
	)
	return rows
}

// secretSettings are the settings that also read a file: --NAME-file and
// GATEWAY_NAME_FILE hold a path whose contents (less a final newline) are
// the value.
var secretSettings = []string{"secret", "admin-token", "sms-aliyun-access-key-secret", "sms-tencent-secret-key", "sms-twilio-auth-token"}

// withSecretFiles adds each secret setting's -file form after it.
func withSecretFiles(rows []setting) []setting {
	out := make([]setting, 0, len(rows)+len(secretSettings))
	for _, r := range rows {
		out = append(out, r)
		if slices.Contains(secretSettings, r.flag) {
			set := r.set
			out = append(out, setting{r.flag + "-file", r.env + "_FILE", "", "file holding --" + r.flag + " (a container secret)", func(path string) error {
				if path == "" {
					return nil
				}
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				return set(strings.TrimRight(string(b), "\r\n"))
			}})
		}
	}
	return out
}

// providers returns the configured provider names: the setting, or its
// default.
func (s *SMSConfig) providers(webhook string) []string {
	switch {
	case len(s.Providers) > 0:
		return s.Providers
	case webhook != "":
		return []string{"webhook"}
	}
	return []string{"log"}
}

// validateSMS checks every named provider's settings without sending.
func (c *Config) validateSMS() error {
	_, err := buildProviders(c, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	longest := 0
	for _, d := range c.Dialects {
		longest = max(longest, d.CodeLength)
	}
	for _, p := range c.SMS.TestPhones {
		if len(p.Code) < longest {
			return fmt.Errorf("GATEWAY_TEST_PHONES: %s's code has %d digits; a dialect sends %d", p.Pattern, len(p.Code), longest)
		}
	}
	return nil
}

// buildProviders builds each configured provider.
func buildProviders(cfg *Config, log *slog.Logger) ([]smsfailover.Provider, error) {
	var out []smsfailover.Provider
	for _, name := range cfg.SMS.providers(cfg.SMSWebhook) {
		var s core.Sender
		var err error
		switch name {
		case "aliyun":
			c := cfg.SMS.Aliyun
			c.Timeout = cfg.SMSTimeout
			s, err = aliyun.New(c)
		case "tencent":
			c := cfg.SMS.Tencent
			c.Timeout = cfg.SMSTimeout
			s, err = tencentcloud.New(c)
		case "twilio":
			c := cfg.SMS.Twilio
			c.Timeout = cfg.SMSTimeout
			s, err = twilio.New(c)
		case "webhook":
			if cfg.SMSWebhook == "" {
				err = errors.New("needs GATEWAY_SMS_WEBHOOK")
			}
			s = core.WebhookSender{URL: cfg.SMSWebhook, Timeout: cfg.SMSTimeout, Client: &http.Client{}}
		case "log":
			s = core.LogSender{Log: log}
		}
		if err != nil {
			return nil, fmt.Errorf("SMS provider %s: %w", name, err)
		}
		out = append(out, smsfailover.Provider{Name: name, Sender: s})
	}
	return out, nil
}

// newSender is the failover over the configured providers, its sends and
// breakers measured when m is not nil, each provider attempt traced when
// tr is not nil.
func newSender(cfg *Config, log *slog.Logger, m *metrics.Metrics, tr *tracing.Tracer) (*smsfailover.Chain, error) {
	providers, err := buildProviders(cfg, log)
	if err != nil {
		return nil, err
	}
	o := smsfailover.Options{Timeout: cfg.SMS.Deadline, Log: log, Trace: tr.SMSHook()}
	if m != nil {
		o.Observe, o.OnState = m.SMSProviders()
	}
	ch := smsfailover.New(providers, o)
	if slices.Contains(ch.Names(), "aliyun") && strings.Contains(os.Getenv("DEBUG"), "tea") {
		// The Alibaba Cloud SDK then prints each request, code and
		// signature included, to standard output.
		log.Warn("DEBUG contains \"tea\": the Alibaba Cloud SDK prints every SMS request, codes included; unset it")
	}
	if names := ch.Names(); names[0] == "log" {
		log.Warn("NO SMS IS SENT: codes are written to this log (GATEWAY_SMS_PROVIDERS is log, or empty without GATEWAY_SMS_WEBHOOK). Development only.")
	} else {
		log.Info("SMS providers", "providers", strings.Join(names, ","))
	}
	return ch, nil
}

func countTestPhones(ps []core.TestPhone) int {
	n := 0
	for _, p := range ps {
		n += p.Count()
	}
	return n
}

// smsTestCommand runs `gateway sms test --phone PHONE [--provider NAME]
// [gateway flags]`: one code, random and never stored, through the
// configured providers (or one of them), and which one took it.
func smsTestCommand(ctx context.Context, args []string, e env) error {
	fs := flag.NewFlagSet("gateway sms test", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	phone := fs.String("phone", "", "the phone to send a test code to (E.164, or a mainland mobile)")
	provider := fs.String("provider", "", "send through this provider only (default: the configured order, with fallbacks)")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "Usage: gateway sms test --phone PHONE [--provider NAME] [gateway flags]")
		fs.PrintDefaults()
	}
	own, rest := splitFlags(args, "phone", "provider", "h", "help")
	if err := fs.Parse(own); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	p, err := core.NormalizePhone(*phone)
	if err != nil {
		return fmt.Errorf("sms test: --phone: %w", err)
	}
	cfg, err := parseConfig(rest, e.getenv, e.stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	log, lw := newLogger(cfg, e.stderr)
	defer lw.Close()
	ch, err := newSender(cfg, log, nil, nil)
	if err != nil {
		return err
	}
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	start := time.Now()
	via, err := ch.SendVia(ctx, *provider, core.SMS{Phone: p, Code: fmt.Sprintf("%06d", n.Int64()), Purpose: "any", Dialect: "sms-test"})
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		return fmt.Errorf("sms test: not sent after %v: %w", took, err)
	}
	fmt.Fprintf(e.stdout, "sent to %s by %s in %v\n", core.MaskPhone(p), via, took)
	return nil
}

// splitFlags separates a command's own flags (names, with - or --, with
// =value or the value next) from the gateway flags that follow them in
// any order.
func splitFlags(args []string, names ...string) (own, rest []string) {
	for i := 0; i < len(args); i++ {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "-") || !slices.Contains(names, name) {
			rest = append(rest, args[i])
			continue
		}
		own = append(own, args[i])
		if !hasValue && name != "h" && name != "help" && i+1 < len(args) {
			i++
			own = append(own, args[i])
		}
	}
	return own, rest
}
