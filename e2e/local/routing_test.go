//go:build linux

package local

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/portico-ingress/portico/e2e/framework"
)

// TestRoutingAnnotations shows redirects on real traffic: permanent and
// temporal redirects, app-root, ssl-redirect turned off for one Ingress on
// a TLS host, and force-ssl-redirect on a host without TLS.
func TestRoutingAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	ing := func(name, host, path string, ann map[string]string) string {
		return annotate(ingressYAML(name, host, route{path, "Prefix", "app"}), ann)
	}
	kp := framework.NewKeyPair(t, "tls.example.com")
	secure := ingressYAML("secure", "tls.example.com", route{"/", "Prefix", "app"})
	secure = withTLS(secure, "tls.example.com", "tls")
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"secret.yaml":   secretYAML("tls", kp),
		"secure.yaml":   secure,
		"open.yaml":     ing("open", "tls.example.com", "/.well-known", map[string]string{p + "ssl-redirect": `"false"`}),
		"forced.yaml":   ing("forced", "forced.example.com", "/", map[string]string{p + "force-ssl-redirect": `"true"`}),
		"moved.yaml": ing("moved", "old.example.com", "/", map[string]string{
			p + "permanent-redirect": "https://new.example.com/landing", p + "permanent-redirect-code": `"308"`}),
		"temp.yaml":   ing("temp", "temp.example.com", "/", map[string]string{p + "temporal-redirect": "https://elsewhere.example.com/"}),
		"rooted.yaml": ing("rooted", "root.example.com", "/", map[string]string{p + "app-root": "/app"}),
	}})
	c.WaitServed(t, "root.example.com", "/app", "app")
	cases := []struct {
		host, path string
		status     int
		location   string
	}{
		{"old.example.com", "/x", http.StatusPermanentRedirect, "https://new.example.com/landing"},
		{"temp.example.com", "/x", http.StatusFound, "https://elsewhere.example.com/"},
		{"root.example.com", "/", http.StatusFound, "/app"},
		{"tls.example.com", "/page?q=1", http.StatusPermanentRedirect, "https://tls.example.com:" + strconv.Itoa(c.HTTPSPort) + "/page?q=1"},
		{"forced.example.com", "/", http.StatusPermanentRedirect, "https://forced.example.com:" + strconv.Itoa(c.HTTPSPort) + "/"},
	}
	for _, tc := range cases {
		r := c.Get(t, tc.host, tc.path)
		assert.Equal(t, tc.status, r.Status, "%s%s: %s", tc.host, tc.path, r)
		assert.True(t, strings.HasSuffix(r.Header.Get("Location"), tc.location), "%s%s: Location %q, want %q",
			tc.host, tc.path, r.Header.Get("Location"), tc.location)
	}
	r := c.Get(t, "tls.example.com", "/.well-known/acme-challenge/x")
	assert.Equal(t, http.StatusOK, r.Status, "ssl-redirect: false serves plain HTTP: %s", r)
	assert.Equal(t, "app", r.Served())
}

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
	c.WaitServed(t, "example.com", "/", "app")
	c.WaitServed(t, "www.shop.example.com", "/", "app")
	cases := []struct{ host, path, location string }{
		{"www.example.com", "/a/b?q=1", "http://example.com/a/b?q=1"},
		{"shop.example.com", "/cart?x=y", "http://www.shop.example.com/cart?x=y"},
	}
	for _, tc := range cases {
		r := c.Get(t, tc.host, tc.path)
		assert.Equal(t, http.StatusPermanentRedirect, r.Status, "%s%s: %s", tc.host, tc.path, r)
		assert.Equal(t, tc.location, r.Header.Get("Location"), "%s%s", tc.host, tc.path)
	}
}

// TestGRPCSBackendProtocol sends a gRPC call through nginx to a TLS HTTP/2
// backend (ALPN h2, self-signed certificate) with backend-protocol GRPCS;
// proxy-ssl-verify is off by default, so the call, its message and its
// grpc-status trailer make the round trip.
func TestGRPCSBackendProtocol(t *testing.T) {
	t.Parallel()
	var seen grpcSeen
	handler := grpcEchoHandler(&seen)
	backendKP := framework.NewKeyPair(t, "grpcs-backend.internal")
	cert, err := tls.X509KeyPair(backendKP.CertPEM, backendKP.KeyPEM)
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

// grpcFrame wraps a message the way gRPC does on the wire: a compression
// flag byte, a 4-byte big-endian length, then the message.
func grpcFrame(msg []byte) []byte {
	out := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(out[1:5], uint32(len(msg)))
	copy(out[5:], msg)
	return out
}

// grpcSeen records what a gRPC backend received.
type grpcSeen struct {
	mu                       sync.Mutex
	proto, contentType, path string
	tls                      bool
	// traceparent and tracestate are the trace context headers received.
	traceparent, tracestate string
}

// grpcEchoHandler answers a unary gRPC call with "echo: " and the request
// message, and grpc-status 0 in the trailers, recording the request in seen.
func grpcEchoHandler(seen *grpcSeen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.mu.Lock()
		seen.proto, seen.contentType, seen.path, seen.tls = r.Proto, r.Header.Get("Content-Type"), r.URL.Path, r.TLS != nil
		seen.traceparent = strings.Join(r.Header.Values("Traceparent"), ", ")
		seen.tracestate = strings.Join(r.Header.Values("Tracestate"), ", ")
		seen.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		w.WriteHeader(http.StatusOK)
		if len(body) >= 5 {
			_, _ = w.Write(grpcFrame(append([]byte("echo: "), body[5:]...)))
		}
		w.Header().Set("Grpc-Status", "0")
		w.Header().Set("Grpc-Message", "")
	})
}

