// Package compat exports, beside Portico's own portico_* series, the
// controller series of ingress-nginx under its exact names, types, help
// texts and labels, so that dashboards and alerts written for ingress-nginx
// keep working after a move to Portico. It derives them at scrape time from
// the state the portico_* series come from, and from nginx itself
// (stub_status, /proc); it keeps no figures of its own.
package compat

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/nginx"
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
	// Status reads nginx's stub_status (nginx.StatusClient.Read), for the
	// nginx_process_connections and _requests series.
	Status func(ctx context.Context) (nginx.StubStatus, error)
	// Processes reads the figures of nginx's master and its children
	// (nginx.ProcessReader.Read of the master's pid); ok is false when no
	// master runs.
	Processes func() (stats nginx.ProcessStats, ok bool, err error)
	// Orphans gives the orphaned Ingresses of the live configuration.
	Orphans *Orphans
	// Logger receives what could not be read (nil: discarded).
	Logger *slog.Logger
}

// statusTimeout bounds the stub_status read of one scrape: an nginx that
// does not answer must not hold the scrape up.
const statusTimeout = 2 * time.Second

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
	log                                                    *slog.Logger
	hash, lastOK, lastOKTime, success, errors, leader, ssl *prometheus.Desc
	sslInfo, orphan                                        *prometheus.Desc
	// stub_status, as ingress-nginx's nginx_status.go.
	connections, connectionsTotal, requests *prometheus.Desc
	// process figures, as ingress-nginx's process.go.
	numProcs, cpu, readBytes, writeBytes, resident, virtual, started *prometheus.Desc
}

// NewCollector returns a collector of ingress-nginx's controller series
// for ctl, read from src at each scrape. Names, help texts and labels are
// those of ingress-nginx's internal/ingress/metric/collectors/controller.go,
// nginx_status.go and process.go.
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
	log := src.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// ingress-nginx's subsystem for the stub_status and process series.
	const proc = "nginx_process_"
	return &collector{
		ctl:  ctl,
		src:  src,
		log:  log,
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
		// Like ssl_expire_time_seconds: namespace is the Secret's, class
		// the controller class, and no controller_* labels.
		sslInfo: desc("ssl_certificate_info", "Hold all labels associated to a certificate",
			[]string{"namespace", "class", "host", "secret_name", "identifier", "issuer_organization",
				"issuer_common_name", "serial_number", "public_key_algorithm"}, nil),
		// The help text keeps ingress-nginx's line break and indentation.
		orphan: desc("orphan_ingress", `Gauge reporting status of ingress orphanity, 1 indicates orphaned ingress.
			'namespace' is the string used to identify namespace of ingress, 'ingress' for ingress name and 'type' for 'no-service' or 'no-endpoint' of orphanity`,
			[]string{"namespace", "ingress", "type"}, constLabels),
		connections: desc(proc+"connections",
			"current number of client connections with state {active, reading, writing, waiting}", []string{"state"}, constLabels),
		connectionsTotal: desc(proc+"connections_total",
			"total number of connections with state {accepted, handled}", []string{"state"}, constLabels),
		requests:   desc(proc+"requests_total", "total number of client requests", nil, constLabels),
		numProcs:   desc(proc+"num_procs", "number of processes", nil, constLabels),
		cpu:        desc(proc+"cpu_seconds_total", "Cpu usage in seconds", nil, constLabels),
		readBytes:  desc(proc+"read_bytes_total", "number of bytes read", nil, constLabels),
		writeBytes: desc(proc+"write_bytes_total", "number of bytes written", nil, constLabels),
		resident:   desc(proc+"resident_memory_bytes", "number of bytes of memory in use", nil, constLabels),
		virtual:    desc(proc+"virtual_memory_bytes", "number of bytes of memory in use", nil, constLabels),
		started:    desc(proc+"oldest_start_time_seconds", "start time in seconds since 1970/01/01", nil, constLabels),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.hash, c.lastOK, c.lastOKTime, c.success, c.errors, c.leader, c.ssl, c.sslInfo, c.orphan,
		c.connections, c.connectionsTotal, c.requests,
		c.numProcs, c.cpu, c.readBytes, c.writeBytes, c.resident, c.virtual, c.started} {
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
				c.collectSSLInfo(ch, e, host)
			}
		}
	}
	if c.src.Orphans != nil {
		// Only orphans, at 1. ingress-nginx also kept a 0 of both types
		// for every Ingress it had seen served, deleted ones included,
		// until it restarted: two series per Ingress for nothing a query
		// of "== 1" or "> 0" needs.
		for _, o := range c.src.Orphans.List() {
			ch <- prometheus.MustNewConstMetric(c.orphan, prometheus.GaugeValue, 1, o.Namespace, o.Ingress, o.Type)
		}
	}
	if c.src.Status != nil {
		c.collectStatus(ch)
	}
	if c.src.Processes != nil {
		c.collectProcesses(ch)
	}
}

