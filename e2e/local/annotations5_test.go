//go:build linux

package local

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

// postBody sends a body of n bytes to host+path through nginx and returns
// the status; transport errors fail the test.
func (c *controller) postBody(t *testing.T, host, path string, n int) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://placeholder.invalid"+path, bytes.NewReader(bytes.Repeat([]byte("b"), n)))
	require.NoError(t, err)
	req.Host = host
	resp, err := c.client.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestClientBodyBufferSizeAnnotation shows client-body-buffer-size on real
// traffic: a 4 KiB body overflows a 1k buffer, and nginx logs that it went
// to a temporary file; with 16k it stays in memory and nothing is logged.
func TestClientBodyBufferSizeAnnotation(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	const small, large = "small-buffer.example.com", "large-buffer.example.com"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"small.yaml": annotate(ingressYAML("small", small, route{"/", "Prefix", "app"}),
			map[string]string{p + "client-body-buffer-size": "1k"}),
		"large.yaml": annotate(ingressYAML("large", large, route{"/", "Prefix", "app"}),
			map[string]string{p + "client-body-buffer-size": "16k"}),
	}})
	// nginx workers run as nobody and create the temporary file under the
	// runtime directory.
	for dir := c.runtimeDir; dir != os.TempDir() && dir != "/"; dir = filepath.Dir(dir) {
		require.NoError(t, os.Chmod(dir, 0o711))
	}
	c.waitServed(t, small, "/", "app")
	c.waitServed(t, large, "/", "app")
	const buffered = "a client request body is buffered to a temporary file"
	require.Zero(t, c.logs.count(buffered), "GETs have no body to buffer")

	// One worker handles both requests in order: once the later request's
	// line is in the log, the earlier one's would be too.
	assert.Equal(t, http.StatusOK, c.postBody(t, large, "/large-marker", 4096))
	assert.Equal(t, http.StatusOK, c.postBody(t, small, "/small-marker", 4096))
	require.Eventually(t, func() bool { return c.logs.count(buffered) >= 1 }, routeTimeout, pollInterval,
		"client-body-buffer-size 1k: a 4 KiB body goes to a temporary file")
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, 1, c.logs.count(buffered), "client-body-buffer-size 16k keeps a 4 KiB body in memory")
	assert.Equal(t, 1, c.logs.count("small-marker"), "the line is for the 1k Ingress's request")
	assert.Zero(t, c.logs.count("large-marker"))
}

// TestProxySendTimeoutAnnotation shows proxy-send-timeout on real traffic:
// a backend that accepts the connection and never reads leaves nginx
// blocked writing an 8 MiB streamed body; after one second without a
// successful write nginx gives up with 504, long before the 30 s read
// timeout.
func TestProxySendTimeoutAnnotation(t *testing.T) {
	t.Parallel()
	// A tiny receive buffer, inherited by accepted connections, keeps the
	// kernel from absorbing the body on nginx's behalf.
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(t.Context(), "tcp", net.JoinHostPort(allocIP(t), "0"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				<-done
				_ = conn.Close()
			}()
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	svc := serviceOnlyYAML("mute") + "---\n" + sliceYAML("mute", "mute-1", addr.Port, endpoint{addr: addr.IP.String(), ready: true})

	const p = "nginx.ingress.kubernetes.io/"
	const host = "mute.example.com"
	c := startController(t, options{files: map[string]string{
		"services.yaml": svc,
		"mute.yaml": annotate(ingressYAML("mute", host, route{"/", "Prefix", "mute"}), map[string]string{
			p + "proxy-send-timeout":      `"1"`,
			p + "proxy-read-timeout":      `"30"`,
			p + "proxy-request-buffering": `"off"`,
			p + "proxy-body-size":         "16m",
		}),
	}})
	// Until the Ingress is loaded nginx answers 404 itself; a loaded one
	// with a short body would wait for the 30 s read timeout, so probe with
	// a short client timeout and accept a timeout as "routed".
	probe := newHTTPClient(c.httpPort, false)
	probe.Timeout = 2 * time.Second
	require.Eventually(t, func() bool {
		r, err := doGet(probe, "http", host, "/")
		return err != nil || r.status != http.StatusNotFound
	}, routeTimeout, pollInterval)

	req, err := http.NewRequest(http.MethodPost, "http://placeholder.invalid/upload", bytes.NewReader(make([]byte, 8<<20)))
	require.NoError(t, err)
	req.Host = host
	client := newHTTPClient(c.httpPort, false)
	client.Timeout = 20 * time.Second
	start := time.Now()
	resp, err := client.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	took := time.Since(start)
	assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode, "proxy-send-timeout 1: nginx gives up writing to a mute backend")
	assert.Less(t, took, 15*time.Second, "well before the 30 s proxy-read-timeout")
	assert.Eventually(t, func() bool {
		return c.logs.count("timed out") > 0 && c.logs.count("while sending request to upstream") > 0
	},
		5*time.Second, pollInterval, "nginx reports the timeout while sending, not reading")
	t.Logf("504 after %s", took.Round(time.Millisecond))
}
