// Package testservers starts throw-away servers for tests, from the
// machine's own binaries, on free loopback ports: a three-master Redis
// Cluster, a Redis Sentinel set-up (a master, a replica and three
// sentinels) and a PgBouncer in transaction pooling mode in front of a
// PostgreSQL server. Each is stopped, and its files removed, when the test
// ends.
//
// When a binary is missing the test is skipped with the reason, unless the
// environment variable that demands the set-up is "1" (CI sets them):
// then the test fails.
//
//	GATEWAY_TEST_REDIS_CLUSTER=1   redis-server and redis-cli (Debian: redis-server, redis-tools)
//	GATEWAY_TEST_REDIS_SENTINEL=1  redis-server and redis-sentinel (Debian: redis-server, redis-sentinel)
//	GATEWAY_TEST_PGBOUNCER=1       pgbouncer (Debian: pgbouncer)
package testservers

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Environment variables that make a set-up mandatory.
const (
	ClusterEnv   = "GATEWAY_TEST_REDIS_CLUSTER"
	SentinelEnv  = "GATEWAY_TEST_REDIS_SENTINEL"
	PgBouncerEnv = "GATEWAY_TEST_PGBOUNCER"
)

// need returns the path of each binary, or skips (fails when env is "1").
func need(tb testing.TB, env string, bins ...string) []string {
	tb.Helper()
	var paths, missing []string
	for _, b := range bins {
		p, err := exec.LookPath(b)
		if err != nil {
			// Debian installs pgbouncer in /usr/sbin, not on every PATH.
			p, err = exec.LookPath(filepath.Join("/usr/sbin", b))
		}
		if err != nil {
			missing = append(missing, b)
			continue
		}
		paths = append(paths, p)
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%s not found in PATH (Debian packages redis-server, redis-tools, redis-sentinel, pgbouncer)", strings.Join(missing, ", "))
		if os.Getenv(env) == "1" {
			tb.Fatalf("%s=1 demands this set-up, but %s", env, msg)
		}
		tb.Skipf("skipped: %s; set %s=1 to make this a failure", msg, env)
	}
	return paths
}

// FreePort returns a loopback TCP port nothing listens on right now.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Proc is one started server.
type Proc struct {
	Name string
	Port int
	cmd  *exec.Cmd
	log  *lockedBuffer
	once sync.Once
}

// Addr is the server's host:port.
func (p *Proc) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.Port) }

// Kill stops the server at once (SIGKILL): a crash, not a shutdown.
func (p *Proc) Kill() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	})
}

// Log is what the server wrote.
func (p *Proc) Log() string { return p.log.String() }

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 1<<20 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs a server in the foreground of its own and kills it when the
// test ends.
func start(tb testing.TB, name string, port int, bin string, args ...string) *Proc {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	p := &Proc{Name: name, Port: port, cmd: cmd, log: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	tb.Cleanup(p.Kill)
	return p
}

// waitTCP waits until something accepts connections at p's port.
func waitTCP(tb testing.TB, p *Proc) {
	tb.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
			c.Close()
			return
		}
	}
	tb.Fatalf("%s did not listen on %s:\n%s", p.Name, p.Addr(), p.Log())
}

// eventually polls f until it returns nil, failing the test after d.
func eventually(tb testing.TB, d time.Duration, what string, f func() error) {
	tb.Helper()
	var err error
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	tb.Fatalf("%s: %v", what, err)
}

func redisArgs(port int, dir string) []string {
	return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no", "--logfile", ""}
}

// Cluster is a Redis Cluster of three masters without replicas.
type Cluster struct {
	Nodes []*Proc
	// URL is the gateway's form: redis://first?addr=second&addr=third.
	URL string
}

