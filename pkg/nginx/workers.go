package nginx

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Workers counts the worker processes of one nginx master.
type Workers struct {
	// Active workers run the current configuration and accept connections.
	Active int
	// ShuttingDown workers belong to an older configuration: they accept
	// nothing new and exit once their connections are done, or when
	// worker_shutdown_timeout runs out.
	ShuttingDown int
}

// Total is every worker process, active or shutting down.
func (w Workers) Total() int { return w.Active + w.ShuttingDown }

// Process titles nginx gives its workers (ngx_setproctitle); a worker is
// retitled when the master tells it to stop after a reload.
const (
	workerTitle       = "nginx: worker process"
	shuttingDownTitle = "nginx: worker process is shutting down"
)

// CountWorkers counts the worker processes whose parent is master, read
// from /proc. Cache manager and loader processes are not workers and are
// not counted. On systems without /proc it returns errors.ErrUnsupported.
func CountWorkers(master int) (Workers, error) {
	if master <= 0 {
		return Workers{}, nil
	}
	return countWorkers(master)
}

// workerState classifies a process title: ok is false for anything that is
// not an nginx worker.
func workerState(title string) (shuttingDown, ok bool) {
	switch title {
	case workerTitle:
		return false, true
	case shuttingDownTitle:
		return true, true
	}
	return false, false
}

// workerCollector computes portico_nginx_worker_processes at scrape time,
// so there is no goroutine to stop and the figure is never stale.
type workerCollector struct {
	proc Process
	desc *prometheus.Desc
}

// NewWorkerCollector returns a collector for the number of worker processes
// of proc's master, by state (active, shutting_down). Old workers that
// linger after reloads (long requests, websockets) show up as
// shutting_down until worker_shutdown_timeout ends them.
func NewWorkerCollector(proc Process) prometheus.Collector {
	return &workerCollector{
		proc: proc,
		desc: prometheus.NewDesc("portico_nginx_worker_processes",
			"Number of nginx worker processes, by state: active (current configuration) or shutting_down (an older configuration finishing its connections).",
			[]string{"state"}, nil),
	}
}

// Describe sends the one descriptor.
func (c *workerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect counts the workers now. A read error becomes an invalid metric,
// which the status server logs without failing the rest of the scrape;
// a platform without /proc exports nothing rather than a false zero.
func (c *workerCollector) Collect(ch chan<- prometheus.Metric) {
	w, err := CountWorkers(c.proc.Pid())
	if errors.Is(err, errors.ErrUnsupported) {
		return
	}
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(w.Active), "active")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(w.ShuttingDown), "shutting_down")
}
