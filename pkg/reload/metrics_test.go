package reload

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestMetricsInitialState(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)

	// Every result series exists at 0 before any reload.
	assert.Equal(t, 4, testutil.CollectAndCount(m.reloads, "portico_reloads_total"))
	for _, r := range Results() {
		assert.Equal(t, 0.0, testutil.ToFloat64(m.reloads.WithLabelValues(string(r))), r)
	}
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	assert.Equal(t, 9, n, "4 result counters + 5 single-series metrics")
}

func TestMetricsRecord(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	start := time.Unix(1767225600, 500_000_000)

	m.Record(Event{Time: start, Result: ResultSuccess, Generation: 1, ConfigHash: testHash, Duration: 300 * time.Millisecond})
	m.Record(Event{Time: start.Add(time.Minute), Result: ResultSuccess, Generation: 2, ConfigHash: testHash, Duration: 200 * time.Millisecond})
	m.Record(Event{Time: start.Add(2 * time.Minute), Result: ResultInvalid, Generation: 3, ConfigHash: "ffffffffffffffff", Duration: 100 * time.Millisecond})
	m.Record(Event{Time: start.Add(3 * time.Minute), Result: ResultTimeout, Generation: 4, Duration: 60 * time.Second})

	assert.Equal(t, 2.0, testutil.ToFloat64(m.reloads.WithLabelValues("success")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.reloads.WithLabelValues("invalid")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.reloads.WithLabelValues("timeout")))
	assert.Equal(t, 0.0, testutil.ToFloat64(m.reloads.WithLabelValues("failed")))
	assert.Equal(t, 0.0, testutil.ToFloat64(m.lastSuccessful))
	assert.InDelta(t, float64(start.Add(3*time.Minute).Unix())+0.5, testutil.ToFloat64(m.lastTimestamp), 1e-3)

	// Hash and generation describe the live config, so failures leave them at the last success.
	assert.Equal(t, 2.0, testutil.ToFloat64(m.generation))
	assert.Equal(t, float64(0x0123456789abc), testutil.ToFloat64(m.configHash))

	m.Record(Event{Time: start.Add(4 * time.Minute), Result: ResultSuccess, Generation: 5, ConfigHash: "ffffffffffffffff", Duration: time.Second})
	assert.Equal(t, 1.0, testutil.ToFloat64(m.lastSuccessful))
	assert.Equal(t, 5.0, testutil.ToFloat64(m.generation))
	assert.Equal(t, float64(1<<52-1), testutil.ToFloat64(m.configHash))

	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP portico_reload_duration_seconds Time from the start of a reload attempt until nginx served the new generation or the attempt failed.
# TYPE portico_reload_duration_seconds histogram
portico_reload_duration_seconds_bucket{le="0.01"} 0
portico_reload_duration_seconds_bucket{le="0.025"} 0
portico_reload_duration_seconds_bucket{le="0.05"} 0
portico_reload_duration_seconds_bucket{le="0.1"} 1
portico_reload_duration_seconds_bucket{le="0.25"} 2
portico_reload_duration_seconds_bucket{le="0.5"} 3
portico_reload_duration_seconds_bucket{le="1"} 4
portico_reload_duration_seconds_bucket{le="2.5"} 4
portico_reload_duration_seconds_bucket{le="5"} 4
portico_reload_duration_seconds_bucket{le="10"} 4
portico_reload_duration_seconds_bucket{le="20"} 4
portico_reload_duration_seconds_bucket{le="30"} 4
portico_reload_duration_seconds_bucket{le="60"} 5
portico_reload_duration_seconds_bucket{le="+Inf"} 5
portico_reload_duration_seconds_sum 61.6
portico_reload_duration_seconds_count 5
`), "portico_reload_duration_seconds")
	assert.NoError(t, err)
}

func TestNewMetricsTwiceOnOneRegistryPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewMetrics(reg)
	assert.Panics(t, func() { NewMetrics(reg) })
	assert.NotPanics(t, func() { NewMetrics(nil) })
}

func TestHashGaugeValue(t *testing.T) {
	tests := []struct {
		in     string
		want   float64
		wantOK bool
	}{
		{in: testHash, want: float64(0x0123456789abc), wantOK: true},
		{in: "fffffffffffff", want: float64(1<<52 - 1), wantOK: true},
		{in: "abc", wantOK: false},
		{in: "zzzzzzzzzzzzzzzz", wantOK: false},
		{in: "", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := HashGaugeValue(tt.in)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestMetricsRecovered: a recovery is no reload attempt, but nginx runs the
// configuration wanted again, so portico_last_reload_successful is 1.
func TestMetricsRecovered(t *testing.T) {
	m := NewMetrics(prometheus.NewPedanticRegistry())
	start := time.Unix(1767225600, 0)
	m.Record(Event{Time: start, Result: ResultSuccess, Generation: 1, ConfigHash: testHash})
	m.Record(Event{Time: start.Add(time.Second), Result: ResultInvalid, Generation: 2, ConfigHash: "ffffffffffffffff"})
	assert.Equal(t, 0.0, testutil.ToFloat64(m.lastSuccessful))
	m.Record(Event{Time: start.Add(2 * time.Second), Result: ResultRecovered, Generation: 1, ConfigHash: testHash})
	assert.Equal(t, 1.0, testutil.ToFloat64(m.lastSuccessful))
	assert.Equal(t, 4, testutil.CollectAndCount(m.reloads, "portico_reloads_total"), "no series for recoveries: they are not attempts")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.reloads.WithLabelValues("success")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.reloads.WithLabelValues("invalid")))
	assert.InDelta(t, float64(start.Add(time.Second).Unix()), testutil.ToFloat64(m.lastTimestamp), 1e-3, "the last attempt's time")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.generation))
}

// TestMetricsTotals: Totals follows Record with the gauges' meaning:
// failures of every kind count as failures, a recovery counts as nothing
// but makes the last reload successful again, and the live hash and the
// time of the last success change only on success.
func TestMetricsTotals(t *testing.T) {
	m := NewMetrics(nil)
	assert.Equal(t, Totals{}, m.Totals())
	at := time.Unix(1700000000, 0)
	m.Record(Event{Result: ResultSuccess, ConfigHash: "abc", Time: at})
	m.Record(Event{Result: ResultInvalid, ConfigHash: "def", Time: at.Add(time.Second)})
	m.Record(Event{Result: ResultFailed, Time: at.Add(2 * time.Second)})
	m.Record(Event{Result: ResultTimeout, Time: at.Add(3 * time.Second)})
	assert.Equal(t, Totals{Successes: 1, Failures: 3, LiveHash: "abc", LastSuccess: at}, m.Totals())
	m.Record(Event{Result: ResultRecovered, Time: at.Add(4 * time.Second)})
	assert.Equal(t, Totals{Successes: 1, Failures: 3, LastSuccessful: true, LiveHash: "abc", LastSuccess: at}, m.Totals())
	m.Record(Event{Result: ResultSuccess, ConfigHash: "ghi", Time: at.Add(5 * time.Second)})
	assert.Equal(t, Totals{Successes: 2, Failures: 3, LastSuccessful: true, LiveHash: "ghi", LastSuccess: at.Add(5 * time.Second)}, m.Totals())
}
