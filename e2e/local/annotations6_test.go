//go:build linux

package local

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
func linesWith(logs *logBuffer, subs ...string) []string {
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
	c.waitStatus(t, host, "/", http.StatusGatewayTimeout, "")

	start := time.Now()
	r := c.getHTTP(t, host, "/connect-marker")
	took := time.Since(start)
	assert.Equal(t, http.StatusGatewayTimeout, r.status, "proxy-connect-timeout 1: %s", r)
	assert.Less(t, took, 10*time.Second)
	assert.Eventually(t, func() bool {
		return len(linesWith(c.logs, "upstream timed out", "while connecting to upstream", "/connect-marker")) == 1
	}, 5*time.Second, pollInterval, "nginx reports the timeout while connecting")
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
	c.waitStatus(t, bounded, "/", http.StatusGatewayTimeout, "")
	c.waitStatus(t, tries, "/", http.StatusGatewayTimeout, "")

	const connecting = "while connecting to upstream"
	r := c.getHTTP(t, bounded, "/bounded-marker")
	assert.Equal(t, http.StatusGatewayTimeout, r.status, "%s", r)
	r = c.getHTTP(t, tries, "/tries-marker")
	assert.Equal(t, http.StatusGatewayTimeout, r.status, "%s", r)
	// One worker logs both requests in order: once the later request's
	// three lines are there, the earlier one's are too.
	require.Eventually(t, func() bool { return len(linesWith(c.logs, connecting, "/tries-marker")) >= 3 },
		5*time.Second, pollInterval, "3 tries without a next-upstream timeout: three connect timeouts")
	n := len(linesWith(c.logs, connecting, "/bounded-marker"))
	assert.Positive(t, n, "the first connect times out")
	assert.Less(t, n, 3, "proxy-next-upstream-timeout 1 stops before trying all three endpoints")
	t.Logf("connect timeouts: bounded %d, 3 tries %d", n, len(linesWith(c.logs, connecting, "/tries-marker")))
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
	c.waitStatus(t, "off.example.com", "/", http.StatusOK, "")
	c.waitStatus(t, "on.example.com", "/", http.StatusOK, "")

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
		client := newHTTPClient(c.httpPort, false)
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
