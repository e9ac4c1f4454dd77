//go:build linux

package local

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// defaultCertName is the common name of the self-signed certificate the
// controller makes at start for TLS hosts without a usable Secret.
const defaultCertName = "portico-default.invalid"

// tlsIngressYAML is an Ingress routing each host to service, with one TLS
// entry per host naming its Secret.
func tlsIngressYAML(name, service string, secretByHost map[string]string, hosts ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: %s}
spec:
  ingressClassName: portico
  tls:
`, name)
	for _, h := range hosts {
		fmt.Fprintf(&b, "  - hosts: [%q]\n    secretName: %s\n", h, secretByHost[h])
	}
	b.WriteString("  rules:\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "  - host: %q\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: %s, port: {number: 80}}}}]}\n", h, service)
	}
	return b.String()
}

// TestTLS checks certificate selection by SNI, the default certificate, the
// HTTP to HTTPS redirect, a missing Secret, rotation, and that key material
// never leaves the certificate files.
func TestTLS(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web")
	const hostA, hostB, hostC = "a.example.com", "b.example.com", "c.example.com"
	certA, certB := framework.NewKeyPair(t, hostA), framework.NewKeyPair(t, hostB)
	secrets := map[string]string{hostA: "cert-a", hostB: "cert-b", hostC: "cert-c"} // cert-c does not exist
	c := startController(t, options{files: map[string]string{
		"web.yaml":     serviceYAML("web", b["web"]),
		"secrets.yaml": joinDocs(secretYAML("cert-a", certA), secretYAML("cert-b", certB)),
		"ingress.yaml": tlsIngressYAML("tls", "web", secrets, hostA, hostB, hostC),
		"plain.yaml":   ingressYAML("plain", "plain.example.com", route{"/", "Prefix", "web"}),
	}})

	t.Run("SNI selects the certificate", func(t *testing.T) {
		assert.Equal(t, []string{hostA}, c.MustPeerCertificate(t, hostA).DNSNames)
		assert.Equal(t, []string{hostB}, c.MustPeerCertificate(t, hostB).DNSNames)
		assert.True(t, c.MustPeerCertificate(t, hostA).Equal(certA.Leaf), "a.example.com presents cert-a")
		assert.True(t, c.MustPeerCertificate(t, hostB).Equal(certB.Leaf), "b.example.com presents cert-b")
	})
	t.Run("unknown SNI gets the default certificate", func(t *testing.T) {
		for _, sni := range []string{"unknown.example.com", "plain.example.com", ""} {
			cert := c.MustPeerCertificate(t, sni)
			assert.Equal(t, defaultCertName, cert.Subject.CommonName, "SNI %q", sni)
		}
	})
	t.Run("missing Secret serves the default certificate", func(t *testing.T) {
		assert.Equal(t, defaultCertName, c.MustPeerCertificate(t, hostC).Subject.CommonName)
		assert.True(t, c.MustPeerCertificate(t, hostA).Equal(certA.Leaf), "other hosts are unaffected")
		// The host still serves traffic over HTTPS.
		r, err := framework.DoGet(c.HTTPSClient(hostC, nil), "https", hostC, "/x")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, r.Status, "%s", r)
		assert.Equal(t, "web", r.Served(), "%s", r)
	})
	t.Run("HTTPS routes to the backend with a verified certificate", func(t *testing.T) {
		roots := x509.NewCertPool()
		roots.AddCert(certA.Leaf)
		r, err := framework.DoGet(c.HTTPSClient(hostA, roots), "https", hostA, "/secure?q=1")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, r.Status, "%s", r)
		require.Equal(t, "web", r.Served(), "%s", r)
		assert.Equal(t, "/secure?q=1", r.Echo.Path)
		assert.Equal(t, "https", r.Echo.Headers["X-Forwarded-Proto"])
	})
	t.Run("HTTP redirects to HTTPS", func(t *testing.T) {
		for _, host := range []string{hostA, hostC} {
			r := c.Get(t, host, "/some/path?x=1&y=2")
			assert.Equal(t, http.StatusPermanentRedirect, r.Status, "%s", r)
			assert.Equal(t, fmt.Sprintf("https://%s:%d/some/path?x=1&y=2", host, c.HTTPSPort), r.Header.Get("Location"))
			assert.Empty(t, r.Served(), "%s", r)
		}
		r := c.Get(t, "plain.example.com", "/")
		assert.Equal(t, http.StatusOK, r.Status, "a host without TLS is not redirected: %s", r)
	})
	t.Run("certificate files are private", func(t *testing.T) {
		entries, err := os.ReadDir(filepath.Join(c.ConfigDir, "certs"))
		require.NoError(t, err)
		require.NotEmpty(t, entries)
		for _, e := range entries {
			info, err := e.Info()
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "mode of %s", e.Name())
		}
		// Three files: the default certificate and the two valid Secrets.
		assert.Len(t, entries, 3, "certificate files: %v", entries)
	})

	t.Run("rotation", func(t *testing.T) {
		rotated := framework.NewKeyPair(t, hostA, "www."+hostA)
		c.update(t, "secrets.yaml", joinDocs(secretYAML("cert-a", rotated), secretYAML("cert-b", certB)))
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			cert, err := c.PeerCertificate(hostA)
			require.NoError(ct, err)
			assert.True(ct, cert.Equal(rotated.Leaf), "a.example.com presents the rotated certificate (got serial %s)", cert.SerialNumber)
		}, framework.RouteTimeout, framework.PollInterval)
		assert.True(t, c.MustPeerCertificate(t, hostB).Equal(certB.Leaf), "b.example.com is unaffected")

		// The file of the old certificate is collected once the new config is live.
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			entries, err := os.ReadDir(filepath.Join(c.ConfigDir, "certs"))
			require.NoError(ct, err)
			assert.Len(ct, entries, 3, "old certificate files are removed: %v", entries)
		}, framework.RouteTimeout, framework.PollInterval)
	})
	t.Run("the missing Secret appears", func(t *testing.T) {
		certC := framework.NewKeyPair(t, hostC)
		c.update(t, "secret-c.yaml", secretYAML("cert-c", certC))
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			cert, err := c.PeerCertificate(hostC)
			require.NoError(ct, err)
			assert.True(ct, cert.Equal(certC.Leaf), "c.example.com presents cert-c (got %s)", cert.Subject.CommonName)
		}, framework.RouteTimeout, framework.PollInterval)
	})

	t.Run("no key material outside the certificate files", func(t *testing.T) {
		assert.NotContains(t, string(c.MustStatusGet(t, "/debug/config")), "PRIVATE KEY")
		conf, err := os.ReadFile(filepath.Join(c.ConfigDir, "nginx.conf"))
		require.NoError(t, err)
		assert.NotContains(t, string(conf), "PRIVATE KEY")
		assert.NotContains(t, c.Logs.String(), "PRIVATE KEY", "controller logs")
		assert.NotContains(t, string(c.MustStatusGet(t, "/debug/reloads")), "PRIVATE KEY")
	})
}

// TestTLSKeyNeverLogged feeds the controller a Secret whose key does not
// match its certificate: the error must be reported without quoting the key.
func TestTLSKeyNeverLogged(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web")
	const host = "mismatch.example.com"
	cert, other := framework.NewKeyPair(t, host), framework.NewKeyPair(t, host)
	bad := framework.KeyPair{CertPEM: cert.CertPEM, KeyPEM: other.KeyPEM}
	c := startController(t, options{files: map[string]string{
		"web.yaml":     serviceYAML("web", b["web"]),
		"secret.yaml":  secretYAML("bad", bad),
		"ingress.yaml": tlsIngressYAML("tls", "web", map[string]string{host: "bad"}, host),
	}})
	got, err := c.PeerCertificate(host)
	require.NoError(t, err)
	assert.Equal(t, defaultCertName, got.Subject.CommonName, "an invalid Secret falls back to the default certificate")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Contains(ct, c.Logs.String(), "TLS Secret default/bad", "the bad Secret is reported")
	}, framework.RouteTimeout, framework.PollInterval)
	logs := c.Logs.String()
	assert.NotContains(t, logs, "PRIVATE KEY")
	// Not even a piece of the base64 body of the key.
	keyBody := strings.Split(string(bad.KeyPEM), "\n")[1]
	assert.NotContains(t, logs, keyBody[:32])
	entries, err := os.ReadDir(filepath.Join(c.ConfigDir, "certs"))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "only the default certificate is written: %v", entries)
}