// collectSSLInfo sends ssl_certificate_info for e as host presents it.
// The issuer's names are text whoever made the certificate chose; they go
// out only as label values, which the exposition escapes.
func (c *collector) collectSSLInfo(ch chan<- prometheus.Metric, e certs.Expiry, host string) {
	// ingress-nginx leaves out a certificate without a serial number.
	if e.Info.SerialNumber == "" {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.sslInfo, prometheus.GaugeValue, 1,
		e.Namespace, c.ctl.Class, host, e.Secret, e.Info.Identifier(), e.Info.IssuerOrganization,
		e.Info.IssuerCommonName, e.Info.SerialNumber, e.Info.PublicKeyAlgorithm)
}

// collectStatus sends the stub_status series, or nothing when nginx does
// not answer (stopped, restarting): portico_nginx_up tells that, and a
// failed read must not fail the rest of the scrape.
func (c *collector) collectStatus(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	s, err := c.src.Status(ctx)
	if err != nil {
		c.log.Debug("nginx stub_status not read; its series are left out of this scrape", "error", err)
		return
	}
	for _, v := range []struct {
		state string
		n     uint64
	}{{"active", s.Active}, {"reading", s.Reading}, {"writing", s.Writing}, {"waiting", s.Waiting}} {
		ch <- prometheus.MustNewConstMetric(c.connections, prometheus.GaugeValue, float64(v.n), v.state)
	}
	ch <- prometheus.MustNewConstMetric(c.connectionsTotal, prometheus.CounterValue, float64(s.Accepted), "accepted")
	ch <- prometheus.MustNewConstMetric(c.connectionsTotal, prometheus.CounterValue, float64(s.Handled), "handled")
	ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(s.Requests))
}

// collectProcesses sends the process series of nginx's master and its
// children, nothing while no master runs. Unlike ingress-nginx, whose
// cpu_seconds_total holds system time only, CPU is user plus system time:
// what its help text says, and what a dashboard of it means to show.
func (c *collector) collectProcesses(ch chan<- prometheus.Metric) {
	p, ok, err := c.src.Processes()
	if err != nil {
		c.log.Warn("nginx process figures not read; their series are left out of this scrape", "error", err)
		return
	}
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.numProcs, prometheus.GaugeValue, float64(p.Procs))
	ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, p.CPUSeconds)
	if p.IO {
		// Without nginx's user or ptrace rights /proc/PID/io is closed;
		// no figure is better than a false zero.
		ch <- prometheus.MustNewConstMetric(c.readBytes, prometheus.CounterValue, float64(p.ReadBytes))
		ch <- prometheus.MustNewConstMetric(c.writeBytes, prometheus.CounterValue, float64(p.WriteBytes))
	}
	ch <- prometheus.MustNewConstMetric(c.resident, prometheus.GaugeValue, float64(p.ResidentBytes))
	ch <- prometheus.MustNewConstMetric(c.virtual, prometheus.GaugeValue, float64(p.VirtualBytes))
	ch <- prometheus.MustNewConstMetric(c.started, prometheus.GaugeValue, float64(p.OldestStart.Unix()))
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
