package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"legacyauth/core"
	"legacyauth/gateway/tracing"
)

// tracingWanted reads whether the OTEL_* environment asks for traces:
// only when an OTLP endpoint is named (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or OTEL_TRACES_EXPORTER=otlp, and
// never with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. The
// one exporter built in is OTLP over HTTP (protobuf): another exporter or
// protocol is a configuration error, not a silent "off".
func tracingWanted(getenv func(string) string) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	exporter := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))
	switch exporter {
	case "none":
		return false, nil
	case "", "otlp":
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: this gateway exports traces with otlp only (or none)", exporter)
	}
	if exporter == "" && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return false, nil
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(getenv(k)); p != "" {
			if p != "http/protobuf" {
				return false, fmt.Errorf("%s=%s: this gateway exports OTLP over http/protobuf only", k, p)
			}
			break // the traces-specific setting wins
		}
	}
	return true, nil
}

// startTracing sets up the tracer provider the environment asks for
// (tracingWanted): the OTLP HTTP exporter, which reads its endpoint,
// headers, time-out, compression and certificates from OTEL_EXPORTER_OTLP_*,
// behind a batch processor (OTEL_BSP_*), with the sampler of
// OTEL_TRACES_SAMPLER (default: parent-based, always on) and the resource
// of OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES. It returns a nil
// provider when tracing is off; shutdown (flushing what is buffered) is
// then a no-op.
func startTracing(ctx context.Context, getenv func(string) string, log *slog.Logger) (trace.TracerProvider, func(context.Context), error) {
	noop := func(context.Context) {}
	on, err := tracingWanted(getenv)
	if err != nil || !on {
		return nil, noop, err
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, noop, fmt.Errorf("tracing: the OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "legacy-auth-gateway"), attribute.String("service.version", version)),
		resource.WithTelemetrySDK(), resource.WithHost(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil {
		if !errors.Is(err, resource.ErrPartialResource) {
			return nil, noop, fmt.Errorf("tracing: the resource: %w", err)
		}
		log.Warn("tracing: part of the resource could not be read", "err", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	// Export failures (a collector that is down) are logged, not printed.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing", "err", err) }))
	endpoint := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		endpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if endpoint == "" {
		endpoint = "http://localhost:4318 (the OTLP default)"
	}
	log.Info("tracing on: OpenTelemetry spans exported over OTLP/HTTP", "endpoint", redactURL(endpoint))
	return tp, func(ctx context.Context) {
		if err := tp.Shutdown(ctx); err != nil {
			log.Warn("tracing: spans not flushed at shutdown", "err", err)
		}
	}, nil
}

// redactURL drops a URL's user information (a collector's credentials)
// for the log.
func redactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	host, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = "xxxxx@" + host[i+1:]
	}
	if path != "" {
		return scheme + "://" + host + "/" + path
	}
	return scheme + "://" + host
}

// trace wraps the stores with tracing.Tracer's spans (outside the
// metrics' wrappers) and hooks the core's hashing into it; nothing when
// tr is nil (tracing off).
func (s *stores) trace(cfg *Config, tr *tracing.Tracer, c *core.Config) {
	if tr == nil {
		return
	}
	ephemeral := cfg.Store
	if cfg.RedisURL != "" {
		ephemeral = "redis"
	}
	s.durable = tr.Store(cfg.Store, s.durable)
	s.ephemeral = tr.EphemeralStore(ephemeral, s.ephemeral)
	c.TraceHash = tr.HashHook()
}
