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
	certA, certB := newKeyPair(t, hostA), newKeyPair(t, hostB)
	secrets := map[string]string{hostA: "cert-a", hostB: "cert-b", hostC: "cert-c"} // cert-c does not exist
	c := startController(t, options{files: map[string]string{
		"web.yaml":     serviceYAML("web", b["web"]),
		"secrets.yaml": joinDocs(secretYAML("cert-a", certA), secretYAML("cert-b", certB)),
		"ingress.yaml": tlsIngressYAML("tls", "web", secrets, hostA, hostB, hostC),
		"plain.yaml":   ingressYAML("plain", "plain.example.com", route{"/", "Prefix", "web"}),
	}})

	peer := func(t *testing.T, sni string) *x509.Certificate {
		t.Helper()
		cert, err := c.peerCertificate(sni)
		require.NoError(t, err, "TLS handshake with SNI %q", sni)
		return cert
	}

	t.Run("SNI selects the certificate", func(t *testing.T) {
		assert.Equal(t, []string{hostA}, peer(t, hostA).DNSNames)
		assert.Equal(t, []string{hostB}, peer(t, hostB).DNSNames)
		assert.True(t, peer(t, hostA).Equal(certA.leaf), "a.example.com presents cert-a")
		assert.True(t, peer(t, hostB).Equal(certB.leaf), "b.example.com presents cert-b")
	})
	t.Run("unknown SNI gets the default certificate", func(t *testing.T) {
		for _, sni := range []string{"unknown.example.com", "plain.example.com", ""} {
			cert := peer(t, sni)
			assert.Equal(t, defaultCertName, cert.Subject.CommonName, "SNI %q", sni)
		}
	})
	t.Run("missing Secret serves the default certificate", func(t *testing.T) {
		assert.Equal(t, defaultCertName, peer(t, hostC).Subject.CommonName)
		assert.True(t, peer(t, hostA).Equal(certA.leaf), "other hosts are unaffected")
		// The host still serves traffic over HTTPS.
		r, err := doGet(c.httpsClient(hostC, nil), "https", hostC, "/x")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, r.status, "%s", r)
		assert.Equal(t, "web", r.served(), "%s", r)
	})
	t.Run("HTTPS routes to the backend with a verified certificate", func(t *testing.T) {
		roots := x509.NewCertPool()
		roots.AddCert(certA.leaf)
		r, err := doGet(c.httpsClient(hostA, roots), "https", hostA, "/secure?q=1")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, r.status, "%s", r)
		require.Equal(t, "web", r.served(), "%s", r)
		assert.Equal(t, "/secure?q=1", r.echo.Path)
		assert.Equal(t, "https", r.echo.Headers["X-Forwarded-Proto"])
	})
	t.Run("HTTP redirects to HTTPS", func(t *testing.T) {
		for _, host := range []string{hostA, hostC} {
			r := c.getHTTP(t, host, "/some/path?x=1&y=2")
			assert.Equal(t, http.StatusPermanentRedirect, r.status, "%s", r)
			assert.Equal(t, fmt.Sprintf("https://%s:%d/some/path?x=1&y=2", host, c.httpsPort), r.header.Get("Location"))
			assert.Empty(t, r.served(), "%s", r)
		}
		r := c.getHTTP(t, "plain.example.com", "/")
		assert.Equal(t, http.StatusOK, r.status, "a host without TLS is not redirected: %s", r)
	})
	t.Run("certificate files are private", func(t *testing.T) {
		entries, err := os.ReadDir(filepath.Join(c.configDir, "certs"))
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
		rotated := newKeyPair(t, hostA, "www."+hostA)
		c.update(t, "secrets.yaml", joinDocs(secretYAML("cert-a", rotated), secretYAML("cert-b", certB)))
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			cert, err := c.peerCertificate(hostA)
			require.NoError(ct, err)
			assert.True(ct, cert.Equal(rotated.leaf), "a.example.com presents the rotated certificate (got serial %s)", cert.SerialNumber)
		}, routeTimeout, pollInterval)
		assert.True(t, peer(t, hostB).Equal(certB.leaf), "b.example.com is unaffected")

		// The file of the old certificate is collected once the new config is live.
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			entries, err := os.ReadDir(filepath.Join(c.configDir, "certs"))
			require.NoError(ct, err)
			assert.Len(ct, entries, 3, "old certificate files are removed: %v", entries)
		}, routeTimeout, pollInterval)
	})
	t.Run("the missing Secret appears", func(t *testing.T) {
		certC := newKeyPair(t, hostC)
		c.update(t, "secret-c.yaml", secretYAML("cert-c", certC))
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			cert, err := c.peerCertificate(hostC)
			require.NoError(ct, err)
			assert.True(ct, cert.Equal(certC.leaf), "c.example.com presents cert-c (got %s)", cert.Subject.CommonName)
		}, routeTimeout, pollInterval)
	})

	t.Run("no key material outside the certificate files", func(t *testing.T) {
		assert.NotContains(t, string(c.mustGet(t, "/debug/config")), "PRIVATE KEY")
		conf, err := os.ReadFile(filepath.Join(c.configDir, "nginx.conf"))
		require.NoError(t, err)
		assert.NotContains(t, string(conf), "PRIVATE KEY")
		assert.NotContains(t, c.logs.String(), "PRIVATE KEY", "controller logs")
		assert.NotContains(t, string(c.mustGet(t, "/debug/reloads")), "PRIVATE KEY")
	})
}

// TestTLSKeyNeverLogged feeds the controller a Secret whose key does not
// match its certificate: the error must be reported without quoting the key.
func TestTLSKeyNeverLogged(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web")
	const host = "mismatch.example.com"
	cert, other := newKeyPair(t, host), newKeyPair(t, host)
	bad := keyPair{certPEM: cert.certPEM, keyPEM: other.keyPEM}
	c := startController(t, options{files: map[string]string{
		"web.yaml":     serviceYAML("web", b["web"]),
		"secret.yaml":  secretYAML("bad", bad),
		"ingress.yaml": tlsIngressYAML("tls", "web", map[string]string{host: "bad"}, host),
	}})
	got, err := c.peerCertificate(host)
	require.NoError(t, err)
	assert.Equal(t, defaultCertName, got.Subject.CommonName, "an invalid Secret falls back to the default certificate")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Contains(ct, c.logs.String(), "TLS Secret default/bad", "the bad Secret is reported")
	}, routeTimeout, pollInterval)
	logs := c.logs.String()
	assert.NotContains(t, logs, "PRIVATE KEY")
	// Not even a piece of the base64 body of the key.
	keyBody := strings.Split(bad.keyPEM, "\n")[1]
	assert.NotContains(t, logs, keyBody[:32])
	entries, err := os.ReadDir(filepath.Join(c.configDir, "certs"))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "only the default certificate is written: %v", entries)
}
