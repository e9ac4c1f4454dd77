package certs_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/certs"
)

// TestExpiryMetrics: one series per Secret, replaced as a whole.
func TestExpiryMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := certs.NewExpiryMetrics(reg)
	m.Set([]certs.Expiry{
		{Namespace: "shop", Secret: "web-tls", NotAfter: time.Unix(1767225600, 0)},
		{Namespace: "blog", Secret: "tls", NotAfter: time.Unix(1700000000, 500e6)},
	})
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP portico_certificate_expiry_timestamp_seconds Unix time at which the certificate served for a TLS Secret expires (the last accepted one when the Secret's current content is refused).
# TYPE portico_certificate_expiry_timestamp_seconds gauge
portico_certificate_expiry_timestamp_seconds{namespace="blog",secret="tls"} 1.7000000005e+09
portico_certificate_expiry_timestamp_seconds{namespace="shop",secret="web-tls"} 1.7672256e+09
`)))
	m.Set([]certs.Expiry{{Namespace: "blog", Secret: "tls", NotAfter: time.Unix(1800000000, 0)}})
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP portico_certificate_expiry_timestamp_seconds Unix time at which the certificate served for a TLS Secret expires (the last accepted one when the Secret's current content is refused).
# TYPE portico_certificate_expiry_timestamp_seconds gauge
portico_certificate_expiry_timestamp_seconds{namespace="blog",secret="tls"} 1.8e+09
`)))
}

// TestExpiryMetricsList: List gives what Set was given, hosts included,
// sorted by Secret, for the collectors that export it under other names.
func TestExpiryMetricsList(t *testing.T) {
	m := certs.NewExpiryMetrics(nil)
	require.Empty(t, m.List())
	at := time.Unix(1800000000, 0)
	m.Set([]certs.Expiry{
		{Namespace: "b", Secret: "tls", NotAfter: at, Hosts: []string{"b.example"}},
		{Namespace: "a", Secret: "tls", NotAfter: at, Hosts: []string{"a.example", "www.a.example"}},
	})
	require.Equal(t, []certs.Expiry{
		{Namespace: "a", Secret: "tls", NotAfter: at, Hosts: []string{"a.example", "www.a.example"}},
		{Namespace: "b", Secret: "tls", NotAfter: at, Hosts: []string{"b.example"}},
	}, m.List())
}
