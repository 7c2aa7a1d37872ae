// Package redis implements core.EphemeralStore over Redis, and hands the
// rate limits (core/limits) ulule/limiter's Redis driver over the same
// client, so that several gateway instances share codes, tickets, legacy
// flows and rate-limit counters and behave as one.
//
// # Keys
//
// Every key starts with Options.Prefix (default "gateway:"):
//
//	<prefix>code:<phone>               hash m (MAC, 32 bytes), p (purpose), s, n (ExpiresAt: Unix seconds, nanoseconds), a (wrong tries), b ("1" once burned)
//	<prefix>ticket:<purpose>:<phone>   hash h (SHA-256 of the ticket, 32 bytes), s, n (ExpiresAt)
//	<prefix>flow:<id>                  string: JSON {"p": phone, "t": ticket, "e": ExpiresAt in Unix nanoseconds}
//	<prefix>limit:<limiter key>        ulule/limiter's counters (see LimiterStore)
//	<prefix>rl:<limits key>            sorted set: rolling-window events and known clients (see EventLog)
//
// # Expiry
//
// Every record carries a TTL: ExpiresAt − Options.Now() when it is written
// (tickets and flows), plus one minute for codes so that a late check
// still answers CodeStale ("code expired") rather than CodeNone. A record
// whose ExpiresAt has already passed by that clock — or a caller whose clock
// differs, as in tests with a fixed clock — is kept one minute. Reads never
// trust the TTL alone: they also compare ExpiresAt with the caller's now,
// so an expired record is never served.
//
// # Atomicity
//
// CheckCode and TakeTicket are each one Lua script (Redis runs a script
// without interleaving any other command), so concurrent checks from any
// number of instances consume a code or a ticket exactly once and count
// every wrong try. PutCode and PutTicket write the whole record and its TTL
// in one MULTI/EXEC, so a replacement never leaves a half-written record
// nor one without a TTL.
//
// # Failures
//
// Every call runs under a deadline of Options.OpTimeout (also the dial,
// read and write time-outs) and is not retried by the client: the scripts
// are not idempotent (a retried CheckCode could count a try twice, or
// answer CodeNone for a code it just consumed). A server that does not
// answer in time, refuses connections or drops them yields core.Unavailable;
// the pool dials again on later calls, so service resumes by itself when
// the server is back. Error replies (a bug, a wrong key type) yield
// core.Internal. Error texts name neither phones nor secrets.
package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	neturl "net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"legacyauth/core"
)

// Options configures a Store. The zero value is usable.
type Options struct {
	// Prefix starts every key, the rate limiter's included. Default "gateway:".
	Prefix string
	// OpTimeout bounds every call: it is the dial, read and write time-out
	// and each call's deadline. Default one second.
	OpTimeout time.Duration
	// Logger receives the store's own warnings. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock TTLs are computed against (ExpiresAt − Now()). Give
	// it the core's clock when that one is injected. Default time.Now.
	Now func() time.Time
}

const (
	defaultPrefix    = "gateway:"
	defaultOpTimeout = time.Second
	// staleFor is how long a code outlives its ExpiresAt in Redis, so that
	// a late check answers CodeStale; it is also the least TTL any record
	// gets (see ttl).
	staleFor = time.Minute
)

// Store is a core.EphemeralStore over Redis. It is safe for concurrent use.
type Store struct {
	client  goredis.UniversalClient
	mode    string // ModeSingle, ModeCluster or ModeSentinel
	prefix  string
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time
	limiter *limiterStore
	closed  atomic.Bool
}

var _ core.EphemeralStore = (*Store)(nil)