// RedisCluster starts a three-master Redis Cluster and waits until every
// node reports cluster_state:ok.
func RedisCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bins := need(tb, ClusterEnv, "redis-server", "redis-cli")
	dir := tb.TempDir()
	c := &Cluster{}
	var addrs []string
	for i := range 3 {
		port, bus := FreePort(tb), FreePort(tb)
		args := append(redisArgs(port, dir), "--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
			"--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", i)), "--cluster-node-timeout", "2000")
		p := start(tb, fmt.Sprintf("redis cluster node %d", i), port, bins[0], args...)
		c.Nodes = append(c.Nodes, p)
		addrs = append(addrs, p.Addr())
	}
	for _, p := range c.Nodes {
		waitTCP(tb, p)
	}
	out, err := exec.Command(bins[1], append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	ctx := context.Background()
	for _, p := range c.Nodes {
		cl := goredis.NewClient(&goredis.Options{Addr: p.Addr()})
		eventually(tb, 20*time.Second, "cluster_state:ok on "+p.Addr(), func() error {
			info, err := cl.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("not ok yet")
			}
			return nil
		})
		cl.Close()
	}
	c.URL = "redis://" + addrs[0] + "?addr=" + addrs[1] + "&addr=" + addrs[2]
	return c
}

// Sentinel is a master, one replica and three sentinels watching the
// master under the name "mymaster", with a quorum of two.
type Sentinel struct {
	Master, Replica *Proc
	Sentinels       []*Proc
	// DownAfter is the sentinels' down-after-milliseconds.
	DownAfter time.Duration
	// URL is the gateway's form: redis://s1/0?master_name=mymaster&addr=s2&addr=s3.
	URL string
}

// MasterName is the name the sentinels know the master by.
const MasterName = "mymaster"

// RedisSentinel starts the Sentinel set-up and waits until every sentinel
// knows the replica and the two other sentinels and the replica is in sync,
// so that a failover can be authorised and can promote it.
func RedisSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	bins := need(tb, SentinelEnv, "redis-server", "redis-sentinel")
	server, sentinelBin := bins[0], bins[1]
	dir := tb.TempDir()
	s := &Sentinel{DownAfter: time.Second}
	mp, rp := FreePort(tb), FreePort(tb)
	s.Master = start(tb, "redis master", mp, server, redisArgs(mp, dir)...)
	s.Replica = start(tb, "redis replica", rp, server, append(redisArgs(rp, dir), "--replicaof", "127.0.0.1", strconv.Itoa(mp), "--dbfilename", "replica.rdb")...)
	waitTCP(tb, s.Master)
	waitTCP(tb, s.Replica)
	var addrs []string
	for i := range 3 {
		port := FreePort(tb)
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", i))
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\n"+
			"sentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s %d\n"+
			"sentinel failover-timeout %s 10000\n"+
			"sentinel parallel-syncs %s 1\n",
			port, dir, MasterName, mp, MasterName, s.DownAfter.Milliseconds(), MasterName, MasterName)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			tb.Fatal(err)
		}
		p := start(tb, fmt.Sprintf("redis sentinel %d", i), port, sentinelBin, conf)
		s.Sentinels = append(s.Sentinels, p)
		addrs = append(addrs, p.Addr())
	}
	ctx := context.Background()
	for _, p := range s.Sentinels {
		waitTCP(tb, p)
		sc := goredis.NewSentinelClient(&goredis.Options{Addr: p.Addr()})
		eventually(tb, 30*time.Second, p.Name+" knows the replica and the other sentinels", func() error {
			reps, err := sc.Replicas(ctx, MasterName).Result()
			if err != nil {
				return err
			}
			sens, err := sc.Sentinels(ctx, MasterName).Result()
			if err != nil {
				return err
			}
			if len(reps) != 1 || len(sens) != 2 {
				return fmt.Errorf("%d replicas, %d other sentinels", len(reps), len(sens))
			}
			return nil
		})
		sc.Close()
	}
	s.WaitReplicated(tb)
	s.URL = "redis://" + addrs[0] + "/0?master_name=" + MasterName + "&addr=" + addrs[1] + "&addr=" + addrs[2]
	return s
}

// WaitReplicated waits until the replica has every write the master has
// (replication is asynchronous: a write acknowledged by the master just
// before it dies may be lost in a failover).
func (s *Sentinel) WaitReplicated(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	m := goredis.NewClient(&goredis.Options{Addr: s.Master.Addr()})
	defer m.Close()
	r := goredis.NewClient(&goredis.Options{Addr: s.Replica.Addr()})
	defer r.Close()
	offset := func(c *goredis.Client, field string) (int64, error) {
		info, err := c.Info(ctx, "replication").Result()
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, field+":"); ok {
				return strconv.ParseInt(v, 10, 64)
			}
		}
		return 0, fmt.Errorf("no %s in INFO replication", field)
	}
	eventually(tb, 15*time.Second, "the replica catches up with the master", func() error {
		mo, err := offset(m, "master_repl_offset")
		if err != nil {
			return err
		}
		ro, err := offset(r, "slave_repl_offset")
		if err != nil {
			return err
		}
		if ro < mo || mo == 0 {
			return fmt.Errorf("replica at %d, master at %d", ro, mo)
		}
		return nil
	})
}

