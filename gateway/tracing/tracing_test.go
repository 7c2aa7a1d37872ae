package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"legacyauth/core"
	"legacyauth/gateway"
)

func newTracer(t *testing.T) (*Tracer, *tracetest.InMemoryExporter, trace.Tracer) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return New(tp), exp, tp.Tracer("test")
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

func byName(spans tracetest.SpanStubs, name string) (tracetest.SpanStub, bool) {
	for _, s := range spans {
		if s.Name == name {
			return s, true
		}
	}
	return tracetest.SpanStub{}, false
}

func TestNilTracerIsOff(t *testing.T) {
	var tr *Tracer
	if New(nil) != nil || tr.RequestHook() != nil || tr.HashHook() != nil || tr.SMSHook() != nil {
		t.Fatal("a nil provider must give a nil tracer and nil hooks")
	}
	var s core.Store = struct{ core.Store }{}
	if tr.Store("memdb", s) != s {
		t.Fatal("a nil tracer must not wrap a store")
	}
}

// Every method of core.Store and core.EphemeralStore that takes a context
// makes a span under the request's; a method added to the interfaces
// without its span here fails this test.
func TestEveryStoreMethodIsSpanned(t *testing.T) {
	tr, exp, test := newTracer(t)
	for _, c := range []struct {
		iface   reflect.Type
		wrapped any
	}{
		{reflect.TypeFor[core.Store](), tr.Store("memdb", struct{ core.Store }{})},
		{reflect.TypeFor[core.EphemeralStore](), tr.EphemeralStore("redis", struct{ core.EphemeralStore }{})},
	} {
		v := reflect.ValueOf(c.wrapped)
		for i := range c.iface.NumMethod() {
			m := c.iface.Method(i)
			if m.Type.NumIn() == 0 || m.Type.In(0) != reflect.TypeFor[context.Context]() {
				continue // Close: no context, no parent
			}
			exp.Reset()
			ctx, root := test.Start(context.Background(), "request")
			args := []reflect.Value{reflect.ValueOf(ctx)}
			for j := 1; j < m.Type.NumIn(); j++ {
				args = append(args, reflect.Zero(m.Type.In(j)))
			}
			func() {
				defer func() { _ = recover() }() // the inner store is nil: the call panics after the span starts
				v.MethodByName(m.Name).Call(args)
			}()
			root.End()
			s, ok := byName(exp.GetSpans(), "store "+m.Name)
			if !ok {
				t.Errorf("%s.%s made no span", c.iface.Name(), m.Name)
				continue
			}
			if s.Parent.SpanID() != root.SpanContext().SpanID() {
				t.Errorf("%s's span is not a child of the request's", m.Name)
			}
			if a := attrs(s); a[AttrStoreMethod].AsString() != m.Name {
				t.Errorf("%s's span has method %q", m.Name, a[AttrStoreMethod].AsString())
			}
		}
	}
}

type failingStore struct {
	core.Store
	err error
}

func (f failingStore) UserByPhone(context.Context, string) (*core.User, error) { return nil, f.err }

func TestStoreSpanRecordsKindNotMessage(t *testing.T) {
	tr, exp, test := newTracer(t)
	for _, c := range []struct {
		kind   core.Kind
		failed bool
	}{{core.NotRegistered, false}, {core.Unavailable, true}} {
		exp.Reset()
		ctx, root := test.Start(context.Background(), "request")
		_, _ = tr.Store("postgres", failingStore{err: core.E("test", c.kind, "phone +8613800001234")}).UserByPhone(ctx, "+8613800001234")
		root.End()
		s, ok := byName(exp.GetSpans(), "store UserByPhone")
		if !ok {
			t.Fatal("no span")
		}
		if got := attrs(s)[AttrErrorType].AsString(); got != c.kind.String() {
			t.Errorf("error.type %q, want %q", got, c.kind)
		}
		if (s.Status.Code == codes.Error) != c.failed {
			t.Errorf("%s: status %v", c.kind, s.Status)
		}
		for _, kv := range s.Attributes {
			if kv.Value.Emit() == "+8613800001234" || s.Status.Description != "" && s.Status.Description != c.kind.String() {
				t.Errorf("the span carries the phone or the error message: %v %v", kv, s.Status)
			}
		}
	}
}

