package compat

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/nginx"
	"github.com/portico-ingress/portico/pkg/reload"
)

var ctl = Controller{Namespace: "ingress", Class: "k8s.io/portico", Pod: "portico-abc"}

const reloadHelp = `# HELP nginx_ingress_controller_config_hash Running configuration hash actually running
# TYPE nginx_ingress_controller_config_hash gauge
nginx_ingress_controller_config_hash{controller_class="k8s.io/portico",controller_namespace="ingress",controller_pod="portico-abc"} %s
# HELP nginx_ingress_controller_config_last_reload_successful Whether the last configuration reload attempt was successful
# TYPE nginx_ingress_controller_config_last_reload_successful gauge
nginx_ingress_controller_config_last_reload_successful{controller_class="k8s.io/portico",controller_namespace="ingress",controller_pod="portico-abc"} %s
# HELP nginx_ingress_controller_config_last_reload_successful_timestamp_seconds Timestamp of the last successful configuration reload.
# TYPE nginx_ingress_controller_config_last_reload_successful_timestamp_seconds gauge
nginx_ingress_controller_config_last_reload_successful_timestamp_seconds{controller_class="k8s.io/portico",controller_namespace="ingress",controller_pod="portico-abc"} %s
# HELP nginx_ingress_controller_errors Cumulative number of Ingress controller errors during reload operations
# TYPE nginx_ingress_controller_errors counter
nginx_ingress_controller_errors{controller_class="k8s.io/portico",controller_namespace="ingress",controller_pod="portico-abc"} %s
# HELP nginx_ingress_controller_success Cumulative number of Ingress controller reload operations
# TYPE nginx_ingress_controller_success counter
nginx_ingress_controller_success{controller_class="k8s.io/portico",controller_namespace="ingress",controller_pod="portico-abc"} %s
`

// expect fills reloadHelp's five values in order.
func expect(values ...string) string {
	out := reloadHelp
	for _, v := range values {
		out = strings.Replace(out, "%s", v, 1)
	}
	return out
}

var reloadNames = []string{
	"nginx_ingress_controller_config_hash",
	"nginx_ingress_controller_config_last_reload_successful",
	"nginx_ingress_controller_config_last_reload_successful_timestamp_seconds",
	"nginx_ingress_controller_errors",
	"nginx_ingress_controller_success",
}

// TestReloadSeries: the reload series move with reload.Metrics as reloads
// succeed, fail and recover, with ingress-nginx's names, types and labels.
func TestReloadSeries(t *testing.T) {
	m := reload.NewMetrics(nil)
	c := NewCollector(ctl, Sources{Reloads: m.Totals})
	hash := strings.Repeat("0", 12) + "1" + strings.Repeat("f", 51) // first 52 bits: 1

	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(expect("0", "0", "0", "0", "0")), reloadNames...),
		"before any reload")

	at := time.Unix(1700000000, 500e6)
	m.Record(reload.Event{Result: reload.ResultSuccess, ConfigHash: hash, Time: at})
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(expect("1", "1", "1.7e+09", "0", "1")), reloadNames...),
		"after a success")

	m.Record(reload.Event{Result: reload.ResultInvalid, Time: at.Add(time.Minute)})
	m.Record(reload.Event{Result: reload.ResultTimeout, Time: at.Add(2 * time.Minute)})
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(expect("0", "0", "1.7e+09", "2", "1")), reloadNames...),
		"after two failures: hash 0 and the timestamp of the last success, as ingress-nginx")

	m.Record(reload.Event{Result: reload.ResultRecovered, Time: at.Add(3 * time.Minute)})
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(expect("1", "1", "1.7e+09", "2", "1")), reloadNames...),
		"a recovery is no reload: counters stay, the live hash is back")

	m.Record(reload.Event{Result: reload.ResultFailed, Time: at.Add(4 * time.Minute)})
	m.Record(reload.Event{Result: reload.ResultSuccess, ConfigHash: hash, Time: at.Add(5 * time.Minute)})
	assert.Equal(t, 2.0, testutil.ToFloat64(only(t, c, "nginx_ingress_controller_success")))
	assert.Equal(t, 3.0, testutil.ToFloat64(only(t, c, "nginx_ingress_controller_errors")))
	assert.Equal(t, float64(at.Add(5*time.Minute).Unix()),
		testutil.ToFloat64(only(t, c, "nginx_ingress_controller_config_last_reload_successful_timestamp_seconds")))
}

// TestLeaderSeries: no series before the election runs, then 0 or 1 with
// the Lease name.
func TestLeaderSeries(t *testing.T) {
	var l Leadership
	c := NewCollector(ctl, Sources{Leader: &l})
	assert.Equal(t, 0, testutil.CollectAndCount(c))

	const head = `# HELP nginx_ingress_controller_leader_election_status Gauge reporting status of the leader election, 0 indicates follower, 1 indicates leader. 'name' is the string used to identify the lease
# TYPE nginx_ingress_controller_leader_election_status gauge
`
	sample := `nginx_ingress_controller_leader_election_status{controller_class="k8s.io/portico",controller_namespace="ingress",controller_pod="portico-abc",name="portico-leader"} `
	l.Set("portico-leader", false)
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(head+sample+"0\n")))
	l.Set("portico-leader", true)
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(head+sample+"1\n")))
	l.Set("portico-leader", false)
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(head+sample+"0\n")))
}

