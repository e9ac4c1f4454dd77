//go:build linux

package local

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
)

// TestAuthMethodAnnotation shows auth-method on real traffic: with
// auth-method POST the external auth service receives a POST for a client's
// GET, and the request then reaches the backend.
func TestAuthMethodAnnotation(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	var mu sync.Mutex
	var methods []string
	auth := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))

	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"app.yaml": annotate(ingressYAML("app", "app.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-url":    "http://" + auth.String() + "/verify",
			p + "auth-method": "POST",
		}),
	}})
	c.waitServed(t, "app.example.com", "/", "app")
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, methods, "the auth service must be called")
	for _, m := range methods {
		assert.Equal(t, http.MethodPost, m, "auth-method POST: the auth service sees POST")
	}
}

// TestAuthMapAnnotation shows auth-secret-type auth-map on real traffic:
// each key of the Secret is a user and its value the apr1 hash; the right
// password reaches the backend, a wrong one or none gets 401.
func TestAuthMapAnnotation(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	// alice / s3cret (openssl passwd -apr1 -salt abcdefgh s3cret)
	secret := "apiVersion: v1\nkind: Secret\nmetadata: {name: users}\nstringData:\n  alice: \"$apr1$abcdefgh$M2T3erDstkD7SsE2QQnfH0\"\n"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"secret.yaml":   secret,
		"app.yaml": annotate(ingressYAML("app", "private.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-type": "basic", p + "auth-secret": "users", p + "auth-secret-type": "auth-map",
		}),
	}})
	// nginx workers run as nobody and open the htpasswd file per request.
	for dir := c.configDir; dir != os.TempDir() && dir != "/"; dir = filepath.Dir(dir) {
		require.NoError(t, os.Chmod(dir, 0o711))
	}
	get := func(user, pass string) int {
		req, err := http.NewRequest(http.MethodGet, "http://placeholder.invalid/", nil)
		require.NoError(t, err)
		req.Host = "private.example.com"
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := c.client.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	require.Eventually(t, func() bool { return get("", "") == http.StatusUnauthorized }, routeTimeout, pollInterval)
	assert.Equal(t, http.StatusOK, get("alice", "s3cret"), "the right password reaches the backend")
	assert.Equal(t, http.StatusUnauthorized, get("alice", "wrong"))
	assert.Equal(t, http.StatusUnauthorized, get("bob", "s3cret"), "a user not in the map is refused")
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

// TestProxyBufferSizeAnnotation shows proxy-buffer-size on real traffic: a
// backend answering with about 10 KiB of headers gets 502 with the default
// 4k buffer and reaches the client with proxy-buffer-size 16k.
func TestProxyBufferSizeAnnotation(t *testing.T) {
	t.Parallel()
	svc := startHandlerBackend(t, "fat", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("a", 10*1024))
		_, _ = io.WriteString(w, "ok")
	})
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": svc,
		"small.yaml":    ingressYAML("small", "small.example.com", route{"/", "Prefix", "fat"}),
		"large.yaml": annotate(ingressYAML("large", "large.example.com", route{"/", "Prefix", "fat"}),
			map[string]string{p + "proxy-buffer-size": "16k"}),
	}})
	c.waitStatus(t, "large.example.com", "/", http.StatusOK, "")
	r := c.getHTTP(t, "large.example.com", "/")
	assert.Equal(t, "ok", r.body)
	assert.Len(t, r.header.Get("X-Big"), 10*1024)
	assert.Equal(t, http.StatusBadGateway, c.getHTTP(t, "small.example.com", "/").status,
		"the default 4k buffer cannot hold 10 KiB of headers")
}

