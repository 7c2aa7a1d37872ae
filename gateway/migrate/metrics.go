package migrate

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metricSet holds the migration series. Labels are dialect and operation
// names from the code and fixed reasons: never a phone or an address.
type metricSet struct {
	requests    *prometheus.CounterVec
	upErrors    *prometheus.CounterVec
	upLatency   *prometheus.HistogramVec
	comparisons *prometheus.CounterVec
	skips       *prometheus.CounterVec
	lazy        *prometheus.CounterVec
	queue       prometheus.GaugeFunc
	queueLen    func() int
}

func newMetrics(reg prometheus.Registerer) *metricSet {
	m := &metricSet{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_migration_requests_total",
			Help: `Requests of dialects with a migration mode or an old server, by dialect, operation and backend: "upstream" (the old server answered) or "core".`,
		}, []string{"dialect", "op", "backend"}),
		upErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_errors_total",
			Help: `Exchanges with an old server that failed, by dialect and reason: "timeout" (no answer within GATEWAY_UPSTREAM_TIMEOUT), "error" (refused, reset, unreadable), "canceled" (the client left).`,
		}, []string{"dialect", "reason"}),
		upLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_upstream_request_duration_seconds",
			Help:    "Time an old server took to answer, by dialect, failures included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"dialect"}),
		comparisons: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_shadow_comparisons_total",
			Help: `Shadowed requests whose old-server and core outcomes were compared, by dialect, operation and result ("match" or "mismatch").`,
		}, []string{"dialect", "op", "result"}),
		skips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_shadow_skipped_total",
			Help: `Requests in shadow mode not compared, by dialect, operation and reason: "side_effect" (not shadowed without GATEWAY_SHADOW_SIDE_EFFECTS), "queue_full" (dropped), "body_too_large", "upstream_failed".`,
		}, []string{"dialect", "op", "reason"}),
		lazy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_lazy_migrations_total",
			Help: `Logins of phones the core did not know, tried on the old server, by dialect and result: "migrated" (the user was imported), "refused" (the old server said no), "failed" (no usable answer, or the import failed).`,
		}, []string{"dialect", "result"}),
	}
	m.queue = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gateway_shadow_queue_length",
		Help: "Shadow requests waiting for a worker.",
	}, func() float64 {
		if m.queueLen == nil {
			return 0
		}
		return float64(m.queueLen())
	})
	if reg != nil {
		reg.MustRegister(m.requests, m.upErrors, m.upLatency, m.comparisons, m.skips, m.lazy, m.queue)
	}
	return m
}

// preset creates the series of a dialect with an old server at zero, so
// that rates are defined before the first event.
func (m *metricSet) preset(dialect string) {
	for _, r := range []string{"migrated", "refused", "failed"} {
		m.lazy.WithLabelValues(dialect, r)
	}
	for _, r := range []string{"timeout", "error", "canceled"} {
		m.upErrors.WithLabelValues(dialect, r)
	}
}

func (m *metricSet) routed(dialect, op, backend string) {
	m.requests.WithLabelValues(dialect, op, backend).Inc()
}

func (m *metricSet) compared(dialect, op string, match bool) {
	result := "match"
	if !match {
		result = "mismatch"
	}
	m.comparisons.WithLabelValues(dialect, op, result).Inc()
}

func (m *metricSet) skipped(dialect, op, reason string) {
	m.skips.WithLabelValues(dialect, op, reason).Inc()
}

func (m *metricSet) lazyResult(dialect, result string) {
	m.lazy.WithLabelValues(dialect, result).Inc()
}
