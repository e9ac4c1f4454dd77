package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/compat"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/nginx"
	"github.com/portico-ingress/portico/pkg/reload"
	"github.com/portico-ingress/portico/pkg/source/manifests"
)

// TestServedExpiriesHosts: each Secret's expiry carries the hosts that
// present its certificate; the default certificate and hostless servers
// are left out, as ingress-nginx leaves them out of ssl_expire_time_seconds.
func TestServedExpiriesHosts(t *testing.T) {
	at := time.Unix(1800000000, 0)
	cfg := &model.Config{
		Servers: []model.Server{
			{Name: ""},
			{Name: "a.example", TLS: &model.ServerTLS{CertificatePath: "/tls/a.pem", Secret: "shop/a"}},
			{Name: "plain.example"},
			{Name: "www.a.example", TLS: &model.ServerTLS{CertificatePath: "/tls/a.pem", Secret: "shop/a"}},
			{Name: "z.example", TLS: &model.ServerTLS{CertificatePath: "/tls/default.pem"}},
		},
		Certificates: []model.Certificate{
			{Path: "/tls/a.pem", Secret: "shop/a", NotAfter: at, Info: certs.Identity{IssuerCommonName: "ca", SerialNumber: "9"}},
			{Path: "/tls/ca.pem"},
			{Path: "/tls/default.pem"},
		},
	}
	assert.Equal(t, []certs.Expiry{{Namespace: "shop", Secret: "a", NotAfter: at, Hosts: []string{"a.example", "www.a.example"},
		Info: certs.Identity{IssuerCommonName: "ca", SerialNumber: "9"}}},
		servedExpiries(cfg))
}

// TestOutputsExportIngressNginxSeries: the controller's registry serves
// ingress-nginx's controller series beside portico_*, labelled for this
// controller, moving with the same reloads.
func TestOutputsExportIngressNginxSeries(t *testing.T) {
	sup := nginx.NewSupervisor(nginx.Options{}, io.Discard, io.Discard)
	parts := nginxParts{proc: sup, supervisor: sup, health: nginx.NewHealth(sup, time.Second)}
	// No master and no internal socket: the nginx_process_* series are
	// left out, and the scrape still works (TestOutputsExportNginxSeries
	// has them).
	out := newOutputs(slog.New(slog.NewTextHandler(io.Discard, nil)), parts, "lua", 1, time.Now(),
		compat.Controller{Namespace: "ingress", Class: "k8s.io/portico", Pod: "portico-0"})
	out.recorder.Record(reload.Event{Result: reload.ResultSuccess, Generation: 1, ConfigHash: strings.Repeat("a", 64), Time: time.Now()})
	out.recorder.Record(reload.Event{Result: reload.ResultInvalid, Generation: 2, Time: time.Now()})
	out.expiry.Set([]certs.Expiry{{Namespace: "ns", Secret: "tls", NotAfter: time.Unix(1800000000, 0), Hosts: []string{"a.example"},
		Info: certs.Identity{IssuerCommonName: "ca", SerialNumber: "5", PublicKeyAlgorithm: "ECDSA"}}})
	out.leader.Set("portico-leader", true)
	out.orphans.Set([]compat.Orphan{{Namespace: "ns", Ingress: "web", Type: compat.OrphanNoService}})

	const labels = `{controller_class="k8s.io/portico",controller_namespace="ingress",controller_pod="portico-0"}`
	want := `# HELP nginx_ingress_controller_errors Cumulative number of Ingress controller errors during reload operations
# TYPE nginx_ingress_controller_errors counter
nginx_ingress_controller_errors` + labels + ` 1
# HELP nginx_ingress_controller_success Cumulative number of Ingress controller reload operations
# TYPE nginx_ingress_controller_success counter
nginx_ingress_controller_success` + labels + ` 1
# HELP nginx_ingress_controller_config_last_reload_successful Whether the last configuration reload attempt was successful
# TYPE nginx_ingress_controller_config_last_reload_successful gauge
nginx_ingress_controller_config_last_reload_successful` + labels + ` 0
# HELP nginx_ingress_controller_leader_election_status Gauge reporting status of the leader election, 0 indicates follower, 1 indicates leader. 'name' is the string used to identify the lease
# TYPE nginx_ingress_controller_leader_election_status gauge
nginx_ingress_controller_leader_election_status{controller_class="k8s.io/portico",controller_namespace="ingress",controller_pod="portico-0",name="portico-leader"} 1
`
	require.NoError(t, testutil.GatherAndCompare(out.registry, strings.NewReader(want),
		"nginx_ingress_controller_errors", "nginx_ingress_controller_success",
		"nginx_ingress_controller_config_last_reload_successful", "nginx_ingress_controller_leader_election_status"))
	n, err := testutil.GatherAndCount(out.registry, "nginx_ingress_controller_ssl_expire_time_seconds",
		"nginx_ingress_controller_ssl_certificate_info", "nginx_ingress_controller_orphan_ingress")
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	families, err := out.registry.Gather()
	require.NoError(t, err)
	for _, f := range families {
		assert.NotContains(t, f.GetName(), "nginx_ingress_controller_nginx_process_", "no nginx, no nginx figures")
	}
	// The portico_* series keep their names beside them.
	n, err = testutil.GatherAndCount(out.registry, "portico_reloads_total", "portico_certificate_expiry_timestamp_seconds")
	require.NoError(t, err)
	assert.Equal(t, 5, n)
}