// Open connects to Redis at url, in one of three forms (go-redis's own,
// see ParseURL, ParseClusterURL and ParseFailoverURL in
// github.com/redis/go-redis/v9):
//
//	redis://[user:password@]host:port/db
//	    one server (rediss:// for TLS);
//	redis://[user:password@]host1:port1?addr=host2:port2&addr=host3:port3
//	    a Redis Cluster: any "addr" parameter (or cluster=true, for one seed
//	    address such as a managed service's configuration endpoint) makes the
//	    addresses seed nodes of a cluster; database 0 only;
//	redis://[sentinel-user:sentinel-password@]sentinel1:26379/db?master_name=mymaster&addr=sentinel2:26379&password=master-password
//	    Redis Sentinel: "master_name" makes the addresses sentinels, which
//	    name the current master; the user info is the sentinels'
//	    credentials, the "username" and "password" parameters the master's.
//
// Other go-redis parameters (pool_size, ...) are accepted; the time-outs
// and retries are the Store's (Options.OpTimeout, no retries) whatever
// they say.
//
// Open fails only on a bad URL or bad options: when the server does not
// answer it logs a warning and returns a Store whose calls answer
// core.Unavailable until the server is back. Callers that must not start
// without Redis call Ping.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	const op = "redis.Open"
	if opts.Prefix == "" {
		opts.Prefix = defaultPrefix
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = defaultOpTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	client, mode, addr, err := newClient(url, opts.OpTimeout)
	if err != nil {
		return nil, &core.Error{Op: op, Kind: core.Invalid, Msg: "bad redis URL", Err: redactURLError(err)}
	}
	// go-redis logs through a package-wide logger that writes plain text
	// to standard error; it then breaks a JSON log. The last store opened
	// names the logger, which in a gateway is the one logger there is.
	goredis.SetLogger(clientLogger{opts.Logger})

	s := &Store{
		client:  client,
		mode:    mode,
		prefix:  opts.Prefix,
		timeout: opts.OpTimeout,
		log:     opts.Logger,
		now:     opts.Now,
	}
	s.limiter = &limiterStore{s: s}
	// Load the limiter's scripts now when the server answers; otherwise
	// the first use does.
	lctx, cancel := s.call(ctx)
	defer cancel()
	if _, err := s.limiter.store(lctx); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "redis does not answer yet; calls fail until it does",
			slog.String("mode", mode), slog.String("addr", addr), slog.String("err", s.fail(op, err).Error()))
	}
	return s, nil
}

// Deployment modes, as Mode reports them.
const (
	ModeSingle   = "single"
	ModeCluster  = "cluster"
	ModeSentinel = "sentinel"
)

// Mode is how the Store reaches Redis: ModeSingle, ModeCluster or
// ModeSentinel.
func (s *Store) Mode() string { return s.mode }

