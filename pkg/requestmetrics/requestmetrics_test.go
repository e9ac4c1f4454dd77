package requestmetrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// small is a layout of two histograms (request_duration with bounds 0.1
// and 1, bytes_sent with bound 100), as metrics_spec.lua uses.
func small() Options {
	o := DefaultOptions()
	o.TimeBuckets = []float64{0.1, 1}
	o.LengthBuckets = []float64{10}
	o.SizeBuckets = []float64{100}
	o.Exclude = []string{"response_duration_seconds", "nginx_ingress_controller_connect_duration_seconds",
		"header_duration_seconds", "request_size", "response_size"}
	return o
}

func TestEnvMatchesTheLuaLayout(t *testing.T) {
	o := small()
	require.NoError(t, o.Validate())
	env := o.Env()
	f := strings.Split(env, ";")
	require.Len(t, f, 6)
	assert.Regexp(t, `^[0-9a-f]{8}$`, f[0])
	assert.Equal(t, []string{"none", "request_duration,bytes_sent", "0.1,1", "10", "100"}, f[1:])
	l := o.layout()
	// metrics_spec.lua: request_duration at 2, bytes_sent at 7, 10 figures.
	assert.Equal(t, 10, l.size)
	assert.Equal(t, 2, l.hists[0].offset)
	assert.Equal(t, 7, l.hists[1].offset)

	o.PerHost = true
	assert.Equal(t, "server", strings.Split(o.Env(), ";")[1])
	o.PerUndefinedHost = true
	assert.Equal(t, "any", strings.Split(o.Env(), ";")[1])
	assert.Equal(t, f[0], strings.Split(o.Env(), ";")[0], "the host mode is not part of the layout")
	o.TimeBuckets = []float64{0.2, 1}
	assert.NotEqual(t, f[0], strings.Split(o.Env(), ";")[0], "other buckets, another layout")

	d := DefaultOptions()
	assert.Equal(t, "0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10", strings.Split(d.Env(), ";")[3])
	assert.Equal(t, "10,100,1000,10000,100000,1e+06,1e+07", strings.Split(d.Env(), ";")[5])
	// 1 counter and 7 histograms: 3 of 11 time buckets, 2 of 10, 1 of 7.
	assert.Equal(t, 1+4*(11+3)+2*(10+3)+(7+3), d.layout().seriesPerSet(true))
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"undefined hosts without hosts", func(o *Options) { o.PerUndefinedHost = true }, "needs --metrics-per-host"},
		{"no buckets", func(o *Options) { o.TimeBuckets = nil }, "--time-buckets: give at least one"},
		{"not increasing", func(o *Options) { o.SizeBuckets = []float64{10, 10} }, "--size-buckets: bounds must increase"},
		{"unknown series", func(o *Options) { o.Exclude = []string{"nginx_ingress_controller_success"} }, "not a request series"},
		{"no series", func(o *Options) { o.MaxSeries = 0 }, "at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.edit(&o)
			assert.ErrorContains(t, o.Validate(), tc.want)
		})
	}
	assert.NoError(t, DefaultOptions().Validate())
}

func TestParseDump(t *testing.T) {
	l := small().layout()
	text := fmt.Sprintf("#tag\t%[1]s\n#dropped\t3\n%[1]s\tr1\t200\tGET\t\t\t1\t4\n%[1]s\tr1\t200\tGET\t\t\t3\t0.25\n"+
		"0badc0de\tr1\t200\tGET\t\t\t1\t99\n", l.tag)
	d, err := parseDump(strings.NewReader(text), l)
	require.NoError(t, err)
	assert.Equal(t, 3.0, d.dropped)
	require.Len(t, d.sets, 1, "another layout's figures are skipped")
	rec := d.sets[rawSet{route: "r1", status: "200", method: "GET"}]
	assert.Equal(t, 4.0, rec[1])
	assert.Equal(t, 0.25, rec[3])

	for _, bad := range []string{
		l.tag + "\tr1\t200\tGET\t\t1\t4\n",      // a field short
		l.tag + "\tr1\t200\tGET\t\t\t11\t4\n",   // past the layout
		l.tag + "\tr1\t200\tGET\t\t\t1\tfour\n", // not a number
		"#dropped\tmany\n",
	} {
		_, err := parseDump(strings.NewReader(bad), l)
		assert.Error(t, err, bad)
	}
}

