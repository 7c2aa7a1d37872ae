package memdb

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/internal/testkit"
)

const crashEnv = "MEMDB_CRASH_CHILD" // dir,first user index

// TestCrashChild is the child process of TestCrash: it writes until killed
// and prints each write only after the store acknowledged it.
func TestCrashChild(t *testing.T) {
	arg := os.Getenv(crashEnv)
	if arg == "" {
		t.Skip("only run as TestCrash's child")
	}
	dir, first, _ := strings.Cut(arg, ",")
	base, _ := strconv.Atoi(first)
	// A fixed clock keeps the sessions live in snapshots, and a small
	// threshold makes compactions, and kills inside them, happen too.
	o := testOpts(nil, testkit.NewClock(t0))
	o.SnapshotRecords = 97
	s, err := Open(dir, o)
	if err != nil {
		fmt.Println("open failed:", err)
		os.Exit(1)
	}
	var out sync.Mutex
	ack := func(format string, args ...any) {
		out.Lock()
		fmt.Printf(format+"\n", args...) // one write(2) per line
		out.Unlock()
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := base + w; ; i += 4 {
				u := user(i)
				u.PasswordHash = "h1-" + u.Phone
				if err := s.CreateUser(ctx, u, session(u, "tok-"+u.Phone, time.Hour)); err != nil {
					ack("error %v", err)
					return
				}
				ack("user %s", u.Phone)
				if i%3 == 0 {
					if err := s.SetPassword(ctx, u.ID, "h2-"+u.Phone, t0); err != nil {
						ack("error %v", err)
						return
					}
					ack("reset %s", u.Phone)
				}
			}
		}()
	}
	wg.Wait()
	os.Exit(1)
}

// TestCrash SIGKILLs a writing child process several times and checks
// that every acknowledged write survived.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	acked := map[string]string{} // phone → acknowledged hash
	const rounds, perRound = 3, 300
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", crashEnv, dir, round*1_000_000))
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() }) // if a check fails before the kill
		sc := bufio.NewScanner(stdout)
		n, killed := 0, false
		for sc.Scan() {
			kind, ph, _ := strings.Cut(sc.Text(), " ")
			switch kind {
			case "user":
				acked[ph] = "h1-" + ph
			case "reset":
				acked[ph] = "h2-" + ph
			default:
				t.Fatalf("child: %s", sc.Text())
			}
			if n++; n == perRound && !killed {
				// Writes are in flight in the other goroutines right now.
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("child ended with %v, want SIGKILL", err)
		}

		s := mustOpen(t, dir, testOpts(nil, nil))
		for ph, hash := range acked {
			u, err := s.UserByPhone(ctx, ph)
			if err != nil {
				t.Fatalf("round %d: acknowledged user %s lost: %v", round, ph, err)
			}
			// A reset that was durable but not yet printed is fine.
			if u.PasswordHash != hash && u.PasswordHash != "h2-"+ph {
				t.Fatalf("round %d: %s has hash %q, want %q", round, ph, u.PasswordHash, hash)
			}
			_, _, err = s.Session(ctx, tokenHash("tok-"+ph), t0)
			if revoked := u.PasswordHash == "h2-"+ph; revoked != (err != nil) {
				t.Fatalf("round %d: session of %s (reset %v): %v", round, ph, revoked, err)
			}
			if revoked := strings.HasPrefix(hash, "h2-"); revoked {
				wantKind(t, err, core.Unauthorized)
			}
		}
		mustClose(t, s)
		t.Logf("round %d: %d acknowledged users so far, all present", round, len(acked))
	}
}
