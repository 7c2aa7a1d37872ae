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
	percent     *prometheus.GaugeVec
	step        *prometheus.GaugeVec
	paused      *prometheus.GaugeVec
	stepCompare *prometheus.GaugeVec
	stepMis     *prometheus.GaugeVec
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
	m.percent = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_migration_split_percent",
		Help: "Share of phones (0-100) the core serves in split mode, by dialect and operation, as the shared migration state says.",
	}, []string{"dialect", "op"})
	m.step = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_migration_rollout_step",
		Help: "Steps of the rollout schedule reached (0: before the first), by dialect and operation.",
	}, []string{"dialect", "op"})
	m.paused = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_migration_rollout_paused",
		Help: "1 while the operation's rollout is paused (a gate broke, or an operator paused it).",
	}, []string{"dialect", "op"})
	m.stepCompare = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_migration_step_comparisons",
		Help: "Shadow comparisons in the current rollout step, by dialect and operation, over every instance.",
	}, []string{"dialect", "op"})
	m.stepMis = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_migration_step_mismatches",
		Help: "Shadow mismatches in the current rollout step, by dialect and operation, over every instance.",
	}, []string{"dialect", "op"})
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
		reg.MustRegister(m.requests, m.upErrors, m.upLatency, m.comparisons, m.skips, m.lazy, m.queue,
			m.percent, m.step, m.paused, m.stepCompare, m.stepMis)
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

// rollout sets the rollout gauges from the shared state.
func (m *metricSet) rollout(st *State, tracks map[string]*liveTrack) {
	for key, lt := range tracks {
		t := st.Tracks[key]
		if t == nil {
			continue
		}
		paused := 0.0
		if t.Paused {
			paused = 1
		}
		for _, op := range lt.ops {
			m.percent.WithLabelValues(lt.dialect, op).Set(float64(t.Percent))
			m.step.WithLabelValues(lt.dialect, op).Set(float64(t.StepIndex()))
			m.paused.WithLabelValues(lt.dialect, op).Set(paused)
			var c Counts
			if s := t.Step[op]; s != nil {
				c = *s
			}
			m.stepCompare.WithLabelValues(lt.dialect, op).Set(float64(c.Compares))
			m.stepMis.WithLabelValues(lt.dialect, op).Set(float64(c.Mismatches))
		}
	}
}
