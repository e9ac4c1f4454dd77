//go:build linux

package local

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startHandlerBackend starts one endpoint of service on a fresh loopback
// address that answers with handler, and returns the Service and its
// EndpointSlice as YAML.
func startHandlerBackend(t *testing.T, service string, handler http.HandlerFunc) string {
	t.Helper()
	addr := serveLoopback(t, handler)
	return serviceOnlyYAML(service) + "---\n" + sliceYAML(service, service+"-1", addr.Port, endpoint{addr: addr.IP.String(), ready: true})
}

// sleepOr waits d or until the request is given up, whichever comes first.
func sleepOr(r *http.Request, d time.Duration) {
	select {
	case <-time.After(d):
	case <-r.Context().Done():
	}
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
	c.waitStatus(t, "impatient.example.com", "/", http.StatusOK, "")
	c.waitStatus(t, "patient.example.com", "/", http.StatusOK, "")

	// c.client gives up after 10 s, well past the backend's 3 s.
	r := c.getHTTP(t, "impatient.example.com", "/slow")
	assert.Equal(t, http.StatusGatewayTimeout, r.status, "proxy-read-timeout 1 must give up on a 3 s backend: %s", r)
	r = c.getHTTP(t, "patient.example.com", "/slow")
	assert.Equal(t, http.StatusOK, r.status, "without the annotation the global 60 s timeout applies: %s", r)
	assert.Equal(t, "done\n", r.body)
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
	c.waitServed(t, "retry.example.com", "/", "flaky")

	count := func(host string) (ok, bad int) {
		for range 20 {
			switch r := c.getHTTP(t, host, "/"); r.status {
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
	c.waitStatus(t, "old.example.com", "/", http.StatusOK, "")
	c.waitStatus(t, "new.example.com", "/", http.StatusOK, "")
	assert.Equal(t, "HTTP/1.0", c.getHTTP(t, "old.example.com", "/").header.Get("X-Backend-Proto"))
	assert.Equal(t, "HTTP/1.1", c.getHTTP(t, "new.example.com", "/").header.Get("X-Backend-Proto"))
}

// TestLimitConnectionsAnnotation shows limit-connections on real traffic:
// with a limit of 1, three concurrent slow requests from 127.0.0.1 on
// separate connections get at least one 503, and at least one is served.
func TestLimitConnectionsAnnotation(t *testing.T) {
	t.Parallel()
	svc := startHandlerBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			sleepOr(r, 1500*time.Millisecond)
		}
		_, _ = w.Write([]byte("done\n"))
	})
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": svc,
		"one.yaml": annotate(ingressYAML("one", "one.example.com", route{"/", "Prefix", "slow"}),
			map[string]string{p + "limit-connections": `"1"`, p + "limit-burst-multiplier": `"1"`}),
	}})
	c.waitStatus(t, "one.example.com", "/", http.StatusOK, "")

	const n = 3
	statuses := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Without keep-alive each request has its own connection.
			r, err := doGet(newHTTPClient(c.httpPort, false), "http", "one.example.com", "/slow")
			statuses[i], errs[i] = r.status, err
		}()
	}
	wg.Wait()
	ok, limited := 0, 0
	for i := range n {
		require.NoError(t, errs[i])
		switch statuses[i] {
		case http.StatusOK:
			ok++
		case http.StatusServiceUnavailable:
			limited++
		}
	}
	assert.Positive(t, limited, "limit-connections 1 must refuse concurrent requests: %v", statuses)
	assert.Positive(t, ok, "one request at a time is served: %v", statuses)
	assert.Equal(t, n, ok+limited, "%v", statuses)
}

// TestLimitRPMAnnotation shows limit-rpm on real traffic: at 1 request per
// minute with a burst of 1, at least 3 of 5 immediate requests get 503,
// while another Ingress of the same backend is not limited.
func TestLimitRPMAnnotation(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"free.yaml":     ingressYAML("free", "free.example.com", route{"/", "Prefix", "app"}),
		"rpm.yaml": annotate(ingressYAML("rpm", "rpm.example.com", route{"/", "Prefix", "app"}),
			map[string]string{p + "limit-rpm": `"1"`, p + "limit-burst-multiplier": `"1"`}),
	}})
	// Wait on the unlimited Ingress: every request to the limited one counts.
	c.waitServed(t, "free.example.com", "/", "app")
	var statuses []int
	limited := 0
	for range 5 {
		s := c.getHTTP(t, "rpm.example.com", "/").status
		statuses = append(statuses, s)
		if s == http.StatusServiceUnavailable {
			limited++
		}
	}
	assert.GreaterOrEqual(t, limited, 3, "limit-rpm 1 with a burst of 1 lets at most 2 of 5 through: %v", statuses)
	assert.Equal(t, http.StatusOK, statuses[0], "the first request is within the limit: %v", statuses)
	for range 5 {
		assert.Equal(t, http.StatusOK, c.getHTTP(t, "free.example.com", "/").status, "another Ingress is not limited")
	}
}

