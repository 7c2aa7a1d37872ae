// Package metrics is the gateway's Prometheus instrumentation, on its own
// registry (never the global one, so nothing another package registers
// leaks into the scrape and tests get a fresh set each time).
//
// It sits under gateway/ because it reads what the gateway learns about a
// request (gateway.Info) at the gateway's log-line point; the gateway itself
// stays free of Prometheus and only calls an optional observer. The other
// series wrap the core's interfaces (core.Sender, core.Store,
// core.EphemeralStore) or read counters that already exist
// (limits.Stats(), Gateway.DetectionFailures) at scrape time, so nothing is
// counted twice.
//
// No label carries a phone, an address or a token: dialects, operations
// and store methods are names from the code, outcomes a fixed set (see
// Outcomes), and client versions are checked, bounded per dialect and
// refused when they look like a phone, an address or a secret.
package metrics

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"legacyauth/core"
	"legacyauth/core/limits"
	"legacyauth/gateway"
)

// DefaultClientVersionLabels is how many distinct client versions per
// dialect get their own label when Options leave it zero.
const DefaultClientVersionLabels = 20

// Options configure Metrics.
type Options struct {
	// ClientVersionHeader names the request header whose value is the
	// client version; empty: the first product token of User-Agent.
	ClientVersionHeader string
	// ClientVersionLabels is how many distinct versions per dialect get
	// their own label; later ones count as "other". Zero: the default.
	ClientVersionLabels int
}

// Metrics holds every series. Build it with New; it is safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	clients   *prometheus.CounterVec
	sms       *prometheus.CounterVec
	codes     *prometheus.CounterVec
	storeTime *prometheus.HistogramVec
	storeErrs *prometheus.CounterVec

	versionHeader string
	versions      *versionSet

	// The series of label sets already seen, so a request looks its
	// series up in one map instead of hashing labels in each vector
	// (WithLabelValues). They grow with the vectors: the same label sets.
	byRoute  seriesCache[routeSeries] // dialect, op, outcome
	byClient seriesCache[prometheus.Counter]
}

// routeSeries are one dialect, operation and outcome's request counter and
// the dialect and operation's latency histogram.
type routeSeries struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// labelKey is a label set of up to three values.
type labelKey struct{ a, b, c string }

// seriesCache maps label sets to their series, made on first use.
type seriesCache[V any] struct {
	mu sync.RWMutex
	m  map[labelKey]V
}

func (c *seriesCache[V]) get(k labelKey, make func() V) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[k]; ok {
		return v
	}
	if c.m == nil {
		c.m = map[labelKey]V{}
	}
	v = make()
	// The values may be parts of a request's headers: keep copies only.
	c.m[labelKey{strings.Clone(k.a), strings.Clone(k.b), strings.Clone(k.c)}] = v
	return v
}