// newClient parses url in one of Open's forms and returns its client, the
// mode and the addresses (for logs: no credentials).
func newClient(raw string, timeout time.Duration) (goredis.UniversalClient, string, string, error) {
	u, err := neturl.Parse(raw)
	if err != nil {
		return nil, "", "", err
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		o, err := goredis.ParseFailoverURL(raw)
		if err != nil {
			return nil, "", "", err
		}
		if o.MasterName == "" {
			return nil, "", "", errors.New("master_name is empty")
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = timeout, timeout, timeout, timeout
		o.ContextTimeoutEnabled = true
		o.MaxRetries = -1
		o.DialerRetries, o.DialerRetryTimeout = 2, 50*time.Millisecond
		o.DisableIdentity = true
		return goredis.NewFailoverClient(o), ModeSentinel, strings.Join(o.SentinelAddrs, ","), nil
	case q.Has("addr") || q.Has("cluster"):
		cluster := true
		if q.Has("cluster") {
			if cluster, err = strconv.ParseBool(q.Get("cluster")); err != nil {
				return nil, "", "", fmt.Errorf("cluster=%q: want true or false", q.Get("cluster"))
			}
			q.Del("cluster")
			u.RawQuery = q.Encode()
		}
		if !cluster && q.Has("addr") {
			return nil, "", "", errors.New("addr parameters name cluster nodes or sentinels: cluster=false needs master_name")
		}
		if !cluster {
			return newSingle(u.String(), timeout)
		}
		if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
			return nil, "", "", errors.New("a Redis Cluster has database 0 only")
		}
		u.Path = ""
		o, err := goredis.ParseClusterURL(u.String())
		if err != nil {
			return nil, "", "", err
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = timeout, timeout, timeout, timeout
		o.ContextTimeoutEnabled = true
		// MaxRetries bounds nothing the scripts care about here: a
		// ClusterClient follows MOVED/ASK redirects (MaxRedirects) and, as
		// go-redis cannot tell them apart, retries a command once after a
		// dropped connection; see the package doc.
		o.MaxRetries = -1
		o.DialerRetries, o.DialerRetryTimeout = 2, 50*time.Millisecond
		o.DisableIdentity = true
		o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		return goredis.NewClusterClient(o), ModeCluster, strings.Join(o.Addrs, ","), nil
	default:
		return newSingle(raw, timeout)
	}
}

func newSingle(raw string, timeout time.Duration) (goredis.UniversalClient, string, string, error) {
	ro, err := goredis.ParseURL(raw)
	if err != nil {
		return nil, "", "", err
	}
	ro.DialTimeout = timeout
	ro.ReadTimeout = timeout
	ro.WriteTimeout = timeout
	ro.PoolTimeout = timeout
	ro.ContextTimeoutEnabled = true // the per-call deadline bounds reads and writes too
	ro.MaxRetries = -1              // the scripts are not idempotent: see the package doc
	ro.DialerRetries = 2
	ro.DialerRetryTimeout = 50 * time.Millisecond
	ro.DisableIdentity = true // no CLIENT SETINFO round trip on each new connection
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return goredis.NewClient(ro), ModeSingle, ro.Addr, nil
}

// redactURLError keeps the URL (and so a password) out of a parse error.
func redactURLError(err error) error {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Ping reports whether the server answers, within OpTimeout.
func (s *Store) Ping(ctx context.Context) error {
	const op = "redis.Ping"
	ctx, cancel := s.call(ctx)
	defer cancel()
	if err := s.client.Ping(ctx).Err(); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// Close releases the connections. Later calls answer core.Unavailable.
// Closing twice is not an error.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.client.Close(); err != nil {
		return s.fail("redis.Close", err)
	}
	return nil
}

// call bounds one call by OpTimeout.
func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// ttl is how long Redis keeps a record expiring at exp, plus grace: never
// less than staleFor, so that a record written with a clock other than
// Options.Now (or already expired) still answers "expired" for a while
// instead of vanishing at once (and PX needs a positive value anyway).
func (s *Store) ttl(exp time.Time, grace time.Duration) time.Duration {
	d := exp.Sub(s.now()) + grace
	return max(d, staleFor)
}

// fail turns a client error into a *core.Error: Unavailable when the server
// could not answer, Internal otherwise.
func (s *Store) fail(op string, err error) error {
	if s.closed.Load() {
		return &core.Error{Op: op, Kind: core.Unavailable, Msg: "store is closed", Err: err}
	}
	if unavailable(err) {
		return &core.Error{Op: op, Kind: core.Unavailable, Msg: "redis unavailable", Err: err}
	}
	return &core.Error{Op: op, Kind: core.Internal, Msg: "redis failed", Err: err}
}

// unavailable reports whether err means the server did not answer (or
// cannot serve right now) rather than that it answered with an error.
func unavailable(err error) bool {
	var rerr goredis.Error
	if errors.As(err, &rerr) {
		// A reply from the server: only these say "not now", not "wrong".
		msg := rerr.Error()
		for _, p := range []string{"LOADING", "BUSY ", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	var nerr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, goredis.ErrClosed), errors.Is(err, goredis.ErrPoolTimeout),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed),
		errors.As(err, &nerr): // dial failures and time-outs
		return true
	}
	return false
}

// clientLogger hands go-redis's own messages (reconnects, pool trouble) to
// slog as warnings.
type clientLogger struct{ log *slog.Logger }

func (l clientLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.LogAttrs(ctx, slog.LevelWarn, "redis client", slog.String("msg", fmt.Sprintf(format, v...)))
}
