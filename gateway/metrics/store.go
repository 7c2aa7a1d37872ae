package metrics

import (
	"context"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"legacyauth/core"
)

// storeObserver records one store's calls: their time by method and their
// errors by method and core kind.
type storeObserver struct {
	name   string
	m      *Metrics
	timers map[string]prometheus.Observer // by method, made once
}

func (m *Metrics) storeObserver(name string, methods ...string) *storeObserver {
	o := &storeObserver{name: name, m: m, timers: map[string]prometheus.Observer{}}
	for _, method := range methods {
		o.timers[method] = m.storeTime.WithLabelValues(name, method)
	}
	return o
}

// done records a call that started at start; deferred with a pointer to
// the method's named error result.
func (o *storeObserver) done(method string, start time.Time, err *error) {
	o.timers[method].Observe(time.Since(start).Seconds())
	if *err != nil {
		o.m.storeErrs.WithLabelValues(o.name, method, core.KindOf(*err).String()).Inc()
	}
}

// Store wraps a durable store so that every call's time and error kind are
// recorded under store=name ("memdb", "postgres").
func (m *Metrics) Store(name string, s core.Store) core.Store {
	return &store{s: s, o: m.storeObserver(name, "CreateUser", "UserByPhone", "UserByID", "RecordLogin",
		"SetPassword", "Session", "DeleteSession", "PutAvatar", "Avatar", "TouchAvatar", "DeleteUnusedAvatars", "Ping", "Close",
		"CountSessions", "RevokeSessions", "DeleteUser", "DeleteAvatar")}
}

// EphemeralStore wraps an ephemeral store likewise ("memdb", "postgres",
// "redis").
func (m *Metrics) EphemeralStore(name string, s core.EphemeralStore) core.EphemeralStore {
	return &ephemeral{s: s, codes: m.codes, o: m.storeObserver(name, "PutCode", "CheckCode", "PutTicket", "TakeTicket",
		"PutFlow", "Flow", "DeleteFlow", "DeletePhone")}
}

// store names every method (no embedding): a method added to core.Store
// fails to compile here instead of going unmeasured.
type store struct {
	s core.Store
	o *storeObserver
}

var _ core.Store = (*store)(nil)

func (s *store) CreateUser(ctx context.Context, u *core.User, sess *core.Session) (err error) {
	defer s.o.done("CreateUser", time.Now(), &err)
	return s.s.CreateUser(ctx, u, sess)
}

func (s *store) UserByPhone(ctx context.Context, phone string) (_ *core.User, err error) {
	defer s.o.done("UserByPhone", time.Now(), &err)
	return s.s.UserByPhone(ctx, phone)
}

func (s *store) UserByID(ctx context.Context, id string) (_ *core.User, err error) {
	defer s.o.done("UserByID", time.Now(), &err)
	return s.s.UserByID(ctx, id)
}

func (s *store) RecordLogin(ctx context.Context, userID, checkedHash, deviceID, newHash string, sess *core.Session) (err error) {
	defer s.o.done("RecordLogin", time.Now(), &err)
	return s.s.RecordLogin(ctx, userID, checkedHash, deviceID, newHash, sess)
}

func (s *store) SetPassword(ctx context.Context, userID, hash string, now time.Time) (err error) {
	defer s.o.done("SetPassword", time.Now(), &err)
	return s.s.SetPassword(ctx, userID, hash, now)
}

func (s *store) Session(ctx context.Context, tokenHash [32]byte, now time.Time) (_ *core.Session, _ *core.User, err error) {
	defer s.o.done("Session", time.Now(), &err)
	return s.s.Session(ctx, tokenHash, now)
}

func (s *store) DeleteSession(ctx context.Context, tokenHash [32]byte) (err error) {
	defer s.o.done("DeleteSession", time.Now(), &err)
	return s.s.DeleteSession(ctx, tokenHash)
}

func (s *store) PutAvatar(ctx context.Context, name, contentType string, data []byte) (err error) {
	defer s.o.done("PutAvatar", time.Now(), &err)
	return s.s.PutAvatar(ctx, name, contentType, data)
}

