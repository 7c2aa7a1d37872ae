package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"legacyauth/internal/testkit"
)

// runCLI runs the binary's run with env as the environment.
func runCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(t.Context(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

// Every command answers -h and `help NAME` with its usage, and does
// nothing else: healthcheck does not fetch "--help", config check does not
// read a file called "-h".
func TestEveryCommandHasHelp(t *testing.T) {
	out, _, err := runCLI(t, nil, "help")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commands {
		if !strings.Contains(out, "  "+c.name) {
			t.Errorf("gateway help does not list %q:\n%s", c.name, out)
		}
		for _, args := range [][]string{append(strings.Fields(c.name), "-h"), append(strings.Fields(c.name), "--help"), append([]string{"help"}, strings.Fields(c.name)...)} {
			stdout, stderr, err := runCLI(t, nil, args...)
			if err != nil {
				t.Errorf("gateway %s: %v", strings.Join(args, " "), err)
				continue
			}
			if got := stdout + stderr; !strings.Contains(got, "Usage: gateway") && !strings.Contains(got, "usage: gateway") {
				t.Errorf("gateway %s printed no usage:\n%s", strings.Join(args, " "), got)
			}
		}
	}
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		if out, _, err := runCLI(t, nil, args...); err != nil || strings.TrimSpace(out) != version {
			t.Errorf("gateway %s = %q, %v; want %q", args[0], out, err, version)
		}
	}
	if _, _, err := runCLI(t, nil, "nonsense"); err == nil || !strings.Contains(err.Error(), `unknown command "nonsense"`) {
		t.Errorf("an unknown command: %v, want an error naming it", err)
	}
	if _, _, err := runCLI(t, nil, "help", "nonsense"); err == nil {
		t.Errorf("help for an unknown command: no error")
	}
}

// healthcheck without a URL asks the configured admin listener.
func TestHealthcheckDefaultsToTheAdminListener(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	if _, _, err := runCLI(t, map[string]string{"GATEWAY_ADMIN_LISTEN": addr}, "healthcheck"); err != nil {
		t.Fatalf("healthcheck with GATEWAY_ADMIN_LISTEN=%s: %v", addr, err)
	}
	_, port, _ := net.SplitHostPort(addr)
	if _, _, err := runCLI(t, map[string]string{"GATEWAY_ADMIN_LISTEN": ":" + port}, "healthcheck"); err != nil {
		t.Fatalf("healthcheck with GATEWAY_ADMIN_LISTEN=:%s (every interface, asked on loopback): %v", port, err)
	}
	if _, _, err := runCLI(t, map[string]string{"GATEWAY_ADMIN_LISTEN": freeAddr(t)}, "healthcheck"); err == nil {
		t.Fatal("healthcheck of an address nothing listens on passed")
	}
	if _, _, err := runCLI(t, map[string]string{"GATEWAY_ADMIN_LISTEN": "off"}, "healthcheck"); err == nil || !strings.Contains(err.Error(), "admin listener is off") {
		t.Fatalf("healthcheck with the admin listener off: %v, want an error saying so", err)
	}
}

// config check refuses unknown dialects and prefixes that are not paths.
func TestConfigCheckRefusesUnknownDialectsAndBadPrefixes(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"apiv5:\n  enabled: true\n", `unknown setting "apiv5.enabled"`},
		{"apiv4:\n  prefix: api/v4.0\n", `want a path beginning with "/"`},
		{"resultcode:\n  prefix: \"\"\n", `want a path beginning with "/"`},
	} {
		file := filepath.Join(t.TempDir(), "gateway.yaml")
		if err := os.WriteFile(file, []byte(c.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := runCLI(t, nil, "config", "check", file); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config check of %q: %v, want %q", c.yaml, err, c.want)
		}
	}
	if _, _, err := runCLI(t, map[string]string{"GATEWAY_APIV4_PREFIX": "api"}, "--listen", "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), `want a path beginning with "/"`) {
		t.Errorf("serve with GATEWAY_APIV4_PREFIX=api: %v, want refused", err)
	}
}

// The start-up log says "listening" only once the port is bound, and then
// names the version, the store, the mounts with their modes and the limits.
func TestStartupLog(t *testing.T) {
	t.Run("port taken", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		_, stderr, err := runCLI(t, nil, "--listen", ln.Addr().String(), "--admin-listen", "", "--data-dir", t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "GATEWAY_LISTEN") {
			t.Fatalf("serve on a taken port: %v, want an error naming GATEWAY_LISTEN", err)
		}
		if strings.Contains(stderr, "listening") {
			t.Errorf("the log says listening on a port that was taken:\n%s", stderr)
		}
	})
	t.Run("admin port taken", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		_, stderr, err := runCLI(t, nil, "--listen", "127.0.0.1:0", "--admin-listen", ln.Addr().String(), "--data-dir", t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "GATEWAY_ADMIN_LISTEN") {
			t.Fatalf("serve on a taken admin port: %v, want an error naming GATEWAY_ADMIN_LISTEN", err)
		}
		if strings.Contains(stderr, "listening") {
			t.Errorf("the log says listening:\n%s", stderr)
		}
	})
	t.Run("what serves", func(t *testing.T) {
		var log testkit.Buffer
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--admin-listen", "", "--data-dir", t.TempDir(), "--log-format", "json",
				"--apiv4=false", "--limits=off"}, func(string) string { return "" }, &bytes.Buffer{}, &log)
		}()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(log.String(), "gateway listening") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("serve: %v", err)
		}
		var line string
		for _, l := range strings.Split(log.String(), "\n") {
			if strings.Contains(l, "gateway listening") {
				line = l
			}
		}
		for _, want := range []string{`"version":"dev"`, `"store":"memdb"`, `"data_dir":`, `"limits":false`,
			`caraccessories=/caraccessories/app (core)`, `resultcode=/ (core)`, `v1=/v1 (core)`, `"addr":"127.0.0.1:`} {
			if !strings.Contains(line, want) {
				t.Errorf("start-up line lacks %s:\n%s", want, line)
			}
		}
		if strings.Contains(line, "apiv4") {
			t.Errorf("start-up line names apiv4, which is off:\n%s", line)
		}
	})
}

// The binary builds from ./cmd/gateway and the root holds no Go file.
func TestRootHoldsNoGoFile(t *testing.T) {
	files, err := filepath.Glob("../../*.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) > 0 {
		t.Errorf("Go files at the module's root: %v", files)
	}
	if testing.Short() {
		return
	}
	out, err := exec.Command("go", "build", "-o", filepath.Join(t.TempDir(), "gateway"), "legacyauth/cmd/gateway").CombinedOutput()
	if err != nil {
		t.Fatalf("go build legacyauth/cmd/gateway: %v\n%s", err, out)
	}
}
