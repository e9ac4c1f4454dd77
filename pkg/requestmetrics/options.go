// Package requestmetrics exports ingress-nginx's request metrics
// (nginx_ingress_controller_requests and its histograms) from the figures
// nginx aggregates itself.
//
// nginx's log phase adds each request to its worker's own table and a
// timer moves the sums to a shared dict every second
// (rootfs/usr/share/portico/lua/portico/metrics.lua); nothing is written
// to a socket per request. At scrape time the Collector reads the dict
// through nginx's internal server, names each route's figures after the
// Ingress that made the route, and builds the series, with as many labels
// as the operator's cap leaves room for.
package requestmetrics

import (
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
)

// Host modes of the host label, as metrics.lua reads them.
const (
	hostNone   = "none"
	hostServer = "server"
	hostAny    = "any"
)

// Options are the operator's choices, named after ingress-nginx's flags.
type Options struct {
	// PerHost adds the host label: the Ingress host that served the request.
	PerHost bool
	// PerUndefinedHost also labels requests for hosts no Ingress names
	// (the client's Host header; cleaned, and subject to MaxSeries).
	PerUndefinedHost bool
	// StatusClasses reports status as 2xx, 3xx, ... instead of the code.
	StatusClasses bool
	// Exclude are series not exported (and histograms nginx does not
	// record), with or without the nginx_ingress_controller_ prefix.
	Exclude []string
	// TimeBuckets are the upper bounds of the duration histograms (seconds).
	TimeBuckets []float64
	// LengthBuckets are the upper bounds of request_size and response_size (bytes).
	LengthBuckets []float64
	// SizeBuckets are the upper bounds of bytes_sent (bytes).
	SizeBuckets []float64
	// MaxSeries caps the request series exported; past it, the finest
	// labels are dropped first (host, path, method, status code, Service).
	MaxSeries int
}

// DefaultOptions are ingress-nginx's defaults, except that the host label
// is off until asked for (it multiplies the series by the hosts) and a cap
// of 300,000 series exists at all (about 1 GB in Prometheus).
func DefaultOptions() Options {
	return Options{
		TimeBuckets:   []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		LengthBuckets: []float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100},
		SizeBuckets:   []float64{10, 100, 1000, 10000, 100000, 1e+06, 1e+07},
		MaxSeries:     300000,
	}
}

// Prefix is the namespace of ingress-nginx's series.
const Prefix = "nginx_ingress_controller_"

// histogram is one of the request histograms: its code in metrics.lua
// (which is also its name after Prefix), its help text (ingress-nginx's)
// and which bucket option it uses.
type histogram struct {
	code, help string
	buckets    func(Options) []float64
}

// histograms are in metrics.lua's layout order (_M.HISTOGRAMS).
func histograms() []histogram {
	timeB := func(o Options) []float64 { return o.TimeBuckets }
	lengthB := func(o Options) []float64 { return o.LengthBuckets }
	sizeB := func(o Options) []float64 { return o.SizeBuckets }
	return []histogram{
		{"request_duration_seconds", "The request processing time in milliseconds", timeB},
		{"response_duration_seconds", "The time spent on receiving the response from the upstream server", timeB},
		{"connect_duration_seconds", "The time spent on establishing a connection with the upstream server", timeB},
		{"header_duration_seconds", "The time spent on receiving first header from the upstream server", timeB},
		{"request_size", "The request length (including request line, header, and request body)", lengthB},
		{"response_size", "The response length (including request line, header, and request body)", lengthB},
		{"bytes_sent", "DEPRECATED The number of bytes sent to a client", sizeB},
	}
}

// luaCode is the histogram's name in metrics.lua.
func (h histogram) luaCode() string {
	return strings.TrimSuffix(h.code, "_seconds")
}

// ExcludableNames are the series --exclude-socket-metrics accepts.
func ExcludableNames() []string {
	names := []string{Prefix + "requests"}
	for _, h := range histograms() {
		names = append(names, Prefix+h.code)
	}
	return names
}

