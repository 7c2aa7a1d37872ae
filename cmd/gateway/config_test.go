package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func TestConfigPrecedence(t *testing.T) {
	env := map[string]string{"GATEWAY_LISTEN": ":9000", "GATEWAY_CODE_TTL": "2m", "GATEWAY_APIV4": "false"}
	cfg, err := parseConfig([]string{"--listen", ":9100"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":9100" {
		t.Errorf("Listen = %q, want the flag's :9100 over the environment's :9000", cfg.Listen)
	}
	if cfg.CodeTTL != 2*time.Minute {
		t.Errorf("CodeTTL = %v, want the environment's 2m", cfg.CodeTTL)
	}
	if cfg.Dialects["apiv4"].Enabled || !cfg.Dialects["resultcode"].Enabled {
		t.Errorf("dialect switches = apiv4 %v resultcode %v, want false true", cfg.Dialects["apiv4"].Enabled, cfg.Dialects["resultcode"].Enabled)
	}
	if cfg.DataDir != "./data" || cfg.SessionTTL != 720*time.Hour {
		t.Errorf("defaults = %q %v", cfg.DataDir, cfg.SessionTTL)
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	for _, env := range []map[string]string{
		{"GATEWAY_CODE_TTL": "soon"},
		{"GATEWAY_CODE_TTL": "-1m"},
		{"GATEWAY_SECRET": "abcd"},
		{"GATEWAY_LOG_FORMAT": "xml"},
		{"GATEWAY_APIV4": "maybe"},
	} {
		if _, err := parseConfig(nil, func(k string) string { return env[k] }, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", env)
		}
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"--help"}, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, s := range settings(&Config{}) {
		if !strings.Contains(out.String(), "--"+s.flag) || !strings.Contains(out.String(), s.env) {
			t.Errorf("--help lacks %s / %s", s.flag, s.env)
		}
	}
}

// The settings table of docs/configuration.md is generated from the
// settings; this keeps it from going stale.
func TestREADMEConfigTable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), markdownTable()) {
		t.Errorf("docs/configuration.md's settings table is stale; replace it with:\n%s", markdownTable())
	}
}

// A refused secret is named in the error, never quoted: the error is
// printed, and standard error goes to the log collector.
func TestRefusedSecretsAreNotQuoted(t *testing.T) {
	const value = "not-hex-but-secret-zz"
	for _, c := range []struct {
		args []string
		env  map[string]string
	}{
		{nil, map[string]string{"GATEWAY_SECRET": value}},
		{[]string{"--secret", value}, nil},
		{nil, map[string]string{"GATEWAY_ADMIN_TOKEN": "short" + value[:5]}},
		{[]string{"--admin-token=short" + value[:5]}, nil},
	} {
		var out bytes.Buffer
		_, err := parseConfig(c.args, func(k string) string { return c.env[k] }, &out)
		if err == nil {
			t.Fatalf("%v %v: accepted", c.args, c.env)
		}
		if strings.Contains(err.Error()+out.String(), value[:10]) || strings.Contains(err.Error()+out.String(), "short"+value[:5]) {
			t.Errorf("%v %v: the error quotes the secret: %v %s", c.args, c.env, err, out.String())
		}
	}
}
