package reload

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PushMetrics exports pushes of the Lua balancer's data (endpoints and
// traffic policies, which change without a reload) and which balancer runs.
type PushMetrics struct {
	pushes   *prometheus.CounterVec
	duration prometheus.Histogram
	size     prometheus.Gauge
}

// NewPushMetrics registers the push metrics and portico_balancer_info,
// which is 1 for the balancer in use ("lua" or "upstreams"): with
// "upstreams" every endpoint change is a reload.
func NewPushMetrics(reg prometheus.Registerer, balancer string) *PushMetrics {
	m := &PushMetrics{
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_balancer_pushes_total",
			Help: "Pushes of endpoints and traffic policies to the Lua balancer, by result (success, failed).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "portico_balancer_push_duration_seconds",
			Help:    "Time nginx took to take a push of balancer data.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_balancer_data_bytes",
			Help: "Size of the last balancer data pushed to nginx.",
		}),
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "portico_balancer_info",
		Help: `1 for the balancer in use: "lua" (endpoint changes without reloads) or "upstreams" (nginx without Lua: endpoint changes reload).`,
	}, []string{"balancer"})
	info.WithLabelValues(balancer).Set(1)
	reg.MustRegister(m.pushes, m.duration, m.size, info)
	// Both results exist from the start, so rate() works before the first failure.
	m.pushes.WithLabelValues("success")
	m.pushes.WithLabelValues("failed")
	return m
}

// Pushed records one push.
func (m *PushMetrics) Pushed(took time.Duration, size int, err error) {
	if err != nil {
		m.pushes.WithLabelValues("failed").Inc()
		return
	}
	m.pushes.WithLabelValues("success").Inc()
	m.duration.Observe(took.Seconds())
	m.size.Set(float64(size))
}