// Validate says what is wrong with o, if anything.
func (o Options) Validate() error {
	if o.PerUndefinedHost && !o.PerHost {
		return fmt.Errorf("--metrics-per-undefined-host needs --metrics-per-host")
	}
	for name, b := range map[string][]float64{"--time-buckets": o.TimeBuckets, "--length-buckets": o.LengthBuckets, "--size-buckets": o.SizeBuckets} {
		if len(b) == 0 {
			return fmt.Errorf("%s: give at least one bucket", name)
		}
		if len(b) > 64 {
			return fmt.Errorf("%s: %d buckets, at most 64", name, len(b))
		}
		for i, v := range b {
			if v != v || v > 1e15 || v < -1e15 {
				return fmt.Errorf("%s: %v is not a usable bound", name, v)
			}
			if i > 0 && v <= b[i-1] {
				return fmt.Errorf("%s: bounds must increase (%v after %v)", name, v, b[i-1])
			}
		}
	}
	known := ExcludableNames()
	for _, e := range o.Exclude {
		if !slices.Contains(known, Prefix+strings.TrimPrefix(e, Prefix)) {
			return fmt.Errorf("--exclude-socket-metrics %q: not a request series; use one of %s", e, strings.Join(known, ", "))
		}
	}
	if o.MaxSeries < 1 {
		return fmt.Errorf("--metrics-max-series %d: must be at least 1", o.MaxSeries)
	}
	return nil
}

func (o Options) excluded(name string) bool {
	for _, e := range o.Exclude {
		if Prefix+strings.TrimPrefix(e, Prefix) == Prefix+name {
			return true
		}
	}
	return false
}

// layout is where each figure of a label set sits in metrics.lua's record:
// index 1 is the request count, then each recorded histogram has its
// count, its sum and one count per bucket, +Inf last.
type layout struct {
	tag   string
	size  int
	hists []histLayout
}

type histLayout struct {
	histogram
	offset int
	bounds []float64
}

func (o Options) layout() layout {
	l := layout{size: 1}
	var sig strings.Builder
	for _, h := range histograms() {
		if o.excluded(h.code) {
			continue
		}
		b := h.buckets(o)
		l.hists = append(l.hists, histLayout{histogram: h, offset: l.size + 1, bounds: b})
		l.size += 2 + len(b) + 1
		fmt.Fprintf(&sig, "%s:%s;", h.luaCode(), formatBounds(b))
	}
	l.tag = fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(sig.String())))
	return l
}

func formatBounds(b []float64) string {
	parts := make([]string, len(b))
	for i, v := range b {
		parts[i] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

// Env is the value of nginx.conf's `env PORTICO_METRICS=...;`, which tells
// metrics.lua what to record: TAG;HOST;METRICS;TIME;LENGTH;SIZE.
func (o Options) Env() string {
	l := o.layout()
	host := hostNone
	switch {
	case o.PerUndefinedHost:
		host = hostAny
	case o.PerHost:
		host = hostServer
	}
	codes := make([]string, len(l.hists))
	for i, h := range l.hists {
		codes[i] = h.luaCode()
	}
	return strings.Join([]string{l.tag, host, strings.Join(codes, ","),
		formatBounds(o.TimeBuckets), formatBounds(o.LengthBuckets), formatBounds(o.SizeBuckets)}, ";")
}

// seriesPerSet is how many Prometheus series one label set of l costs:
// the request counter (unless excluded), and per histogram its buckets,
// +Inf, _sum and _count.
func (l layout) seriesPerSet(requests bool) int {
	n := 0
	if requests {
		n++
	}
	for _, h := range l.hists {
		n += len(h.bounds) + 3
	}
	return max(n, 1)
}

// DumpLines returns how many figures nginx keeps per label set for o, and
// a function that writes one line of nginx's dump for o's layout as
// metrics.lua does: the label set, the figure's index (1..figures) and its
// value. For tests and benchmarks that stand in for nginx.
func (o Options) DumpLines() (figures int, line func(route, status, method, host, canary string, index int, v float64) string) {
	l := o.layout()
	return l.size, func(route, status, method, host, canary string, index int, v float64) string {
		return strings.Join([]string{l.tag, route, status, method, host, canary,
			strconv.Itoa(index), strconv.FormatFloat(v, 'g', 17, 64)}, "\t") + "\n"
	}
}
