package admission_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/admission"
)

// issue makes a certificate signed by parent (self-signed when parent is nil).
func issue(t *testing.T, cn string, parent *tls.Certificate, isCA bool, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: isCA, BasicConstraintsValid: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	signer, signerKey := tmpl, any(key)
	if parent != nil {
		signer, signerKey = parent.Leaf, parent.PrivateKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// TestServerTLS: the webhook speaks TLS 1.2 or later only, and with
// ClientCAs it answers only a client (the API server) whose certificate
// one of them signed.
func TestServerTLS(t *testing.T) {
	serving := issue(t, "webhook", nil, true, x509.ExtKeyUsageServerAuth)
	ca := issue(t, "apiserver-ca", nil, true, x509.ExtKeyUsageClientAuth)
	apiserver := issue(t, "kube-apiserver", &ca, false, x509.ExtKeyUsageClientAuth)
	stranger := issue(t, "stranger", nil, false, x509.ExtKeyUsageClientAuth)
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(ca.Leaf)

	r := admission.NewReviewer(modelOptions(), admission.Options{})
	r.SetSnapshot(loadCluster(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg := admission.ServerOptions{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &serving, nil },
		ClientCAs:      clientCAs,
	}.TLSConfig()
	srv := &http.Server{Handler: admission.NewHandler(r, nil, nil), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
	defer srv.Close()
	url := "https://" + ln.Addr().String() + admission.Path
	roots := x509.NewCertPool()
	roots.AddCert(serving.Leaf)
	body := reviewBody(t, "u1", "CREATE", map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
		"metadata": map[string]any{"name": "a", "namespace": "shop"}})

	send := func(cert *tls.Certificate, maxVersion uint16) (*http.Response, error) {
		cfg := &tls.Config{RootCAs: roots, MaxVersion: maxVersion}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		return c.Post(url, "application/json", bytes.NewReader(body))
	}
	resp, err := send(&apiserver, 0)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, resp.Body.Close())

	for name, cert := range map[string]*tls.Certificate{"no client certificate": nil, "a certificate of another CA": &stranger} {
		t.Run(name, func(t *testing.T) {
			resp, err := send(cert, 0)
			if err == nil {
				resp.Body.Close()
			}
			assert.Error(t, err, "refused in the handshake")
		})
	}
	t.Run("TLS 1.1", func(t *testing.T) {
		resp, err := send(&apiserver, tls.VersionTLS11)
		if err == nil {
			resp.Body.Close()
		}
		assert.Error(t, err)
	})
}

// TestServeAnswersOnlyTheWebhookPath: the webhook's port is reachable from
// the cluster network, so it serves the review and nothing of the
// controller's status or debug views.
func TestServeAnswersOnlyTheWebhookPath(t *testing.T) {
	serving := issue(t, "webhook", nil, true, x509.ExtKeyUsageServerAuth)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	r := admission.NewReviewer(modelOptions(), admission.Options{})
	r.SetSnapshot(loadCluster(t))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- admission.Serve(ctx, admission.ServerOptions{Address: addr,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &serving, nil }},
			admission.NewHandler(r, nil, nil))
	}()
	roots := x509.NewCertPool()
	roots.AddCert(serving.Leaf)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	body := reviewBody(t, "u1", "CREATE", map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
		"metadata": map[string]any{"name": "a", "namespace": "shop"}})
	require.Eventually(t, func() bool {
		resp, err := c.Post("https://"+addr+admission.Path, "application/json", bytes.NewReader(body))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 5*time.Second, 20*time.Millisecond)
	for _, path := range []string{"/", "/metrics", "/healthz", "/debug/config", "/debug/certs", "/validate/../debug/config"} {
		resp, err := c.Get("https://" + addr + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Contains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, resp.StatusCode, path)
	}
	cancel()
	require.NoError(t, <-served)
}
