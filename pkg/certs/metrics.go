package certs

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Expiry is when the certificate a TLS Secret serves expires.
type Expiry struct {
	// Namespace and Secret name the Secret.
	Namespace, Secret string
	// NotAfter is the expiry of the chain's first certificate.
	NotAfter time.Time
	// Hosts are the server names that present this certificate, sorted;
	// the ingress-nginx compatible series has one sample per host.
	Hosts []string
	// Info is the certificate's public data, for ingress-nginx's
	// ssl_certificate_info series (zero when unknown: no series).
	Info Identity
}

// ExpiryMetrics exposes portico_certificate_expiry_timestamp_seconds, one
// series per TLS Secret whose certificate the live config serves. Labels
// name the Secret only: no host, no certificate field, no key material.
type ExpiryMetrics struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	list []Expiry
}

// NewExpiryMetrics creates the gauge and registers it with reg (nil: not
// registered).
func NewExpiryMetrics(reg prometheus.Registerer) *ExpiryMetrics {
	m := &ExpiryMetrics{desc: prometheus.NewDesc("portico_certificate_expiry_timestamp_seconds",
		"Unix time at which the certificate served for a TLS Secret expires (the last accepted one when the Secret's current content is refused).",
		[]string{"namespace", "secret"}, nil)}
	if reg != nil {
		reg.MustRegister(m)
	}
	return m
}

// Set replaces the series with list, as one scrape sees them: a Secret no
// longer served leaves no stale series behind.
func (m *ExpiryMetrics) Set(list []Expiry) {
	list = slices.Clone(list)
	slices.SortFunc(list, func(a, c Expiry) int {
		return cmp.Or(cmp.Compare(a.Namespace, c.Namespace), cmp.Compare(a.Secret, c.Secret))
	})
	m.mu.Lock()
	m.list = list
	m.mu.Unlock()
}

// List returns the expiries last Set, sorted by Secret, for collectors that
// export them under other names. The caller must not modify them.
func (m *ExpiryMetrics) List() []Expiry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.list
}

// Describe implements prometheus.Collector.
func (m *ExpiryMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.desc }

// Collect implements prometheus.Collector.
func (m *ExpiryMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	list := m.list
	m.mu.Unlock()
	for _, e := range list {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue,
			float64(e.NotAfter.UnixNano())/1e9, e.Namespace, e.Secret)
	}
}
