//go:build linux

package local

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// expiryMetric is portico_certificate_expiry_timestamp_seconds of Secret default/name.
func (c *controller) expiryMetric(t *testing.T, name string) (float64, bool) {
	t.Helper()
	return c.Metric(t, "portico_certificate_expiry_timestamp_seconds", map[string]string{"namespace": "default", "secret": name})
}

// waitLogLine waits until the controller has logged a line holding every
// part, and returns it.
func (c *controller) waitLogLine(t *testing.T, parts ...string) string {
	t.Helper()
	var found string
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		for _, line := range strings.Split(c.Logs.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				found = line
				return
			}
		}
		assert.Fail(ct, "no log line", "with %q", parts)
	}, framework.RouteTimeout, framework.PollInterval)
	return found
}

// TestBadSecretUpdateKeepsCertificate: a Secret updated with a key that
// does not match its certificate keeps serving the pair it served (the TLS
// handshake presents the original certificate and HTTPS verifies), with an
// InvalidSecretKeptLastGood finding; fixed, the new certificate is served.
func TestBadSecretUpdateKeepsCertificate(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web")
	const host, other = "keep.example.com", "other.example.com"
	original, stranger, otherPair := framework.NewKeyPair(t, host), framework.NewKeyPair(t, host), framework.NewKeyPair(t, other)
	secrets := map[string]string{host: "keep-tls", other: "other-tls"}
	c := startController(t, options{files: map[string]string{
		"web.yaml":     serviceYAML("web", b["web"]),
		"secret.yaml":  secretYAML("keep-tls", original),
		"other.yaml":   secretYAML("other-tls", otherPair),
		"ingress.yaml": tlsIngressYAML("keep", "web", secrets, host, other),
	}})
	require.True(t, c.MustPeerCertificate(t, host).Equal(original.Leaf))
	v, ok := c.expiryMetric(t, "keep-tls")
	require.True(t, ok, "expiry metric of keep-tls")
	assert.Equal(t, float64(original.Leaf.NotAfter.Unix()), v)

	mismatched := framework.KeyPair{CertPEM: original.CertPEM, KeyPEM: stranger.KeyPEM}
	c.writeManifest(t, "secret.yaml", secretYAML("keep-tls", mismatched))
	line := c.waitLogLine(t, `"reason":"InvalidSecretKeptLastGood"`, `"severity":"PartlyServed"`)
	assert.Contains(t, line, "private key does not match public key")
	assert.Contains(t, line, "still serving its last accepted certificate")

	roots := x509.NewCertPool()
	roots.AddCert(original.Leaf)
	for range 5 {
		assert.True(t, c.MustPeerCertificate(t, host).Equal(original.Leaf), "the original certificate is still presented")
		r, err := framework.DoGet(c.HTTPSClient(host, roots), "https", host, "/")
		require.NoError(t, err, "HTTPS with the original certificate verified")
		assert.Equal(t, http.StatusOK, r.Status, "%s", r)
		assert.Equal(t, "web", r.Served(), "%s", r)
	}
	assert.True(t, c.MustPeerCertificate(t, other).Equal(otherPair.Leaf), "another Secret's host is untouched")
	v, ok = c.expiryMetric(t, "keep-tls")
	require.True(t, ok)
	assert.Equal(t, float64(original.Leaf.NotAfter.Unix()), v, "the metric tells the certificate served")

	fixed := framework.NewKeyPair(t, host, "www."+host)
	c.writeManifest(t, "secret.yaml", secretYAML("keep-tls", fixed))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		cert, err := c.PeerCertificate(host)
		require.NoError(ct, err)
		assert.True(ct, cert.Equal(fixed.Leaf), "the fixed certificate is served (got serial %s)", cert.SerialNumber)
	}, framework.RouteTimeout, framework.PollInterval)
	c.waitLogLine(t, "resolved: ", `"reason":"InvalidSecretKeptLastGood"`)

	for _, what := range []string{c.Logs.String(), string(c.MustStatusGet(t, "/metrics")), string(c.MustStatusGet(t, "/debug/reloads")),
		string(c.MustStatusGet(t, "/debug/config"))} {
		assert.NotContains(t, what, "PRIVATE KEY", "no key material outside the certificate files")
	}
}

// TestExpiredCertificateIsReported: a Secret whose certificate has already
// expired is reported (CertificateExpired, a warning log line) and the
// metric holds its past expiry; with nothing better it is still what the
// host presents, so verifying clients fail on the date. A certificate
// within the default 14-day window is reported as expiring soon.
func TestExpiredCertificateIsReported(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web")
	const expiredHost, soonHost = "expired.example.com", "soon.example.com"
	now := time.Now()
	expired := framework.NewKeyPairBetween(t, now.Add(-30*24*time.Hour), now.Add(-24*time.Hour), expiredHost)
	soon := framework.NewKeyPairBetween(t, now.Add(-time.Hour), now.Add(7*24*time.Hour), soonHost)
	c := startController(t, options{files: map[string]string{
		"web.yaml":     serviceYAML("web", b["web"]),
		"secrets.yaml": joinDocs(secretYAML("expired-tls", expired), secretYAML("soon-tls", soon)),
		"ingress.yaml": tlsIngressYAML("expiry", "web", map[string]string{expiredHost: "expired-tls", soonHost: "soon-tls"}, expiredHost, soonHost),
	}})

	line := c.waitLogLine(t, `"level":"WARN"`, `"reason":"CertificateExpired"`, `"severity":"Served"`)
	assert.Contains(t, line, fmt.Sprintf("expired at %s", expired.Leaf.NotAfter.UTC().Format(time.RFC3339)))
	assert.Contains(t, line, "expired-tls")
	c.waitLogLine(t, `"level":"WARN"`, `"reason":"CertificateExpiresSoon"`, "soon-tls")

	v, ok := c.expiryMetric(t, "expired-tls")
	require.True(t, ok, "expiry metric of expired-tls")
	assert.Equal(t, float64(expired.Leaf.NotAfter.Unix()), v)
	assert.Less(t, v, float64(time.Now().Unix()), "the metric says it has expired")
	v, ok = c.expiryMetric(t, "soon-tls")
	require.True(t, ok, "expiry metric of soon-tls")
	assert.Equal(t, float64(soon.Leaf.NotAfter.Unix()), v)

	assert.True(t, c.MustPeerCertificate(t, expiredHost).Equal(expired.Leaf), "nothing better: the expired certificate, reported")
	roots := x509.NewCertPool()
	roots.AddCert(expired.Leaf)
	_, err := framework.DoGet(c.HTTPSClient(expiredHost, roots), "https", expiredHost, "/")
	require.Error(t, err, "a verifying client refuses it")
	assert.Contains(t, err.Error(), "expired")
}