// grpcClient is an HTTP/2 client for nginx's HTTPS port that trusts roots.
func grpcClient(t *testing.T, c *controller, host string, roots *x509.CertPool) *http.Client {
	t.Helper()
	client := c.HTTPSClient(host, roots)
	tr := client.Transport.(*http.Transport)
	tr.ForceAttemptHTTP2 = true
	require.NoError(t, http2.ConfigureTransport(tr))
	return client
}

// grpcCall sends the unary call /echo.Echo/Say with the message "hello"
// and the extra request headers, if any.
func grpcCall(client *http.Client, host string, header ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, "https://"+host+"/echo.Echo/Say", bytes.NewReader(grpcFrame([]byte("hello"))))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// TestGRPCBackendProtocol sends a gRPC call (HTTP/2, application/grpc,
// a framed message and trailers) through nginx to a plain-text HTTP/2
// (h2c) backend with backend-protocol GRPC, and checks that the call, its
// message and its grpc-status trailer make the round trip. The backend is
// a minimal gRPC responder written with net/http and x/net/http2, so the
// test needs no gRPC library.
func TestGRPCBackendProtocol(t *testing.T) {
	t.Parallel()
	var seen grpcSeen
	handler := grpcEchoHandler(&seen)
	addr := serveLoopback(t, h2c.NewHandler(handler, &http2.Server{}))
	resp, body := grpcThroughNginx(t, "grpc", "GRPC", addr, "the gRPC call must be proxied")
	assert.Equal(t, "HTTP/2.0", resp.Proto, "client to nginx is HTTP/2")
	assert.Equal(t, "0", resp.Trailer.Get("Grpc-Status"), "the grpc-status trailer makes it back")
	require.GreaterOrEqual(t, len(body), 5)
	assert.Equal(t, "echo: hello", string(body[5:]))
	seen.mu.Lock()
	defer seen.mu.Unlock()
	assert.Equal(t, "HTTP/2.0", seen.proto, "nginx speaks HTTP/2 to the backend")
	assert.Equal(t, "application/grpc", seen.contentType)
	assert.Equal(t, "/echo.Echo/Say", seen.path)
}

// TestGRPCTraceContext shows the trace context a gRPC backend gets, which
// nginx sends with grpc_set_header: a valid traceparent and its tracestate
// as sent, an invalid one replaced by a generated one without tracestate.
func TestGRPCTraceContext(t *testing.T) {
	t.Parallel()
	var seen grpcSeen
	addr := serveLoopback(t, h2c.NewHandler(grpcEchoHandler(&seen), &http2.Server{}))
	client, host, _, _ := grpcServe(t, "grpctrace", "GRPC", addr, "the gRPC call must be proxied")
	const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct{ name, sent, want, state string }{
		{"valid", valid, valid, "vendor=opaque"},
		{"upper case", strings.ToUpper(valid), "", ""},
		{"extra text", valid + " evil", "", ""},
		{"absent", "", "", ""},
	} {
		header := []string{"Tracestate", "vendor=opaque"}
		if tc.sent != "" {
			header = append(header, "Traceparent", tc.sent)
		}
		resp, _, err := grpcCall(client, host, header...)
		require.NoError(t, err, tc.name)
		require.Equal(t, http.StatusOK, resp.StatusCode, tc.name)
		seen.mu.Lock()
		got, state := seen.traceparent, seen.tracestate
		seen.mu.Unlock()
		if tc.want != "" {
			assert.Equal(t, tc.want, got, "%s: passed on unchanged", tc.name)
		} else {
			assert.Regexp(t, generatedTraceparent, got, "%s: replaced by a generated one", tc.name)
		}
		assert.Equal(t, tc.state, state, "%s: tracestate only with the client's traceparent", tc.name)
	}
}

// grpcThroughNginx serves NAME.example.com over TLS with one Ingress whose
// Service is the backend at addr, with the given backend-protocol, and
// returns the first gRPC echo call that comes back 200 application/grpc
// (why says what failed otherwise).
func grpcThroughNginx(t *testing.T, name, protocol string, addr *net.TCPAddr, why string) (*http.Response, []byte) {
	t.Helper()
	_, _, resp, body := grpcServe(t, name, protocol, addr, why)
	return resp, body
}

// grpcServe is grpcThroughNginx that also returns the client and host for
// more calls.
func grpcServe(t *testing.T, name, protocol string, addr *net.TCPAddr, why string) (*http.Client, string, *http.Response, []byte) {
	t.Helper()
	host := name + ".example.com"
	kp := framework.NewKeyPair(t, host)
	ing := annotate(ingressYAML(name, host, route{"/", "Prefix", name}),
		map[string]string{"nginx.ingress.kubernetes.io/backend-protocol": protocol})
	ing = withTLS(ing, host, "tls")
	svc := serviceOnlyYAML(name) + "---\n" +
		sliceYAML(name, name+"-1", addr.Port, endpoint{addr.IP.String(), true})
	c := startController(t, options{files: map[string]string{
		name + ".yaml": svc,
		"tls.yaml":     secretYAML("tls", kp),
		"ingress.yaml": ing,
	}})

	roots := x509.NewCertPool()
	roots.AddCert(kp.Leaf)
	client := grpcClient(t, c, host, roots)
	var resp *http.Response
	var body []byte
	require.Eventually(t, func() bool {
		var err error
		resp, body, err = grpcCall(client, host)
		return err == nil && resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Type") == "application/grpc"
	}, framework.RouteTimeout, framework.PollInterval, why)
	return client, host, resp, body
}
