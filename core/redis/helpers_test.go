package redis

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
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
	u := testURL(tb)
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
	ro, err := goredis.ParseURL(u)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c := goredis.NewClient(ro)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("cleanup: SCAN %s*: %v", prefix, err)
			return
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			if err := c.Del(ctx, keys[:n]...).Err(); err != nil {
				tb.Errorf("cleanup: DEL: %v", err)
				return
			}
			keys = keys[n:]
		}
	})
}

// countKeys counts the keys under prefix.
func countKeys(tb testing.TB, s *Store, pattern string) int {
	tb.Helper()
	n := 0
	iter := s.client.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		n++
	}
	if err := iter.Err(); err != nil {
		tb.Fatal(err)
	}
	return n
}
