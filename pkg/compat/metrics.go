// Package compat exports, beside Portico's own portico_* series, the
// controller series of ingress-nginx under its exact names, types, help
// texts and labels, so that dashboards and alerts written for ingress-nginx
// keep working after a move to Portico. It derives them at scrape time from
// the state the portico_* series come from; it keeps no figures of its own.
package compat

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/reload"
)

// prefix is ingress-nginx's metric namespace.
const prefix = "nginx_ingress_controller_"

// Controller names this controller as ingress-nginx's constant labels do
// (controller_namespace, controller_class, controller_pod).
type Controller struct {
	// Namespace is the controller Pod's namespace (POD_NAMESPACE).
	Namespace string
	// Class is the controller class (--controller-class), as ingress-nginx
	// puts its --controller value in controller_class.
	Class string
	// Pod is the controller Pod's name (POD_NAME).
	Pod string
}

// Sources are where the series come from; a nil source leaves its series out.
type Sources struct {
	// Reloads gives the reload totals (reload.Metrics.Totals).
	Reloads func() reload.Totals
	// Certificates gives the served certificates (certs.ExpiryMetrics.List).
	Certificates func() []certs.Expiry
	// Leader gives the leader election status.
	Leader *Leadership
}

// Leadership is this replica's leader election status as the elector
// reports it. The zero value is ready to use and reports nothing until Set.
type Leadership struct {
	mu      sync.Mutex
	name    string
	leading bool
}

// Set records that the election for the Lease name runs and whether this
// replica leads it.
func (l *Leadership) Set(name string, leading bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.name, l.leading = name, leading
}

// get returns the Lease name ("" before Set) and whether this replica leads.
func (l *Leadership) get() (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.name, l.leading
}

// collector is the prometheus.Collector NewCollector returns.
type collector struct {
	ctl                                                    Controller
	src                                                    Sources
	hash, lastOK, lastOKTime, success, errors, leader, ssl *prometheus.Desc
}

// NewCollector returns a collector of ingress-nginx's controller series
// for ctl, read from src at each scrape. Names, help texts and labels are
// those of ingress-nginx's internal/ingress/metric/collectors/controller.go.
func NewCollector(ctl Controller, src Sources) prometheus.Collector {
	// ingress-nginx sets these three labels on every controller series
	// except ssl_expire_time_seconds, whose namespace and class labels
	// name the Secret's namespace and the controller class instead.
	constLabels := prometheus.Labels{
		"controller_namespace": ctl.Namespace,
		"controller_class":     ctl.Class,
		"controller_pod":       ctl.Pod,
	}
	desc := func(name, help string, labels []string, constant prometheus.Labels) *prometheus.Desc {
		return prometheus.NewDesc(prefix+name, help, labels, constant)
	}
	return &collector{
		ctl:  ctl,
		src:  src,
		hash: desc("config_hash", "Running configuration hash actually running", nil, constLabels),
		lastOK: desc("config_last_reload_successful",
			"Whether the last configuration reload attempt was successful", nil, constLabels),
		lastOKTime: desc("config_last_reload_successful_timestamp_seconds",
			"Timestamp of the last successful configuration reload.", nil, constLabels),
		success: desc("success", "Cumulative number of Ingress controller reload operations", nil, constLabels),
		errors: desc("errors",
			"Cumulative number of Ingress controller errors during reload operations", nil, constLabels),
		leader: desc("leader_election_status",
			"Gauge reporting status of the leader election, 0 indicates follower, 1 indicates leader. 'name' is the string used to identify the lease",
			[]string{"name"}, constLabels),
		// The help text keeps ingress-nginx's line break and indentation.
		ssl: desc("ssl_expire_time_seconds", `Number of seconds since 1970 to the SSL Certificate expire.
			An example to check if this certificate will expire in 10 days is: "nginx_ingress_controller_ssl_expire_time_seconds < (time() + (10 * 24 * 3600))"`,
			[]string{"namespace", "class", "host", "secret_name"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.hash, c.lastOK, c.lastOKTime, c.success, c.errors, c.leader, c.ssl} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if c.src.Reloads != nil {
		c.collectReloads(ch, c.src.Reloads())
	}
	if c.src.Leader != nil {
		// Like ingress-nginx, no series before the election runs; unlike
		// it, a follower shows 0 from the start rather than nothing.
		if name, leading := c.src.Leader.get(); name != "" {
			ch <- prometheus.MustNewConstMetric(c.leader, prometheus.GaugeValue, boolValue(leading), name)
		}
	}
	if c.src.Certificates != nil {
		for _, e := range c.src.Certificates() {
			for _, host := range e.Hosts {
				// ingress-nginx exports whole seconds.
				ch <- prometheus.MustNewConstMetric(c.ssl, prometheus.GaugeValue,
					float64(e.NotAfter.Unix()), e.Namespace, c.ctl.Class, host, e.Secret)
			}
		}
	}
}

// collectReloads sends the reload series of t with ingress-nginx's meaning.
func (c *collector) collectReloads(ch chan<- prometheus.Metric, t reload.Totals) {
	// ingress-nginx sets config_hash to 0 while the last reload failed;
	// a recovery (nginx serves the wanted config again) shows the live
	// hash again, as a successful reload would.
	hash := 0.0
	if t.LastSuccessful {
		if v, ok := reload.HashGaugeValue(t.LiveHash); ok {
			hash = v
		}
	}
	lastOKTime := 0.0
	if !t.LastSuccess.IsZero() {
		lastOKTime = float64(t.LastSuccess.Unix())
	}
	ch <- prometheus.MustNewConstMetric(c.hash, prometheus.GaugeValue, hash)
	ch <- prometheus.MustNewConstMetric(c.lastOK, prometheus.GaugeValue, boolValue(t.LastSuccessful))
	ch <- prometheus.MustNewConstMetric(c.lastOKTime, prometheus.GaugeValue, lastOKTime)
	ch <- prometheus.MustNewConstMetric(c.success, prometheus.CounterValue, float64(t.Successes))
	ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(t.Failures))
}

// boolValue is 1 for true, 0 for false.
func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
