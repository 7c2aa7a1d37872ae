package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SMSProviders registers the per-provider series of the SMS failover and
// returns its hooks (smsfailover.Options.Observe and OnState):
//   - gateway_sms_provider_sends_total{provider, outcome}: "sent",
//     "rate_limited", "invalid", "failed", or "skipped" (breaker open);
//   - gateway_sms_provider_duration_seconds{provider};
//   - gateway_sms_provider_breaker_state{provider}: 0 closed, 1 half-open,
//     2 open.
func (m *Metrics) SMSProviders() (observe func(provider, outcome string, took time.Duration), onState func(provider, state string)) {
	sends := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_sms_provider_sends_total",
		Help: `Codes handed to each SMS provider, by outcome: "sent", "rate_limited" (the number's own limit there: no failover), "invalid" (no failover), "failed" (the next provider is tried) or "skipped" (its circuit breaker is open).`,
	}, []string{"provider", "outcome"})
	took := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gateway_sms_provider_duration_seconds",
		Help:    "Time each SMS provider took to answer a send, skipped ones excluded.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"provider"})
	state := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_sms_provider_breaker_state",
		Help: "Each SMS provider's circuit breaker: 0 closed (used), 1 half-open (one trial send), 2 open (skipped).",
	}, []string{"provider"})
	m.reg.MustRegister(sends, took, state)
	observe = func(provider, outcome string, d time.Duration) {
		sends.WithLabelValues(provider, outcome).Inc()
		if outcome != "skipped" {
			took.WithLabelValues(provider).Observe(d.Seconds())
		}
	}
	onState = func(provider, s string) {
		state.WithLabelValues(provider).Set(map[string]float64{"closed": 0, "half-open": 1, "open": 2}[s])
	}
	return observe, onState
}