// TestOutputsExportNginxSeries: with an nginx master (here this test's own
// process, named by a pid file as in the sidecar mode) and an internal
// server answering stub_status on its unix socket, the controller's
// registry serves ingress-nginx's nginx_process_* series for this
// controller, read at scrape time.
func TestOutputsExportNginxSeries(t *testing.T) {
	proc, socket := fakeNginx(t)
	parts := nginxParts{opts: nginx.Options{Socket: socket}, proc: proc, health: nginx.NewHealth(proc, time.Second)}
	out := newOutputs(slog.New(slog.NewTextHandler(io.Discard, nil)), parts, "lua", 1, time.Now(),
		compat.Controller{Namespace: "ingress", Class: "k8s.io/portico", Pod: "portico-0"})

	const labels = `{controller_class="k8s.io/portico",controller_namespace="ingress",controller_pod="portico-0"}`
	want := `# HELP nginx_ingress_controller_nginx_process_requests_total total number of client requests
# TYPE nginx_ingress_controller_nginx_process_requests_total counter
nginx_ingress_controller_nginx_process_requests_total` + labels + ` 31
# HELP nginx_ingress_controller_nginx_process_connections_total total number of connections with state {accepted, handled}
# TYPE nginx_ingress_controller_nginx_process_connections_total counter
nginx_ingress_controller_nginx_process_connections_total{controller_class="k8s.io/portico",controller_namespace="ingress",controller_pod="portico-0",state="accepted"} 7
nginx_ingress_controller_nginx_process_connections_total{controller_class="k8s.io/portico",controller_namespace="ingress",controller_pod="portico-0",state="handled"} 7
`
	require.NoError(t, testutil.GatherAndCompare(out.registry, strings.NewReader(want),
		"nginx_ingress_controller_nginx_process_requests_total", "nginx_ingress_controller_nginx_process_connections_total"))
	n, err := testutil.GatherAndCount(out.registry, "nginx_ingress_controller_nginx_process_connections")
	require.NoError(t, err)
	assert.Equal(t, 4, n, "active, reading, writing, waiting")

	families, err := out.registry.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, f := range families {
		if m := f.GetMetric(); strings.HasPrefix(f.GetName(), "nginx_ingress_controller_nginx_process_") && len(m) == 1 {
			got[strings.TrimPrefix(f.GetName(), "nginx_ingress_controller_nginx_process_")] = m[0].GetGauge().GetValue() + m[0].GetCounter().GetValue()
		}
	}
	assert.GreaterOrEqual(t, got["num_procs"], 1.0, "this process and its children")
	assert.Positive(t, got["resident_memory_bytes"])
	assert.Positive(t, got["virtual_memory_bytes"])
	assert.Contains(t, got, "cpu_seconds_total")
	assert.InDelta(t, float64(time.Now().Unix()), got["oldest_start_time_seconds"], 3600)
}

