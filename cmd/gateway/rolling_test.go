package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"legacyauth/internal/testkit"
)

// instance is a gateway process a test can stop with SIGTERM and start
// again on the same addresses.
type instance struct {
	t           *testing.T
	args        []string
	addr, admin string
	mu          sync.Mutex
	cmd         *exec.Cmd
	log         *testkit.Buffer
}

func newInstance(t *testing.T, args ...string) *instance {
	in := &instance{t: t, args: args, addr: freeAddr(t), admin: freeAddr(t), log: &testkit.Buffer{}}
	t.Cleanup(func() {
		in.mu.Lock()
		defer in.mu.Unlock()
		if in.cmd != nil {
			_ = in.cmd.Process.Kill()
			_ = in.cmd.Wait()
		}
	})
	return in
}

// start runs the process and waits until /readyz answers 200.
func (in *instance) start() {
	in.t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--listen", in.addr, "--admin-listen", in.admin}, in.args...)...)
	cmd.Env = append(os.Environ(), "GATEWAY_TEST_CHILD=1", childHashWait)
	cmd.Stdout, cmd.Stderr = in.log, in.log
	if err := cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	in.mu.Lock()
	in.cmd = cmd
	in.mu.Unlock()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + in.admin + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	in.t.Fatalf("gateway did not become ready:\n%s", in.log.String())
}

// stop sends SIGTERM and waits for the process to exit.
func (in *instance) stop() {
	in.t.Helper()
	in.mu.Lock()
	cmd := in.cmd
	in.cmd = nil
	in.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		in.t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		in.t.Fatalf("gateway exited with %v after SIGTERM:\n%s", err, in.log.String())
	}
}

// balancer is a tiny loopback HTTP load balancer: round robin over the
// instances whose /readyz answered 200 at the last poll (every 50 ms), as
// a real one does with a health check: a draining or stopped instance is
// out at once, any other failed probe takes two in a row, and with none
// healthy it fails open to the instances not going.
type balancer struct {
	backends []*instance
	healthy  []atomic.Bool
	gone     []atomic.Bool // said it drains, or refused the probe
	next     atomic.Uint64
	failed   atomic.Int64 // requests the balancer could not forward
	served   []atomic.Int64
	proxy    *httputil.ReverseProxy
}

type backendKey struct{}

func newBalancer(t *testing.T, backends ...*instance) (*balancer, string) {
	b := &balancer{backends: backends, healthy: make([]atomic.Bool, len(backends)), gone: make([]atomic.Bool, len(backends)), served: make([]atomic.Int64, len(backends))}
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			i := r.In.Context().Value(backendKey{}).(int)
			r.SetURL(&url.URL{Scheme: "http", Host: b.backends[i].addr})
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 32},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			b.failed.Add(1)
			t.Logf("balancer: %s %s: %v", r.Method, r.URL.Path, err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: time.Second}
		misses := make([]int, len(b.backends))
		for ctx.Err() == nil {
			for i, in := range b.backends {
				resp, err := client.Get("http://" + in.admin + "/readyz")
				var body []byte
				if err == nil {
					body, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				switch {
				case err == nil && resp.StatusCode == http.StatusOK:
					misses[i] = 0
					b.healthy[i].Store(true)
					b.gone[i].Store(false)
				case err == nil && bytes.Contains(body, []byte("draining")), errors.Is(err, syscall.ECONNREFUSED):
					// The instance says it is going, or is gone: out at once.
					b.healthy[i].Store(false)
					b.gone[i].Store(true)
				default:
					// A slow or failed probe on a loaded machine: out only
					// after a second one in a row, as a real balancer's
					// failure threshold does.
					if misses[i]++; misses[i] >= 2 {
						b.healthy[i].Store(false)
					}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	url := newLoopbackServer(t, b)
	t.Cleanup(func() { cancel(); wg.Wait() })
	return b, url[:len(url)-1]
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := uint64(len(b.backends))
	// Healthy instances first; when none is (probes failing on a loaded
	// machine), any that has not said it is going, as real balancers fail
	// open rather than refuse everything.
	for _, usable := range []func(i int) bool{
		func(i int) bool { return b.healthy[i].Load() },
		func(i int) bool { return !b.gone[i].Load() },
	} {
		for range n {
			i := int(b.next.Add(1) % n)
			if usable(i) {
				b.served[i].Add(1)
				b.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), backendKey{}, i)))
				return
			}
		}
	}
	b.failed.Add(1)
	http.Error(w, "no healthy backend", http.StatusServiceUnavailable)
}

