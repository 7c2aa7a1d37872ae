package migrate

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"legacyauth/gateway"
)

// upstream is one dialect's old server.
type upstream struct {
	dialect string
	target  *url.URL
	timeout time.Duration
	rp      *httputil.ReverseProxy
	met     *metricSet
	latency prometheus.Observer // met.upLatency of this dialect
	log     *slog.Logger
}

// relayErrKey carries, in the outbound request's context, where the
// reverse proxy's error handler records a failure.
type relayErrKey struct{}

type relayErr struct{ err error }

func newUpstream(dialect string, target *url.URL, transport http.RoundTripper, timeout time.Duration, trusted []netip.Prefix, met *metricSet, log *slog.Logger) *upstream {
	u := &upstream{dialect: dialect, target: target, timeout: timeout, met: met, latency: met.upLatency.WithLabelValues(dialect), log: log}
	u.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			// As sent, byte for byte: Rewrite's default drops query
			// parameters Go cannot parse, and SetURL points Host at the
			// target.
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			pr.Out.Host = pr.In.Host
			forwarded(pr, trusted)
			stripHeaders(pr)
			traceparent(pr)
		},
		Transport: no1xx{transport},
		// A 101 is refused: relayed, it would turn the client's
		// connection into a tunnel to the old server, past the routes,
		// limits and logs. The failure is answered as any other.
		ModifyResponse: func(res *http.Response) error {
			if res.StatusCode < 200 {
				return errSwitchingProtocols
			}
			return nil
		},
		// Failures are answered by relay, in the dialect's own body.
		ErrorHandler: func(_ http.ResponseWriter, r *http.Request, err error) {
			if e, found := r.Context().Value(relayErrKey{}).(*relayErr); found {
				e.err = err
			}
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return u
}

// relay sends r to the old server and its reply to w: status, headers
// (hop-by-hop ones excepted) and body unchanged. On failure (no answer
// within the time-out, a refused connection) nothing has been written and
// the error is returned; the caller answers.
func (u *upstream) relay(w http.ResponseWriter, r *http.Request) error {
	rec := &relayErr{}
	ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), relayErrKey{}, rec), u.timeout)
	defer cancel()
	ctx, span := u.span(ctx)
	start := time.Now()
	u.rp.ServeHTTP(w, r.WithContext(ctx))
	u.latency.Observe(time.Since(start).Seconds())
	if span != nil {
		if rec.err != nil {
			span.SetStatus(codes.Error, "the old server did not answer")
		}
		span.End()
	}
	if rec.err == nil {
		return nil
	}
	reason := "error"
	var ne net.Error
	switch {
	case errors.Is(r.Context().Err(), context.Canceled):
		reason = "canceled"
	case errors.Is(rec.err, context.DeadlineExceeded), errors.As(rec.err, &ne) && ne.Timeout():
		reason = "timeout"
	}
	u.met.upErrors.WithLabelValues(u.dialect, reason).Inc()
	if reason != "canceled" {
		cause := rec.err
		var ue *url.Error
		if errors.As(cause, &ue) {
			cause = ue.Err // should it carry the URL: its query string may hold a password (apiv4's GET /login)
		}
		u.log.LogAttrs(r.Context(), slog.LevelWarn, "old server did not answer",
			slog.String("dialect", u.dialect), slog.String("upstream", u.target.Redacted()),
			slog.String("request_id", gateway.InfoFrom(r.Context()).RequestID),
			slog.String("reason", reason), slog.String("error", cause.Error()))
		return rec.err
	}
	return context.Canceled
}

// span starts the exchange's client span under the request's, when the
// request is traced (gateway/tracing); nil otherwise. The tracer is the
// request span's own provider's, so this package needs no setting.
func (u *upstream) span(ctx context.Context) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, nil
	}
	return parent.TracerProvider().Tracer("legacyauth/gateway/migrate").Start(ctx, "old server "+u.dialect,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attribute.String("gateway.dialect", u.dialect)))
}

// traceparent sends the old server the trace context (W3C Trace Context:
// traceparent, and tracestate when there is one) of the exchange's span,
// replacing what the client sent, when the request is traced. Untraced,
// the request goes as it came.
func traceparent(pr *httputil.ProxyRequest) {
	if !trace.SpanContextFromContext(pr.In.Context()).IsValid() {
		return
	}
	delete(pr.Out.Header, "Traceparent")
	delete(pr.Out.Header, "Tracestate")
	propagation.TraceContext{}.Inject(pr.In.Context(), propagation.HeaderCarrier(pr.Out.Header))
}

var errSwitchingProtocols = errors.New("the old server answered 101 Switching Protocols")

// stripped are request headers never relayed. Upgrade (which the reverse
// proxy puts back after its own hop-by-hop pass) and HTTP2-Settings would
// ask the old server to switch protocols; the others claim a client
// address or rewrite the path, and frameworks believe them: the old
// server learns the client only from the gateway's X-Forwarded-For.
var stripped = []string{
	"Upgrade", "Http2-Settings",
	"X-Real-Ip", "True-Client-Ip", "X-Client-Ip", "Cf-Connecting-Ip", "X-Cluster-Client-Ip", "Fastly-Client-Ip",
	"X-Original-Url", "X-Rewrite-Url",
}

// stripHeaders removes the stripped headers, and Connection: by now the
// reverse proxy has removed what the client's Connection header named,
// and the only Connection left is the one it set for an upgrade.
func stripHeaders(pr *httputil.ProxyRequest) {
	h := pr.Out.Header
	for _, k := range stripped {
		delete(h, k)
	}
	delete(h, "Connection")
	// The old server's logs get the gateway's id, not whatever the client
	// sent (it may be a phone number the gateway refused to keep).
	if id := gateway.InfoFrom(pr.In.Context()).RequestID; id != "" {
		h["X-Request-Id"] = []string{id}
	}
}

// no1xx carries requests to the old server without the reverse proxy's
// hook that relays 1xx replies (103 Early Hints and the like) to the
// client as they arrive: only a final reply is relayed. Without the hook
// the transport reads and drops them.
type no1xx struct{ http.RoundTripper }

func (t no1xx) RoundTrip(r *http.Request) (*http.Response, error) {
	// The trace is the one ServeHTTP made for this request (composed with
	// any the context held before), so changing it affects no other.
	if tr := httptrace.ContextClientTrace(r.Context()); tr != nil {
		tr.Got1xxResponse = nil
	}
	return t.RoundTripper.RoundTrip(r)
}

// forwarded sets X-Forwarded-For, -Host and -Proto the way the gateway
// reads them: a chain that arrived from a trusted proxy is kept and the
// peer appended; from anyone else (who could have written anything) it
// is replaced by the peer alone.
func forwarded(pr *httputil.ProxyRequest, trusted []netip.Prefix) {
	fromTrusted := gateway.FromTrustedProxy(pr.In, trusted)
	if fromTrusted {
		if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			pr.Out.Header["X-Forwarded-For"] = []string{strings.Join(prior, ", ")}
		}
	}
	pr.SetXForwarded()
	if fromTrusted {
		for _, h := range []string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v := pr.In.Header.Get(h); v != "" {
				pr.Out.Header.Set(h, v)
			}
		}
	}
}

// newTransport is the default transport to the old servers: connections
// kept alive and reused, every phase bounded, no proxy from the
// environment.
func newTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   min(timeout, 5*time.Second),
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		// Ask for no compression the client did not ask for: the
		// transport would decompress it and the reply would lose its
		// Content-Length on the way.
		DisableCompression: true,
	}
}