// orphanManifests are four Ingresses: one whose Service is missing, one
// whose Service has no ready endpoint, one whose Service's port does not
// exist, and one served, with a canary whose Service has no endpoint.
const orphanManifests = `apiVersion: v1
kind: Service
metadata: {name: empty, namespace: shop}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [198.18.0.10], conditions: {ready: true}}]
---
apiVersion: v1
kind: Service
metadata: {name: next, namespace: shop}
spec: {ports: [{name: http, port: 80}]}
` + orphanIngress + `
  name: missing
spec:
  ingressClassName: portico
  rules: [{host: missing.example, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: gone, port: {number: 80}}}}]}}]
` + orphanIngress + `
  name: empty
spec:
  ingressClassName: portico
  rules: [{host: empty.example, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: empty, port: {number: 80}}}}]}}]
` + orphanIngress + `
  name: badport
spec:
  ingressClassName: portico
  rules: [{host: badport.example, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 81}}}}]}}]
` + orphanIngress + `
  name: served
spec:
  ingressClassName: portico
  rules: [{host: served.example, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
` + orphanIngress + `
  name: canary
  annotations: {nginx.ingress.kubernetes.io/canary: "true", nginx.ingress.kubernetes.io/canary-weight: "10"}
spec:
  ingressClassName: portico
  rules: [{host: served.example, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: next, port: {number: 80}}}}]}}]
`

// orphanIngress starts an Ingress of namespace shop.
const orphanIngress = `---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  namespace: shop`

// TestOrphanIngresses: the orphans of configurations model.Build makes,
// with both balancers: a missing Service is no-service; no ready endpoint,
// or no such port, is no-endpoint; a served Ingress is not listed.
func TestOrphanIngresses(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "all.yaml"), []byte(orphanManifests), 0o644))
	snap, problems := manifests.New(dir, nil).Load()
	require.Empty(t, problems)
	for _, balancer := range []string{model.BalancerLua, model.BalancerUpstreams} {
		t.Run(balancer, func(t *testing.T) {
			g := model.DefaultGlobal()
			g.Balancer = balancer
			cfg, _ := model.Build(snap, model.Options{ControllerClass: model.DefaultControllerClass,
				IngressClass: model.DefaultIngressClass, CertificateDir: t.TempDir(), Global: g})
			var orphans compat.Orphans
			orphans.Set(orphanIngresses(snap, cfg))
			want := []compat.Orphan{
				{Namespace: "shop", Ingress: "badport", Type: compat.OrphanNoEndpoint},
				{Namespace: "shop", Ingress: "empty", Type: compat.OrphanNoEndpoint},
				{Namespace: "shop", Ingress: "missing", Type: compat.OrphanNoService},
			}
			if balancer == model.BalancerLua {
				// Canaries are the Lua balancer's.
				want = slices.Insert(want, 1, compat.Orphan{Namespace: "shop", Ingress: "canary", Type: compat.OrphanNoEndpoint})
			}
			assert.Equal(t, want, orphans.List())
		})
	}
}

// fakeNginx stands in for a running nginx, for the series read from it at
// scrape time: a pid file naming this test's process as the master (its
// figures come from the real /proc), and an internal server on a unix
// socket answering stub_status.
func fakeNginx(t *testing.T) (nginx.PIDFileProcess, string) {
	t.Helper()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "nginx.pid")
	require.NoError(t, os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644))
	socket := filepath.Join(dir, "internal.sock")
	ln, err := net.Listen("unix", socket)
	require.NoError(t, err)
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != nginx.StubStatusPath {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, "Active connections: 2 \nserver accepts handled requests\n 7 7 31 \nReading: 0 Writing: 1 Waiting: 1 \n")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return nginx.PIDFileProcess{Path: pidFile}, socket
}
