package compat

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/nginx"
)

// ctlLabels are ctl's constant labels as the exposition prints them.
const ctlLabels = `controller_class="k8s.io/portico",controller_namespace="ingress",controller_pod="portico-abc"`

// TestStubStatusSeries: stub_status becomes ingress-nginx's three
// nginx_process_connections* and requests series, exactly.
func TestStubStatusSeries(t *testing.T) {
	status := func(context.Context) (nginx.StubStatus, error) {
		return nginx.StubStatus{Active: 3, Accepted: 120, Handled: 119, Requests: 450, Reading: 1, Writing: 2, Waiting: 0}, nil
	}
	c := NewCollector(ctl, Sources{Status: status})
	want := `# HELP nginx_ingress_controller_nginx_process_connections current number of client connections with state {active, reading, writing, waiting}
# TYPE nginx_ingress_controller_nginx_process_connections gauge
nginx_ingress_controller_nginx_process_connections{` + ctlLabels + `,state="active"} 3
nginx_ingress_controller_nginx_process_connections{` + ctlLabels + `,state="reading"} 1
nginx_ingress_controller_nginx_process_connections{` + ctlLabels + `,state="waiting"} 0
nginx_ingress_controller_nginx_process_connections{` + ctlLabels + `,state="writing"} 2
# HELP nginx_ingress_controller_nginx_process_connections_total total number of connections with state {accepted, handled}
# TYPE nginx_ingress_controller_nginx_process_connections_total counter
nginx_ingress_controller_nginx_process_connections_total{` + ctlLabels + `,state="accepted"} 120
nginx_ingress_controller_nginx_process_connections_total{` + ctlLabels + `,state="handled"} 119
# HELP nginx_ingress_controller_nginx_process_requests_total total number of client requests
# TYPE nginx_ingress_controller_nginx_process_requests_total counter
nginx_ingress_controller_nginx_process_requests_total{` + ctlLabels + `} 450
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want)))
}

// TestStubStatusDownLeavesSeriesOut: while nginx does not answer, its
// series are absent and the rest of the scrape is whole.
func TestStubStatusDownLeavesSeriesOut(t *testing.T) {
	var l Leadership
	l.Set("portico-leader", true)
	down := func(ctx context.Context) (nginx.StubStatus, error) {
		_, ok := ctx.Deadline()
		assert.True(t, ok, "the read has a deadline")
		return nginx.StubStatus{}, errors.New("dial unix /run/portico/internal.sock: connect: no such file or directory")
	}
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(NewCollector(ctl, Sources{Status: down, Leader: &l})))
	families, err := reg.Gather()
	require.NoError(t, err, "the scrape does not fail")
	require.Len(t, families, 1)
	assert.Equal(t, "nginx_ingress_controller_leader_election_status", families[0].GetName())
}

// processes returns a Processes source that answers stats.
func processes(stats nginx.ProcessStats, ok bool, err error) func() (nginx.ProcessStats, bool, error) {
	return func() (nginx.ProcessStats, bool, error) { return stats, ok, err }
}

// procStats are a master and two workers' figures.
var procStats = nginx.ProcessStats{
	Procs: 3, CPUSeconds: 6.5, ReadBytes: 4096, WriteBytes: 12288, IO: true,
	ResidentBytes: 18432000, VirtualBytes: 135168000, OldestStart: time.Unix(1700000010, 0),
}

// TestProcessSeries: the process figures become ingress-nginx's seven
// nginx_process_* series, exactly; without readable io files the two
// byte counters are left out, and without a master all are.
func TestProcessSeries(t *testing.T) {
	head := func(name, help, typ string) string {
		return "# HELP nginx_ingress_controller_nginx_process_" + name + " " + help + "\n" +
			"# TYPE nginx_ingress_controller_nginx_process_" + name + " " + typ + "\n" +
			"nginx_ingress_controller_nginx_process_" + name + "{" + ctlLabels + "} "
	}
	io := head("read_bytes_total", "number of bytes read", "counter") + "4096\n" +
		head("write_bytes_total", "number of bytes written", "counter") + "12288\n"
	rest := head("cpu_seconds_total", "Cpu usage in seconds", "counter") + "6.5\n" +
		head("num_procs", "number of processes", "gauge") + "3\n" +
		head("oldest_start_time_seconds", "start time in seconds since 1970/01/01", "gauge") + "1.70000001e+09\n" +
		head("resident_memory_bytes", "number of bytes of memory in use", "gauge") + "1.8432e+07\n" +
		head("virtual_memory_bytes", "number of bytes of memory in use", "gauge") + "1.35168e+08\n"

	c := NewCollector(ctl, Sources{Processes: processes(procStats, true, nil)})
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(io+rest)))

	noIO := procStats
	noIO.IO = false
	c = NewCollector(ctl, Sources{Processes: processes(noIO, true, nil)})
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(rest)))

	for name, src := range map[string]func() (nginx.ProcessStats, bool, error){
		"no master":  processes(nginx.ProcessStats{}, false, nil),
		"read error": processes(procStats, false, errors.New("list processes: permission denied")),
	} {
		assert.Equal(t, 0, testutil.CollectAndCount(NewCollector(ctl, Sources{Processes: src})), name)
	}
}

// TestProcessSeriesFromProcFixture: the collector over the real reader and
// the /proc fixture of package nginx (a master, two workers, and another
// program that is left out).
func TestProcessSeriesFromProcFixture(t *testing.T) {
	r := nginx.NewProcessReader("../nginx/testdata/proc", 4096)
	c := NewCollector(ctl, Sources{Processes: func() (nginx.ProcessStats, bool, error) { return r.Read(100) }})
	assert.Equal(t, 3.0, testutil.ToFloat64(only(t, c, "nginx_ingress_controller_nginx_process_num_procs")))
	assert.Equal(t, 6.5, testutil.ToFloat64(only(t, c, "nginx_ingress_controller_nginx_process_cpu_seconds_total")))
	assert.Equal(t, float64(4500*4096), testutil.ToFloat64(only(t, c, "nginx_ingress_controller_nginx_process_resident_memory_bytes")))
	assert.Equal(t, 1700000010.0, testutil.ToFloat64(only(t, c, "nginx_ingress_controller_nginx_process_oldest_start_time_seconds")))
}

// infoHead is ssl_certificate_info's HELP and TYPE lines.
const infoHead = `# HELP nginx_ingress_controller_ssl_certificate_info Hold all labels associated to a certificate
# TYPE nginx_ingress_controller_ssl_certificate_info gauge
`

// TestSSLCertificateInfoSeries: one series of value 1 per host presenting
// a Secret's certificate, with ingress-nginx's labels; a certificate
// without a serial number has none, as in ingress-nginx.
func TestSSLCertificateInfoSeries(t *testing.T) {
	exp := certs.NewExpiryMetrics(nil)
	c := only(t, NewCollector(ctl, Sources{Certificates: exp.List}), "nginx_ingress_controller_ssl_certificate_info")
	le := certs.Identity{IssuerCommonName: "R11", IssuerOrganization: "Let's Encrypt", SerialNumber: "1234567890123456789012345", PublicKeyAlgorithm: "RSA"}
	exp.Set([]certs.Expiry{
		{Namespace: "shop", Secret: "shop-tls", NotAfter: time.Unix(1800000000, 0), Hosts: []string{"a.shop.example", "b.shop.example"}, Info: le},
		{Namespace: "blog", Secret: "blog-tls", NotAfter: time.Unix(1800000000, 0), Hosts: []string{"blog.example"},
			Info: certs.Identity{IssuerCommonName: "corp", IssuerSerialNumber: "42", SerialNumber: "7", PublicKeyAlgorithm: "ECDSA"}},
		{Namespace: "old", Secret: "unknown", NotAfter: time.Unix(1800000000, 0), Hosts: []string{"old.example"}},
	})
	const want = infoHead +
		`nginx_ingress_controller_ssl_certificate_info{class="k8s.io/portico",host="a.shop.example",identifier="-1234567890123456789012345",issuer_common_name="R11",issuer_organization="Let's Encrypt",namespace="shop",public_key_algorithm="RSA",secret_name="shop-tls",serial_number="1234567890123456789012345"} 1
nginx_ingress_controller_ssl_certificate_info{class="k8s.io/portico",host="b.shop.example",identifier="-1234567890123456789012345",issuer_common_name="R11",issuer_organization="Let's Encrypt",namespace="shop",public_key_algorithm="RSA",secret_name="shop-tls",serial_number="1234567890123456789012345"} 1
nginx_ingress_controller_ssl_certificate_info{class="k8s.io/portico",host="blog.example",identifier="42-7",issuer_common_name="corp",issuer_organization="",namespace="blog",public_key_algorithm="ECDSA",secret_name="blog-tls",serial_number="7"} 1
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want)))

	exp.Set(nil)
	assert.Equal(t, 0, testutil.CollectAndCount(c), "a certificate no longer served leaves no series")
}

