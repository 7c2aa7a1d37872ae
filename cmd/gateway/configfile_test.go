package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The example file is valid and documents every setting.
func TestConfigExampleCoversEverySetting(t *testing.T) {
	if err := configCheck([]string{"../../config.example.yaml"}); err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	raw, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	var walk func(n *yaml.Node, path []string)
	walk = func(n *yaml.Node, path []string) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], append(append([]string(nil), path...), n.Content[i].Value))
			}
			return
		}
		documented[flagForPath(path)] = true
	}
	walk(doc.Content[0], nil)
	for _, s := range settings(&Config{}) {
		if s.flag != "config" && !documented[s.flag] {
			t.Errorf("config.example.yaml lacks --%s", s.flag)
		}
	}
}

func TestConfigCheckReportsEveryErrorWithItsPlace(t *testing.T) {
	file := writeFile(t, `listen: ":9000"
code_ttl: soon
dialects:
  apiv4:
    prefix: /old
    colour: blue
limits:
  sms_phone: lots
`)
	err := configCheck([]string{file})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		file + ":2:11: code_ttl",
		file + `:6:13: unknown setting "dialects.apiv4.colour"`,
		file + ":8:14: limits.sms_phone",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 3 {
		t.Errorf("%d errors reported, want 3:\n%v", n, err)
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"config", "check", file}, func(string) string { return "" }, &out, &out); err == nil {
		t.Error("`config check` of a bad file succeeded")
	}
}

func TestConfigFilePrecedence(t *testing.T) {
	file := writeFile(t, "listen: \":1001\"\ncode_ttl: 7m\nsession_ttl: 2h\ndialects:\n  apiv4:\n    enabled: false\nlimits:\n  sms_phone: 3-H\n")
	env := map[string]string{"GATEWAY_CONFIG": file, "GATEWAY_LISTEN": ":1002", "GATEWAY_CODE_TTL": "8m"}
	cfg, err := parseConfig([]string{"--listen", ":1003"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":1003" {
		t.Errorf("Listen = %s: the flag must win", cfg.Listen)
	}
	if cfg.CodeTTL.String() != "8m0s" {
		t.Errorf("CodeTTL = %v: the environment must win over the file", cfg.CodeTTL)
	}
	if cfg.SessionTTL.String() != "2h0m0s" || cfg.Dialects["apiv4"].Enabled || cfg.Limits.SMSPhone.Quota != 3 {
		t.Errorf("file values not applied: session %v apiv4 %v sms_phone %v", cfg.SessionTTL, cfg.Dialects["apiv4"].Enabled, cfg.Limits.SMSPhone)
	}
	// --config on the command line names the file too.
	cfg, err = parseConfig([]string{"--config=" + file}, func(string) string { return "" }, io.Discard)
	if err != nil || cfg.Listen != ":1001" {
		t.Fatalf("--config: %v %v", cfg, err)
	}
}

// A deprecated dialect says so on every reply; the others do not.
func TestDeprecationHeaders(t *testing.T) {
	g := startGateway(t, "--apiv4-deprecated-at=2026-06-01T00:00:00Z", "--apiv4-sunset=2027-01-01T00:00:00Z",
		"--apiv4-deprecation-link=https://example.com/migrate")
	get := func(path string) http.Header {
		t.Helper()
		resp, err := http.Get(g.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	h := get("/api/v4.0/isregister/13800000000")
	want := map[string]string{"Deprecation": "@1780272000", "Sunset": "Fri, 01 Jan 2027 00:00:00 GMT", "Link": `<https://example.com/migrate>; rel="deprecation"`}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	if h := get("/api/v4.0/verify_code?phone=1"); h.Get("Deprecation") == "" {
		t.Error("a refused request of the deprecated dialect lacks Deprecation")
	}
	if h := get("/register?userId=13800000000"); h.Get("Deprecation") != "" || h.Get("Sunset") != "" {
		t.Error("resultcode, not deprecated, sends deprecation headers")
	}
}
