package requestmetrics

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Source is nginx's side: the dict's dump and the deletion of routes' figures.
type Source interface {
	// Dump returns the dict's content ("KEY\tVALUE" lines).
	Dump(ctx context.Context) (io.ReadCloser, error)
	// Forget deletes the figures of routes.
	Forget(ctx context.Context, routes []string) error
}

// Config is what a Collector needs besides the Options.
type Config struct {
	// ConstLabels are on every request series: ingress-nginx's
	// controller_namespace, controller_class and controller_pod.
	ConstLabels prometheus.Labels
	// Source reads nginx's figures.
	Source Source
	// Logger says when the cap drops labels and when nginx cannot be read.
	Logger *slog.Logger
	// ForgetAfter is how long a route may be absent from the live
	// configuration before its figures are deleted (default 10 minutes:
	// old workers keep serving a removed route for a while after a reload).
	ForgetAfter time.Duration
	// Timeout bounds one read of nginx's figures (default 10 s).
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Collector is the prometheus.Collector of the request series.
type Collector struct {
	opts   Options
	layout layout
	cfg    Config
	// maxSets is how many label sets fit under Options.MaxSeries.
	maxSets int

	requests   *prometheus.Desc
	hists      []*prometheus.Desc
	sets       *prometheus.Desc
	capped     *prometheus.Desc
	dropped    *prometheus.Desc
	readErrors prometheus.Counter

	mu           sync.Mutex
	routes       map[string]RouteLabels
	unknownSince map[string]time.Time
	level        int
}

// NewCollector returns the collector for o (valid: Options.Validate).
func NewCollector(o Options, cfg Config) *Collector {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ForgetAfter == 0 {
		cfg.ForgetAfter = 10 * time.Minute
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := o.layout()
	c := &Collector{opts: o, layout: l, cfg: cfg, unknownSince: map[string]time.Time{},
		maxSets: max(o.MaxSeries/l.seriesPerSet(!o.excluded("requests")), 1)}
	names := labelNames(o.PerHost)
	if !o.excluded("requests") {
		c.requests = prometheus.NewDesc(Prefix+"requests", "The total number of client requests", names, cfg.ConstLabels)
	}
	for _, h := range c.layout.hists {
		c.hists = append(c.hists, prometheus.NewDesc(Prefix+h.code, h.help, names, cfg.ConstLabels))
	}
	c.sets = prometheus.NewDesc("portico_request_metrics_label_sets",
		"Label sets of the request series before the cap (--metrics-max-series) merged any.", nil, nil)
	c.capped = prometheus.NewDesc("portico_request_metrics_capped",
		"How many labels the cap (--metrics-max-series) drops from the request series, finest first "+
			"(host, path, method, status code, canary, service, ingress, namespace, status class); 0 when it drops none.", nil, nil)
	c.dropped = prometheus.NewDesc("portico_request_metrics_dropped_total",
		"Request figures nginx could not record because its dict (--request-metrics-memory) was full.", nil, nil)
	c.readErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "portico_request_metrics_read_errors_total",
		Help: "Scrapes whose request series are missing because nginx's figures could not be read.",
	})
	return c
}

// SetRoutes replaces the labels of the live configuration's routes.
func (c *Collector) SetRoutes(routes map[string]RouteLabels) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.routes = routes
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	if c.requests != nil {
		ch <- c.requests
	}
	for _, d := range c.hists {
		ch <- d
	}
	ch <- c.sets
	ch <- c.capped
	ch <- c.dropped
	c.readErrors.Describe(ch)
}

// Collect implements prometheus.Collector: it reads nginx's figures and
// sends the series. When nginx cannot be read the request series are
// missing from this scrape (and portico_request_metrics_read_errors_total
// says so) rather than the scrape failing.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	defer c.readErrors.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	d, err := c.read(ctx)
	if err != nil {
		c.readErrors.Inc()
		c.cfg.Logger.Warn("request metrics: cannot read nginx's figures", "error", err)
		return
	}
	c.mu.Lock()
	routes := c.routes
	c.mu.Unlock()
	a := aggregate(d, routes, c.opts, c.maxSets)
	c.report(a)
	c.forgetGone(ctx, a.unknown)

	ch <- prometheus.MustNewConstMetric(c.sets, prometheus.GaugeValue, float64(a.fine))
	ch <- prometheus.MustNewConstMetric(c.capped, prometheus.GaugeValue, float64(a.level))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, d.dropped)
	for l, rec := range a.sets {
		values := l.values(c.opts.PerHost)
		if c.requests != nil {
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, rec[1], values...)
		}
		for i, h := range c.layout.hists {
			count := rec[h.offset]
			if count == 0 {
				// Never observed (no upstream for these requests): no series, as with ingress-nginx.
				continue
			}
			buckets := make(map[float64]uint64, len(h.bounds))
			var cum float64
			for j, b := range h.bounds {
				cum += rec[h.offset+2+j]
				buckets[b] = uint64(cum)
			}
			ch <- prometheus.MustNewConstHistogram(c.hists[i], uint64(count), rec[h.offset+1], buckets, values...)
		}
	}
}

func (c *Collector) read(ctx context.Context) (dump, error) {
	body, err := c.cfg.Source.Dump(ctx)
	if err != nil {
		return dump{}, err
	}
	defer body.Close()
	return parseDump(body, c.layout)
}

// report logs when the cap starts, changes or stops dropping labels.
func (c *Collector) report(a aggregation) {
	c.mu.Lock()
	prev := c.level
	c.level = a.level
	c.mu.Unlock()
	if prev == a.level {
		return
	}
	if a.level == 0 {
		c.cfg.Logger.Info("request metrics: every label is back, the label sets fit under --metrics-max-series",
			"label_sets", a.fine, "max_series", c.opts.MaxSeries)
		return
	}
	c.cfg.Logger.Warn("request metrics: too many label sets for --metrics-max-series; labels dropped",
		"dropped", Dropped(a.level), "label_sets", a.fine, "exported", len(a.sets), "max_series", c.opts.MaxSeries,
		"fix", "raise --metrics-max-series, or turn off --metrics-per-host")
}

// forgetGone deletes, in nginx, the figures of routes that have been
// missing from the live configuration for ForgetAfter: Ingresses deleted
// for good, whose series would otherwise stay forever.
func (c *Collector) forgetGone(ctx context.Context, unknown []string) {
	now := c.cfg.Now()
	c.mu.Lock()
	if c.routes == nil {
		// No live configuration yet: every route is unknown.
		c.mu.Unlock()
		return
	}
	var gone []string
	still := map[string]time.Time{}
	for _, r := range unknown {
		since, ok := c.unknownSince[r]
		if !ok {
			since = now
		}
		if now.Sub(since) >= c.cfg.ForgetAfter {
			gone = append(gone, r)
			continue
		}
		still[r] = since
	}
	c.unknownSince = still
	c.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	slices.Sort(gone)
	if err := c.cfg.Source.Forget(ctx, gone); err != nil {
		c.cfg.Logger.Warn("request metrics: cannot delete the figures of removed routes", "routes", len(gone), "error", err)
		return
	}
	c.cfg.Logger.Info("request metrics: deleted the figures of routes gone from the configuration", "routes", len(gone))
}