// TestSSLInfoLabelsCannotForgeSeries is the attack of whoever makes a
// certificate (anyone can make one and put it in a Secret): issuer names
// holding quotes, braces, backslashes and line breaks stay inside their
// labels, in the registry's data and in the text exposition both, and no
// other series appears.
func TestSSLInfoLabelsCannotForgeSeries(t *testing.T) {
	exp := certs.NewExpiryMetrics(nil)
	hostile := "x\"} 1\nnginx_ingress_controller_success{controller_pod=\"forged\"} 999\n#\\"
	info := certs.Identity{IssuerCommonName: hostile, IssuerOrganization: "} 1\nfoo{", IssuerSerialNumber: hostile,
		SerialNumber: "1", PublicKeyAlgorithm: "RSA"}
	exp.Set([]certs.Expiry{{Namespace: "evil", Secret: "tls", NotAfter: time.Unix(1800000000, 0), Hosts: []string{"evil.example"}, Info: info}})
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(only(t, NewCollector(ctl, Sources{Certificates: exp.List}), "nginx_ingress_controller_ssl_certificate_info")))
	families, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, families, 1, "one family, no forged one")
	require.Len(t, families[0].Metric, 1)
	got := map[string]string{}
	for _, l := range families[0].Metric[0].Label {
		got[l.GetName()] = l.GetValue()
	}
	assert.Equal(t, hostile, got["issuer_common_name"], "the whole value stays in its label")
	assert.Equal(t, "} 1\nfoo{", got["issuer_organization"])
	assert.Equal(t, hostile+"-1", got["identifier"])

	// The text a scraper reads: one sample line, the line breaks escaped.
	want := infoHead + `nginx_ingress_controller_ssl_certificate_info{class="k8s.io/portico",host="evil.example",` +
		`identifier="x\"} 1\nnginx_ingress_controller_success{controller_pod=\"forged\"} 999\n#\\-1",` +
		`issuer_common_name="x\"} 1\nnginx_ingress_controller_success{controller_pod=\"forged\"} 999\n#\\",` +
		`issuer_organization="} 1\nfoo{",namespace="evil",public_key_algorithm="RSA",secret_name="tls",serial_number="1"} 1` + "\n"
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want)))
}

