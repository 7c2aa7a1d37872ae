package tracing

import (
	"context"
	"io"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"legacyauth/core"
)

// storeSpans starts and ends the spans of one store's calls.
type storeSpans struct {
	t    *Tracer
	name string // memdb, postgres, redis
}

// start begins a call's span under the request's; nil outside a request.
func (s storeSpans) start(ctx context.Context, method string) (context.Context, trace.Span) {
	return s.t.child(ctx, "store "+method, trace.SpanKindClient, AttrStore.String(s.name), AttrStoreMethod.String(method))
}

// end ends a call's span; deferred with a pointer to the method's named
// error result. The error's core kind is recorded, never its message
// (which may name what was looked up); only unavailable and internal
// mark the span as failed: not_registered and the like are answers.
func end(span trace.Span, err *error) {
	if span == nil {
		return
	}
	if *err != nil {
		kind := core.KindOf(*err).String()
		span.SetAttributes(AttrErrorType.String(kind))
		if failure(kind) {
			span.SetStatus(codes.Error, kind)
		}
	}
	span.End()
}

// Store wraps a durable store so that each call under a request is a
// child span, under store=name ("memdb", "postgres"). With t nil, s
// itself.
func (t *Tracer) Store(name string, s core.Store) core.Store {
	if t == nil {
		return s
	}
	return &store{Store: s, sp: storeSpans{t, name}}
}

// EphemeralStore wraps an ephemeral store likewise ("memdb", "postgres",
// "redis").
func (t *Tracer) EphemeralStore(name string, s core.EphemeralStore) core.EphemeralStore {
	if t == nil {
		return s
	}
	return &ephemeral{EphemeralStore: s, sp: storeSpans{t, name}}
}

// store spans each method of core.Store. It embeds the store so that it
// compiles while a method is being added to the interface elsewhere;
// TestEveryStoreMethodIsSpanned fails until the new method is spanned here.
type store struct {
	core.Store
	sp storeSpans
}

func (s *store) CreateUser(ctx context.Context, u *core.User, sess *core.Session) (err error) {
	ctx, span := s.sp.start(ctx, "CreateUser")
	defer end(span, &err)
	return s.Store.CreateUser(ctx, u, sess)
}

func (s *store) UserByPhone(ctx context.Context, phone string) (_ *core.User, err error) {
	ctx, span := s.sp.start(ctx, "UserByPhone")
	defer end(span, &err)
	return s.Store.UserByPhone(ctx, phone)
}

func (s *store) UserByID(ctx context.Context, id string) (_ *core.User, err error) {
	ctx, span := s.sp.start(ctx, "UserByID")
	defer end(span, &err)
	return s.Store.UserByID(ctx, id)
}

func (s *store) RecordLogin(ctx context.Context, userID, checkedHash, deviceID, newHash string, sess *core.Session) (err error) {
	ctx, span := s.sp.start(ctx, "RecordLogin")
	defer end(span, &err)
	return s.Store.RecordLogin(ctx, userID, checkedHash, deviceID, newHash, sess)
}

func (s *store) SetPassword(ctx context.Context, userID, hash string, now time.Time) (err error) {
	ctx, span := s.sp.start(ctx, "SetPassword")
	defer end(span, &err)
	return s.Store.SetPassword(ctx, userID, hash, now)
}

func (s *store) Session(ctx context.Context, tokenHash [32]byte, now time.Time) (_ *core.Session, _ *core.User, err error) {
	ctx, span := s.sp.start(ctx, "Session")
	defer end(span, &err)
	return s.Store.Session(ctx, tokenHash, now)
}

func (s *store) DeleteSession(ctx context.Context, tokenHash [32]byte) (err error) {
	ctx, span := s.sp.start(ctx, "DeleteSession")
	defer end(span, &err)
	return s.Store.DeleteSession(ctx, tokenHash)
}

func (s *store) PutAvatar(ctx context.Context, name, contentType string, data []byte) (err error) {
	ctx, span := s.sp.start(ctx, "PutAvatar")
	defer end(span, &err)
	return s.Store.PutAvatar(ctx, name, contentType, data)
}

// Avatar spans opening the image, not reading it.
func (s *store) Avatar(ctx context.Context, name string) (_ string, _ io.ReadCloser, err error) {
	ctx, span := s.sp.start(ctx, "Avatar")
	defer end(span, &err)
	return s.Store.Avatar(ctx, name)
}

