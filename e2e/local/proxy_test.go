//go:build linux

package local

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// post sends a body of n bytes to host+path through nginx and returns the status.
func (c *controller) post(t *testing.T, host, path string, n int) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://placeholder.invalid"+path, bytes.NewReader(make([]byte, n)))
	require.NoError(t, err)
	req.Host = host
	resp, err := c.Client.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestProxyBodySizeAnnotation shows proxy-body-size on real traffic: it
// limits the Ingress that carries it and no other; an invalid edit keeps
// the last accepted version serving, with the problem in the log; an
// unknown annotation is reported and ignored.
func TestProxyBodySizeAnnotation(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "small", "big")
	const small, big = "small.example.com", "big.example.com"
	limited := func(value string) string {
		return annotate(ingressYAML("small", small, route{"/", "Prefix", "small"}),
			map[string]string{"nginx.ingress.kubernetes.io/proxy-body-size": value})
	}
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"small.yaml":    limited("1k"),
		"big.yaml": annotate(ingressYAML("big", big, route{"/", "Prefix", "big"}),
			map[string]string{"nginx.ingress.kubernetes.io/enable-magic": `"true"`}),
	}})
	c.WaitServed(t, small, "/", "small")
	c.WaitServed(t, big, "/", "big")

	assert.Equal(t, http.StatusOK, c.post(t, small, "/", 512))
	assert.Equal(t, http.StatusRequestEntityTooLarge, c.post(t, small, "/", 4096), "proxy-body-size 1k must refuse 4 KiB")
	assert.Equal(t, http.StatusOK, c.post(t, big, "/", 4096), "another Ingress keeps the global limit")
	require.Eventually(t, func() bool {
		return strings.Contains(c.Logs.String(), "enable-magic is not supported")
	}, framework.RouteTimeout, framework.PollInterval, "an unknown annotation is reported")

	// An invalid value (an injection attempt) is refused: the last accepted
	// version keeps serving, limit included, and the log says why.
	gen := c.Generation(t)
	c.writeManifest(t, "small.yaml", limited(`"1m; return 200 pwned"`))
	require.Eventually(t, func() bool {
		return strings.Contains(c.Logs.String(), "still serving the last accepted version")
	}, framework.RouteTimeout, framework.PollInterval)
	assert.Equal(t, gen, c.Generation(t), "a refused edit must not reload nginx")
	assert.Equal(t, http.StatusRequestEntityTooLarge, c.post(t, small, "/", 4096))
	assert.NotContains(t, string(c.MustStatusGet(t, "/debug/config")), "pwned")

	// A valid edit applies.
	c.update(t, "small.yaml", limited("8k"))
	assert.Equal(t, http.StatusOK, c.post(t, small, "/", 4096))
	assert.Equal(t, http.StatusRequestEntityTooLarge, c.post(t, small, "/", 16384))
}

// TestProxyReadTimeoutAnnotation shows proxy-read-timeout on real traffic:
// a backend that takes 3 s to answer gets 504 from nginx on the Ingress
// with a 1 s read timeout, and 200 on another Ingress without it.
func TestProxyReadTimeoutAnnotation(t *testing.T) {
	t.Parallel()
	svc := startHandlerBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			sleepOr(r, 3*time.Second)
		}
		_, _ = w.Write([]byte("done\n"))
	})
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": svc,
		"impatient.yaml": annotate(ingressYAML("impatient", "impatient.example.com", route{"/", "Prefix", "slow"}),
			map[string]string{p + "proxy-read-timeout": `"1"`}),
		"patient.yaml": ingressYAML("patient", "patient.example.com", route{"/", "Prefix", "slow"}),
	}})
	c.WaitStatus(t, "impatient.example.com", "/", http.StatusOK, "")
	c.WaitStatus(t, "patient.example.com", "/", http.StatusOK, "")

	// c.client gives up after 10 s, well past the backend's 3 s.
	r := c.Get(t, "impatient.example.com", "/slow")
	assert.Equal(t, http.StatusGatewayTimeout, r.Status, "proxy-read-timeout 1 must give up on a 3 s backend: %s", r)
	r = c.Get(t, "patient.example.com", "/slow")
	assert.Equal(t, http.StatusOK, r.Status, "without the annotation the global 60 s timeout applies: %s", r)
	assert.Equal(t, "done\n", r.Body)
}

