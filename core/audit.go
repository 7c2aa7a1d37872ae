package core

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// AuditType names a security event.
type AuditType string

// The security events the core records (docs/operations.md, "Audit trail").
const (
	AuditRegistered      AuditType = "registered"
	AuditLogin           AuditType = "login"            // Outcome "ok", or why it failed
	AuditLocked          AuditType = "locked"           // a login or code check refused by a lock
	AuditPasswordReset   AuditType = "password_reset"   // every session is revoked with it
	AuditSessionsRevoked AuditType = "sessions_revoked" // every session of the user
	AuditAccountDeleted  AuditType = "account_deleted"  // by its owner (/v1)
	AuditAdmin           AuditType = "admin"            // an operator's action: Action says which
)

// AuditOK is the outcome of an event that succeeded; any other outcome is
// the name of the error kind that ended it.
const AuditOK = "ok"

// AuditEvent is one security event. It never holds a secret (password,
// code, token, hash) nor the phone in clear: Phone is masked (MaskPhone)
// and PhoneKey is a keyed hash of it (Service.PhoneKey), by which a
// phone's events are found, also after its account is deleted.
type AuditEvent struct {
	Time     time.Time `json:"time"`
	Type     AuditType `json:"type"`
	Outcome  string    `json:"outcome"`
	Dialect  string    `json:"dialect,omitempty"` // "v1", a legacy dialect, "admin-api" or "cli"
	Phone    string    `json:"phone,omitempty"`   // masked
	PhoneKey string    `json:"phone_key,omitempty"`
	UserID   string    `json:"user_id,omitempty"`
	Address  string    `json:"address,omitempty"` // the client's address
	Device   string    `json:"device,omitempty"`
	Action   string    `json:"action,omitempty"` // AuditAdmin: show, unlock, logout, delete
	Detail   string    `json:"detail,omitempty"` // e.g. the limit that locked, how many sessions went
}

// AuditSink receives every security event the core emits. It must not
// block for long: it is called on the request path.
type AuditSink interface {
	Audit(ctx context.Context, e AuditEvent)
}

// AuditStore keeps audit events for queries (memdb and PostgreSQL
// implement it). Events are kept until DeleteAuditBefore removes them.
type AuditStore interface {
	// AppendAudit stores events durably, atomically.
	AppendAudit(ctx context.Context, events []AuditEvent) error
	// AuditEvents returns the events of a phone key at or after since,
	// oldest first.
	AuditEvents(ctx context.Context, phoneKey string, since time.Time) ([]AuditEvent, error)
	// DeleteAuditBefore removes the events older than before and returns
	// how many.
	DeleteAuditBefore(ctx context.Context, before time.Time) (int, error)
}

// DefaultAuditRetention is how long AuditLog keeps events in its store.
const DefaultAuditRetention = 90 * 24 * time.Hour

// AuditLogOptions configure an AuditLog.
type AuditLogOptions struct {
	// Log receives one record per event, message "audit", with the
	// event's fields and "audit":true. Nil logs nothing.
	Log *slog.Logger
	// Store keeps the events for queries; nil keeps none. Writes are
	// batched in the background (one store write for many events), so
	// logins do not wait for an extra fsync; Close writes the rest.
	Store AuditStore
	// Retention is how long the store keeps events: older ones are
	// deleted hourly. Default DefaultAuditRetention.
	Retention time.Duration
	Now       func() time.Time
	// Errors receives failed store writes (logged by the caller); nil
	// drops them.
	Errors func(error)
}

// AuditLog is the AuditSink of the gateway: a slog stream plus a store.
type AuditLog struct {
	opts   AuditLogOptions
	ch     chan AuditEvent
	flush  chan chan struct{}
	stop   chan struct{} // Close asks run to finish; ch itself is never closed
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	locked map[string]time.Time // phone key -> last "locked" event stored
}

