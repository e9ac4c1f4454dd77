//go:build linux

package local

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFromToWWWRedirect shows from-to-www-redirect on real traffic: the
// www. twin of a host answers 308 to the host with path and query kept,
// the bare twin of a www. host answers 308 to it, and the hosts themselves
// are served.
func TestFromToWWWRedirect(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"bare.yaml": annotate(ingressYAML("bare", "example.com", route{"/", "Prefix", "app"}),
			map[string]string{p + "from-to-www-redirect": `"true"`}),
		"www.yaml": annotate(ingressYAML("www", "www.shop.example.com", route{"/", "Prefix", "app"}),
			map[string]string{p + "from-to-www-redirect": `"true"`}),
	}})
	c.waitServed(t, "example.com", "/", "app")
	c.waitServed(t, "www.shop.example.com", "/", "app")
	cases := []struct{ host, path, location string }{
		{"www.example.com", "/a/b?q=1", "http://example.com/a/b?q=1"},
		{"shop.example.com", "/cart?x=y", "http://www.shop.example.com/cart?x=y"},
	}
	for _, tc := range cases {
		r := c.getHTTP(t, tc.host, tc.path)
		assert.Equal(t, http.StatusPermanentRedirect, r.status, "%s%s: %s", tc.host, tc.path, r)
		assert.Equal(t, tc.location, r.header.Get("Location"), "%s%s", tc.host, tc.path)
	}
}

// startStatusBackend starts a Service endpoint that answers every request
// with status, and returns the Service and its EndpointSlice as YAML.
func startStatusBackend(t *testing.T, service string, status int) string {
	t.Helper()
	return startHandlerBackend(t, service, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "answered by "+service, status)
	})
}

// TestDefaultBackendAnnotations shows default-backend and custom-http-errors
// on real traffic: a path whose Service has no ready endpoints and a path
// no rule matches are served by the default backend; a backend's 404 is
// replaced by the default backend's answer, which learns the code and the
// original URI from X-Code and X-Original-URI; other paths are untouched.
func TestDefaultBackendAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app", "fallback")
	const p = "nginx.ingress.kubernetes.io/"
	const host = "shop.example.com"
	ing := annotate(ingressYAML("shop", host,
		route{"/up", "Prefix", "app"}, route{"/down", "Prefix", "down"}, route{"/missing", "Prefix", "notfound"}),
		map[string]string{p + "default-backend": "fallback", p + "custom-http-errors": `"404,500"`})
	c := startController(t, options{files: map[string]string{
		"services.yaml": joinDocs(servicesYAML(b), serviceOnlyYAML("down"), startStatusBackend(t, "notfound", http.StatusNotFound)),
		"shop.yaml":     ing,
	}})
	c.waitServed(t, host, "/up", "app")

	for _, path := range []string{"/down/x", "/elsewhere"} {
		r := c.getHTTP(t, host, path)
		assert.Equal(t, http.StatusOK, r.status, "%s: %s", path, r)
		assert.Equal(t, "fallback", r.served(), "%s is served by the default backend", path)
	}
	r := c.getHTTP(t, host, "/missing/page?q=1")
	require.Equal(t, "fallback", r.served(), "a 404 from the backend is replaced: %s", r)
	assert.Equal(t, "404", r.echo.Headers["X-Code"])
	assert.Equal(t, "/missing/page?q=1", r.echo.Headers["X-Original-Uri"])
	assert.Equal(t, "default", r.echo.Headers["X-Namespace"])
	assert.Equal(t, "shop", r.echo.Headers["X-Ingress-Name"])

	// Without custom-http-errors the backend's own 404 reaches the client.
	c.writeManifest(t, "shop.yaml", annotate(ingressYAML("shop", host,
		route{"/up", "Prefix", "app"}, route{"/missing", "Prefix", "notfound"}),
		map[string]string{p + "default-backend": "fallback:" + strconv.Itoa(80)}))
	c.waitStatus(t, host, "/missing/page", http.StatusNotFound, "")
}

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

// startTLSBackend starts an HTTPS endpoint of service with a certificate for
// name, which requires a client certificate from the CA and echoes its
// common name and the SNI it got; it returns the Service and slice YAML.
func startTLSBackend(t *testing.T, ca testCA, service, name string) string {
	t.Helper()
	cert, _, _ := ca.issue(t, name, x509.ExtKeyUsageServerAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	ln, err := tls.Listen("tcp", net.JoinHostPort(allocIP(t), "0"), &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reply := echoReply{Service: service, Path: r.URL.RequestURI(), Host: r.Host, Headers: map[string]string{
			"Client-Cn": r.TLS.PeerCertificates[0].Subject.CommonName, "Sni": r.TLS.ServerName}}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(reply)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().(*net.TCPAddr)
	return serviceOnlyYAML(service) + "---\n" + sliceYAML(service, service+"-1", addr.Port, endpoint{addr: addr.IP.String(), ready: true})
}

// TestProxySSLAnnotations shows the proxy-ssl family on real traffic: nginx
// checks an HTTPS backend's certificate against the Secret's CA for
// proxy-ssl-name, sends that name as SNI and presents the Secret's client
// certificate; a name the certificate does not cover is refused (502), and
// verification asked for without a CA fails closed (503).
func TestProxySSLAnnotations(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	_, clientPEM, clientKey := ca.issue(t, "portico-proxy", x509.ExtKeyUsageClientAuth)
	secret := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: backend-tls}
stringData:
  ca.crt: |
%s  tls.crt: |
%s  tls.key: |
%s`, indent(ca.pem, "    "), indent(clientPEM, "    "), indent(clientKey, "    "))
	const p = "nginx.ingress.kubernetes.io/"
	ing := func(name, host, sslName string) string {
		ann := map[string]string{p + "backend-protocol": "HTTPS", p + "proxy-ssl-verify": `"on"`,
			p + "proxy-ssl-server-name": `"on"`, p + "proxy-ssl-name": sslName}
		if name != "no-ca" {
			ann[p+"proxy-ssl-secret"] = "backend-tls"
		}
		return annotate(ingressYAML(name, host, route{"/", "Prefix", "secure"}), ann)
	}
	c := startController(t, options{files: map[string]string{
		"services.yaml": startTLSBackend(t, ca, "secure", "app.internal.example"),
		"secret.yaml":   secret,
		"good.yaml":     ing("good", "good.example.com", "app.internal.example"),
		"wrong.yaml":    ing("wrong", "wrong.example.com", "other.internal.example"),
		"no-ca.yaml":    ing("no-ca", "noca.example.com", "app.internal.example"),
	}})
	c.waitServed(t, "good.example.com", "/", "secure")
	r := c.getHTTP(t, "good.example.com", "/x")
	require.NotNil(t, r.echo, "%s", r)
	assert.Equal(t, "portico-proxy", r.echo.Headers["Client-Cn"], "nginx presents the Secret's client certificate")
	assert.Equal(t, "app.internal.example", r.echo.Headers["Sni"], "nginx sends proxy-ssl-name as SNI")
	c.waitStatus(t, "wrong.example.com", "/", http.StatusBadGateway, "")
	c.waitStatus(t, "noca.example.com", "/", http.StatusServiceUnavailable, "")
}