// TestProxyNextUpstreamAnnotations shows proxy-next-upstream and
// proxy-next-upstream-tries on real traffic over a Service with one working
// endpoint and one refusing connections: by default nginx retries on the
// working one and every request succeeds; with proxy-next-upstream off, or
// with a single try, requests sent to the dead endpoint get 502.
func TestProxyNextUpstreamAnnotations(t *testing.T) {
	t.Parallel()
	live, dead := allocIP(t), allocIP(t)
	// The endpoints of a slice share a port: find one that is free on the
	// dead address too (nothing listens there, so connections are refused).
	var port int
	for range 10 {
		b, err := listenBackend(t, "flaky", live, 0)
		require.NoError(t, err)
		probe, err := net.Listen("tcp", net.JoinHostPort(dead, strconv.Itoa(int(b.addr.Port()))))
		if err != nil {
			continue
		}
		require.NoError(t, probe.Close())
		port = int(b.addr.Port())
		break
	}
	require.NotZero(t, port, "no port free on both addresses")
	svc := serviceOnlyYAML("flaky") + "---\n" + sliceYAML("flaky", "flaky-1", port,
		endpoint{addr: live, ready: true}, endpoint{addr: dead, ready: true})

	const p = "nginx.ingress.kubernetes.io/"
	ing := func(name string, ann map[string]string) string {
		y := ingressYAML(name, name+".example.com", route{"/", "Prefix", "flaky"})
		if ann == nil {
			return y
		}
		return annotate(y, ann)
	}
	c := startController(t, options{files: map[string]string{
		"services.yaml": svc,
		"retry.yaml":    ing("retry", nil),
		"noretry.yaml":  ing("noretry", map[string]string{p + "proxy-next-upstream": "\"off\""}),
		"once.yaml":     ing("once", map[string]string{p + "proxy-next-upstream-tries": `"1"`}),
		"twice.yaml": ing("twice", map[string]string{p + "proxy-next-upstream": `"error timeout http_502"`,
			p + "proxy-next-upstream-tries": `"2"`}),
	}})
	c.WaitServed(t, "retry.example.com", "/", "flaky")

	count := func(host string) (ok, bad int) {
		for range 20 {
			switch r := c.Get(t, host, "/"); r.Status {
			case http.StatusOK:
				ok++
			case http.StatusBadGateway:
				bad++
			default:
				t.Errorf("%s: unexpected answer %s", host, r)
			}
		}
		return ok, bad
	}
	for _, host := range []string{"retry.example.com", "twice.example.com"} {
		ok, bad := count(host)
		assert.Equal(t, 20, ok, "%s: a refused connection is retried on the other endpoint (%d x 502)", host, bad)
	}
	for _, host := range []string{"noretry.example.com", "once.example.com"} {
		ok, bad := count(host)
		assert.Positive(t, bad, "%s: without a retry the dead endpoint answers 502 (%d ok)", host, ok)
		assert.Positive(t, ok, "%s: the live endpoint still answers", host)
	}
}

