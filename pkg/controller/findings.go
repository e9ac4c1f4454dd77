package controller

import (
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portico-ingress/portico/pkg/model"
)

// LogFindings logs each finding once when it appears and once when it is
// gone, so a steady problem does not repeat at every sync.
type LogFindings struct {
	// Logger receives the lines.
	Logger *slog.Logger

	mu   sync.Mutex
	seen map[model.Finding]bool
}

// Findings implements FindingRecorder.
func (l *LogFindings) Findings(findings []model.Finding) {
	l.mu.Lock()
	defer l.mu.Unlock()
	current := make(map[model.Finding]bool, len(findings))
	for _, f := range findings {
		current[f] = true
		if !l.seen[f] {
			l.Logger.Warn(f.Message, "object", f.Object.String(), "reason", f.Reason, "severity", string(f.Severity))
		}
	}
	for f := range l.seen {
		if !current[f] {
			l.Logger.Info("resolved: "+f.Message, "object", f.Object.String(), "reason", f.Reason)
		}
	}
	l.seen = current
}

// FindingMetrics exports portico_findings{severity,reason}: how many
// findings the last model build had, per severity and reason. It names no
// object, so the series stay few (reasons are a fixed set) and one
// tenant's object names never reach the metrics; the log and the Events
// say which objects. A FindingRecorder and a prometheus.Collector.
type FindingMetrics struct {
	desc *prometheus.Desc

	mu     sync.Mutex
	counts map[[2]string]int
}

// NewFindingMetrics creates the findings metric and registers it with reg
// (a nil reg leaves it unregistered).
func NewFindingMetrics(reg prometheus.Registerer) *FindingMetrics {
	m := &FindingMetrics{desc: prometheus.NewDesc("portico_findings",
		"Findings of the last model build, by severity (Served, PartlyServed, NotServed) and reason; a finding that is resolved leaves.",
		[]string{"severity", "reason"}, nil)}
	if reg != nil {
		reg.MustRegister(m)
	}
	return m
}

// Findings implements FindingRecorder: the counts are replaced at once, so
// a scrape never sees half of two builds.
func (m *FindingMetrics) Findings(findings []model.Finding) {
	counts := make(map[[2]string]int)
	for _, f := range findings {
		counts[[2]string{string(f.Severity), f.Reason}]++
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts = counts
}

// Describe implements prometheus.Collector.
func (m *FindingMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.desc }

// Collect implements prometheus.Collector.
func (m *FindingMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, n := range m.counts {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}
