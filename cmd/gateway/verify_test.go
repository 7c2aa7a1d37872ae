package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"legacyauth/internal/oldserver"
)

// TestContractVerifyCommand replays every golden case against a running
// gateway process, as an operator would: cases that need the clock or
// start-up options are skipped, every other one must pass; a case whose
// expected reply is wrong makes the command fail with a readable diff.
func TestContractVerifyCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway process")
	}
	sinkAddr := freeAddr(t)
	child := startChildArgs(t, "--data-dir", t.TempDir(), "--limits=off", "--sms-webhook", "http://"+sinkAddr+"/")
	var out bytes.Buffer
	err := run(t.Context(), []string{"contract", "verify", "--target", child.URL, "--sms-sink", sinkAddr, "../../testdata"}, os.Getenv, &out, &out)
	if err != nil {
		t.Fatalf("contract verify: %v\n%s", err, out.String())
	}
	summary := out.String()[strings.LastIndex(strings.TrimRight(out.String(), "\n"), "\n")+1:]
	if !strings.Contains(summary, " 0 failed") || strings.Contains(summary, " 0 passed") {
		t.Fatalf("summary: %s", summary)
	}
	t.Log(strings.TrimSpace(summary))

	// A wrong expectation is reported, with the file and the difference.
	dir := filepath.Join(t.TempDir(), "testdata", "apiv4")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile("../../testdata/apiv4/isregister_registered_seed_capture.txtar")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good), `"code": -1`, `"code": -7`, 1)
	if bad == string(good) {
		t.Fatal("the seed capture case changed; pick another line to break")
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.txtar"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	sinkAddr = freeAddr(t)
	fresh := startChildArgs(t, "--data-dir", t.TempDir(), "--limits=off", "--sms-webhook", "http://"+sinkAddr+"/") // the case's phone is taken on the first
	err = run(t.Context(), []string{"contract", "verify", "--target", fresh.URL, "--sms-sink", sinkAddr, filepath.Dir(dir)}, os.Getenv, &out, &out)
	if err == nil || !strings.Contains(out.String(), "FAIL apiv4/broken") || !strings.Contains(out.String(), `code\": -7`) {
		t.Fatalf("a wrong expectation was not reported: %v\n%s", err, out.String())
	}
}

// TestContractVerifyDeployed runs verify as an operator would against a
// gateway as deployed: default settings (limits on, an address's budgets
// shared by every case), plus GATEWAY_TEST_PHONES. Twice in a row on the
// same target: each run takes fresh test numbers, so the second run meets
// none of the first run's users. Only the cases that need the clock or
// start-up options are skipped, each with its reason.
func TestContractVerifyDeployed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway process")
	}
	const phones = "+8613800000xxx=246810"
	t.Setenv("GATEWAY_TEST_PHONES", phones) // the child's environment
	child := startChildArgs(t, "--data-dir", t.TempDir())
	skipReason := regexp.MustCompile(`^SKIP \S+: needs (the server's clock \(setup advance\)|a gateway started with \S+): it runs in-process only`)
	for i := 1; i <= 2; i++ {
		var out bytes.Buffer
		err := run2(t, []string{"contract", "verify", "--target", child.URL, "--test-phones", phones, "../../testdata"}, &out)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, out.String())
		}
		skipped := 0
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(line, "SKIP ") {
				skipped++
				if !skipReason.MatchString(line) {
					t.Errorf("run %d: a skip other than the clock or options: %s", i, line)
				}
			}
		}
		if skipped > 8 {
			t.Errorf("run %d: %d skipped, want at most the 8 clock and option cases", i, skipped)
		}
		t.Logf("run %d: %s", i, lastLine(out.String()))
	}
}

// TestContractVerifyOldServer points verify at the old servers' doubles,
// as an operator points it at the real old servers before switching
// traffic: every case an old server can answer (no /v1 set-up, no
// departure of the gateway's) must pass against them.
func TestContractVerifyOldServer(t *testing.T) {
	mux := http.NewServeMux()
	for _, d := range []string{oldserver.Caraccessories, oldserver.APIv4, oldserver.Resultcode} {
		s := oldserver.MustNew(d, oldserver.Options{})
		if p := s.Prefix(); p != "" {
			mux.Handle(p+"/", s)
		} else {
			mux.Handle("/", s)
		}
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var out bytes.Buffer
	if err := run2(t, []string{"contract", "verify", "--old-server", "--target", srv.URL, "../../testdata"}, &out); err != nil {
		t.Fatalf("contract verify --old-server: %v\n%s", err, out.String())
	}
	passed := map[string]int{}
	for _, line := range strings.Split(out.String(), "\n") {
		if name, ok := strings.CutPrefix(line, "ok   "); ok {
			d, _, _ := strings.Cut(name, "/")
			passed[d]++
		}
		if strings.HasPrefix(line, "SKIP ") && !strings.Contains(line, ": ") {
			t.Errorf("a skip without its reason: %s", line)
		}
	}
	for _, d := range []string{oldserver.Caraccessories, oldserver.APIv4, oldserver.Resultcode} {
		if passed[d] < 4 { // cases needing codes skip: an old server sends real SMS
			t.Errorf("only %d cases of %s passed against the old server", passed[d], d)
		}
	}
	t.Log(lastLine(out.String()))

	// One old server at a time, as they were deployed.
	apiv4 := httptest.NewServer(oldserver.MustNew(oldserver.APIv4, oldserver.Options{}))
	defer apiv4.Close()
	out.Reset()
	if err := run2(t, []string{"contract", "verify", "--old-server", "--dialect", "apiv4", "--target", apiv4.URL, "../../testdata"}, &out); err != nil {
		t.Fatalf("contract verify --dialect apiv4: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "caraccessories/") || !strings.Contains(out.String(), "ok   apiv4/") {
		t.Errorf("--dialect apiv4 ran other cases, or none of apiv4's:\n%s", out.String())
	}
}

func run2(t *testing.T, args []string, out *bytes.Buffer) error {
	t.Helper()
	return run(t.Context(), args, os.Getenv, out, out)
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndex(s, "\n")+1:]
}
