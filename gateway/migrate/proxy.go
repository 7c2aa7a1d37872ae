package migrate

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
		},
		Transport: transport,
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
	start := time.Now()
	u.rp.ServeHTTP(w, r.WithContext(ctx))
	u.latency.Observe(time.Since(start).Seconds())
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
