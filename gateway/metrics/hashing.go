package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Hashing registers the series of the core's hash slots and returns their
// hook (core.Config.ObserveHashWait):
//   - gateway_hash_wait_seconds: how long each request that hashes a
//     password (login, registration, reset) waited for a hash slot, shed
//     ones included (they waited the whole --hash-wait);
//   - gateway_hash_shed_total: requests shed because no slot came free
//     within --hash-wait, answered with the dialect's busy reply and
//     Retry-After.
func (m *Metrics) Hashing() func(wait time.Duration, shed bool) {
	wait := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gateway_hash_wait_seconds",
		Help:    "Time a request waited for a password-hash slot (core.Config.HashConcurrency), shed requests included.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
	shed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gateway_hash_shed_total",
		Help: "Requests shed because no password-hash slot came free within --hash-wait; each got its dialect's busy reply with Retry-After.",
	})
	m.reg.MustRegister(wait, shed)
	return func(d time.Duration, s bool) {
		wait.Observe(d.Seconds())
		if s {
			shed.Inc()
		}
	}
}
