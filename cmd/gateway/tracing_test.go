package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"legacyauth/core"
	"legacyauth/internal/oldserver"
	"legacyauth/internal/testkit"
)

func TestTracingWanted(t *testing.T) {
	for _, c := range []struct {
		env     map[string]string
		on, bad bool
	}{
		{env: nil},
		{env: map[string]string{"OTEL_SERVICE_NAME": "x"}},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, on: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, bad: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, bad: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, on: true},
	} {
		on, err := tracingWanted(func(k string) string { return c.env[k] })
		if on != c.on || (err != nil) != c.bad {
			t.Errorf("%v: on %v, err %v; want on %v, error %v", c.env, on, err, c.on, c.bad)
		}
	}
	if tp, stop, err := startTracing(context.Background(), func(string) string { return "" }, slog.New(slog.DiscardHandler)); tp != nil || err != nil {
		t.Errorf("startTracing without settings: %v, %v; want off", tp, err)
	} else {
		stop(context.Background())
	}
}

func TestRedactURL(t *testing.T) {
	if got := redactURL("https://user:secret@collector:4318/v1/traces"); got != "https://xxxxx@collector:4318/v1/traces" {
		t.Errorf("redactURL = %q", got)
	}
}

// startTracedGateway is startGateway with spans recorded in memory, and
// the configured SMS providers (the log one by default) rather than a
// recorder, so that provider attempts are traced.
func startTracedGateway(t *testing.T, args ...string) (*testGateway, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	cfg, err := parseConfig(append([]string{"--data-dir", t.TempDir()}, args...), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	tg := &testGateway{Clock: testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), Log: &testkit.Buffer{}}
	a, err := build(cfg, slog.New(slog.NewJSONHandler(tg.Log, nil)), overrides{Now: tg.Clock.Now, Hash: testkit.FastHash, Tracing: tp})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	tg.app, tg.URL = a, srv.URL
	return tg, exp
}

