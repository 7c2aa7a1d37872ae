package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"legacyauth/internal/testkit"
)

// TestMain lets the test binary act as the gateway itself, so crash tests
// can SIGKILL a real gateway process.
func TestMain(m *testing.M) {
	if os.Getenv("GATEWAY_TEST_CHILD") == "1" {
		if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childGateway runs the test binary as a gateway process on dataDir.
type childGateway struct {
	cmd *exec.Cmd
	URL string
	log *testkit.Buffer // the child's output, written by exec's copying goroutine
}

func startChild(t *testing.T, dataDir, smsURL string) *childGateway {
	t.Helper()
	// Limits off: the stream below sends far more codes from one address
	// than sms_ip allows; what is tested here is durability.
	return startChildArgs(t, "--data-dir", dataDir, "--sms-webhook", smsURL, "--limits", "off")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// smsSink receives the child's SMS webhook and hands out codes by phone.
type smsSink struct {
	mu    sync.Mutex
	codes map[string]string
}

func (s *smsSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m struct{ Phone, Code string }
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.codes[m.Phone] = m.Code
	s.mu.Unlock()
}

func (s *smsSink) code(phone string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.codes["+86"+phone]
}

func postJSON(client *http.Client, url string, body any) (int, error) {
	b, _ := json.Marshal(body)
	resp, err := client.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}

// TestCrashKeepsAcknowledgedRegistrations kills a gateway with SIGKILL in
// the middle of a stream of registrations: after a restart every
// registration that was answered 201 logs in.
func TestCrashKeepsAcknowledgedRegistrations(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateway processes")
	}
	sink := &smsSink{codes: map[string]string{}}
	sinkSrv := newLoopbackServer(t, sink)
	dataDir := filepath.Join(t.TempDir(), "data")
	child := startChild(t, dataDir, sinkSrv)

	const streams, killAfter = 4, 24
	var mu sync.Mutex
	var acked []string
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for s := 0; s < streams; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				phone := fmt.Sprintf("1390%d%06d", s, i)
				if st, err := postJSON(client, child.URL+"/v1/codes", map[string]string{"phone": phone, "purpose": "register"}); err != nil || st != http.StatusOK {
					return // the process is gone
				}
				st, err := postJSON(client, child.URL+"/v1/users", map[string]string{"phone": phone, "password": "pw-" + phone, "code": sink.code(phone)})
				if err != nil {
					return
				}
				if st == http.StatusCreated {
					mu.Lock()
					acked = append(acked, phone)
					mu.Unlock()
				}
			}
		}()
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= killAfter {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d registrations acknowledged in 60 s:\n%s", n, child.log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := child.cmd.Process.Kill(); err != nil { // SIGKILL: no flush, no shutdown
		t.Fatal(err)
	}
	_ = child.cmd.Wait()
	wg.Wait()

	restarted := startChild(t, dataDir, sinkSrv)
	for _, phone := range acked {
		st, err := postJSON(client, restarted.URL+"/v1/sessions", map[string]string{"phone": phone, "password": "pw-" + phone})
		if err != nil || st != http.StatusCreated {
			t.Errorf("acknowledged registration %s does not log in after the crash: status %d, err %v", phone, st, err)
		}
	}
	t.Logf("%d acknowledged registrations survived SIGKILL", len(acked))
	if strings.Contains(restarted.log.String(), `"level":"ERROR"`) {
		t.Errorf("restart logged errors:\n%s", restarted.log.String())
	}
}

func newLoopbackServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}