// New builds the metrics on a new registry, with the Go runtime and
// process collectors.
func New(o Options) *Metrics {
	if o.ClientVersionLabels <= 0 {
		o.ClientVersionLabels = DefaultClientVersionLabels
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_requests_total",
			Help: `Requests answered, by dialect ("v1", or "none" when no dialect claimed it), operation and outcome ("ok", a core error kind, or a gateway reason such as "undetected").`,
		}, []string{"dialect", "op", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_request_duration_seconds",
			Help:    "Time from a request's arrival at the gateway to its reply, by dialect and operation.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"dialect", "op"}),
		clients: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_client_requests_total",
			Help: `Requests by dialect and client version (User-Agent's first product token, or the configured header); the first versions seen per dialect get their own label, later ones "other"; "unknown" when there is none.`,
		}, []string{"dialect", "version"}),
		sms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_sms_sends_total",
			Help: `Verification codes handed to the SMS sender, by result ("ok" or "failed").`,
		}, []string{"result"}),
		codes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_sms_codes_total",
			Help: `Verification codes by dialect and event: "issued" (stored and sent, or a test number's) and "verified" (a check matched it). Issued codes that are never verified are the SMS-pumping signal.`,
		}, []string{"dialect", "event"}),
		storeTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_store_operation_duration_seconds",
			Help:    "Time of each store call, by store (memdb, postgres, redis) and method, errors included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"store", "method"}),
		storeErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_store_errors_total",
			Help: "Store calls that returned an error, by store, method and core error kind (not_registered and the like are ordinary answers; unavailable and internal are failures).",
		}, []string{"store", "method", "kind"}),
		versionHeader: o.ClientVersionHeader,
		versions:      newVersionSet(o.ClientVersionLabels),
	}
	// Both results exist from the start, so a failure ratio is defined
	// before the first failure.
	m.sms.WithLabelValues("ok")
	m.sms.WithLabelValues("failed")
	m.reg.MustRegister(m.requests, m.latency, m.clients, m.sms, m.codes, m.storeTime, m.storeErrs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the registry every series is on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus' exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveRequest counts one answered request; it has the signature of
// gateway.Options.Observe. Only the dialect, operation and outcome the
// gateway recorded, the elapsed time and the client version header are
// read: never the phone or the client address.
func (m *Metrics) ObserveRequest(r *http.Request, info *gateway.Info, status int, elapsed time.Duration) {
	dialect, op, outcome := orNone(info.Dialect), orNone(info.Op), Outcome(info.Outcome)
	rs := m.byRoute.get(labelKey{dialect, op, outcome}, func() routeSeries {
		return routeSeries{m.requests.WithLabelValues(dialect, op, outcome), m.latency.WithLabelValues(dialect, op)}
	})
	rs.requests.Inc()
	rs.latency.Observe(elapsed.Seconds())
	var version string
	if m.versionHeader != "" {
		version = HeaderVersion(r.Header.Get(m.versionHeader))
	} else {
		version = UserAgentVersion(r.Header.Get("User-Agent"))
	}
	m.clientCounter(dialect, version).Inc()
}

// clientCounter is the client-version counter of a dialect and version.
// Only versions with their own label (and "unknown") are cached under
// their value: one that versions turns into "other" is looked up again
// each time, so what clients send cannot grow the cache.
func (m *Metrics) clientCounter(dialect, version string) prometheus.Counter {
	m.byClient.mu.RLock()
	c, ok := m.byClient.m[labelKey{a: dialect, b: version}]
	m.byClient.mu.RUnlock()
	if ok {
		return c
	}
	label := m.versions.label(dialect, version)
	return m.byClient.get(labelKey{a: dialect, b: label}, func() prometheus.Counter {
		return m.clients.WithLabelValues(dialect, label)
	})
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Outcomes are the outcome label's values besides the core kinds' names:
// what the gateway and /v1 record for failures found before the core runs.
var Outcomes = []string{"ok", "undetected", "method_not_allowed", "body_too_large", "unsupported_media_type", "too_large", "unknown", "other"}

// Outcome maps a recorded outcome to its label: itself when it is one of
// Outcomes or a core kind's name, "unknown" when none was recorded,
// "other" for anything else (a reason added without being listed here).
func Outcome(s string) string {
	switch {
	case s == "":
		return "unknown"
	case slices.Contains(Outcomes, s):
		return s
	}
	if _, ok := core.ParseKind(s); ok {
		return s
	}
	return "other"
}

// Sender wraps a core.Sender to count its sends by result.
func (m *Metrics) Sender(s core.Sender) core.Sender {
	return sender{s: s, ok: m.sms.WithLabelValues("ok"), failed: m.sms.WithLabelValues("failed")}
}

type sender struct {
	s          core.Sender
	ok, failed prometheus.Counter
}

func (s sender) Send(ctx context.Context, msg core.SMS) error {
	err := s.s.Send(ctx, msg)
	if err != nil {
		s.failed.Inc()
	} else {
		s.ok.Inc()
	}
	return err
}

// DetectionFailures exposes the gateway's own count of requests no
// dialect claimed (Gateway.DetectionFailures), read at scrape time.
func (m *Metrics) DetectionFailures(count func() int64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "gateway_detection_failures_total",
		Help: "Requests no dialect claimed (answered 404 unknown_route).",
	}, func() float64 { return float64(count()) }))
}

// Limits exposes the rate limits' own counters (limits.Stats()), read at
// scrape time. A nil l (limits off) exposes nothing.
func (m *Metrics) Limits(l *limits.Limits) {
	if l != nil {
		m.reg.MustRegister(limitsCollector{l})
	}
}

var (
	limitRejected = prometheus.NewDesc("gateway_rate_limit_rejections_total",
		"Requests a rate limit or lock refused, by limit.", []string{"limit"}, nil)
	limitDryRun = prometheus.NewDesc("gateway_rate_limit_dry_run_hits_total",
		"Requests a dry-run limit would have refused, by limit.", []string{"limit"}, nil)
	limitStoreErrors = prometheus.NewDesc("gateway_rate_limit_store_errors_total",
		"Failures of the limiter's store, by limit (failed open; closed for SMS sends).", []string{"limit"}, nil)
)

type limitsCollector struct{ l *limits.Limits }

func (c limitsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- limitRejected
	ch <- limitDryRun
	ch <- limitStoreErrors
}

func (c limitsCollector) Collect(ch chan<- prometheus.Metric) {
	for name, s := range c.l.Stats() {
		ch <- prometheus.MustNewConstMetric(limitRejected, prometheus.CounterValue, float64(s.Rejected.Load()), name)
		ch <- prometheus.MustNewConstMetric(limitDryRun, prometheus.CounterValue, float64(s.DryRunHits.Load()), name)
		ch <- prometheus.MustNewConstMetric(limitStoreErrors, prometheus.CounterValue, float64(s.StoreErrors.Load()), name)
	}
}

// Readiness exposes gateway_store_up: each check (the same ones /readyz
// runs) is run at scrape time, concurrently, with a one-second deadline.
func (m *Metrics) Readiness(checks map[string]func(context.Context) error) {
	m.reg.MustRegister(readiness(checks))
}

var storeUp = prometheus.NewDesc("gateway_store_up",
	"1 when the store answered a ping within a second at scrape time, 0 otherwise (what /readyz checks).", []string{"store"}, nil)

type readiness map[string]func(context.Context) error

func (c readiness) Describe(ch chan<- *prometheus.Desc) { ch <- storeUp }

func (c readiness) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for name, check := range c {
		wg.Go(func() {
			up := 0.0
			if check(ctx) == nil {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(storeUp, prometheus.GaugeValue, up, name)
		})
	}
	wg.Wait()
}