func post(t *testing.T, url, body string, header ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// spanTree renders spans as an indented tree, children in start order.
func spanTree(spans tracetest.SpanStubs) string {
	slices.SortFunc(spans, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
	var b strings.Builder
	var walk func(parent trace.SpanID, depth int)
	walk = func(parent trace.SpanID, depth int) {
		for _, s := range spans {
			if s.Parent.SpanID() == parent {
				b.WriteString(strings.Repeat("  ", depth) + s.Name)
				for _, kv := range s.Attributes {
					b.WriteString(" " + string(kv.Key) + "=" + kv.Value.Emit())
				}
				b.WriteString("\n")
				walk(s.SpanContext.SpanID(), depth+1)
			}
		}
	}
	walk(trace.SpanID{}, 0)
	return b.String()
}

// children are the names of the spans whose parent is span, in start
// order.
func children(spans tracetest.SpanStubs, span tracetest.SpanStub) []string {
	slices.SortFunc(spans, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
	var names []string
	for _, s := range spans {
		if s.Parent.SpanID() == span.SpanContext.SpanID() {
			if s.SpanContext.TraceID() != span.SpanContext.TraceID() {
				names = append(names, "(another trace) "+s.Name)
				continue
			}
			names = append(names, s.Name)
		}
	}
	return names
}

func onlySpan(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans named %q; spans:\n%s", len(found), name, spanTree(spans))
	}
	return found[0]
}

// One legacy login is one trace: the request's server span, and under it
// the store calls and the password check, in the order the core makes
// them. Nothing secret is an attribute.
func TestTraceOfALegacyLogin(t *testing.T) {
	g, exp := startTracedGateway(t, "--limits=off")
	const phone, password = "13800001021", "secret-pass-12345"
	if _, err := g.Service.ImportUser(context.Background(), core.ImportRequest{Phone: phone, Password: password}); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("an import outside a request made %d spans", n)
	}
	post(t, g.URL+"/caraccessories/app/login", `{"mobile": "`+phone+`", "password": "`+password+`"}`)
	spans := exp.GetSpans()
	t.Logf("span tree of one caraccessories login:\n%s", spanTree(spans))
	root := onlySpan(t, spans, "caraccessories login")
	if root.Parent.IsValid() || root.SpanKind != trace.SpanKindServer {
		t.Errorf("the request span has parent %v, kind %v", root.Parent, root.SpanKind)
	}
	want := []string{"store UserByPhone", "password verify", "store RecordLogin"}
	if got := children(spans, root); !slices.Equal(got, want) {
		t.Errorf("the request span's children are %v, want %v\n%s", got, want, spanTree(spans))
	}
	if len(spans) != 1+len(want) {
		t.Errorf("%d spans, want %d", len(spans), 1+len(want))
	}
	attrs := map[string]string{}
	for _, kv := range root.Attributes {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	if attrs["gateway.dialect"] != "caraccessories" || attrs["gateway.op"] != "login" || attrs["gateway.outcome"] != "ok" {
		t.Errorf("request span attributes %v", attrs)
	}
	checkNoSecretsInSpans(t, spans, phone, password)

	// A code sent: the request, the code stored, one span per provider
	// attempt (the log provider here).
	exp.Reset()
	post(t, g.URL+"/caraccessories/app/get_verification_code", `{"mobile": "13800001022"}`)
	spans = exp.GetSpans()
	root = onlySpan(t, spans, "caraccessories get_verification_code")
	if got := children(spans, root); !slices.Contains(got, "sms log") || !slices.Contains(got, "store PutCode") {
		t.Errorf("a code's send: children %v, want the provider attempt and the code stored\n%s", got, spanTree(spans))
	}
	code := g.lastLoggedCode(t)
	checkNoSecretsInSpans(t, spans, "13800001022", code)
}

// lastLoggedCode is the code the development SMS sender last logged.
func (g *testGateway) lastLoggedCode(t *testing.T) string {
	t.Helper()
	log := g.Log.String()
	i := strings.LastIndex(log, `"code":"`)
	if i < 0 {
		t.Fatalf("no code logged:\n%s", log)
	}
	code, _, _ := strings.Cut(log[i+len(`"code":"`):], `"`)
	return code
}

func checkNoSecretsInSpans(t *testing.T, spans tracetest.SpanStubs, secrets ...string) {
	t.Helper()
	for _, s := range spans {
		texts := []string{s.Name, s.Status.Description}
		for _, kv := range s.Attributes {
			texts = append(texts, kv.Value.Emit())
		}
		for _, e := range s.Events {
			texts = append(texts, e.Name)
			for _, kv := range e.Attributes {
				texts = append(texts, kv.Value.Emit())
			}
		}
		for _, text := range texts {
			for _, secret := range secrets {
				if secret != "" && strings.Contains(text, secret) {
					t.Errorf("span %q carries %q", s.Name, secret)
				}
			}
		}
	}
}

// In proxy and shadow modes the old server gets the trace context of the
// request's trace: a traceparent naming the exchange's client span, itself
// a child of the request span; what the client sent is replaced.
func TestProxySendsTraceparent(t *testing.T) {
	for _, mode := range []string{"proxy", "shadow"} {
		t.Run(mode, func(t *testing.T) {
			old := startOld(t, oldserver.Caraccessories, deterministic())
			old.AddUser(oldserver.User{ID: strings.Repeat("ab", 16), Phone: "13800009001", Password: "12345", Name: "Ann"})
			g, exp := startTracedGateway(t, "--limits=off", "--caraccessories-mode="+mode, "--caraccessories-upstream="+old.URL)
			clientTP := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
			post(t, g.URL+"/caraccessories/app/login", `{"mobile": "13800009001", "password": "12345"}`, "Traceparent", clientTP, "Tracestate", "client=1")
			got := old.last().header
			tp := got.Get("Traceparent")
			parts := strings.Split(tp, "-")
			if len(parts) != 4 || tp == clientTP || got.Get("Tracestate") != "" {
				t.Fatalf("the old server got traceparent %q, tracestate %q; want the gateway's", tp, got.Get("Tracestate"))
			}
			spans := exp.GetSpans()
			t.Logf("spans:\n%s", spanTree(spans))
			root := onlySpan(t, spans, "caraccessories login")
			relay := onlySpan(t, spans, "old server caraccessories")
			if parts[1] != root.SpanContext.TraceID().String() {
				t.Errorf("traceparent's trace %s, want the request's %s", parts[1], root.SpanContext.TraceID())
			}
			if parts[2] != relay.SpanContext.SpanID().String() || relay.Parent.SpanID() != root.SpanContext.SpanID() || relay.SpanKind != trace.SpanKindClient {
				t.Errorf("traceparent's parent %s; want the exchange's span %s, a client child of the request's", parts[2], relay.SpanContext.SpanID())
			}
		})
	}
	t.Run("untraced", func(t *testing.T) {
		old := startOld(t, oldserver.Caraccessories, deterministic())
		g := startGateway(t, "--limits=off", "--caraccessories-mode=proxy", "--caraccessories-upstream="+old.URL)
		post(t, g.URL+"/caraccessories/app/login", `{"mobile": "13800009001", "password": "12345"}`)
		if tp := old.last().header.Get("Traceparent"); tp != "" {
			t.Errorf("without tracing the old server got traceparent %q", tp)
		}
		clientTP := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		post(t, g.URL+"/caraccessories/app/login", `{"mobile": "13800009001", "password": "12345"}`, "Traceparent", clientTP)
		if tp := old.last().header.Get("Traceparent"); tp != clientTP {
			t.Errorf("without tracing the request was changed: traceparent %q, want the client's", tp)
		}
	})
}