// TestSSLExpireSeries: one series per host presenting a Secret's
// certificate, labelled with names only, in whole seconds; a certificate no
// longer served leaves no series.
func TestSSLExpireSeries(t *testing.T) {
	exp := certs.NewExpiryMetrics(nil)
	c := NewCollector(ctl, Sources{Certificates: exp.List})
	assert.Equal(t, 0, testutil.CollectAndCount(c))

	notAfter := time.Unix(1800000000, 900e6)
	exp.Set([]certs.Expiry{
		{Namespace: "shop", Secret: "shop-tls", NotAfter: notAfter, Hosts: []string{"a.shop.example", "b.shop.example"}},
		{Namespace: "blog", Secret: "blog-tls", NotAfter: notAfter.Add(time.Hour), Hosts: []string{"blog.example"}},
	})
	// The exposition escapes the help text's line break, not its tabs.
	const want = `# HELP nginx_ingress_controller_ssl_expire_time_seconds Number of seconds since 1970 to the SSL Certificate expire.\n` + "\t\t\t" + `An example to check if this certificate will expire in 10 days is: "nginx_ingress_controller_ssl_expire_time_seconds < (time() + (10 * 24 * 3600))"
# TYPE nginx_ingress_controller_ssl_expire_time_seconds gauge
nginx_ingress_controller_ssl_expire_time_seconds{class="k8s.io/portico",host="a.shop.example",namespace="shop",secret_name="shop-tls"} 1.8e+09
nginx_ingress_controller_ssl_expire_time_seconds{class="k8s.io/portico",host="b.shop.example",namespace="shop",secret_name="shop-tls"} 1.8e+09
nginx_ingress_controller_ssl_expire_time_seconds{class="k8s.io/portico",host="blog.example",namespace="blog",secret_name="blog-tls"} 1.8000036e+09
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want)))

	exp.Set(nil)
	assert.Equal(t, 0, testutil.CollectAndCount(c))
}

// TestRegistersBesidePortico: the collector registers beside the portico_*
// collectors it reads from, without a name clash, and lints clean.
func TestRegistersBesidePortico(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := reload.NewMetrics(reg)
	exp := certs.NewExpiryMetrics(reg)
	exp.Set([]certs.Expiry{{Namespace: "ns", Secret: "tls", NotAfter: time.Unix(1800000000, 0), Hosts: []string{"a.example"},
		Info: certs.Identity{IssuerCommonName: "ca", SerialNumber: "1", PublicKeyAlgorithm: "RSA"}}})
	status := func(context.Context) (nginx.StubStatus, error) { return nginx.StubStatus{Active: 1}, nil }
	orphans := &Orphans{}
	orphans.Set([]Orphan{{Namespace: "ns", Ingress: "web", Type: OrphanNoEndpoint}})
	c := NewCollector(ctl, Sources{Reloads: m.Totals, Certificates: exp.List, Leader: &Leadership{},
		Status: status, Processes: processes(procStats, true, nil), Orphans: orphans})
	require.NoError(t, reg.Register(c))
	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	for _, p := range problems {
		// ingress-nginx's names predate the _total convention; they are kept
		// as they are, since the point is that existing queries match.
		if strings.Contains(p.Text, "counter metrics should have \"_total\" suffix") {
			continue
		}
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// only is c with its series other than name left out, for testutil.ToFloat64.
func only(t *testing.T, c prometheus.Collector, name string) prometheus.Collector {
	t.Helper()
	return filtered{c, `fqName: "` + name + `"`}
}

// filtered collects the metrics of Collector whose Desc contains match.
type filtered struct {
	prometheus.Collector
	match string
}

// Collect implements prometheus.Collector.
func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { f.Collector.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), f.match) {
			ch <- m
		}
	}
}

// TestSSLExpireLabelsCannotForgeSeries is the tenant's attack on the one
// series whose labels come from objects a namespace owner writes (the
// Ingress's hosts, the Secret's name): a value with a quote, a brace or a
// line break stays inside its label, so no tenant can forge or break
// another series of the page. (The model refuses such hosts and names
// before they get here; this holds even if one slipped through.)
func TestSSLExpireLabelsCannotForgeSeries(t *testing.T) {
	exp := certs.NewExpiryMetrics(nil)
	c := NewCollector(ctl, Sources{Certificates: exp.List})
	hostile := "x\"} 1\nnginx_ingress_controller_success{controller_pod=\"forged\"} 999\n#"
	exp.Set([]certs.Expiry{{Namespace: "evil", Secret: hostile, NotAfter: time.Unix(1800000000, 0), Hosts: []string{hostile}}})
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	families, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, families, 1, "one family, no forged one")
	require.Len(t, families[0].Metric, 1)
	for _, l := range families[0].Metric[0].Label {
		if l.GetName() == "host" || l.GetName() == "secret_name" {
			assert.Equal(t, hostile, l.GetValue(), "the whole value stays in its label")
		}
	}
}
