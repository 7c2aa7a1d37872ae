// Package tracing is the gateway's OpenTelemetry instrumentation: one
// server span per request, and child spans for store calls, password
// hashing and SMS provider attempts. It uses the OpenTelemetry API only;
// the SDK and its exporter are set up by cmd/gateway (from the OTEL_*
// environment), which hands a TracerProvider to New.
//
// Like gateway/metrics, it hooks into what exists instead of being called
// from the code it measures: the gateway's Options.Trace, wrappers around
// core.Store and core.EphemeralStore, core.Config.TraceHash and
// smsfailover.Options.Trace. A nil *Tracer (tracing off) returns nil hooks
// and unwrapped stores, so tracing off costs the request path nothing.
//
// Child spans are made only under a recording span (a request's): a store
// call or a hash outside a request (a readiness ping, an import, a shadow
// replay) starts no trace of its own.
//
// No attribute carries a phone, an address, a password, a code or a
// token: dialects, operations, outcomes, store methods and provider names
// are names from the code, and the request id is the gateway's own token.
package tracing

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"legacyauth/core"
	"legacyauth/gateway"
)

// ScopeName is the instrumentation scope of every span this package makes.
const ScopeName = "legacyauth/gateway"

// Attribute keys. The gateway's own are under "gateway."; the rest follow
// the OpenTelemetry semantic conventions.
const (
	AttrDialect     = attribute.Key("gateway.dialect")
	AttrOp          = attribute.Key("gateway.op")
	AttrOutcome     = attribute.Key("gateway.outcome")
	AttrBackend     = attribute.Key("gateway.backend")
	AttrRequestID   = attribute.Key("gateway.request_id")
	AttrStore       = attribute.Key("db.system.name")
	AttrStoreMethod = attribute.Key("db.operation.name")
	AttrErrorType   = attribute.Key("error.type")
	AttrHashOp      = attribute.Key("gateway.hash.op")
	AttrSMSProvider = attribute.Key("gateway.sms.provider")
	AttrSMSOutcome  = attribute.Key("gateway.sms.outcome")
	AttrHTTPMethod  = attribute.Key("http.request.method")
	AttrHTTPStatus  = attribute.Key("http.response.status_code")
)

// Tracer makes the gateway's spans. A nil *Tracer is tracing off.
type Tracer struct {
	t trace.Tracer
}

// New returns a Tracer over tp; nil when tp is nil (tracing off).
func New(tp trace.TracerProvider) *Tracer {
	if tp == nil {
		return nil
	}
	return &Tracer{t: tp.Tracer(ScopeName)}
}

// RequestHook is the gateway.Options.Trace hook; nil when t is nil.
func (t *Tracer) RequestHook() func(ctx context.Context, r *http.Request) (context.Context, func(info *gateway.Info, status int)) {
	if t == nil {
		return nil
	}
	return t.request
}

// incoming reads a traceparent a client sent.
var incoming = propagation.TraceContext{}

// request starts a request's server span. A trace starts at the gateway:
// its public clients are apps and the internet, so a traceparent they
// send is kept as a link, not trusted as the parent (it could force
// sampling, or graft requests onto someone else's trace).
func (t *Tracer) request(ctx context.Context, r *http.Request) (context.Context, func(*gateway.Info, int)) {
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithNewRoot(),
		trace.WithAttributes(AttrHTTPMethod.String(httpMethod(r.Method))),
	}
	if _, ok := r.Header["Traceparent"]; ok {
		if sc := trace.SpanContextFromContext(incoming.Extract(ctx, propagation.HeaderCarrier(r.Header))); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	}
	ctx, span := t.t.Start(ctx, "request", opts...)
	if !span.IsRecording() { // sampled out: name and attributes go nowhere
		return ctx, func(*gateway.Info, int) { span.End() }
	}
	return ctx, func(info *gateway.Info, status int) {
		dialect, op, outcome := orNone(info.Dialect), orNone(info.Op), info.Outcome
		if outcome == "" {
			outcome = "unknown"
		}
		span.SetName(dialect + " " + op)
		attrs := []attribute.KeyValue{
			AttrDialect.String(dialect), AttrOp.String(op), AttrOutcome.String(outcome),
			AttrHTTPStatus.Int(status), AttrRequestID.String(info.RequestID),
		}
		if info.Backend != "" {
			attrs = append(attrs, AttrBackend.String(info.Backend))
		}
		span.SetAttributes(attrs...)
		if status >= 500 || failure(outcome) {
			span.SetStatus(codes.Error, outcome)
		}
		span.End()
	}
}

// httpMethod is the method as the conventions want it: a known one, or
// "_OTHER" (a client's made-up method is not an attribute value).
func httpMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// failure reports whether an outcome is the gateway's failure rather than
// an answer (a wrong password is an answer).
func failure(outcome string) bool {
	return outcome == core.Unavailable.String() || outcome == core.Internal.String()
}

// child starts a span under ctx's span when that one is recording; nil
// otherwise.
func (t *Tracer) child(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	return t.t.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// HashHook is the core.Config.TraceHash hook; nil when t is nil.
func (t *Tracer) HashHook() func(ctx context.Context, op string) func() {
	if t == nil {
		return nil
	}
	return t.hash
}

func noEnd() {}

// hash spans one password hash or check, the wait for a hashing slot
// included (that wait is the capacity limit showing).
func (t *Tracer) hash(ctx context.Context, op string) func() {
	_, span := t.child(ctx, "password "+op, trace.SpanKindInternal, AttrHashOp.String(op))
	if span == nil {
		return noEnd
	}
	return func() { span.End() }
}

// SMSHook is the smsfailover.Options.Trace hook; nil when t is nil.
func (t *Tracer) SMSHook() func(ctx context.Context, provider string) (context.Context, func(outcome string)) {
	if t == nil {
		return nil
	}
	return t.smsAttempt
}

func noOutcome(string) {}

// smsAttempt spans one provider's attempt at a send. Neither the phone
// nor the code is recorded.
func (t *Tracer) smsAttempt(ctx context.Context, provider string) (context.Context, func(string)) {
	ctx, span := t.child(ctx, "sms "+provider, trace.SpanKindClient, AttrSMSProvider.String(provider))
	if span == nil {
		return ctx, noOutcome
	}
	return ctx, func(outcome string) {
		span.SetAttributes(AttrSMSOutcome.String(outcome))
		if outcome == "failed" {
			span.SetStatus(codes.Error, outcome)
		}
		span.End()
	}
}
