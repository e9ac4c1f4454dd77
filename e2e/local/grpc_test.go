//go:build linux

package local

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

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
}

// grpcEchoHandler answers a unary gRPC call with "echo: " and the request
// message, and grpc-status 0 in the trailers, recording the request in seen.
func grpcEchoHandler(seen *grpcSeen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.mu.Lock()
		seen.proto, seen.contentType, seen.path, seen.tls = r.Proto, r.Header.Get("Content-Type"), r.URL.Path, r.TLS != nil
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
	client := c.httpsClient(host, roots)
	tr := client.Transport.(*http.Transport)
	tr.ForceAttemptHTTP2 = true
	require.NoError(t, http2.ConfigureTransport(tr))
	return client
}

// grpcCall sends the unary call /echo.Echo/Say with the message "hello".
func grpcCall(client *http.Client, host string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, "https://"+host+"/echo.Echo/Say", bytes.NewReader(grpcFrame([]byte("hello"))))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
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

// grpcThroughNginx serves NAME.example.com over TLS with one Ingress whose
// Service is the backend at addr, with the given backend-protocol, and
// returns the first gRPC echo call that comes back 200 application/grpc
// (why says what failed otherwise).
func grpcThroughNginx(t *testing.T, name, protocol string, addr *net.TCPAddr, why string) (*http.Response, []byte) {
	t.Helper()
	host := name + ".example.com"
	kp := newKeyPair(t, host)
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
	roots.AddCert(kp.leaf)
	client := grpcClient(t, c, host, roots)
	var resp *http.Response
	var body []byte
	require.Eventually(t, func() bool {
		var err error
		resp, body, err = grpcCall(client, host)
		return err == nil && resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Type") == "application/grpc"
	}, routeTimeout, pollInterval, why)
	return resp, body
}

// TestNoEndpointsAnswer503 sends a request for each backend protocol to a
// Service without ready endpoints and requires nginx's 503 every time. With
// the Lua balancer a plain-HTTP location learns that in the balancer phase
// and is answered by the loopback 503 server; one whose backend speaks TLS
// or gRPC, which that server cannot answer, decides in its own rewrite
// hook, so the config must give exactly those locations one.
func TestNoEndpointsAnswer503(t *testing.T) {
	t.Parallel()
	protocols := []string{"HTTP", "HTTPS", "GRPC", "GRPCS"}
	hosts := make([]string, 0, len(protocols))
	for _, p := range protocols {
		hosts = append(hosts, strings.ToLower(p)+".empty.example.com")
	}
	kp := newKeyPair(t, hosts...)
	files := map[string]string{
		"empty.yaml": joinDocs(serviceOnlyYAML("empty"), sliceYAML("empty", "empty-1", 8080)),
		"tls.yaml":   secretYAML("tls", kp),
	}
	for i, p := range protocols {
		name := strings.ToLower(p)
		ing := annotate(ingressYAML(name, hosts[i], route{"/", "Prefix", "empty"}),
			map[string]string{"nginx.ingress.kubernetes.io/backend-protocol": p})
		files[name+".yaml"] = withTLS(ing, hosts[i], "tls")
	}
	c := startController(t, options{files: files})

	conf := string(c.mustGet(t, "/debug/config"))
	assert.Equal(t, 3, strings.Count(conf, "hooks/rewrite.lua"), "a rewrite hook in the HTTPS, GRPC and GRPCS locations only:\n%s", conf)
	roots := x509.NewCertPool()
	roots.AddCert(kp.leaf)
	for i, p := range protocols {
		t.Run(p, func(t *testing.T) {
			host := hosts[i]
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				var status int
				if strings.HasPrefix(p, "GRPC") {
					resp, _, err := grpcCall(grpcClient(t, c, host, roots), host)
					require.NoError(ct, err)
					status = resp.StatusCode
				} else {
					r, err := doGet(c.httpsClient(host, roots), "https", host, "/")
					require.NoError(ct, err)
					status = r.status
				}
				assert.Equal(ct, http.StatusServiceUnavailable, status)
			}, routeTimeout, pollInterval)
		})
	}
}
