package admission

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts reviews for Prometheus: how many, with what answer, and
// how long they took. Labels are the kind and the result, never names.
type Metrics struct {
	reviews  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics returns the webhook's metrics, registered with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reviews: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_admission_reviews_total",
			Help: "Admission reviews answered, by kind (Ingress, ConfigMap, other) and result (allowed, warned, refused, error).",
		}, []string{"kind", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portico_admission_review_duration_seconds",
			Help:    "Time to answer an admission review, from its first byte read to the answer, by kind.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1},
		}, []string{"kind"}),
	}
	reg.MustRegister(m.reviews, m.duration)
	return m
}

// Review implements Recorder.
func (m *Metrics) Review(kind, result string, took time.Duration) {
	m.reviews.WithLabelValues(kind, result).Inc()
	m.duration.WithLabelValues(kind).Observe(took.Seconds())
}