// TestProxyHTTPVersionAnnotation shows proxy-http-version on real traffic:
// the backend of the Ingress with "1.0" receives HTTP/1.0, another Ingress
// HTTP/1.1.
func TestProxyHTTPVersionAnnotation(t *testing.T) {
	t.Parallel()
	svc := startHandlerBackend(t, "proto", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend-Proto", r.Proto)
		_, _ = w.Write([]byte("ok\n"))
	})
	c := startController(t, options{files: map[string]string{
		"services.yaml": svc,
		"old.yaml": annotate(ingressYAML("old", "old.example.com", route{"/", "Prefix", "proto"}),
			map[string]string{"nginx.ingress.kubernetes.io/proxy-http-version": `"1.0"`}),
		"new.yaml": ingressYAML("new", "new.example.com", route{"/", "Prefix", "proto"}),
	}})
	c.WaitStatus(t, "old.example.com", "/", http.StatusOK, "")
	c.WaitStatus(t, "new.example.com", "/", http.StatusOK, "")
	assert.Equal(t, "HTTP/1.0", c.Get(t, "old.example.com", "/").Header.Get("X-Backend-Proto"))
	assert.Equal(t, "HTTP/1.1", c.Get(t, "new.example.com", "/").Header.Get("X-Backend-Proto"))
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
	c.WaitStatus(t, "large.example.com", "/", http.StatusOK, "")
	r := c.Get(t, "large.example.com", "/")
	assert.Equal(t, "ok", r.Body)
	assert.Len(t, r.Header.Get("X-Big"), 10*1024)
	assert.Equal(t, http.StatusBadGateway, c.Get(t, "small.example.com", "/").Status,
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
	c.WaitStatus(t, "streamed.example.com", "/", http.StatusOK, "")
	c.WaitStatus(t, "buffered.example.com", "/", http.StatusOK, "")
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
		resp, err := c.Client.Do(req)
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

// postBody sends a body of n bytes to host+path through nginx and returns
// the status; transport errors fail the test.
func (c *controller) postBody(t *testing.T, host, path string, n int) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://placeholder.invalid"+path, bytes.NewReader(bytes.Repeat([]byte("b"), n)))
	require.NoError(t, err)
	req.Host = host
	resp, err := c.Client.Do(req)
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
	for dir := c.RuntimeDir; dir != os.TempDir() && dir != "/"; dir = filepath.Dir(dir) {
		require.NoError(t, os.Chmod(dir, 0o711))
	}
	c.WaitServed(t, small, "/", "app")
	c.WaitServed(t, large, "/", "app")
	const buffered = "a client request body is buffered to a temporary file"
	require.Zero(t, c.Logs.Count(buffered), "GETs have no body to buffer")

	// One worker handles both requests in order: once the later request's
	// line is in the log, the earlier one's would be too.
	assert.Equal(t, http.StatusOK, c.postBody(t, large, "/large-marker", 4096))
	assert.Equal(t, http.StatusOK, c.postBody(t, small, "/small-marker", 4096))
	require.Eventually(t, func() bool { return c.Logs.Count(buffered) >= 1 }, framework.RouteTimeout, framework.PollInterval,
		"client-body-buffer-size 1k: a 4 KiB body goes to a temporary file")
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, 1, c.Logs.Count(buffered), "client-body-buffer-size 16k keeps a 4 KiB body in memory")
	assert.Equal(t, 1, c.Logs.Count("small-marker"), "the line is for the 1k Ingress's request")
	assert.Zero(t, c.Logs.Count("large-marker"))
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
	probe := framework.NewHTTPClient(c.HTTPPort, false)
	probe.Timeout = 2 * time.Second
	require.Eventually(t, func() bool {
		r, err := framework.DoGet(probe, "http", host, "/")
		return err != nil || r.Status != http.StatusNotFound
	}, framework.RouteTimeout, framework.PollInterval)

	req, err := http.NewRequest(http.MethodPost, "http://placeholder.invalid/upload", bytes.NewReader(make([]byte, 8<<20)))
	require.NoError(t, err)
	req.Host = host
	client := framework.NewHTTPClient(c.HTTPPort, false)
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
		return c.Logs.Count("timed out") > 0 && c.Logs.Count("while sending request to upstream") > 0
	},
		5*time.Second, framework.PollInterval, "nginx reports the timeout while sending, not reading")
	t.Logf("504 after %s", took.Round(time.Millisecond))
}

// listenBlackhole binds ip:port (0: any port) with an accept backlog of 0,
// never accepts, and fills the accept queue with connections of its own,
// so that the kernel drops further SYNs (tcp_abort_on_overflow is 0 by
// default) and a connect to the address neither completes nor is refused.
// It returns the port, or 0 with an error when the address is taken.
func listenBlackhole(t *testing.T, ip string, port int) (int, error) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	sa := &syscall.SockaddrInet4{Port: port}
	copy(sa.Addr[:], net.ParseIP(ip).To4())
	if err := syscall.Bind(fd, sa); err != nil {
		_ = syscall.Close(fd)
		return 0, err
	}
	require.NoError(t, syscall.Listen(fd, 0))
	t.Cleanup(func() { _ = syscall.Close(fd) })
	got, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	port = got.(*syscall.SockaddrInet4).Port
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	for range 8 {
		conn, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			var ne net.Error
			require.True(t, errors.As(err, &ne) && ne.Timeout(), "connect to a full accept queue must hang, not fail: %v", err)
			return port, nil
		}
		t.Cleanup(func() { _ = conn.Close() })
	}
	t.Skipf("the kernel completes connects to %s despite a full accept queue", addr)
	return 0, nil
}

