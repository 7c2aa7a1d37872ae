package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// errPoolClosed is returned by acquire once the pool is closed.
var errPoolClosed = errors.New("connection pool is closed")

// pool is a small bounded pool of *pgx.Conn, in the spirit of pgxpool: at
// most max connections exist; an idle connection unused for longer than
// pingAfter is pinged before it is handed out (a server restart or a
// dropped TCP connection is then noticed before a real statement fails),
// and a connection that was closed or left inside a transaction is
// discarded on release instead of being reused.
//
// It exists because pgxpool's own dependency (github.com/jackc/puddle/v2)
// is not in go.sum; swapping it for pgxpool changes this file only.
type pool struct {
	cfg       *pgx.ConnConfig
	permits   chan struct{} // one per acquired (or being dialed) connection
	pingAfter time.Duration
	maxIdle   time.Duration // idle connections older than this are closed

	mu     sync.Mutex
	idle   []idleConn // LIFO: the most recently used connection is reused first
	closed bool
}

type idleConn struct {
	c     *pgx.Conn
	since time.Time
}

func newPool(cfg *pgx.ConnConfig, max int) *pool {
	return &pool{cfg: cfg, permits: make(chan struct{}, max), pingAfter: time.Second, maxIdle: 5 * time.Minute}
}

// acquire returns a connection for the caller's exclusive use until
// release. It waits for a free slot until ctx is done.
func (p *pool) acquire(ctx context.Context) (*pgx.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case p.permits <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		ic, ok, err := p.popIdle()
		if err != nil {
			<-p.permits
			return nil, err
		}
		if !ok {
			break
		}
		if time.Since(ic.since) <= p.pingAfter {
			return ic.c, nil
		}
		if err := ic.c.Ping(ctx); err == nil {
			return ic.c, nil
		} else if ctx.Err() != nil {
			p.discard(ic.c)
			<-p.permits
			return nil, err
		}
		p.discard(ic.c) // dead: try the next one, or dial
	}
	c, err := pgx.ConnectConfig(ctx, p.cfg)
	if err != nil {
		<-p.permits
		return nil, err
	}
	return c, nil
}

func (p *pool) popIdle() (idleConn, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return idleConn{}, false, errPoolClosed
	}
	n := len(p.idle)
	if n == 0 {
		return idleConn{}, false, nil
	}
	ic := p.idle[n-1]
	p.idle[n-1] = idleConn{}
	p.idle = p.idle[:n-1]
	return ic, true, nil
}

// release gives c back. A connection that is closed, busy or not idle
// (a transaction left open by an error path) is closed instead.
func (p *pool) release(c *pgx.Conn) {
	defer func() { <-p.permits }()
	pc := c.PgConn()
	if c.IsClosed() || pc.IsBusy() || pc.TxStatus() != 'I' {
		p.discard(c)
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.discard(c)
		return
	}
	p.idle = append(p.idle, idleConn{c: c, since: time.Now()})
	p.mu.Unlock()
}

func (p *pool) discard(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Close(ctx) // best effort: the connection is dropped either way
}

// pruneIdle closes connections idle for longer than maxIdle, so that a
// burst does not keep server backends busy forever.
func (p *pool) pruneIdle() {
	p.mu.Lock()
	var old []*pgx.Conn
	keep := p.idle[:0]
	for _, ic := range p.idle { // oldest first
		if time.Since(ic.since) > p.maxIdle {
			old = append(old, ic.c)
		} else {
			keep = append(keep, ic)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.mu.Unlock()
	for _, c := range old {
		p.discard(c)
	}
}

// close closes the idle connections and makes later acquires fail;
// connections in use are closed when they are released.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, ic := range idle {
		p.discard(ic.c)
	}
}