// auditQueue bounds the events waiting for the store; a full queue makes
// Audit wait (back-pressure), never drop.
const auditQueue = 4096

// NewAuditLog starts an AuditLog; Close stops it.
func NewAuditLog(opts AuditLogOptions) *AuditLog {
	if opts.Retention <= 0 {
		opts.Retention = DefaultAuditRetention
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &AuditLog{opts: opts, ch: make(chan AuditEvent, auditQueue), flush: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{}), locked: map[string]time.Time{}}
	if opts.Store != nil {
		go a.run()
	} else {
		close(a.done)
	}
	return a
}

// Retention is the store's retention.
func (a *AuditLog) Retention() time.Duration { return a.opts.Retention }

// Audit logs e and queues it for the store. A "locked" event is stored at
// most once a minute per phone: a flood of refused requests at a locked
// phone is counted by the limits' metrics, and must not fill the store.
func (a *AuditLog) Audit(ctx context.Context, e AuditEvent) {
	if a.opts.Log != nil {
		a.opts.Log.LogAttrs(ctx, slog.LevelInfo, "audit", e.attrs()...)
	}
	if a.opts.Store == nil {
		return
	}
	if e.Type == AuditLocked && !a.firstLock(e.PhoneKey, e.Time) {
		return
	}
	select {
	case a.ch <- e:
	case <-a.done:
	}
}

func (a *AuditLog) firstLock(key string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if last, ok := a.locked[key]; ok && now.Sub(last) < time.Minute && now.After(last.Add(-time.Minute)) {
		return false
	}
	if len(a.locked) >= 10000 {
		clear(a.locked)
	}
	a.locked[key] = now
	return true
}

// Flush returns once every event queued before it is stored (or failed).
func (a *AuditLog) Flush() {
	if a.opts.Store == nil {
		return
	}
	c := make(chan struct{})
	select {
	case a.flush <- c:
		<-c
	case <-a.done:
	}
}

// Close stores what is queued and stops the background writer.
func (a *AuditLog) Close() error {
	a.once.Do(func() {
		if a.opts.Store != nil {
			// Not close(a.ch): a handler still running after a timed-out
			// shutdown may send, and a send on a closed channel panics.
			// Its event is then lost instead.
			close(a.stop)
			<-a.done
		}
	})
	return nil
}

func (a *AuditLog) run() {
	defer close(a.done)
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	a.prune()
	var batch []AuditEvent
	write := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := a.opts.Store.AppendAudit(ctx, batch)
		cancel()
		if err != nil && a.opts.Errors != nil {
			a.opts.Errors(err)
		}
		batch = batch[:0]
	}
	drain := func() {
		for len(a.ch) > 0 {
			batch = append(batch, <-a.ch)
		}
		write()
	}
	for {
		select {
		case e := <-a.ch:
			batch = append(batch, e)
			// Take what else is queued: one write for a burst.
			for len(batch) < 512 && len(a.ch) > 0 {
				batch = append(batch, <-a.ch)
			}
			write()
		case c := <-a.flush:
			drain()
			close(c)
		case <-a.stop:
			drain()
			return
		case <-prune.C:
			a.prune()
		}
	}
}

func (a *AuditLog) prune() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := a.opts.Store.DeleteAuditBefore(ctx, a.opts.Now().Add(-a.opts.Retention)); err != nil && a.opts.Errors != nil {
		a.opts.Errors(err)
	}
}

// Events returns the stored events of a phone key of the last days days
// (the retention when days is 0 or more than it).
func (a *AuditLog) Events(ctx context.Context, phoneKey string, days int) ([]AuditEvent, error) {
	if a.opts.Store == nil {
		return nil, E("core.AuditLog.Events", Unavailable, "no audit store")
	}
	a.Flush()
	span := a.opts.Retention
	if d := time.Duration(days) * 24 * time.Hour; days > 0 && d < span {
		span = d
	}
	return a.opts.Store.AuditEvents(ctx, phoneKey, a.opts.Now().Add(-span))
}