// Avatar times opening the image, not reading it.
func (s *store) Avatar(ctx context.Context, name string) (_ string, _ io.ReadCloser, err error) {
	defer s.o.done("Avatar", time.Now(), &err)
	return s.s.Avatar(ctx, name)
}

func (s *store) TouchAvatar(ctx context.Context, name string, now time.Time) (err error) {
	defer s.o.done("TouchAvatar", time.Now(), &err)
	return s.s.TouchAvatar(ctx, name, now)
}

func (s *store) DeleteUnusedAvatars(ctx context.Context, before time.Time) (_ int, err error) {
	defer s.o.done("DeleteUnusedAvatars", time.Now(), &err)
	return s.s.DeleteUnusedAvatars(ctx, before)
}

func (s *store) Ping(ctx context.Context) (err error) {
	defer s.o.done("Ping", time.Now(), &err)
	return s.s.Ping(ctx)
}

func (s *store) Close() (err error) {
	defer s.o.done("Close", time.Now(), &err)
	return s.s.Close()
}

type ephemeral struct {
	s     core.EphemeralStore
	o     *storeObserver
	codes *prometheus.CounterVec // gateway_sms_codes_total, by the request's dialect
}

var _ core.EphemeralStore = (*ephemeral)(nil)

func (e *ephemeral) PutCode(ctx context.Context, c *core.Code) (err error) {
	defer e.o.done("PutCode", time.Now(), &err)
	if err = e.s.PutCode(ctx, c); err == nil {
		e.codes.WithLabelValues(core.ClientDialect(ctx), "issued").Inc()
	}
	return err
}

func (e *ephemeral) CheckCode(ctx context.Context, phone string, macs [][32]byte, now time.Time, maxAttempts int) (_ core.CodeCheck, err error) {
	defer e.o.done("CheckCode", time.Now(), &err)
	res, err := e.s.CheckCode(ctx, phone, macs, now, maxAttempts)
	if err == nil && res == core.CodeMatched {
		e.codes.WithLabelValues(core.ClientDialect(ctx), "verified").Inc()
	}
	return res, err
}

func (e *ephemeral) PutTicket(ctx context.Context, t *core.Ticket) (err error) {
	defer e.o.done("PutTicket", time.Now(), &err)
	return e.s.PutTicket(ctx, t)
}

func (e *ephemeral) TakeTicket(ctx context.Context, phone string, purpose core.Purpose, hash *[32]byte, now time.Time) (err error) {
	defer e.o.done("TakeTicket", time.Now(), &err)
	return e.s.TakeTicket(ctx, phone, purpose, hash, now)
}

func (e *ephemeral) PutFlow(ctx context.Context, f *core.Flow) (err error) {
	defer e.o.done("PutFlow", time.Now(), &err)
	return e.s.PutFlow(ctx, f)
}

func (e *ephemeral) Flow(ctx context.Context, id string, now time.Time) (_ *core.Flow, err error) {
	defer e.o.done("Flow", time.Now(), &err)
	return e.s.Flow(ctx, id, now)
}

func (e *ephemeral) DeleteFlow(ctx context.Context, id string) (err error) {
	defer e.o.done("DeleteFlow", time.Now(), &err)
	return e.s.DeleteFlow(ctx, id)
}

func (s *store) CountSessions(ctx context.Context, userID string, now time.Time) (_ int, err error) {
	defer s.o.done("CountSessions", time.Now(), &err)
	return s.s.CountSessions(ctx, userID, now)
}

func (s *store) RevokeSessions(ctx context.Context, userID string) (_ int, err error) {
	defer s.o.done("RevokeSessions", time.Now(), &err)
	return s.s.RevokeSessions(ctx, userID)
}

func (s *store) DeleteUser(ctx context.Context, userID string) (_ *core.User, err error) {
	defer s.o.done("DeleteUser", time.Now(), &err)
	return s.s.DeleteUser(ctx, userID)
}

func (s *store) DeleteAvatar(ctx context.Context, name string) (_ bool, err error) {
	defer s.o.done("DeleteAvatar", time.Now(), &err)
	return s.s.DeleteAvatar(ctx, name)
}

func (e *ephemeral) DeletePhone(ctx context.Context, phone string) (err error) {
	defer e.o.done("DeletePhone", time.Now(), &err)
	return e.s.DeletePhone(ctx, phone)
}
