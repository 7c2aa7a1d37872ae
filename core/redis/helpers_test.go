package redis

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

const urlEnv = "GATEWAY_TEST_REDIS_URL"

var ctx = context.Background()

// t0 is the tests' clock: a fixed instant, on purpose not the wall clock
// (the core's clock differs from Redis's in tests too).
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

func mac(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testURL returns the test server's URL, or skips the test without one.
func testURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(urlEnv)
	if u == "" {
		tb.Skip("set GATEWAY_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0) to run the Redis tests")
	}
	return u
}

// randomPrefix isolates one test's keys from every other's.
func randomPrefix() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "gwtest:" + hex.EncodeToString(b[:]) + ":"
}

// openTest opens a Store on the test server under a fresh prefix (unless
// opts names one), fails when the server does not answer, and deletes the
// prefix's keys when the test ends.
func openTest(tb testing.TB, opts Options) *Store {
	tb.Helper()
	return openTestURL(tb, testURL(tb), opts)
}

// openTestURL is openTest on the Redis at u, in any of Open's forms.
func openTestURL(tb testing.TB, u string, opts Options) *Store {
	tb.Helper()
	if opts.Prefix == "" {
		opts.Prefix = randomPrefix()
	}
	if opts.Logger == nil {
		opts.Logger = quietLog()
	}
	s, err := Open(ctx, u, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.Ping(ctx); err != nil {
		shown := "GATEWAY_TEST_REDIS_URL"
		if pu, perr := url.Parse(u); perr == nil {
			shown = pu.Redacted() // no password in the test log
		}
		tb.Fatalf("the Redis server at %s does not answer: %v", shown, err)
	}
	cleanPrefix(tb, u, opts.Prefix)
	return s
}

// cleanPrefix deletes every key under prefix when the test ends (SCAN
// prefix* and DEL), over a client of its own: the test may close its Store.
func cleanPrefix(tb testing.TB, u, prefix string) {
	tb.Helper()
	tb.Cleanup(func() {
		c, _, _, err := newClient(u, 5*time.Second)
		if err != nil {
			tb.Error(err)
			return
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys, err := scanAll(ctx, c, prefix+"*")
		if err != nil {
			tb.Errorf("cleanup: SCAN %s*: %v", prefix, err)
			return
		}
		// One DEL a key: in a Cluster the keys of one DEL must share a slot.
		for _, k := range keys {
			if err := c.Del(ctx, k).Err(); err != nil {
				tb.Errorf("cleanup: DEL: %v", err)
				return
			}
		}
	})
}

// scanAll returns the keys matching pattern, on every master of a Cluster.
func scanAll(ctx context.Context, c goredis.UniversalClient, pattern string) ([]string, error) {
	scan := func(ctx context.Context, c *goredis.Client) ([]string, error) {
		var keys []string
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		return keys, iter.Err()
	}
	switch c := c.(type) {
	case *goredis.Client:
		return scan(ctx, c)
	case *goredis.ClusterClient:
		var mu sync.Mutex
		var all []string
		err := c.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error {
			keys, err := scan(ctx, n)
			mu.Lock()
			all = append(all, keys...)
			mu.Unlock()
			return err
		})
		return all, err
	}
	return nil, fmt.Errorf("unexpected client %T", c)
}

// countKeys counts the keys under prefix.
func countKeys(tb testing.TB, s *Store, pattern string) int {
	tb.Helper()
	keys, err := scanAll(ctx, s.client, pattern)
	if err != nil {
		tb.Fatal(err)
	}
	return len(keys)
}
