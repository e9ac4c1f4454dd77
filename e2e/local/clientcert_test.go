//go:build linux

package local

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// TestAuthTLSVerifyClientOptional shows auth-tls-verify-client optional on
// real traffic: a request without a client certificate reaches the backend,
// one with a certificate from another CA is refused (400), a good one passes.
func TestAuthTLSVerifyClientOptional(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	ca, other := framework.NewCA(t), framework.NewCA(t)
	const host = "optional.example.com"
	kp := framework.NewKeyPair(t, host)
	ing := annotate(ingressYAML("app", host, route{"/", "Prefix", "app"}), map[string]string{
		"nginx.ingress.kubernetes.io/auth-tls-secret":        "client-ca",
		"nginx.ingress.kubernetes.io/auth-tls-verify-client": "optional",
	})
	ing = withTLS(ing, host, "tls")
	caSecret := caSecretYAML("client-ca", ca.PEM)
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"tls.yaml":      secretYAML("tls", kp),
		"ca.yaml":       caSecret,
		"app.yaml":      ing,
	}})
	roots := x509.NewCertPool()
	roots.AddCert(kp.Leaf)
	get := func(cert *tls.Certificate) framework.Response {
		client := c.HTTPSClient(host, roots)
		if cert != nil {
			client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		r, err := framework.DoGet(client, "https", host, "/")
		if err != nil {
			return framework.Response{Body: err.Error()}
		}
		return r
	}
	good := ca.Client(t, "alice")
	require.Eventually(t, func() bool { return get(&good).Status == http.StatusOK }, framework.RouteTimeout, framework.PollInterval)
	none := get(nil)
	assert.Equal(t, http.StatusOK, none.Status, "optional: no client certificate is accepted: %s", none)
	assert.Equal(t, "app", none.Served())
	stranger := other.Client(t, "mallory")
	bad := get(&stranger)
	assert.Equal(t, http.StatusBadRequest, bad.Status, "optional: a certificate from another CA is refused: %s", bad)
}

// TestAuthTLSVerifyDepthAnnotation shows auth-tls-verify-depth on real
// traffic. The depth counts the intermediate CAs between the client
// certificate and the trusted root (OpenSSL 1.1+ semantics, which nginx
// passes on), so a client signed by one intermediate passes at depth 1,
// while a client signed through two intermediates (root → outer → inner →
// client, presenting leaf, inner and outer) is refused (400) at depth 1 and
// accepted at depth 2. auth-tls-secret holds only the root.
func TestAuthTLSVerifyDepthAnnotation(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	root := framework.NewCA(t)
	outer := root.Intermediate(t, "e2e outer intermediate CA")
	inner := outer.Intermediate(t, "e2e inner intermediate CA")
	const shallow, deep = "shallow.example.com", "deep.example.com"
	kp := framework.NewKeyPair(t, shallow, deep)
	const p = "nginx.ingress.kubernetes.io/"
	ingress := func(name, host, depth string) string {
		ing := annotate(ingressYAML(name, host, route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-tls-secret":       "client-ca",
			p + "auth-tls-verify-depth": `"` + depth + `"`,
		})
		return withTLS(ing, host, "tls")
	}
	caSecret := caSecretYAML("client-ca", root.PEM)
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"tls.yaml":      secretYAML("tls", kp),
		"ca.yaml":       caSecret,
		"shallow.yaml":  ingress("shallow", shallow, "1"),
		"deep.yaml":     ingress("deep", deep, "2"),
	}})
	roots := x509.NewCertPool()
	roots.AddCert(kp.Leaf)
	short := outer.Client(t, "bob")
	short.Certificate = append(short.Certificate, outer.Cert.Raw)
	long := inner.Client(t, "alice")
	long.Certificate = append(long.Certificate, inner.Cert.Raw, outer.Cert.Raw)
	get := func(host string, cert tls.Certificate) framework.Response {
		client := c.HTTPSClient(host, roots)
		client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{cert}
		r, err := framework.DoGet(client, "https", host, "/")
		if err != nil {
			return framework.Response{Body: err.Error()}
		}
		return r
	}
	require.Eventually(t, func() bool { return get(deep, long).Status == http.StatusOK }, framework.RouteTimeout, framework.PollInterval)
	r := get(deep, long)
	assert.Equal(t, http.StatusOK, r.Status, "depth 2 accepts a chain through two intermediates: %s", r)
	assert.Equal(t, "app", r.Served())
	// The shallow Ingress is served by the same nginx, already reloaded.
	r = get(shallow, long)
	assert.Equal(t, http.StatusBadRequest, r.Status, "depth 1 refuses a chain through two intermediates: %s", r)
	r = get(shallow, short)
	assert.Equal(t, http.StatusOK, r.Status, "depth 1 accepts a chain through one intermediate: %s", r)
}

// TestClientCertificateAnnotations shows the auth-tls family on real
// traffic: without a client certificate or with one from another CA the
// request is refused, with a good one it reaches the backend, which gets
// the certificate in ssl-client-cert.
func TestClientCertificateAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	ca, other := framework.NewCA(t), framework.NewCA(t)
	const host = "mtls.example.com"
	kp := framework.NewKeyPair(t, host)
	ing := annotate(ingressYAML("app", host, route{"/", "Prefix", "app"}), map[string]string{
		"nginx.ingress.kubernetes.io/auth-tls-secret":                       "client-ca",
		"nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream": `"true"`,
	})
	ing = withTLS(ing, host, "tls")
	caSecret := caSecretYAML("client-ca", ca.PEM)
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"tls.yaml":      secretYAML("tls", kp),
		"ca.yaml":       caSecret,
		"app.yaml":      ing,
	}})
	roots := x509.NewCertPool()
	roots.AddCert(kp.Leaf)
	get := func(cert *tls.Certificate) (int, string) {
		client := c.HTTPSClient(host, roots)
		if cert != nil {
			client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		r, err := framework.DoGet(client, "https", host, "/")
		if err != nil {
			return 0, err.Error()
		}
		if r.Echo != nil {
			return r.Status, r.Echo.Headers["Ssl-Client-Cert"]
		}
		return r.Status, ""
	}
	good := ca.Client(t, "alice")
	require.Eventually(t, func() bool { status, _ := get(&good); return status == http.StatusOK }, framework.RouteTimeout, framework.PollInterval)
	status, passed := get(&good)
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, passed, "BEGIN%20CERTIFICATE", "the backend receives the client certificate")

	status, _ = get(nil)
	assert.Equal(t, http.StatusBadRequest, status, "no client certificate: nginx refuses (400)")
	stranger := other.Client(t, "mallory")
	status, _ = get(&stranger)
	assert.Equal(t, http.StatusBadRequest, status, "a certificate from another CA is refused")
	plain := c.Get(t, host, "/")
	assert.NotEqual(t, http.StatusOK, plain.Status, "plain HTTP must not bypass the client certificate: %s", plain)
}
