package redis

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"

	"legacyauth/core"
	"legacyauth/core/limits"
	"legacyauth/core/limits/logtest"
	"legacyauth/core/storetest"
	"legacyauth/internal/testservers"
)

// TestURLForms: the three forms of Open's URL pick their client, and a bad
// URL is Invalid without its password in the message.
func TestURLForms(t *testing.T) {
	for _, c := range []struct{ url, mode, addrs string }{
		{"redis://127.0.0.1:6379/0", ModeSingle, "127.0.0.1:6379"},
		{"rediss://u:p@cache.example:6380/2", ModeSingle, "cache.example:6380"},
		{"redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002", ModeCluster, "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002"},
		{"redis://127.0.0.1:7000/0?cluster=true", ModeCluster, "127.0.0.1:7000"},
		{"redis://127.0.0.1:6379/3?cluster=false", ModeSingle, "127.0.0.1:6379"},
		{"redis://s1:26379/1?master_name=mymaster&addr=s2:26379&password=x", ModeSentinel, "s1:26379,s2:26379"},
	} {
		cl, mode, addrs, err := newClient(c.url, time.Second)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		cl.Close()
		if mode != c.mode || addrs != c.addrs {
			t.Errorf("%s: mode %s, addrs %s; want %s, %s", c.url, mode, addrs, c.mode, c.addrs)
		}
	}
	for _, bad := range []string{
		"http://secretpw@127.0.0.1:6379",
		"redis://u:secretpw@127.0.0.1:7000/3?addr=127.0.0.1:7001", // a cluster has database 0 only
		"redis://u:secretpw@127.0.0.1:7000?addr=nonsense",
		"redis://u:secretpw@127.0.0.1:7000?cluster=maybe",
		"redis://u:secretpw@127.0.0.1:7000?cluster=false&addr=127.0.0.1:7001",
		"redis://u:secretpw@s1:26379?master_name=",
		"redis://u:secretpw@s1:26379?master_name=m&bogus=1",
	} {
		_, err := Open(ctx, bad, Options{Logger: quietLog()})
		if core.KindOf(err) != core.Invalid {
			t.Errorf("%s: %v; want Invalid", bad, err)
		} else if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("%s: the error shows the password: %v", bad, err)
		}
	}
}

// TestCluster runs the EphemeralStore contract, the limits Log suite and
// ulule's driver on a real three-master Redis Cluster, and checks that the
// keys did land on more than one master (the store is not talking to one
// node by luck).
func TestCluster(t *testing.T) {
	c := testservers.RedisCluster(t)
	testHA(t, c.URL, ModeCluster)

	s := openTestURL(t, c.URL, Options{})
	for i := range 40 {
		if err := s.PutFlow(ctx, &core.Flow{ID: "f" + strings.Repeat("x", i), Phone: "+8613800000001", ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	var masters atomic.Int32
	err := s.client.(*goredis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error {
		keys, err := scanAll(ctx, n, s.prefix+"*")
		if len(keys) > 0 {
			masters.Add(1)
		}
		return err
	})
	if err != nil || masters.Load() < 2 {
		t.Fatalf("40 keys on %d masters (%v); want them spread over the cluster", masters.Load(), err)
	}
}

// TestSentinel runs the same suites through Redis Sentinel.
func TestSentinel(t *testing.T) {
	s := testservers.RedisSentinel(t)
	testHA(t, s.URL, ModeSentinel)
}

func testHA(t *testing.T, url, mode string) {
	if s := openTestURL(t, url, Options{}); s.Mode() != mode {
		t.Fatalf("mode %s, want %s", s.Mode(), mode)
	}
	t.Run("Ephemeral", func(t *testing.T) {
		storetest.Ephemeral(t, func(t *testing.T) core.EphemeralStore { return openTestURL(t, url, Options{}) })
	})
	t.Run("EventLog", func(t *testing.T) {
		logtest.Run(t, func(t *testing.T) limits.Log { return openTestURL(t, url, Options{}).EventLog() })
	})
	t.Run("Limiter", func(t *testing.T) {
		// ulule's driver: one key a call, its scripts loaded on every master.
		s := openTestURL(t, url, Options{})
		rate := limiter.Rate{Period: time.Minute, Limit: 3}
		for i, key := range []string{"a", "b", "c", "d", "e", "f"} {
			for n := int64(1); n <= 4; n++ {
				got, err := s.LimiterStore().Get(ctx, key, rate)
				if err != nil {
					t.Fatalf("key %d, call %d: %v", i, n, err)
				}
				if want := n > 3; got.Reached != want || got.Remaining != max(0, 3-n) {
					t.Fatalf("key %s, call %d: %+v; want reached %v", key, n, got, want)
				}
			}
		}
		if n := countKeys(t, s, s.prefix+"limit:*"); n != 6 {
			t.Fatalf("%d limiter keys, want 6", n)
		}
	})
}
