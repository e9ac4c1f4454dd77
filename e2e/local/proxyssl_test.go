//go:build linux

package local

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// startTLSBackend starts an HTTPS endpoint of service with a certificate for
// name, which requires a client certificate from the CA and echoes its
// common name and the SNI it got; it returns the Service and slice YAML.
func startTLSBackend(t *testing.T, ca framework.CA, service, name string) string {
	t.Helper()
	cert, _, _ := ca.Issue(t, name, x509.ExtKeyUsageServerAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	ln, err := tls.Listen("tcp", net.JoinHostPort(allocIP(t), "0"), &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reply := framework.EchoReply{Service: service, Path: r.URL.RequestURI(), Host: r.Host, Headers: map[string]string{
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
	ca := framework.NewCA(t)
	_, clientPEM, clientKey := ca.Issue(t, "portico-proxy", x509.ExtKeyUsageClientAuth)
	secret := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: backend-tls}
stringData:
  ca.crt: |
%s  tls.crt: |
%s  tls.key: |
%s`, indent(ca.PEM, "    "), indent(clientPEM, "    "), indent(clientKey, "    "))
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
	c.WaitServed(t, "good.example.com", "/", "secure")
	r := c.Get(t, "good.example.com", "/x")
	require.NotNil(t, r.Echo, "%s", r)
	assert.Equal(t, "portico-proxy", r.Echo.Headers["Client-Cn"], "nginx presents the Secret's client certificate")
	assert.Equal(t, "app.internal.example", r.Echo.Headers["Sni"], "nginx sends proxy-ssl-name as SNI")
	c.WaitStatus(t, "wrong.example.com", "/", http.StatusBadGateway, "")
	c.WaitStatus(t, "noca.example.com", "/", http.StatusServiceUnavailable, "")
}
