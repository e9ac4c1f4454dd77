package main

import (
	"io"
	"log/slog"
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
			{Path: "/tls/a.pem", Secret: "shop/a", NotAfter: at},
			{Path: "/tls/ca.pem"},
			{Path: "/tls/default.pem"},
		},
	}
	assert.Equal(t, []certs.Expiry{{Namespace: "shop", Secret: "a", NotAfter: at, Hosts: []string{"a.example", "www.a.example"}}},
		servedExpiries(cfg))
}

// TestOutputsExportIngressNginxSeries: the controller's registry serves
// ingress-nginx's controller series beside portico_*, labelled for this
// controller, moving with the same reloads.
func TestOutputsExportIngressNginxSeries(t *testing.T) {
	sup := nginx.NewSupervisor(nginx.Options{}, io.Discard, io.Discard)
	parts := nginxParts{proc: sup, supervisor: sup, health: nginx.NewHealth(sup, time.Second)}
	out := newOutputs(slog.New(slog.NewTextHandler(io.Discard, nil)), parts, "lua", 1, time.Now(),
		compat.Controller{Namespace: "ingress", Class: "k8s.io/portico", Pod: "portico-0"})
	out.recorder.Record(reload.Event{Result: reload.ResultSuccess, Generation: 1, ConfigHash: strings.Repeat("a", 64), Time: time.Now()})
	out.recorder.Record(reload.Event{Result: reload.ResultInvalid, Generation: 2, Time: time.Now()})
	out.expiry.Set([]certs.Expiry{{Namespace: "ns", Secret: "tls", NotAfter: time.Unix(1800000000, 0), Hosts: []string{"a.example"}}})
	out.leader.Set("portico-leader", true)

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
	n, err := testutil.GatherAndCount(out.registry, "nginx_ingress_controller_ssl_expire_time_seconds")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	// The portico_* series keep their names beside them.
	n, err = testutil.GatherAndCount(out.registry, "portico_reloads_total", "portico_certificate_expiry_timestamp_seconds")
	require.NoError(t, err)
	assert.Equal(t, 5, n)
}