// blackholes returns n loopback addresses sharing one port, each a
// listenBlackhole.
func blackholes(t *testing.T, n int) ([]endpoint, int) {
	t.Helper()
	ips := make([]string, n)
	for i := range ips {
		ips[i] = allocIP(t)
	}
	for range 10 {
		port, err := listenBlackhole(t, ips[0], 0)
		require.NoError(t, err)
		eps := []endpoint{{addr: ips[0], ready: true}}
		for _, ip := range ips[1:] {
			if _, err := listenBlackhole(t, ip, port); err != nil {
				break
			}
			eps = append(eps, endpoint{addr: ip, ready: true})
		}
		if len(eps) == n {
			return eps, port
		}
	}
	require.FailNow(t, "no port free on all addresses")
	return nil, 0
}

// linesWith returns the log lines containing every one of subs.
func linesWith(logs *framework.LogBuffer, subs ...string) []string {
	var out []string
	for line := range strings.Lines(logs.String()) {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// TestProxyConnectTimeoutAnnotation shows proxy-connect-timeout on real
// traffic: the endpoint's accept queue is full, so nginx's connect never
// completes, and with a 1 s connect timeout nginx answers 504 and logs that
// it timed out while connecting.
func TestProxyConnectTimeoutAnnotation(t *testing.T) {
	t.Parallel()
	eps, port := blackholes(t, 1)
	const p = "nginx.ingress.kubernetes.io/"
	const host = "connect.example.com"
	c := startController(t, options{files: map[string]string{
		"services.yaml": serviceOnlyYAML("hole") + "---\n" + sliceYAML("hole", "hole-1", port, eps...),
		"hole.yaml": annotate(ingressYAML("hole", host, route{"/", "Prefix", "hole"}), map[string]string{
			p + "proxy-connect-timeout": `"1"`,
			p + "proxy-next-upstream":   `"off"`,
		}),
	}})
	c.WaitStatus(t, host, "/", http.StatusGatewayTimeout, "")

	start := time.Now()
	r := c.Get(t, host, "/connect-marker")
	took := time.Since(start)
	assert.Equal(t, http.StatusGatewayTimeout, r.Status, "proxy-connect-timeout 1: %s", r)
	assert.Less(t, took, 10*time.Second)
	assert.Eventually(t, func() bool {
		return len(linesWith(c.Logs, "upstream timed out", "while connecting to upstream", "/connect-marker")) == 1
	}, 5*time.Second, framework.PollInterval, "nginx reports the timeout while connecting")
	t.Logf("504 after %s", took.Round(time.Millisecond))
}

// TestProxyNextUpstreamTimeoutAnnotation shows proxy-next-upstream-timeout
// on real traffic over three endpoints none of which completes a connect:
// with unlimited tries and a 1 s connect timeout, a 1 s next-upstream
// timeout stops nginx after fewer than three connect timeouts, while an
// Ingress with 3 tries and no next-upstream timeout tries all three.
func TestProxyNextUpstreamTimeoutAnnotation(t *testing.T) {
	t.Parallel()
	eps, port := blackholes(t, 3)
	const p = "nginx.ingress.kubernetes.io/"
	const bounded, tries = "bounded.example.com", "tries.example.com"
	c := startController(t, options{files: map[string]string{
		"services.yaml": serviceOnlyYAML("holes") + "---\n" + sliceYAML("holes", "holes-1", port, eps...),
		"bounded.yaml": annotate(ingressYAML("bounded", bounded, route{"/", "Prefix", "holes"}), map[string]string{
			p + "proxy-connect-timeout":       `"1"`,
			p + "proxy-next-upstream":         `"error timeout"`,
			p + "proxy-next-upstream-tries":   `"0"`,
			p + "proxy-next-upstream-timeout": `"1"`,
		}),
		"tries.yaml": annotate(ingressYAML("tries", tries, route{"/", "Prefix", "holes"}), map[string]string{
			p + "proxy-connect-timeout":     `"1"`,
			p + "proxy-next-upstream":       `"error timeout"`,
			p + "proxy-next-upstream-tries": `"3"`,
		}),
	}})
	c.WaitStatus(t, bounded, "/", http.StatusGatewayTimeout, "")
	c.WaitStatus(t, tries, "/", http.StatusGatewayTimeout, "")

	const connecting = "while connecting to upstream"
	r := c.Get(t, bounded, "/bounded-marker")
	assert.Equal(t, http.StatusGatewayTimeout, r.Status, "%s", r)
	r = c.Get(t, tries, "/tries-marker")
	assert.Equal(t, http.StatusGatewayTimeout, r.Status, "%s", r)
	// One worker logs both requests in order: once the later request's
	// three lines are there, the earlier one's are too.
	require.Eventually(t, func() bool { return len(linesWith(c.Logs, connecting, "/tries-marker")) >= 3 },
		5*time.Second, framework.PollInterval, "3 tries without a next-upstream timeout: three connect timeouts")
	n := len(linesWith(c.Logs, connecting, "/bounded-marker"))
	assert.Positive(t, n, "the first connect times out")
	assert.Less(t, n, 3, "proxy-next-upstream-timeout 1 stops before trying all three endpoints")
	t.Logf("connect timeouts: bounded %d, 3 tries %d", n, len(linesWith(c.Logs, connecting, "/tries-marker")))
}

// TestProxyBufferingAnnotation shows proxy-buffering on real traffic: a
// backend writes and flushes a first chunk, then waits for the test before
// writing the rest. With buffering off the client reads the first chunk
// while the backend still waits; with buffering on the whole body arrives
// once the backend is released.
func TestProxyBufferingAnnotation(t *testing.T) {
	t.Parallel()
	release := map[string]chan struct{}{"/stream-off": make(chan struct{}), "/stream-on": make(chan struct{})}
	for _, ch := range release {
		t.Cleanup(func() {
			select {
			case <-ch:
			default:
				close(ch)
			}
		})
	}
	const first, rest = "first chunk\n", "rest of the body\n"
	svc := startHandlerBackend(t, "stream", func(w http.ResponseWriter, r *http.Request) {
		ch, ok := release[r.URL.Path]
		if !ok {
			_, _ = w.Write([]byte("ok\n"))
			return
		}
		_, _ = w.Write([]byte(first))
		w.(http.Flusher).Flush()
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		case <-time.After(15 * time.Second):
		}
		_, _ = w.Write([]byte(rest))
	})
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": svc,
		"off.yaml": annotate(ingressYAML("unbuffered", "off.example.com", route{"/", "Prefix", "stream"}),
			map[string]string{p + "proxy-buffering": `"off"`}),
		"on.yaml": annotate(ingressYAML("buffered", "on.example.com", route{"/", "Prefix", "stream"}),
			map[string]string{p + "proxy-buffering": `"on"`}),
	}})
	c.WaitStatus(t, "off.example.com", "/", http.StatusOK, "")
	c.WaitStatus(t, "on.example.com", "/", http.StatusOK, "")

	// stream sends the request and returns the response, the body read
	// so far once first is in, and a channel with the rest of the body.
	type result struct {
		body string
		err  error
	}
	get := func(host, path string) (*http.Response, <-chan string, <-chan result) {
		req, err := http.NewRequest(http.MethodGet, "http://placeholder.invalid"+path, nil)
		require.NoError(t, err)
		req.Host = host
		client := framework.NewHTTPClient(c.HTTPPort, false)
		client.Timeout = 20 * time.Second
		resp, err := client.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { _ = resp.Body.Close() })
		firstc, restc := make(chan string, 1), make(chan result, 1)
		go func() {
			buf := make([]byte, len(first))
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				restc <- result{err: err}
				return
			}
			firstc <- string(buf)
			more, err := io.ReadAll(resp.Body)
			restc <- result{body: string(buf) + string(more), err: err}
		}()
		return resp, firstc, restc
	}

	resp, firstc, restc := get("off.example.com", "/stream-off")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	select {
	case got := <-firstc:
		assert.Equal(t, first, got, "proxy-buffering off: the first chunk arrives while the backend waits")
	case res := <-restc:
		require.Failf(t, "body ended early", "%q %v", res.body, res.err)
	case <-time.After(5 * time.Second):
		require.Fail(t, "proxy-buffering off: the first chunk did not arrive within 5 s while the backend waited")
	}
	close(release["/stream-off"])
	select {
	case res := <-restc:
		require.NoError(t, res.err)
		assert.Equal(t, first+rest, res.body)
	case <-time.After(10 * time.Second):
		require.Fail(t, "proxy-buffering off: the body did not complete after the release")
	}

	// nginx may hold the headers too until the release: release from a
	// timer rather than after the response.
	time.AfterFunc(300*time.Millisecond, func() { close(release["/stream-on"]) })
	resp, _, restc = get("on.example.com", "/stream-on")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	select {
	case res := <-restc:
		require.NoError(t, res.err)
		assert.Equal(t, first+rest, res.body, "proxy-buffering on: the whole body arrives after the release")
	case <-time.After(10 * time.Second):
		require.Fail(t, "proxy-buffering on: the body did not complete after the release")
	}
}