func (e *AuditEvent) attrs() []slog.Attr {
	at := []slog.Attr{slog.Bool("audit", true), slog.Time("at", e.Time), slog.String("event", string(e.Type)), slog.String("outcome", e.Outcome)}
	add := func(k, v string) {
		if v != "" {
			at = append(at, slog.String(k, v))
		}
	}
	add("dialect", e.Dialect)
	add("phone", e.Phone)
	add("phone_key", e.PhoneKey)
	add("user_id", e.UserID)
	add("address", e.Address)
	add("device", e.Device)
	add("action", e.Action)
	add("detail", e.Detail)
	return at
}

// PhoneKey is the keyed hash audit events carry instead of the phone:
// HMAC-SHA256 with the gateway's secret, in hex. Without the secret it
// cannot be reversed by trying every phone number.
func (s *Service) PhoneKey(phone string) string {
	m := hmac.New(sha256.New, s.cfg.Secret)
	m.Write([]byte("audit-phone|"))
	m.Write([]byte(phone))
	return hex.EncodeToString(m.Sum(nil))
}

type auditActorKey struct{}

// WithAuditActor marks a context as an operator's (actor "admin-api" or
// "cli"): the events it causes carry it as their dialect.
func WithAuditActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, auditActorKey{}, actor)
}

// audit emits one event, filling in what the context and the phone tell.
func (s *Service) audit(ctx context.Context, e AuditEvent, phone string) {
	if s.cfg.Audit == nil || isShadow(ctx) {
		return
	}
	e.Time = s.cfg.Now()
	if e.Dialect == "" {
		e.Dialect = ClientDialect(ctx)
		if a, ok := ctx.Value(auditActorKey{}).(string); ok {
			e.Dialect = a
		}
	}
	if e.Address == "" {
		e.Address = ClientIP(ctx)
	}
	if phone != "" {
		e.Phone, e.PhoneKey = MaskPhone(phone), s.PhoneKey(phone)
	}
	s.cfg.Audit.Audit(ctx, e)
}

// auditOutcome is AuditOK for nil, the error's kind otherwise.
func auditOutcome(err error) string {
	if err == nil {
		return AuditOK
	}
	return KindOf(err).String()
}

// MaskAddress hides the host part of a client address for display: the
// last octet of IPv4, all but the /48 of IPv6. Anything else is kept
// short.
func MaskAddress(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		if len(addr) > 4 {
			return addr[:2] + "…"
		}
		return addr
	}
	a = a.Unmap()
	if a.Is4() {
		p, _ := a.Prefix(24)
		b := p.Addr().As4()
		return netip.AddrFrom4(b).String()[:len(netip.AddrFrom4(b).String())-1] + "x"
	}
	p, _ := a.Prefix(48)
	return p.String()
}

// auditLogin records a login's outcome: a refusal by a lock as "locked";
// malformed requests are not security events.
func (s *Service) auditLogin(ctx context.Context, phone, device string, res *LoginResult, err error) {
	e := AuditEvent{Type: AuditLogin, Outcome: auditOutcome(err), Device: device}
	switch KindOf(err) {
	case Invalid:
		return
	case RateLimited:
		e.Type, e.Detail = AuditLocked, limitName(err)
	}
	if res != nil {
		e.UserID = res.User.ID
	}
	s.audit(ctx, e, phone)
}

// auditReset records a password reset's outcome (the reset revokes every
// session); malformed requests are not security events.
func (s *Service) auditReset(ctx context.Context, phone, userID string, err error) {
	e := AuditEvent{Type: AuditPasswordReset, Outcome: auditOutcome(err), UserID: userID}
	switch KindOf(err) {
	case Invalid:
		return
	case RateLimited:
		e.Type, e.Detail = AuditLocked, limitName(err)
	}
	s.audit(ctx, e, phone)
}
