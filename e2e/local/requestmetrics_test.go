//go:build linux

package local

import (
	"fmt"
	"maps"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

const requestsSeries = "nginx_ingress_controller_requests"

// scrape returns /metrics' samples.
func scrape(t *testing.T, c *controller) []framework.Series {
	t.Helper()
	code, body, err := c.StatusGet("/metrics")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	series, err := framework.ParseMetrics(body)
	require.NoError(t, err)
	return series
}

// waitSum waits until the series' samples with labels add up to want
// (nginx's workers move their figures to the shared dict once a second)
// and returns the scrape.
func waitSum(t *testing.T, c *controller, name string, labels map[string]string, want float64) []framework.Series {
	t.Helper()
	var got float64
	var series []framework.Series
	ok := assert.Eventually(t, func() bool {
		series = scrape(t, c)
		got, _ = framework.SumSeries(series, name, labels)
		return got == want
	}, framework.RouteTimeout, framework.PollInterval)
	require.True(t, ok, "%s%v: %v, want %v", name, labels, got, want)
	return series
}

func send(t *testing.T, c *controller, method, host, path string) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+host+path, nil)
	require.NoError(t, err)
	r, err := framework.Do(c.Client, req)
	require.NoError(t, err)
	return r.Status
}

// TestRequestMetrics: requests through a real nginx show in ingress-nginx's
// series with its labels, counted exactly once: an Ingress's 200s with its
// namespace, name, Service and path; a 403 its allowlist answered, before
// any backend, still under the Ingress; a host no Ingress names under empty
// labels; unknown methods as OTHER; and the controller's own requests to
// nginx's internal server not at all.
func TestRequestMetrics(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "api")
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{
		files: map[string]string{
			"services.yaml": servicesYAML(b),
			"shop.yaml":     inNamespace("shop", ingressYAML("web", "shop.example.com", route{"/api", "Prefix", "api"})),
			"walled.yaml": annotate(ingressYAML("walled", "walled.example.com", route{"/", "Prefix", "api"}),
				map[string]string{p + "whitelist-source-range": `"192.0.2.0/24"`}),
		},
		env: append(os.Environ(), "POD_NAMESPACE=ingress", "POD_NAME=portico-0"),
	})
	c.writeManifest(t, "shop-services.yaml", inNamespace("shop", servicesYAML(b)))
	c.WaitServed(t, "shop.example.com", "/api", "api")
	// WaitServed's own requests count too: start from what is there.
	web := map[string]string{"namespace": "shop", "ingress": "web", "service": "api", "path": "/api", "status": "200", "method": "GET",
		"canary": "", "controller_namespace": "ingress", "controller_pod": "portico-0", "controller_class": "portico.dev/ingress-controller"}
	waitSumAtLeast(t, c, requestsSeries, web, 1)
	series := settled(t, c)
	before, _ := framework.SumSeries(series, requestsSeries, web)
	totalBefore, _ := framework.SumSeries(series, requestsSeries, nil)

	const n = 25
	for range n {
		require.Equal(t, http.StatusOK, send(t, c, http.MethodGet, "shop.example.com", "/api/items"))
	}
	for range 3 {
		require.Equal(t, http.StatusForbidden, send(t, c, http.MethodGet, "walled.example.com", "/"))
		require.Equal(t, http.StatusNotFound, send(t, c, http.MethodGet, "nowhere.example.com", "/"))
		send(t, c, "BREW", "shop.example.com", "/api")
		send(t, c, "XYZZY", "shop.example.com", "/api")
	}
	series = waitSum(t, c, requestsSeries, web, before+n)
	durations, found := framework.SumSeries(series, "nginx_ingress_controller_request_duration_seconds_count", web)
	assert.True(t, found)
	assert.Equal(t, before+n, durations, "one duration per request")
	upstream, _ := framework.SumSeries(series, "nginx_ingress_controller_response_duration_seconds_count", web)
	assert.Equal(t, before+n, upstream, "each 200 came from the backend")
	inf, _ := framework.SumSeries(series, "nginx_ingress_controller_request_duration_seconds_bucket", withLabel(web, "le", "+Inf"))
	assert.Equal(t, before+n, inf)
	size, _ := framework.SumSeries(series, "nginx_ingress_controller_response_size_sum", web)
	assert.Greater(t, size, 0.0)

	waitSum(t, c, requestsSeries, map[string]string{"ingress": "walled", "namespace": "default", "path": "/", "status": "403"}, 3)
	series = waitSum(t, c, requestsSeries, map[string]string{"ingress": "", "namespace": "", "path": "", "status": "404"}, 3)
	other, _ := framework.SumSeries(series, requestsSeries, map[string]string{"method": "OTHER", "ingress": "web"})
	assert.Equal(t, 6.0, other, "unknown methods share one label")
	for _, s := range series {
		if s.Name == requestsSeries {
			assert.NotContains(t, s.Labels, "BREW")
			assert.NotContains(t, s.Labels, "XYZZY")
			assert.NotContains(t, s.Labels, `host=`, "no host label without --metrics-per-host")
		}
	}
	// Everything counted was sent by this test: nginx's internal server
	// (generation checks, balancer pushes, these scrapes) counts nothing.
	total, _ := framework.SumSeries(series, requestsSeries, nil)
	assert.Equal(t, totalBefore+n+3+3+6, total)
	capped, _ := framework.SumSeries(series, "portico_request_metrics_capped", nil)
	assert.Equal(t, 0.0, capped)
}