// KillMaster kills the master (SIGKILL) and returns when it is gone.
func (s *Sentinel) KillMaster() { s.Master.Kill() }

// CurrentMaster asks the first live sentinel which address is the master.
func (s *Sentinel) CurrentMaster(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	for _, p := range s.Sentinels {
		sc := goredis.NewSentinelClient(&goredis.Options{Addr: p.Addr()})
		addr, err := sc.GetMasterAddrByName(ctx, MasterName).Result()
		sc.Close()
		if err == nil && len(addr) == 2 {
			return net.JoinHostPort(addr[0], addr[1])
		}
	}
	tb.Fatal("no sentinel answers")
	return ""
}

// PgBouncer starts pgbouncer in transaction pooling mode in front of the
// PostgreSQL server of pgURL (trust authentication, as the test server
// uses) and returns pgURL with its host and port replaced by pgbouncer's.
//
// PgBouncer 1.18 (Debian 12) neither forwards a client's search_path nor
// keeps session state across transactions, so the server connections get
// schema (when not empty) first on their search_path from connect_query,
// as an operator would do it (or with ALTER ROLE ... SET search_path); the
// client's own search_path is in ignore_startup_parameters.
// pgbouncer refuses to run as root; as root it is started as the "nobody"
// user (or "postgres" when present).
func PgBouncer(tb testing.TB, pgURL, schema string) string {
	tb.Helper()
	bin := need(tb, PgBouncerEnv, "pgbouncer")[0]
	u, err := parseURL(pgURL)
	if err != nil {
		tb.Fatalf("bad PostgreSQL URL: %v", err)
	}
	dir := tb.TempDir()
	port := FreePort(tb)
	users := fmt.Sprintf("%q %q\n", u.user, "")
	if err := os.WriteFile(filepath.Join(dir, "userlist.txt"), []byte(users), 0o644); err != nil {
		tb.Fatal(err)
	}
	connect := ""
	if schema != "" {
		connect = " connect_query='SET search_path TO " + schema + "'"
	}
	ini := fmt.Sprintf(`[databases]
%s = host=%s port=%s dbname=%s user=%s%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
max_client_conn = 200
default_pool_size = 10
ignore_startup_parameters = extra_float_digits,search_path
logfile =
pidfile =
`, u.db, u.host, u.port, u.db, u.user, connect, port, filepath.Join(dir, "userlist.txt"))
	conf := filepath.Join(dir, "pgbouncer.ini")
	if err := os.WriteFile(conf, []byte(ini), 0o644); err != nil {
		tb.Fatal(err)
	}
	var p *Proc
	if os.Geteuid() == 0 {
		// pgbouncer -u drops root after reading its files.
		if err := os.Chmod(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		p = start(tb, "pgbouncer", port, bin, "-u", unprivilegedUser(), conf)
	} else {
		p = start(tb, "pgbouncer", port, bin, conf)
	}
	waitTCP(tb, p)
	return u.withHostPort(fmt.Sprintf("127.0.0.1:%d", port))
}

func unprivilegedUser() string {
	for _, name := range []string{"postgres", "nobody"} {
		if _, err := exec.Command("id", "-u", name).Output(); err == nil {
			return name
		}
	}
	return "nobody"
}

// pgURL is the parts of a postgres:// URL pgbouncer needs.
type pgURL struct {
	u                    *url.URL
	user, host, port, db string
}

func parseURL(raw string) (*pgURL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	p := &pgURL{u: u, user: u.User.Username(), host: u.Hostname(), port: u.Port(), db: strings.TrimPrefix(u.Path, "/")}
	if p.user == "" {
		p.user = "postgres"
	}
	if p.port == "" {
		p.port = "5432"
	}
	if p.host == "" {
		p.host = "127.0.0.1"
	}
	if p.db == "" {
		p.db = p.user
	}
	return p, nil
}

func (p *pgURL) withHostPort(hostport string) string {
	u := *p.u
	u.Host = hostport
	return u.String()
}