func (s *store) TouchAvatar(ctx context.Context, name string, now time.Time) (err error) {
	ctx, span := s.sp.start(ctx, "TouchAvatar")
	defer end(span, &err)
	return s.Store.TouchAvatar(ctx, name, now)
}

func (s *store) DeleteUnusedAvatars(ctx context.Context, before time.Time) (_ int, err error) {
	ctx, span := s.sp.start(ctx, "DeleteUnusedAvatars")
	defer end(span, &err)
	return s.Store.DeleteUnusedAvatars(ctx, before)
}

func (s *store) Ping(ctx context.Context) (err error) {
	ctx, span := s.sp.start(ctx, "Ping")
	defer end(span, &err)
	return s.Store.Ping(ctx)
}

func (s *store) CountSessions(ctx context.Context, userID string, now time.Time) (_ int, err error) {
	ctx, span := s.sp.start(ctx, "CountSessions")
	defer end(span, &err)
	return s.Store.CountSessions(ctx, userID, now)
}

func (s *store) RevokeSessions(ctx context.Context, userID string) (_ int, err error) {
	ctx, span := s.sp.start(ctx, "RevokeSessions")
	defer end(span, &err)
	return s.Store.RevokeSessions(ctx, userID)
}

func (s *store) DeleteUser(ctx context.Context, userID string) (_ *core.User, err error) {
	ctx, span := s.sp.start(ctx, "DeleteUser")
	defer end(span, &err)
	return s.Store.DeleteUser(ctx, userID)
}

func (s *store) DeleteAvatar(ctx context.Context, name string) (_ bool, err error) {
	ctx, span := s.sp.start(ctx, "DeleteAvatar")
	defer end(span, &err)
	return s.Store.DeleteAvatar(ctx, name)
}

// Close has no context, so no parent: it is never spanned, but named
// here so that the test finds every method.
func (s *store) Close() error { return s.Store.Close() }

// ephemeral spans each method of core.EphemeralStore, as store does.
type ephemeral struct {
	core.EphemeralStore
	sp storeSpans
}

func (e *ephemeral) PutCode(ctx context.Context, c *core.Code) (err error) {
	ctx, span := e.sp.start(ctx, "PutCode")
	defer end(span, &err)
	return e.EphemeralStore.PutCode(ctx, c)
}

func (e *ephemeral) CheckCode(ctx context.Context, phone string, macs [][32]byte, now time.Time, maxAttempts int) (_ core.CodeCheck, err error) {
	ctx, span := e.sp.start(ctx, "CheckCode")
	defer end(span, &err)
	return e.EphemeralStore.CheckCode(ctx, phone, macs, now, maxAttempts)
}

func (e *ephemeral) PutTicket(ctx context.Context, t *core.Ticket) (err error) {
	ctx, span := e.sp.start(ctx, "PutTicket")
	defer end(span, &err)
	return e.EphemeralStore.PutTicket(ctx, t)
}

func (e *ephemeral) TakeTicket(ctx context.Context, phone string, purpose core.Purpose, hash *[32]byte, now time.Time) (err error) {
	ctx, span := e.sp.start(ctx, "TakeTicket")
	defer end(span, &err)
	return e.EphemeralStore.TakeTicket(ctx, phone, purpose, hash, now)
}

func (e *ephemeral) PutFlow(ctx context.Context, f *core.Flow) (err error) {
	ctx, span := e.sp.start(ctx, "PutFlow")
	defer end(span, &err)
	return e.EphemeralStore.PutFlow(ctx, f)
}

func (e *ephemeral) Flow(ctx context.Context, id string, now time.Time) (_ *core.Flow, err error) {
	ctx, span := e.sp.start(ctx, "Flow")
	defer end(span, &err)
	return e.EphemeralStore.Flow(ctx, id, now)
}

func (e *ephemeral) DeleteFlow(ctx context.Context, id string) (err error) {
	ctx, span := e.sp.start(ctx, "DeleteFlow")
	defer end(span, &err)
	return e.EphemeralStore.DeleteFlow(ctx, id)
}

func (e *ephemeral) DeletePhone(ctx context.Context, phone string) (err error) {
	ctx, span := e.sp.start(ctx, "DeletePhone")
	defer end(span, &err)
	return e.EphemeralStore.DeletePhone(ctx, phone)
}
