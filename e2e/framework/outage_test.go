//go:build linux

package framework

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// samplesAt builds samples sent every 10ms from t0, each taking 5ms; the
// pattern says which succeed ('.') and which fail ('x', connected, or
// 'r', refused).
func samplesAt(t0 time.Time, pattern string) []Sample {
	out := make([]Sample, len(pattern))
	for i, c := range pattern {
		start := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		out[i] = Sample{Start: start, End: start.Add(5 * time.Millisecond),
			Outcome: Outcome{OK: c == '.', Connected: c != 'r'}}
		switch c {
		case 'x':
			out[i].Detail = "status 503"
		case 'r':
			out[i].Detail = "connection refused"
		}
	}
	return out
}

func TestAnalyse(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name              string
		pattern           string
		failed, connected int
		spans             int
		outage, total     time.Duration
		open              bool
		recovered         time.Duration // since t0; -1: never
		details           string
	}{
		{name: "no failure", pattern: "......", recovered: 0},
		{name: "nothing sent", pattern: "", recovered: 0},
		{name: "one failure", pattern: "..x...", failed: 1, connected: 1, spans: 1, outage: ms(10), total: ms(10),
			recovered: ms(30), details: "status 503×1"},
		{name: "two outages", pattern: ".rrr..xx.", failed: 5, connected: 2, spans: 2, outage: ms(30), total: ms(50),
			recovered: ms(80), details: "connection refused×3, status 503×2"},
		{name: "open at the end", pattern: "..xx.rrrr", failed: 6, connected: 2, spans: 2, outage: ms(35), total: ms(55),
			open: true, recovered: -1, details: "connection refused×4, status 503×2"},
		{name: "all failed", pattern: "xxx", failed: 3, connected: 3, spans: 1, outage: ms(25), total: ms(25),
			open: true, recovered: -1, details: "status 503×3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Analyse(samplesAt(t0, tt.pattern))
			assert.Equal(t, len(tt.pattern), a.Requests)
			assert.Equal(t, tt.failed, a.Failed)
			assert.Equal(t, tt.connected, a.FailedConnected)
			assert.Len(t, a.Spans, tt.spans)
			assert.Equal(t, tt.outage, a.Outage)
			assert.Equal(t, tt.total, a.TotalFailing)
			assert.Equal(t, tt.open, a.Open())
			assert.Equal(t, tt.details, a.DetailSummary())
			at, ok := a.RecoveredAt(t0)
			if tt.recovered < 0 {
				assert.False(t, ok, "never recovered")
			} else {
				assert.True(t, ok)
				if tt.recovered == 0 {
					assert.True(t, at.IsZero(), "no outage: %s", at)
				} else {
					assert.Equal(t, t0.Add(tt.recovered), at)
				}
			}
		})
	}
}

// TestAnalyseSince: outages that ended before the fault do not count for
// its recovery, one that spans the fault does.
func TestAnalyseSince(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := Analyse(samplesAt(t0, ".x....xx..."))
	assert.Len(t, a.SpansSince(t0.Add(25*time.Millisecond)), 1, "the first span ended at 20ms")
	at, ok := a.RecoveredAt(t0.Add(65 * time.Millisecond))
	assert.True(t, ok)
	assert.Equal(t, t0.Add(80*time.Millisecond), at, "the span from 60ms to 80ms covers 65ms")
	at, ok = a.RecoveredAt(t0.Add(85 * time.Millisecond))
	assert.True(t, ok)
	assert.True(t, at.IsZero(), "nothing failed after 80ms")
}