// TestProxyRequestBufferingAnnotation shows proxy-request-buffering off on
// real traffic: a chunked request body reaches the backend chunked, while
// with the default (on) nginx reads it whole and sends Content-Length.
func TestProxyRequestBufferingAnnotation(t *testing.T) {
	t.Parallel()
	type seen struct {
		te     []string
		length int64
		body   string
	}
	var mu sync.Mutex
	got := map[string]seen{}
	svc := startHandlerBackend(t, "sink", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[r.Host] = seen{te: r.TransferEncoding, length: r.ContentLength, body: string(body)}
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	})
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": svc,
		"buffered.yaml": ingressYAML("buffered", "buffered.example.com", route{"/", "Prefix", "sink"}),
		"streamed.yaml": annotate(ingressYAML("streamed", "streamed.example.com", route{"/", "Prefix", "sink"}),
			map[string]string{p + "proxy-request-buffering": `"off"`}),
	}})
	c.waitStatus(t, "streamed.example.com", "/", http.StatusOK, "")
	c.waitStatus(t, "buffered.example.com", "/", http.StatusOK, "")
	send := func(host string) seen {
		pr, pw := io.Pipe()
		go func() {
			for range 4 {
				_, _ = pw.Write([]byte("chunk-"))
				time.Sleep(20 * time.Millisecond)
			}
			_ = pw.Close()
		}()
		req, err := http.NewRequest(http.MethodPost, "http://placeholder.invalid/upload", pr)
		require.NoError(t, err)
		req.Host = host
		resp, err := c.client.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		mu.Lock()
		defer mu.Unlock()
		return got[host]
	}
	streamed := send("streamed.example.com")
	assert.Equal(t, []string{"chunked"}, streamed.te, "proxy-request-buffering off passes the body on chunked")
	assert.Equal(t, strings.Repeat("chunk-", 4), streamed.body)
	buffered := send("buffered.example.com")
	assert.Empty(t, buffered.te, "with buffering on nginx sends Content-Length")
	assert.Equal(t, int64(len("chunk-")*4), buffered.length)
	assert.Equal(t, strings.Repeat("chunk-", 4), buffered.body)
}

// TestCORSAllowCredentialsFalse shows cors-allow-credentials false on real
// traffic: the preflight answer has no Access-Control-Allow-Credentials.
func TestCORSAllowCredentialsFalse(t *testing.T) {
	t.Parallel()
	c := startCORSAPI(t, map[string]string{
		"cors-allow-origin":      `"https://app.example.com"`,
		"cors-allow-credentials": `"false"`,
	})
	do := func(method string) *http.Response {
		return c.corsRequest(t, method, map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"})
	}
	pre := do(http.MethodOptions)
	assert.Equal(t, http.StatusNoContent, pre.StatusCode, "nginx answers the preflight")
	assert.Equal(t, "https://app.example.com", pre.Header.Get("Access-Control-Allow-Origin"))
	assert.Empty(t, pre.Header.Values("Access-Control-Allow-Credentials"), "cors-allow-credentials false: no credentials header")
	get := do(http.MethodGet)
	assert.Equal(t, http.StatusOK, get.StatusCode)
	assert.Empty(t, get.Header.Values("Access-Control-Allow-Credentials"))
}

// TestGRPCSBackendProtocol sends a gRPC call through nginx to a TLS HTTP/2
// backend (ALPN h2, self-signed certificate) with backend-protocol GRPCS;
// proxy-ssl-verify is off by default, so the call, its message and its
// grpc-status trailer make the round trip.
func TestGRPCSBackendProtocol(t *testing.T) {
	t.Parallel()
	var seen grpcSeen
	handler := grpcEchoHandler(&seen)
	backendKP := newKeyPair(t, "grpcs-backend.internal")
	cert, err := tls.X509KeyPair([]byte(backendKP.certPEM), []byte(backendKP.keyPEM))
	require.NoError(t, err)
	ln, err := tls.Listen("tcp", allocIP(t)+":0", &tls.Config{
		Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	require.NoError(t, http2.ConfigureServer(srv, &http2.Server{}))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	resp, body := grpcThroughNginx(t, "grpcs", "GRPCS", ln.Addr().(*net.TCPAddr), "the gRPC call must be proxied over TLS")
	assert.Equal(t, "0", resp.Trailer.Get("Grpc-Status"), "the grpc-status trailer makes it back")
	require.GreaterOrEqual(t, len(body), 5)
	assert.Equal(t, "echo: hello", string(body[5:]))
	seen.mu.Lock()
	defer seen.mu.Unlock()
	assert.True(t, seen.tls, "nginx speaks TLS to the backend")
	assert.Equal(t, "HTTP/2.0", seen.proto, "nginx speaks HTTP/2 to the backend")
	assert.Equal(t, "application/grpc", seen.contentType)
	assert.Equal(t, "/echo.Echo/Say", seen.path)
}
