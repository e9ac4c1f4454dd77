//go:build linux

package local

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// nginxSeries is the prefix of ingress-nginx's stub_status and process series.
const nginxSeries = "nginx_ingress_controller_nginx_process_"

// TestNginxProcessMetrics: a real controller with its real nginx exports
// ingress-nginx's nginx_process_* series, read from stub_status and /proc
// at scrape time: requests counted by nginx, a held connection seen while
// it is held, the master and its workers; and orphan_ingress for an
// Ingress whose Service does not exist, and ssl_certificate_info for a
// served Secret's certificate.
func TestNginxProcessMetrics(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web")
	const host, tlsHost = "stats.example.com", "stats-tls.example.com"
	now := time.Now()
	kp := framework.NewKeyPairBetween(t, now.Add(-time.Hour), now.Add(30*24*time.Hour), tlsHost)
	c := startController(t, options{files: map[string]string{
		"web.yaml":     serviceYAML("web", b["web"]),
		"ingress.yaml": ingressYAML("stats", host, route{"/", "Prefix", "web"}),
		"secret.yaml":  secretYAML("stats-tls", kp),
		"tls.yaml":     tlsIngressYAML("stats-tls", "web", map[string]string{tlsHost: "stats-tls"}, tlsHost),
		"orphan.yaml":  ingressYAML("orphan", "orphan.example.com", route{"/", "Prefix", "gone"}),
	}})
	c.WaitServed(t, host, "/", "web")

	t.Run("requests", func(t *testing.T) {
		before := c.MetricSum(t, nginxSeries+"requests_total", nil)
		const sent = 20
		for range sent {
			r, err := c.Request(host, "/")
			require.NoError(t, err)
			require.Equal(t, "web", r.Served(), "%s", r)
		}
		after := c.MetricSum(t, nginxSeries+"requests_total", nil)
		t.Logf("requests_total %v -> %v after %d requests", before, after, sent)
		assert.GreaterOrEqual(t, after-before, float64(sent), "nginx counted every request sent (and the controller's own)")
		// One scrape: each scrape's own connection moves the counters.
		series := c.series(t)
		accepted, ok := framework.SumSeries(series, nginxSeries+"connections_total", map[string]string{"state": "accepted"})
		require.True(t, ok, "connections_total{state=accepted}")
		handled, ok := framework.SumSeries(series, nginxSeries+"connections_total", map[string]string{"state": "handled"})
		require.True(t, ok, "connections_total{state=handled}")
		assert.Positive(t, accepted)
		assert.LessOrEqual(t, handled, accepted)
	})

	t.Run("held connection", func(t *testing.T) {
		// A request whose header never ends: nginx holds the connection
		// open, reading, until client_header_timeout.
		conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.HTTPPort)), 5*time.Second)
		require.NoError(t, err)
		defer func() { _ = conn.Close() }()
		_, err = fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\n", host)
		require.NoError(t, err)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			series := c.series(t)
			active, ok := framework.SumSeries(series, nginxSeries+"connections", map[string]string{"state": "active"})
			require.True(ct, ok, "connections{state=active}")
			assert.GreaterOrEqual(ct, active, 1.0)
			reading, ok := framework.SumSeries(series, nginxSeries+"connections", map[string]string{"state": "reading"})
			require.True(ct, ok, "connections{state=reading}")
			assert.GreaterOrEqual(ct, reading, 1.0, "the held request is being read")
		}, framework.RouteTimeout, framework.PollInterval)
	})

	t.Run("processes", func(t *testing.T) {
		procs := c.MetricSum(t, nginxSeries+"num_procs", map[string]string{"controller_class": "portico.dev/ingress-controller"})
		assert.GreaterOrEqual(t, procs, 2.0, "the master and at least one worker")
		assert.Positive(t, c.MetricSum(t, nginxSeries+"resident_memory_bytes", nil))
		assert.Greater(t, c.MetricSum(t, nginxSeries+"virtual_memory_bytes", nil), c.MetricSum(t, nginxSeries+"resident_memory_bytes", nil))
		assert.GreaterOrEqual(t, c.MetricSum(t, nginxSeries+"cpu_seconds_total", nil), 0.0)
		started := c.MetricSum(t, nginxSeries+"oldest_start_time_seconds", nil)
		assert.InDelta(t, float64(now.Unix()), started, 600, "the master started with this test")
		// nginx runs as the test's user here, so its io files are readable.
		_, ok := c.Metric(t, nginxSeries+"read_bytes_total", nil)
		assert.True(t, ok, "read_bytes_total")
	})

	t.Run("reload keeps counters", func(t *testing.T) {
		// stub_status lives in shared memory and the process counters keep
		// what the old workers used: neither reads as a reset after a reload.
		series := c.series(t)
		requests, _ := framework.SumSeries(series, nginxSeries+"requests_total", nil)
		cpu, _ := framework.SumSeries(series, nginxSeries+"cpu_seconds_total", nil)
		c.update(t, "ingress.yaml", ingressYAML("stats", host, route{"/", "Prefix", "web"}, route{"/after", "Exact", "web"}))
		c.WaitServed(t, host, "/after", "web")
		series = c.series(t)
		after, ok := framework.SumSeries(series, nginxSeries+"requests_total", nil)
		require.True(t, ok)
		assert.Greater(t, after, requests)
		afterCPU, ok := framework.SumSeries(series, nginxSeries+"cpu_seconds_total", nil)
		require.True(t, ok)
		assert.GreaterOrEqual(t, afterCPU, cpu)
	})

	t.Run("orphan_ingress", func(t *testing.T) {
		const name = "nginx_ingress_controller_orphan_ingress"
		v, ok := c.Metric(t, name, map[string]string{"namespace": "default", "ingress": "orphan", "type": "no-service"})
		require.True(t, ok, "orphan_ingress of the Ingress whose Service does not exist")
		assert.Equal(t, 1.0, v)
		_, ok = c.Metric(t, name, map[string]string{"ingress": "stats"})
		assert.False(t, ok, "a served Ingress is no orphan")
	})

	t.Run("ssl_certificate_info", func(t *testing.T) {
		serial := kp.Leaf.SerialNumber.String()
		v, ok := c.Metric(t, "nginx_ingress_controller_ssl_certificate_info", map[string]string{
			"namespace": "default", "host": tlsHost, "secret_name": "stats-tls",
			"serial_number": serial, "identifier": kp.Leaf.Issuer.SerialNumber + "-" + serial,
			"issuer_common_name":   kp.Leaf.Issuer.CommonName,
			"public_key_algorithm": kp.Leaf.PublicKeyAlgorithm.String(),
		})
		require.True(t, ok, "ssl_certificate_info of stats-tls")
		assert.Equal(t, 1.0, v)
	})
}

// series scrapes /metrics once.
func (c *controller) series(t *testing.T) []framework.Series {
	t.Helper()
	all, err := framework.ParseMetrics(c.MustStatusGet(t, "/metrics"))
	require.NoError(t, err)
	return all
}