// TestEnableAccessLogAnnotation shows enable-access-log on real traffic:
// with --access-log FILE, requests to the Ingress with "false" are not
// logged while requests to another Ingress are.
func TestEnableAccessLogAnnotation(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	logFile := filepath.Join(t.TempDir(), "access.log")
	c := startController(t, options{
		files: map[string]string{
			"services.yaml": servicesYAML(b),
			"quiet.yaml": annotate(ingressYAML("quiet", "quiet.example.com", route{"/", "Prefix", "app"}),
				map[string]string{"nginx.ingress.kubernetes.io/enable-access-log": `"false"`}),
			"loud.yaml": ingressYAML("loud", "loud.example.com", route{"/", "Prefix", "app"}),
		},
		args: []string{"--access-log", logFile},
	})
	c.waitServed(t, "quiet.example.com", "/", "app")
	c.waitServed(t, "loud.example.com", "/", "app")

	// One worker logs requests in the order it finishes them: once the
	// later loud request is in the file, the quiet ones would be too.
	for range 3 {
		assert.Equal(t, http.StatusOK, c.getHTTP(t, "quiet.example.com", "/quiet-marker").status)
	}
	assert.Equal(t, http.StatusOK, c.getHTTP(t, "loud.example.com", "/loud-marker").status)
	var content string
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(logFile)
		content = string(data)
		return err == nil && strings.Contains(content, "/loud-marker")
	}, routeTimeout, pollInterval, "requests to an Ingress without the annotation are logged")
	assert.NotContains(t, content, "/quiet-marker", "enable-access-log false keeps the Ingress's requests out of the log")
}

// TestCORSValueAnnotations shows cors-allow-methods, cors-allow-headers,
// cors-max-age and cors-expose-headers on real traffic: the first three in
// the preflight answer, the last on the proxied response.
func TestCORSValueAnnotations(t *testing.T) {
	t.Parallel()
	c := startCORSAPI(t, map[string]string{
		"cors-allow-origin":   `"https://app.example.com"`,
		"cors-allow-methods":  `"GET, POST"`,
		"cors-allow-headers":  `"X-Custom-Header,Content-Type"`,
		"cors-max-age":        `"600"`,
		"cors-expose-headers": `"X-Total-Count,X-Page"`,
	})
	do := func(method string) *http.Response {
		return c.corsRequest(t, method, map[string]string{"Origin": "https://app.example.com",
			"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "X-Custom-Header"})
	}
	pre := do(http.MethodOptions)
	assert.Equal(t, http.StatusNoContent, pre.StatusCode, "nginx answers the preflight")
	assert.Equal(t, "https://app.example.com", pre.Header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "GET, POST", pre.Header.Get("Access-Control-Allow-Methods"))
	assert.Equal(t, "X-Custom-Header,Content-Type", pre.Header.Get("Access-Control-Allow-Headers"))
	assert.Equal(t, "600", pre.Header.Get("Access-Control-Max-Age"))

	get := do(http.MethodGet)
	assert.Equal(t, http.StatusOK, get.StatusCode)
	assert.Equal(t, "https://app.example.com", get.Header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "X-Total-Count,X-Page", get.Header.Get("Access-Control-Expose-Headers"))
}

// TestLeastConnAnnotation shows load-balance least_conn on real traffic:
// requests over two endpoints all succeed and both endpoints get some, with
// the Lua balancer (which counts requests in flight) and with upstream
// blocks (nginx's least_conn).
func TestLeastConnAnnotation(t *testing.T) {
	t.Parallel()
	for _, balancer := range []string{"lua", "upstreams"} {
		t.Run(balancer, func(t *testing.T) {
			t.Parallel()
			eps := startEndpoints(t, "app", 2)
			c := startController(t, options{args: []string{"--balancer", balancer}, files: map[string]string{
				"services.yaml": serviceYAML("app", eps...),
				"app.yaml": annotate(ingressYAML("app", "lc.example.com", route{"/", "Prefix", "app"}),
					map[string]string{"nginx.ingress.kubernetes.io/load-balance": "least_conn"}),
			}})
			c.waitServed(t, "lc.example.com", "/", "app")
			if balancer == "upstreams" {
				assert.Contains(t, string(c.mustGet(t, "/debug/config")), "least_conn;", "the upstream uses least_conn")
			}
			used := map[string]int{}
			for range 20 {
				r := c.getHTTP(t, "lc.example.com", "/")
				require.Equal(t, http.StatusOK, r.status, "%s", r)
				require.NotNil(t, r.echo, "%s", r)
				used[r.echo.Endpoint]++
			}
			assert.Len(t, used, 2, "both endpoints get traffic: %v", used)
			for _, b := range eps {
				assert.Positive(t, b.hits.Load(), "endpoint %s", b.addr)
			}
		})
	}
}
