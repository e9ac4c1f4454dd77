package main

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	dto "github.com/prometheus/client_model/go"

	"github.com/portico-ingress/portico/pkg/admission"
	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/compat"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/nginx"
	"github.com/portico-ingress/portico/pkg/promql"
	"github.com/portico-ingress/portico/pkg/reload"
	"github.com/portico-ingress/portico/pkg/requestmetrics"
	"github.com/portico-ingress/portico/pkg/requestmetrics/requestmetricstest"
)

// The Grafana dashboard ships twice: in deploy/ for people who import it
// by hand, and in the chart (a chart cannot read files outside itself).
const (
	dashboardDeploy = "../../deploy/grafana/portico.json"
	dashboardChart  = "../../charts/portico/dashboards/portico.json"
)

// exportedSeries lists what /metrics serves, from the registry the
// controller builds (newOutputs) with every collector made to report: nginx
// run by the controller (so portico_nginx_restarts_total exists), one
// reload recorded, one certificate served for one host and one finding. It maps each
// series name to the labels its samples carry with a value (Prometheus
// drops a label whose value is empty). Histograms and summaries count with
// their _bucket, _sum and _count series, which PromQL names; _bucket
// carries le.
func exportedSeries(t *testing.T) map[string]map[string]bool {
	t.Helper()
	// The supervisor only counts restarts (portico_nginx_restarts_total);
	// the series read from nginx at scrape time read a stand-in.
	sup := nginx.NewSupervisor(nginx.Options{}, io.Discard, io.Discard)
	proc, socket := fakeNginx(t)
	parts := nginxParts{opts: nginx.Options{Socket: socket}, proc: proc, supervisor: sup, health: nginx.NewHealth(proc, time.Second)}
	out := newOutputs(slog.New(slog.NewTextHandler(io.Discard, nil)), parts, "lua", 1, time.Now(),
		compat.Controller{Namespace: "ingress", Class: "k8s.io/portico", Pod: "portico-0"})
	out.recorder.Record(reload.Event{Result: reload.ResultSuccess, Generation: 1, ConfigHash: strings.Repeat("a", 64), Time: time.Now()})
	out.expiry.Set([]certs.Expiry{{Namespace: "ns", Secret: "tls", NotAfter: time.Now().Add(time.Hour), Hosts: []string{"a.example.com"}}})
	out.findings.Findings([]model.Finding{{Reason: "ServiceNotFound", Severity: model.Served}})
	// The request series as runController makes them, with --metrics-per-host
	// (the request-handling-performance dashboard groups by host) and one
	// canary request so that every label has a value.
	var flags requestMetricsFlags
	flags.register(pflag.NewFlagSet("test", pflag.ContinueOnError))
	flags.opts.PerHost = true
	env, memory, err := flags.env()
	require.NoError(t, err)
	g := model.Global{RequestMetrics: env, RequestMetricsMemory: memory}
	src := requestmetricstest.NewSource(flags.opts, requestmetricstest.Set{Route: "r1", Status: "200", Method: "GET", Host: "a.example.com", Canary: "ns.canary.80"})
	requests := newRequestMetrics(flags, g, model.BalancerLua, compat.Controller{Namespace: "ingress", Class: "k8s.io/portico", Pod: "portico-0"},
		src, slog.New(slog.DiscardHandler))
	require.NotNil(t, requests)
	requests.SetRoutes(map[string]requestmetrics.RouteLabels{"r1": {Namespace: "shop", Ingress: "web", Service: "api", Path: "/"}})
	out.registry.MustRegister(requests)
	admission.NewMetrics(out.registry).Review("Ingress", "allowed", time.Millisecond)
	families, err := out.registry.Gather()
	require.NoError(t, err)
	series := map[string]map[string]bool{}
	add := func(name string, labels map[string]bool, extra ...string) {
		if series[name] == nil {
			series[name] = map[string]bool{}
		}
		for l := range labels {
			series[name][l] = true
		}
		for _, l := range extra {
			series[name][l] = true
		}
	}
	for _, f := range families {
		n := f.GetName()
		labels := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() != "" {
					labels[lp.GetName()] = true
				}
			}
		}
		add(n, labels)
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			add(n+"_bucket", labels, "le")
			add(n+"_sum", labels)
			add(n+"_count", labels)
		case dto.MetricType_SUMMARY:
			add(n+"_sum", labels)
			add(n+"_count", labels)
		}
	}
	return series
}

// dashboardNeeds returns what a Grafana dashboard's queries need of the
// exporter (promql.ForExporter says which labels Prometheus adds itself).
func dashboardNeeds(t *testing.T, raw []byte) promql.Needs {
	t.Helper()
	d, err := promql.ReadDashboard(raw)
	require.NoError(t, err)
	require.NotEmpty(t, d.Queries)
	for _, q := range d.Queries {
		n, err := d.Read(q)
		require.NoError(t, err)
		assert.NotEmpty(t, n, "%s names no metric: %s", q.Where, q.Expr)
	}
	needs, err := d.Needs()
	require.NoError(t, err)
	return promql.ForExporter(needs)
}

// assertExported checks every need against the series exported lists.
func assertExported(t *testing.T, what string, needs promql.Needs, exported map[string]map[string]bool) {
	t.Helper()
	for name, labels := range needs {
		have, ok := exported[name]
		if !assert.True(t, ok, "%s uses %s, which Portico does not export", what, name) {
			continue
		}
		for l := range labels {
			assert.True(t, have[l], "%s uses %s with label %s, which Portico does not put on it", what, name, l)
		}
	}
}

// TestGrafanaDashboardNamesExportedMetrics: every query of the dashboard
// names only metrics the controller exports, with the labels it groups
// and filters by, so a renamed metric or label cannot leave an empty panel
// behind; and every Portico metric has a panel.
func TestGrafanaDashboardNamesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile(dashboardDeploy)
	require.NoError(t, err)
	inChart, err := os.ReadFile(dashboardChart)
	require.NoError(t, err)
	assert.Equal(t, string(raw), string(inChart), "charts/portico/dashboards/portico.json must be a copy of deploy/grafana/portico.json")

	exported := exportedSeries(t)
	needs := dashboardNeeds(t, raw)
	assertExported(t, "the dashboard", needs, exported)
	used := map[string]bool{}
	for n := range needs {
		used[n] = true
	}
	for n := range exported {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		// Only portico_* series need a panel here: the nginx_ingress_controller_*
		// series exist for ingress-nginx's own dashboards, which show them.
		if !strings.HasPrefix(n, "portico_") || (base != n && exported[base] != nil) {
			continue
		}
		covered := used[n]
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			covered = covered || used[n+s]
		}
		assert.True(t, covered, "Portico exports %s and no panel shows it", n)
	}
}

// ingressNginxDashboards is where e2e/local keeps ingress-nginx's Grafana
// dashboards, vendored unchanged.
const ingressNginxDashboards = "../../e2e/local/testdata/ingress-nginx-dashboards/"

// TestIngressNginxDashboardsUseExportedSeries: ingress-nginx's dashboards
// work against Portico unchanged: every series and label their queries
// need is in the registry. e2e/local's
// TestIngressNginxDashboards checks the same against a real /metrics.
func TestIngressNginxDashboardsUseExportedSeries(t *testing.T) {
	exported := exportedSeries(t)
	for _, file := range []string{"nginx.json", "request-handling-performance.json"} {
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(ingressNginxDashboards + file)
			require.NoError(t, err)
			assertExported(t, file, dashboardNeeds(t, raw), exported)
		})
	}
}