// TestRequestMetricsHostsClassesAndCap: --metrics-per-host labels the
// Ingress host, --metrics-per-undefined-host the client's Host for other
// hosts (only host characters: a client cannot put text of its choice in
// a label), --report-status-classes folds the codes, and a cap far below
// the label sets merges the finest labels away, keeping the totals.
func TestRequestMetricsHostsClassesAndCap(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "api")
	files := map[string]string{"services.yaml": servicesYAML(b)}
	for i := range 4 {
		name := fmt.Sprintf("app%d", i)
		files[name+".yaml"] = ingressYAML(name, name+".example.com", route{"/", "Prefix", "api"}, route{"/other", "Prefix", "api"})
	}
	c := startController(t, options{files: files,
		args: []string{"--metrics-per-host", "--metrics-per-undefined-host", "--report-status-classes"}})
	for i := range 4 {
		c.WaitServed(t, fmt.Sprintf("app%d.example.com", i), "/", "api")
	}
	require.Equal(t, http.StatusNotFound, send(t, c, http.MethodGet, "stranger.example.com", "/"))
	require.Equal(t, http.StatusBadRequest, send(t, c, http.MethodGet, `bad"host`, "/"))
	series := waitSumAtLeast(t, c, requestsSeries, map[string]string{"host": "app3.example.com", "ingress": "app3", "status": "2xx"}, 1)
	waitSum(t, c, requestsSeries, map[string]string{"host": "stranger.example.com", "status": "4xx"}, 1)
	for _, s := range series {
		assert.NotContains(t, s.Labels, `bad\"host`)
		assert.NotContains(t, s.Labels, `status="200"`)
	}

	// The cap: each label set costs 1 + 4*(11+3) + 2*(10+3) + (7+3) = 93
	// series; 200 leave room for 2 sets, so everything but the status class
	// goes (one namespace: default).
	capped := startController(t, options{files: files, args: []string{"--metrics-per-host", "--metrics-max-series", "200"}})
	for i := range 4 {
		capped.WaitServed(t, fmt.Sprintf("app%d.example.com", i), "/", "api")
		require.Equal(t, http.StatusOK, send(t, capped, http.MethodGet, fmt.Sprintf("app%d.example.com", i), "/other"))
	}
	require.Equal(t, http.StatusNotFound, send(t, capped, http.MethodGet, "stranger.example.com", "/"))
	series = waitSumAtLeast(t, capped, "portico_request_metrics_capped", nil, 1)
	got, _ := framework.SumSeries(series, "portico_request_metrics_capped", nil)
	assert.GreaterOrEqual(t, got, 7.0, "host, path, method, status code, canary, service and ingress dropped")
	var sets int
	for _, s := range series {
		if s.Name == requestsSeries {
			sets++
			assert.Contains(t, s.Labels, `ingress=""`)
		}
	}
	assert.LessOrEqual(t, sets, 2)
	// All requests are still counted: WaitServed's and these.
	total, _ := framework.SumSeries(series, requestsSeries, nil)
	perSet, _ := framework.SumSeries(series, "portico_request_metrics_label_sets", nil)
	assert.GreaterOrEqual(t, total, 9.0)
	assert.Greater(t, perSet, float64(sets), "the label sets before the cap are reported")
}

// settled returns a scrape once the request count has stopped moving: the
// same in two scrapes more than a flush period (1 s) apart.
func settled(t *testing.T, c *controller) []framework.Series {
	t.Helper()
	prev, _ := framework.SumSeries(scrape(t, c), requestsSeries, nil)
	for range 20 {
		time.Sleep(1200 * time.Millisecond)
		series := scrape(t, c)
		now, _ := framework.SumSeries(series, requestsSeries, nil)
		if now == prev {
			return series
		}
		prev = now
	}
	require.FailNow(t, "the request count did not settle")
	return nil
}

// waitSumAtLeast is waitSum for a lower bound.
func waitSumAtLeast(t *testing.T, c *controller, name string, labels map[string]string, want float64) []framework.Series {
	t.Helper()
	var got float64
	var series []framework.Series
	ok := assert.Eventually(t, func() bool {
		series = scrape(t, c)
		got, _ = framework.SumSeries(series, name, labels)
		return got >= want
	}, framework.RouteTimeout, framework.PollInterval)
	require.True(t, ok, "%s%v: %v, want at least %v", name, labels, got, want)
	return series
}

// withLabel returns labels with one more.
func withLabel(labels map[string]string, name, value string) map[string]string {
	out := maps.Clone(labels)
	out[name] = value
	return out
}
