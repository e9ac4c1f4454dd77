//go:build linux

package local

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// issue returns a certificate for cn signed by the CA, for usage, with its
// chain and key in PEM.
func (ca testCA) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		DNSNames: []string{cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// TestAuthTLSVerifyClientOptional shows auth-tls-verify-client optional on
// real traffic: a request without a client certificate reaches the backend,
// one with a certificate from another CA is refused (400), a good one passes.
func TestAuthTLSVerifyClientOptional(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	ca, other := newTestCA(t), newTestCA(t)
	const host = "optional.example.com"
	kp := newKeyPair(t, host)
	ing := annotate(ingressYAML("app", host, route{"/", "Prefix", "app"}), map[string]string{
		"nginx.ingress.kubernetes.io/auth-tls-secret":        "client-ca",
		"nginx.ingress.kubernetes.io/auth-tls-verify-client": "optional",
	})
	ing = withTLS(ing, host, "tls")
	caSecret := caSecretYAML("client-ca", ca.pem)
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"tls.yaml":      secretYAML("tls", kp),
		"ca.yaml":       caSecret,
		"app.yaml":      ing,
	}})
	roots := x509.NewCertPool()
	roots.AddCert(kp.leaf)
	get := func(cert *tls.Certificate) response {
		client := c.httpsClient(host, roots)
		if cert != nil {
			client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		r, err := doGet(client, "https", host, "/")
		if err != nil {
			return response{body: err.Error()}
		}
		return r
	}
	good := ca.client(t, "alice")
	require.Eventually(t, func() bool { return get(&good).status == http.StatusOK }, routeTimeout, pollInterval)
	none := get(nil)
	assert.Equal(t, http.StatusOK, none.status, "optional: no client certificate is accepted: %s", none)
	assert.Equal(t, "app", none.served())
	stranger := other.client(t, "mallory")
	bad := get(&stranger)
	assert.Equal(t, http.StatusBadRequest, bad.status, "optional: a certificate from another CA is refused: %s", bad)
}

// intermediate returns a CA certificate signed by ca, usable to sign
// client certificates in turn.
func (ca testCA) intermediate(t *testing.T, cn string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return testCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
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
	root := newTestCA(t)
	outer := root.intermediate(t, "e2e outer intermediate CA")
	inner := outer.intermediate(t, "e2e inner intermediate CA")
	const shallow, deep = "shallow.example.com", "deep.example.com"
	kp := newKeyPair(t, shallow, deep)
	const p = "nginx.ingress.kubernetes.io/"
	ingress := func(name, host, depth string) string {
		ing := annotate(ingressYAML(name, host, route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-tls-secret":       "client-ca",
			p + "auth-tls-verify-depth": `"` + depth + `"`,
		})
		return withTLS(ing, host, "tls")
	}
	caSecret := caSecretYAML("client-ca", root.pem)
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"tls.yaml":      secretYAML("tls", kp),
		"ca.yaml":       caSecret,
		"shallow.yaml":  ingress("shallow", shallow, "1"),
		"deep.yaml":     ingress("deep", deep, "2"),
	}})
	roots := x509.NewCertPool()
	roots.AddCert(kp.leaf)
	short := outer.client(t, "bob")
	short.Certificate = append(short.Certificate, outer.cert.Raw)
	long := inner.client(t, "alice")
	long.Certificate = append(long.Certificate, inner.cert.Raw, outer.cert.Raw)
	get := func(host string, cert tls.Certificate) response {
		client := c.httpsClient(host, roots)
		client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{cert}
		r, err := doGet(client, "https", host, "/")
		if err != nil {
			return response{body: err.Error()}
		}
		return r
	}
	require.Eventually(t, func() bool { return get(deep, long).status == http.StatusOK }, routeTimeout, pollInterval)
	r := get(deep, long)
	assert.Equal(t, http.StatusOK, r.status, "depth 2 accepts a chain through two intermediates: %s", r)
	assert.Equal(t, "app", r.served())
	// The shallow Ingress is served by the same nginx, already reloaded.
	r = get(shallow, long)
	assert.Equal(t, http.StatusBadRequest, r.status, "depth 1 refuses a chain through two intermediates: %s", r)
	r = get(shallow, short)
	assert.Equal(t, http.StatusOK, r.status, "depth 1 accepts a chain through one intermediate: %s", r)
}

// testCA is a throwaway CA that signs client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return testCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// client returns a TLS client certificate for cn signed by the CA.
func (ca testCA) client(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestClientCertificateAnnotations shows the auth-tls family on real
// traffic: without a client certificate or with one from another CA the
// request is refused, with a good one it reaches the backend, which gets
// the certificate in ssl-client-cert.
func TestClientCertificateAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	ca, other := newTestCA(t), newTestCA(t)
	const host = "mtls.example.com"
	kp := newKeyPair(t, host)
	ing := annotate(ingressYAML("app", host, route{"/", "Prefix", "app"}), map[string]string{
		"nginx.ingress.kubernetes.io/auth-tls-secret":                       "client-ca",
		"nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream": `"true"`,
	})
	ing = withTLS(ing, host, "tls")
	caSecret := caSecretYAML("client-ca", ca.pem)
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"tls.yaml":      secretYAML("tls", kp),
		"ca.yaml":       caSecret,
		"app.yaml":      ing,
	}})
	roots := x509.NewCertPool()
	roots.AddCert(kp.leaf)
	get := func(cert *tls.Certificate) (int, string) {
		client := c.httpsClient(host, roots)
		if cert != nil {
			client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		r, err := doGet(client, "https", host, "/")
		if err != nil {
			return 0, err.Error()
		}
		if r.echo != nil {
			return r.status, r.echo.Headers["Ssl-Client-Cert"]
		}
		return r.status, ""
	}
	good := ca.client(t, "alice")
	require.Eventually(t, func() bool { status, _ := get(&good); return status == http.StatusOK }, routeTimeout, pollInterval)
	status, passed := get(&good)
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, passed, "BEGIN%20CERTIFICATE", "the backend receives the client certificate")

	status, _ = get(nil)
	assert.Equal(t, http.StatusBadRequest, status, "no client certificate: nginx refuses (400)")
	stranger := other.client(t, "mallory")
	status, _ = get(&stranger)
	assert.Equal(t, http.StatusBadRequest, status, "a certificate from another CA is refused")
	plain := c.getHTTP(t, host, "/")
	assert.NotEqual(t, http.StatusOK, plain.status, "plain HTTP must not bypass the client certificate: %s", plain)
}