// TestRollingRestart sends a steady stream of registrations (send a code,
// register with it) through a load balancer to two gateway instances and
// restarts each in turn with SIGTERM: no request fails and every
// registration answered 201 is in the database. /readyz going unready at
// the start of shutdown, GATEWAY_SHUTDOWN_DRAIN before the listener closes,
// is what lets the balancer drain each instance first.
func TestRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateway processes")
	}
	pgURL, redisURL := scaleOutEnv(t)
	schema, prefix := isolate(t, pgURL, redisURL)
	sink := &smsSink{codes: map[string]string{}}
	args := []string{"--store=postgres", "--postgres-url", pgURL, "--postgres-schema", schema,
		"--redis-url", redisURL, "--redis-prefix", prefix, "--secret", randomSecret(), "--limits=off",
		"--sms-webhook", newLoopbackServer(t, sink), "--data-dir", t.TempDir(),
		"--shutdown-drain=500ms", "--log-level=warn"}
	a, b := newInstance(t, args...), newInstance(t, args...)
	a.start()
	b.start()
	bal, lb := newBalancer(t, a, b)
	for !bal.healthy[0].Load() || !bal.healthy[1].Load() {
		time.Sleep(10 * time.Millisecond)
	}

	client := &http.Client{Timeout: 30 * time.Second}
	var (
		requests, failures atomic.Int64
		mu                 sync.Mutex
		registered         []string
		seq                atomic.Int64
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// Two clients register (a send, then a registration, which hashes:
	// slow on two shared cores), eight only send codes (cheap: a dense
	// stream).
	for w := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				phone := fmt.Sprintf("139%08d", seq.Add(1))
				requests.Add(1)
				st, err := postJSON(client, lb+"/v1/codes", map[string]string{"phone": phone, "purpose": "register"})
				if err != nil || st != http.StatusOK {
					failures.Add(1)
					t.Logf("send code to %s: %d %v", phone, st, err)
					continue
				}
				if w >= 2 {
					continue
				}
				requests.Add(1)
				st, err = postJSON(client, lb+"/v1/users", map[string]string{"phone": phone, "password": "abc12345", "code": sink.code(phone)})
				if err != nil || st != http.StatusCreated {
					failures.Add(1)
					t.Logf("register %s: %d %v", phone, st, err)
					continue
				}
				mu.Lock()
				registered = append(registered, "+86"+phone)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	for i, in := range []*instance{a, b} {
		in.stop()
		in.start()
		// Restart the next only once the balancer sees this one ready
		// again, as a rolling restart does: on a loaded machine its
		// health poll may take longer than any fixed pause.
		for deadline := time.Now().Add(10 * time.Second); !bal.healthy[i].Load(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the balancer never saw instance %d ready again", i)
			}
		}
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	wg.Wait()

	// What reached the database: every acknowledged registration.
	conn, err := pgx.Connect(context.Background(), pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), "SELECT phone FROM "+pgx.Identifier{schema, "users"}.Sanitize())
	if err != nil {
		t.Fatal(err)
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, p := range stored {
		have[p] = true
	}
	lost := 0
	for _, p := range registered {
		if !have[p] {
			lost++
		}
	}
	t.Logf("rolling restart: %d requests, %d failed (%d at the balancer); %d registrations, %d lost; forwarded to A %d, to B %d",
		requests.Load(), failures.Load(), bal.failed.Load(), len(registered), lost, bal.served[0].Load(), bal.served[1].Load())
	if failures.Load() != 0 || bal.failed.Load() != 0 || lost != 0 || len(registered) < 5 || requests.Load() < 100 {
		t.Fatalf("%d requests failed, %d of %d registrations lost; want 0, 0 and a steady stream", failures.Load(), lost, len(registered))
	}
}