func TestNoSpanWithoutARequest(t *testing.T) {
	tr, exp, _ := newTracer(t)
	_, _ = tr.Store("memdb", failingStore{err: core.E("test", core.NotRegistered, "x")}).UserByPhone(context.Background(), "+8613800001234")
	tr.HashHook()(context.Background(), "verify")()
	_, done := tr.SMSHook()(context.Background(), "aliyun")
	done("sent")
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans without a request span: %v", n, exp.GetSpans())
	}
}

func TestRequestSpan(t *testing.T) {
	tr, exp, _ := newTracer(t)
	r := httptest.NewRequest("PUT", "/app/login", nil)
	r.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	ctx, done := tr.RequestHook()(r.Context(), r)
	tr.HashHook()(ctx, "verify")()
	_, smsDone := tr.SMSHook()(ctx, "aliyun")
	smsDone("failed")
	done(&gateway.Info{Dialect: "caraccessories", Op: "login", Outcome: "wrong_password", RequestID: "abc", Phone: "+8613800001234", ClientIP: "192.0.2.1"}, http.StatusOK)

	spans := exp.GetSpans()
	req, ok := byName(spans, "caraccessories login")
	if !ok {
		t.Fatalf("no request span named after its dialect and operation: %v", spans)
	}
	a := attrs(req)
	for k, want := range map[attribute.Key]string{AttrDialect: "caraccessories", AttrOp: "login", AttrOutcome: "wrong_password", AttrRequestID: "abc", AttrHTTPMethod: "PUT"} {
		if a[k].AsString() != want {
			t.Errorf("%s = %q, want %q", k, a[k].AsString(), want)
		}
	}
	if a[AttrHTTPStatus].AsInt64() != 200 || req.SpanKind != trace.SpanKindServer || req.Status.Code == codes.Error {
		t.Errorf("status attribute %v, kind %v, span status %v", a[AttrHTTPStatus], req.SpanKind, req.Status)
	}
	// The client's traceparent is a link, not the parent.
	if req.Parent.IsValid() || req.SpanContext.TraceID().String() == "0af7651916cd43dd8448eb211c80319c" {
		t.Error("the request span continues the client's trace")
	}
	if len(req.Links) != 1 || req.Links[0].SpanContext.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("links %v, want the client's span", req.Links)
	}
	for _, s := range spans {
		for _, kv := range s.Attributes {
			if v := kv.Value.Emit(); v == "+8613800001234" || v == "192.0.2.1" {
				t.Errorf("span %s carries %s=%s", s.Name, kv.Key, v)
			}
		}
	}
	hash, ok := byName(spans, "password verify")
	if !ok || hash.Parent.SpanID() != req.SpanContext.SpanID() {
		t.Errorf("no hashing span under the request: %v", spans)
	}
	sms, ok := byName(spans, "sms aliyun")
	if !ok || sms.Parent.SpanID() != req.SpanContext.SpanID() || attrs(sms)[AttrSMSOutcome].AsString() != "failed" || sms.Status.Code != codes.Error {
		t.Errorf("sms span %+v", sms)
	}
}

func TestRequestSpanFailure(t *testing.T) {
	tr, exp, _ := newTracer(t)
	r := httptest.NewRequest("BREW", "/nowhere", nil)
	_, done := tr.RequestHook()(r.Context(), r)
	done(&gateway.Info{Outcome: "unavailable"}, http.StatusOK)
	s, ok := byName(exp.GetSpans(), "none none")
	if !ok {
		t.Fatalf("spans %v", exp.GetSpans())
	}
	if s.Status.Code != codes.Error || attrs(s)[AttrHTTPMethod].AsString() != "_OTHER" {
		t.Errorf("status %v, method %v", s.Status, attrs(s)[AttrHTTPMethod])
	}
}
