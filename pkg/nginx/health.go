package nginx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultDownGrace is how long nginx may be down before /healthz fails:
// longer than a restart takes (the supervisor's longest backoff, 5 s, plus
// loading a large configuration), so a live controller whose nginx
// restarts quickly stays healthy while /readyz takes the Pod out of
// Service endpoints meanwhile.
const DefaultDownGrace = 30 * time.Second

// downReporter is a Process that knows since when its master has not been
// up (the Supervisor does).
type downReporter interface {
	DownSince() time.Time
}

// Health answers the probes about the nginx master of a Process: whether
// it serves now (readiness) and whether it has been unable to for too long
// (liveness). A stopped master (SIGSTOP) passes `kill -0`, so its state is
// read from /proc.
type Health struct {
	proc  Process
	grace time.Duration
	now   func() time.Time

	mu sync.Mutex
	// downSince is when this Health first saw the master down, for a
	// Process that does not report it (nginx in another container).
	downSince time.Time
}

// NewHealth returns the probes for proc's master; grace is how long it may
// be down before Healthy fails (0 means DefaultDownGrace).
func NewHealth(proc Process, grace time.Duration) *Health {
	if grace <= 0 {
		grace = DefaultDownGrace
	}
	return &Health{proc: proc, grace: grace, now: time.Now}
}

// errNotRunning is the probes' answer while there is no master (its text is
// the body of the 503).
var errNotRunning = errors.New("nginx is not running")

// state returns nil when the master is up, else why not; stopped says
// whether it exists but is stopped.
func (h *Health) state() (stopped bool, err error) {
	if !h.proc.Alive() {
		return false, errNotRunning
	}
	pid := h.proc.Pid()
	st, err := ReadProcState(pid)
	if err != nil {
		return false, fmt.Errorf("nginx master %d: %w", pid, err)
	}
	switch st {
	case ProcStopped:
		return true, fmt.Errorf("nginx master %d is stopped (SIGSTOP?): it neither reloads nor restarts workers", pid)
	case ProcGone:
		return false, errNotRunning
	}
	return false, nil
}

// observe returns the master's state and since when it has been down.
func (h *Health) observe() (stopped bool, since time.Time, err error) {
	stopped, err = h.state()
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.downSince = time.Time{}
		return false, time.Time{}, nil
	}
	if h.downSince.IsZero() {
		h.downSince = now
	}
	since = h.downSince
	if r, ok := h.proc.(downReporter); ok {
		// The supervisor knows when the master really went, and that
		// before its first start nginx is not down but not started.
		since = r.DownSince()
	}
	return stopped, since, err
}

// Ready returns nil while the nginx master runs, is not stopped, and has
// written its pid file (it listens); otherwise why not ("nginx is not
// running"), for /readyz.
func (h *Health) Ready() error {
	_, _, err := h.observe()
	return err
}

// Healthy returns an error, for /healthz, when the nginx master is stopped,
// or has been down for longer than the grace period; a master that
// restarts within it keeps the controller healthy.
func (h *Health) Healthy() error {
	stopped, since, err := h.observe()
	if err == nil || (!stopped && (since.IsZero() || h.now().Sub(since) <= h.grace)) {
		return nil
	}
	if stopped {
		return err
	}
	return fmt.Errorf("%w for %s", err, h.now().Sub(since).Round(time.Second))
}

// Up reports whether the nginx master runs and is not stopped.
func (h *Health) Up() bool {
	_, _, err := h.observe()
	return err == nil
}

// processCollector computes portico_nginx_up (and, for a supervised nginx,
// portico_nginx_restarts_total) at scrape time.
type processCollector struct {
	health   *Health
	restarts func() uint64
	up       *prometheus.Desc
	count    *prometheus.Desc
}

// NewProcessCollector returns a collector of portico_nginx_up (1 while the
// master runs and is not stopped) and, when restarts is not nil (nginx run
// by the controller), portico_nginx_restarts_total: the unexpected exits of
// the master that the supervisor restarted.
func NewProcessCollector(h *Health, restarts func() uint64) prometheus.Collector {
	return &processCollector{
		health:   h,
		restarts: restarts,
		up:       prometheus.NewDesc("portico_nginx_up", "1 while the nginx master runs and is not stopped, else 0.", nil, nil),
		count: prometheus.NewDesc("portico_nginx_restarts_total",
			"Unexpected exits of the nginx master that the controller restarted (--start-nginx).", nil, nil),
	}
}

// Describe sends the descriptors.
func (c *processCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	if c.restarts != nil {
		ch <- c.count
	}
}

// Collect reads the master's state now.
func (c *processCollector) Collect(ch chan<- prometheus.Metric) {
	up := 0.0
	if c.health.Up() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
	if c.restarts != nil {
		ch <- prometheus.MustNewConstMetric(c.count, prometheus.CounterValue, float64(c.restarts()))
	}
}

// HealthPath is the internal server's location that answers 200 "ok", in
// the rendered config and in the nginx container's bootstrap config.
const HealthPath = "/portico/healthz"

// ProbeServing checks that nginx serves, for the nginx container's own
// readiness probe (`portico nginx-probe`): the master pidFile names runs
// and is not stopped, and a worker answers HealthPath on the internal
// server's unix socket. The socket is in a directory only nginx and the
// controller can enter, so no tenant's server can shadow the location.
func ProbeServing(ctx context.Context, pidFile, socket string) error {
	if err := NewHealth(PIDFileProcess{Path: pidFile}, 0).Ready(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://nginx"+HealthPath, nil)
	if err != nil {
		return fmt.Errorf("nginx probe: %w", err)
	}
	resp, err := InternalClient(socket, 0).Do(req)
	if err != nil {
		return fmt.Errorf("nginx does not answer on %s: %w", socket, err)
	}
	defer func() { _ = resp.Body.Close() }() // nothing of it is read
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("nginx answers %s with status %d", HealthPath, resp.StatusCode)
	}
	return nil
}
