package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
