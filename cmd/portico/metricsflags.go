package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/portico-ingress/portico/pkg/requestmetrics"
)

// requestMetricsFlags choose the request series (pkg/requestmetrics), with
// ingress-nginx's flag names where it has them.
type requestMetricsFlags struct {
	on     bool
	memory string
	opts   requestmetrics.Options
}

func (f *requestMetricsFlags) register(fs *pflag.FlagSet) {
	d := requestmetrics.DefaultOptions()
	f.opts = d
	fs.BoolVar(&f.on, "request-metrics", true,
		"export ingress-nginx's request series (nginx_ingress_controller_requests, _request_duration_seconds, ...), aggregated inside nginx; needs the Lua balancer")
	fs.StringVar(&f.memory, "request-metrics-memory", "32m",
		"size of nginx's shared dict for the request figures (an nginx size such as 32m); when full, new figures are dropped and counted in portico_request_metrics_dropped_total")
	fs.BoolVar(&f.opts.PerHost, "metrics-per-host", false,
		"add the host label (the Ingress host that served the request) to the request series; ingress-nginx's default is true, Portico's false because it multiplies the series by the hosts")
	fs.BoolVar(&f.opts.PerUndefinedHost, "metrics-per-undefined-host", false,
		"with --metrics-per-host, label requests for hosts no Ingress names with the client's Host header too (else host=\"\")")
	fs.BoolVar(&f.opts.StatusClasses, "report-status-classes", false, "report the status label as 2xx, 3xx, 4xx, 5xx instead of the code")
	fs.StringSliceVar(&f.opts.Exclude, "exclude-socket-metrics", nil,
		"request series not to export (nginx then does not record the histograms either), e.g. nginx_ingress_controller_bytes_sent,nginx_ingress_controller_connect_duration_seconds")
	fs.Float64SliceVar(&f.opts.TimeBuckets, "time-buckets", d.TimeBuckets, "upper bounds of the duration histograms, in seconds")
	fs.Float64SliceVar(&f.opts.LengthBuckets, "length-buckets", d.LengthBuckets, "upper bounds of the request_size and response_size histograms, in bytes")
	fs.Float64SliceVar(&f.opts.SizeBuckets, "size-buckets", d.SizeBuckets, "upper bounds of the bytes_sent histogram, in bytes")
	fs.IntVar(&f.opts.MaxSeries, "metrics-max-series", d.MaxSeries,
		"most request series exported (buckets, sums and counts included); past it the finest labels are merged away first (host, path, method, status code, canary, service, ingress, namespace), which portico_request_metrics_capped and the log report")
}

// nginxSize is what nginx takes as a size: a number and k or m.
var nginxSize = regexp.MustCompile(`^([0-9]{1,6})([kKmM]?)$`)

// env returns the value of Global.RequestMetrics ("" when off) and the
// dict's size, after checking the flags.
func (f *requestMetricsFlags) env() (string, string, error) {
	if !f.on {
		return "", "", nil
	}
	if err := f.opts.Validate(); err != nil {
		return "", "", err
	}
	m := nginxSize.FindStringSubmatch(f.memory)
	if m == nil {
		return "", "", fmt.Errorf("--request-metrics-memory %q: use a size nginx reads, such as 32m or 65536k", f.memory)
	}
	n, _ := strconv.Atoi(m[1])
	bytes := n
	switch strings.ToLower(m[2]) {
	case "k":
		bytes = n << 10
	case "m":
		bytes = n << 20
	}
	if bytes < 1<<20 {
		return "", "", fmt.Errorf("--request-metrics-memory %q: at least 1m", f.memory)
	}
	return f.opts.Env(), f.memory, nil
}