// TestOrphanIngressSeries: one series at 1 per orphaned Ingress and type,
// with ingress-nginx's help text and labels; none once it is served again.
func TestOrphanIngressSeries(t *testing.T) {
	var o Orphans
	c := NewCollector(ctl, Sources{Orphans: &o})
	assert.Equal(t, 0, testutil.CollectAndCount(c))

	o.Set([]Orphan{
		{Namespace: "shop", Ingress: "web", Type: OrphanNoEndpoint},
		{Namespace: "blog", Ingress: "www", Type: OrphanNoService},
		{Namespace: "shop", Ingress: "web", Type: OrphanNoService},
		{Namespace: "blog", Ingress: "www", Type: OrphanNoService},
	})
	const want = `# HELP nginx_ingress_controller_orphan_ingress Gauge reporting status of ingress orphanity, 1 indicates orphaned ingress.\n` + "\t\t\t" +
		`'namespace' is the string used to identify namespace of ingress, 'ingress' for ingress name and 'type' for 'no-service' or 'no-endpoint' of orphanity
# TYPE nginx_ingress_controller_orphan_ingress gauge
nginx_ingress_controller_orphan_ingress{` + ctlLabels + `,ingress="www",namespace="blog",type="no-service"} 1
nginx_ingress_controller_orphan_ingress{` + ctlLabels + `,ingress="web",namespace="shop",type="no-endpoint"} 1
nginx_ingress_controller_orphan_ingress{` + ctlLabels + `,ingress="web",namespace="shop",type="no-service"} 1
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want)))

	o.Set(nil)
	assert.Equal(t, 0, testutil.CollectAndCount(c))
}
