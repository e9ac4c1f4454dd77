package reload

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exposes reload events as Prometheus metrics.
type Metrics struct {
	reloads        *prometheus.CounterVec
	lastSuccessful prometheus.Gauge
	lastTimestamp  prometheus.Gauge
	duration       prometheus.Histogram
	configHash     prometheus.Gauge
	generation     prometheus.Gauge

	// mu guards totals: the figures other collectors (the ingress-nginx
	// compatible series) derive from, kept here so both sets of series
	// move with the same Record call.
	mu     sync.Mutex
	totals Totals
}

// Totals is what Record has seen so far, for collectors that export the
// same facts under other names.
type Totals struct {
	// Successes counts successful reloads.
	Successes uint64
	// Failures counts reload attempts that failed (invalid, failed, timeout).
	Failures uint64
	// LastSuccessful is portico_last_reload_successful as a bool (false
	// before the first reload).
	LastSuccessful bool
	// LiveHash is the config hash nginx serves ("" before the first success).
	LiveHash string
	// LastSuccess is when the last successful reload started (zero before one).
	LastSuccess time.Time
}

// NewMetrics creates the reload metrics and registers them with reg (never
// the global registry, so tests and multiple controllers stay isolated).
// A nil reg leaves them unregistered; a duplicate registration panics, as it
// is a programming error.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portico_reloads_total",
			Help: "Number of nginx reload attempts, by result (success, invalid, failed, timeout).",
		}, []string{"result"}),
		lastSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_last_reload_successful",
			Help: "Whether nginx runs the last configuration built (1): the last reload succeeded, or after failures the configuration wanted is the live one again; 0 while the last attempt failed.",
		}),
		lastTimestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_last_reload_timestamp_seconds",
			Help: "Unix time at which the last nginx reload attempt started, whatever its result.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "portico_reload_duration_seconds",
			Help: "Time from the start of a reload attempt until nginx served the new generation or the attempt failed.",
			// 10ms (a small config) up to 60s (tens of thousands of servers, or a timeout).
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60},
		}),
		configHash: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_config_hash",
			Help: "First 52 bits of the sha256 of the live nginx config, as a number (changes whenever the live config changes).",
		}),
		generation: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portico_config_generation",
			Help: "Generation number of the live nginx config.",
		}),
	}
	// Create every result series now so rate() and alerts see 0 instead of no data.
	for _, r := range Results() {
		m.reloads.WithLabelValues(string(r))
	}
	if reg != nil {
		reg.MustRegister(m.reloads, m.lastSuccessful, m.lastTimestamp, m.duration, m.configHash, m.generation)
	}
	return m
}

// Record updates the metrics from ev. The hash and generation gauges change
// only on success because they describe the config nginx actually serves.
//
// A ResultRecovered event is no reload attempt: it only sets
// portico_last_reload_successful back to 1, since nginx runs what is wanted.
func (m *Metrics) Record(ev Event) {
	m.count(ev)
	if ev.Result == ResultRecovered {
		m.lastSuccessful.Set(1)
		return
	}
	m.reloads.WithLabelValues(string(ev.Result)).Inc()
	m.duration.Observe(ev.Duration.Seconds())
	if !ev.Time.IsZero() {
		m.lastTimestamp.Set(float64(ev.Time.UnixNano()) / 1e9)
	}
	if ev.Result != ResultSuccess {
		m.lastSuccessful.Set(0)
		return
	}
	m.lastSuccessful.Set(1)
	m.generation.Set(float64(ev.Generation))
	if v, ok := HashGaugeValue(ev.ConfigHash); ok {
		m.configHash.Set(v)
	}
}

// count updates the totals from ev, with the same meaning Record gives the gauges.
func (m *Metrics) count(ev Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch ev.Result {
	case ResultRecovered:
		m.totals.LastSuccessful = true
	case ResultSuccess:
		m.totals.Successes++
		m.totals.LastSuccessful = true
		m.totals.LiveHash = ev.ConfigHash
		m.totals.LastSuccess = ev.Time
	default:
		m.totals.Failures++
		m.totals.LastSuccessful = false
	}
}

// Totals returns what Record has seen so far.
func (m *Metrics) Totals() Totals {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.totals
}

// HashGaugeValue returns the first 52 bits of a hex hash as a float64. 52 bits
// fit a float64 mantissa exactly, so equal hashes always give equal values
// (the same trick as ingress-nginx's config_hash). ok is false for a hash
// shorter than 13 hex digits or not hex at all.
func HashGaugeValue(hexHash string) (float64, bool) {
	const digits = 52 / 4
	if len(hexHash) < digits {
		return 0, false
	}
	v, err := strconv.ParseUint(hexHash[:digits], 16, 64)
	if err != nil {
		return 0, false
	}
	return float64(v), true
}