// fakeSource is nginx's side for unit tests.
type fakeSource struct {
	text      string
	err       error
	forgotten [][]string
}

func (f *fakeSource) Dump(context.Context) (io.ReadCloser, error) {
	if f.err != nil {
		return nil, f.err
	}
	return io.NopCloser(strings.NewReader(f.text)), nil
}

func (f *fakeSource) Forget(_ context.Context, routes []string) error {
	f.forgotten = append(f.forgotten, routes)
	return nil
}

// line is one figure of the dump.
func line(l layout, route, status, method, host, canary string, idx int, v float64) string {
	return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%d\t%g\n", l.tag, route, status, method, host, canary, idx, v)
}

func TestCollectorExportsIngressNginxSeries(t *testing.T) {
	o := small()
	l := o.layout()
	src := &fakeSource{text: "#dropped\t0\n" +
		line(l, "r1", "200", "GET", "", "", 1, 3) +
		line(l, "r1", "200", "GET", "", "", 2, 3) + // request_duration count
		line(l, "r1", "200", "GET", "", "", 3, 3.55) +
		line(l, "r1", "200", "GET", "", "", 4, 1) +
		line(l, "r1", "200", "GET", "", "", 5, 1) +
		line(l, "r1", "200", "GET", "", "", 6, 1) +
		line(l, "r1c", "503", "POST", "", "ns.canary.80", 1, 1) + // only counted
		line(l, "", "404", "GET", "", "", 1, 2)}
	c := NewCollector(o, Config{Source: src, ConstLabels: prometheus.Labels{"controller_pod": "p"}})
	c.SetRoutes(map[string]RouteLabels{
		"r1":  {Namespace: "shop", Ingress: "web", Service: "api", Path: "/api"},
		"r1c": {Namespace: "shop", Ingress: "web", Service: "api", Path: "/"},
	})
	want := `
# HELP nginx_ingress_controller_request_duration_seconds The request processing time in milliseconds
# TYPE nginx_ingress_controller_request_duration_seconds histogram
nginx_ingress_controller_request_duration_seconds_bucket{canary="",controller_pod="p",ingress="web",method="GET",namespace="shop",path="/api",service="api",status="200",le="0.1"} 1
nginx_ingress_controller_request_duration_seconds_bucket{canary="",controller_pod="p",ingress="web",method="GET",namespace="shop",path="/api",service="api",status="200",le="1"} 2
nginx_ingress_controller_request_duration_seconds_bucket{canary="",controller_pod="p",ingress="web",method="GET",namespace="shop",path="/api",service="api",status="200",le="+Inf"} 3
nginx_ingress_controller_request_duration_seconds_sum{canary="",controller_pod="p",ingress="web",method="GET",namespace="shop",path="/api",service="api",status="200"} 3.55
nginx_ingress_controller_request_duration_seconds_count{canary="",controller_pod="p",ingress="web",method="GET",namespace="shop",path="/api",service="api",status="200"} 3
# HELP nginx_ingress_controller_requests The total number of client requests
# TYPE nginx_ingress_controller_requests counter
nginx_ingress_controller_requests{canary="",controller_pod="p",ingress="",method="GET",namespace="",path="",service="",status="404"} 2
nginx_ingress_controller_requests{canary="",controller_pod="p",ingress="web",method="GET",namespace="shop",path="/api",service="api",status="200"} 3
nginx_ingress_controller_requests{canary="ns.canary.80",controller_pod="p",ingress="web",method="POST",namespace="shop",path="/",service="api",status="503"} 1
# HELP portico_request_metrics_capped How many labels the cap (--metrics-max-series) drops from the request series, finest first (host, path, method, status code, canary, service, ingress, namespace, status class); 0 when it drops none.
# TYPE portico_request_metrics_capped gauge
portico_request_metrics_capped 0
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want),
		"nginx_ingress_controller_requests", "nginx_ingress_controller_request_duration_seconds", "portico_request_metrics_capped"))
	assert.Equal(t, 3, testutil.CollectAndCount(c, "nginx_ingress_controller_requests"))
}

func TestCollectorStatusClassesAndHosts(t *testing.T) {
	o := small()
	o.StatusClasses = true
	l := o.layout()
	src := &fakeSource{text: line(l, "r1", "200", "GET", "a.example.com", "", 1, 1) +
		line(l, "r1", "204", "GET", "b.example.com", "", 1, 2)}
	c := NewCollector(o, Config{Source: src})
	c.SetRoutes(map[string]RouteLabels{"r1": {Namespace: "ns", Ingress: "i", Service: "s", Path: "/"}})
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(`
# HELP nginx_ingress_controller_requests The total number of client requests
# TYPE nginx_ingress_controller_requests counter
nginx_ingress_controller_requests{canary="",ingress="i",method="GET",namespace="ns",path="/",service="s",status="2xx"} 3
`), "nginx_ingress_controller_requests"), "without --metrics-per-host the hosts merge")

	o.PerHost = true
	c = NewCollector(o, Config{Source: src})
	c.SetRoutes(map[string]RouteLabels{"r1": {Namespace: "ns", Ingress: "i", Service: "s", Path: "/"}})
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(`
# HELP nginx_ingress_controller_requests The total number of client requests
# TYPE nginx_ingress_controller_requests counter
nginx_ingress_controller_requests{canary="",host="a.example.com",ingress="i",method="GET",namespace="ns",path="/",service="s",status="2xx"} 1
nginx_ingress_controller_requests{canary="",host="b.example.com",ingress="i",method="GET",namespace="ns",path="/",service="s",status="2xx"} 2
`), "nginx_ingress_controller_requests"))
}

// TestCapDropsFinestLabelsFirst: 40 Ingresses of 5 paths, 3 methods and 2
// statuses are 1,200 label sets; the cap merges them level by level.
func TestCapDropsFinestLabelsFirst(t *testing.T) {
	o := small()
	o.Exclude = append(o.Exclude, "request_duration_seconds", "bytes_sent")
	l := o.layout()
	routes := map[string]RouteLabels{}
	var text strings.Builder
	for i := range 40 {
		for p := range 5 {
			r := fmt.Sprintf("r%d_%d", i, p)
			routes[r] = RouteLabels{Namespace: "ns", Ingress: fmt.Sprintf("ing%d", i), Service: "svc", Path: fmt.Sprintf("/p%d", p)}
			for _, m := range []string{"GET", "POST", "PUT"} {
				for _, s := range []string{"200", "503"} {
					text.WriteString(line(l, r, s, m, "", "", 1, 1))
				}
			}
		}
	}
	for _, tc := range []struct {
		max, wantLevel, wantSeries int
		wantDropped                string
	}{
		{2000, 0, 1200, ""},
		{1200, 0, 1200, ""},
		{1199, 2, 240, "host, path"}, // no host label: dropping it merges nothing
		{200, 3, 80, "host, path, method"},
		{80, 3, 80, "host, path, method"},
		// One namespace: the Ingress goes, two status classes remain.
		{79, 7, 2, "host, path, method, status code, canary, service, ingress"},
		{2, 7, 2, "host, path, method, status code, canary, service, ingress"},
		{1, 9, 1, "host, path, method, status code, canary, service, ingress, namespace, status class"},
	} {
		t.Run(fmt.Sprint(tc.max), func(t *testing.T) {
			o.MaxSeries = tc.max
			var logs strings.Builder
			c := NewCollector(o, Config{Source: &fakeSource{text: text.String()}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			c.SetRoutes(routes)
			assert.Equal(t, tc.wantSeries, testutil.CollectAndCount(c, "nginx_ingress_controller_requests"))
			assert.Equal(t, float64(tc.wantLevel), sumOf(t, c, "portico_request_metrics_capped"))
			assert.Equal(t, 1200.0, sumOf(t, c, "portico_request_metrics_label_sets"))
			assert.Equal(t, tc.wantDropped, Dropped(tc.wantLevel))
			if tc.wantLevel > 0 {
				assert.Contains(t, logs.String(), "labels dropped")
				assert.Contains(t, logs.String(), `dropped="`+tc.wantDropped+`"`)
			} else {
				assert.NotContains(t, logs.String(), "labels dropped")
			}
			// The totals survive any cap.
			assert.Equal(t, 1200.0, sumOf(t, c, "nginx_ingress_controller_requests"))
		})
	}
}

func sumOf(t *testing.T, c prometheus.Collector, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	families, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func TestUnreadableNginxFailsNoScrape(t *testing.T) {
	c := NewCollector(small(), Config{Source: &fakeSource{err: errors.New("connection refused")}})
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	families, err := reg.Gather()
	require.NoError(t, err)
	assert.Equal(t, 1.0, testutil.ToFloat64(c.readErrors))
	for _, f := range families {
		assert.NotContains(t, f.GetName(), "nginx_ingress_controller_", "no request series when nginx cannot be read")
	}
}

func TestForgetsRoutesGoneForAWhile(t *testing.T) {
	o := small()
	l := o.layout()
	now := time.Unix(1000, 0)
	src := &fakeSource{text: line(l, "gone", "200", "GET", "", "", 1, 1) + line(l, "live", "200", "GET", "", "", 1, 1) +
		line(l, "", "404", "GET", "", "", 1, 1)}
	c := NewCollector(o, Config{Source: src, ForgetAfter: time.Minute, Now: func() time.Time { return now }})
	testutil.CollectAndCount(c)
	assert.Empty(t, src.forgotten, "no live configuration yet: nothing is known to be gone")
	c.SetRoutes(map[string]RouteLabels{"live": {Namespace: "ns", Ingress: "i"}})
	testutil.CollectAndCount(c)
	now = now.Add(59 * time.Second)
	testutil.CollectAndCount(c)
	assert.Empty(t, src.forgotten)
	now = now.Add(time.Second)
	testutil.CollectAndCount(c)
	assert.Equal(t, [][]string{{"gone"}}, src.forgotten)
}

// TestHostilePathCannotForgeSeries: an Ingress path is a tenant's text and
// becomes the path label; whatever it holds stays inside that label, so it
// cannot make a series that seems to be another Ingress's.
func TestHostilePathCannotForgeSeries(t *testing.T) {
	o := small()
	o.PerHost = true
	l := o.layout()
	hostile := "/a\"} 1\nnginx_ingress_controller_requests{ingress=\"victim\",namespace=\"bank\"} 99\n#"
	c := NewCollector(o, Config{Source: &fakeSource{text: line(l, "r1", "200", "GET", "x\"y", "", 1, 1)}})
	c.SetRoutes(map[string]RouteLabels{"r1": {Namespace: "tenant", Ingress: "mine", Service: "s", Path: hostile}})
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	families, err := reg.Gather()
	require.NoError(t, err)
	var text strings.Builder
	for _, f := range families {
		_, err := expfmt.MetricFamilyToText(&text, f)
		require.NoError(t, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	parsed, err := parser.TextToMetricFamilies(strings.NewReader(text.String()))
	require.NoError(t, err, "the exposition stays valid:\n%s", text.String())
	requests := parsed["nginx_ingress_controller_requests"]
	require.NotNil(t, requests)
	require.Len(t, requests.GetMetric(), 1, "one series, the tenant's own")
	got := map[string]string{}
	for _, lp := range requests.GetMetric()[0].GetLabel() {
		got[lp.GetName()] = lp.GetValue()
	}
	assert.Equal(t, hostile, got["path"])
	assert.Equal(t, "mine", got["ingress"])
	assert.Equal(t, "tenant", got["namespace"])
}
