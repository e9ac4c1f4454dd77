//go:build linux

package local

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// The tests in this file are "reloads that do not hurt": bursts coalesce,
// reloads never overlap, load across reloads loses nothing, and old worker
// generations do not pile up. The burst and load tests are not parallel on
// purpose: they measure, and run alone so that other tests neither disturb
// their figures nor are starved by their load.

// TestReloadBurst500 rewrites one Ingress 500 times within 10 seconds with
// the default hold-off (200ms, at most 1s): at most 20 reloads, at least
// one, never two at once, and the last version is the one served.
func TestReloadBurst500(t *testing.T) {
	const host = "burst500.example.com"
	const changes = 500
	const spacing = 19 * time.Millisecond // 500 writes in 9.5s
	b := runBurst(t, host, changes, spacing)
	c, events, wrote, servedAfter := b.c, b.events, b.wrote, b.servedAfter
	// Generations number every attempt, so their difference counts reloads
	// even if the history (50 by default) had dropped some.
	attempts := int(b.last - b.before)
	require.Len(t, events, attempts, "every attempt is in /debug/reloads")
	sort.Slice(events, func(i, j int) bool { return events[i].Generation < events[j].Generation })
	var durations []float64
	var minGap time.Duration
	for i, ev := range events {
		durations = append(durations, ev.DurationMS)
		if i == 0 {
			continue
		}
		prev := events[i-1]
		prevEnd := prev.Time.Add(time.Duration(prev.DurationMS * float64(time.Millisecond)))
		assert.False(t, ev.Time.Before(prevEnd), "reload %d started at %s, before reload %d ended at %s",
			ev.Generation, ev.Time.Format(time.StampMicro), prev.Generation, prevEnd.Format(time.StampMicro))
		if gap := ev.Time.Sub(prevEnd); i == 1 || gap < minGap {
			minGap = gap
		}
	}
	t.Logf("%d changes written in %s gave %d reloads (durations ms: %s; smallest gap between two reloads %s); the last version was served %s after the last write",
		changes, wrote.Round(time.Millisecond), attempts, formatMS(durations), minGap.Round(time.Millisecond), servedAfter.Round(time.Millisecond))
	assert.LessOrEqual(t, wrote, 11*time.Second, "the writes took longer than planned; the bound below is for a burst of about 10s")
	assert.GreaterOrEqual(t, attempts, 1)
	assert.LessOrEqual(t, attempts, 20, "500 changes within 10s coalesce into at most 20 reloads")
	r := c.Get(t, host, "/v1")
	assert.Equal(t, http.StatusNotFound, r.Status, "only the last version is live: %s", r)
}

// wrkBinary finds wrk or skips; with PORTICO_REQUIRE_NGINX set (make test)
// a missing wrk fails, so CI cannot pass by skipping the load test.
func wrkBinary(t *testing.T) string {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if p, err := exec.LookPath("wrk"); err == nil {
		return p
	}
	if os.Getenv("PORTICO_REQUIRE_NGINX") != "" {
		t.Fatal("wrk not found; run hack/install-deps.sh (Debian package wrk)")
	}
	t.Skip("wrk not found; run hack/install-deps.sh (Debian package wrk) to run the load test")
	return ""
}

// wrkResult is what wrk printed at the end of a run.
type wrkResult struct {
	requests     int64
	seconds      float64
	perSecond    float64
	non2xx3xx    int64
	socketErrors map[string]int64 // connect, read, write, timeout
	output       string
}

var (
	wrkRequests   = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m)`)
	wrkPerSecond  = regexp.MustCompile(`(?m)^Requests/sec:\s*([0-9.]+)`)
	wrkNon2xx     = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses:\s*(\d+)`)
	wrkSocketErrs = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads wrk's summary. "Non-2xx or 3xx responses" and "Socket
// errors" are printed only when not zero, so their absence means zero.
func parseWrk(out string) (wrkResult, error) {
	r := wrkResult{output: out, socketErrors: map[string]int64{"connect": 0, "read": 0, "write": 0, "timeout": 0}}
	m := wrkRequests.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no request count in wrk output:\n%s", out)
	}
	r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	r.seconds, _ = strconv.ParseFloat(m[2], 64)
	switch m[3] {
	case "us":
		r.seconds /= 1e6
	case "ms":
		r.seconds /= 1e3
	case "m":
		r.seconds *= 60
	}
	if m := wrkPerSecond.FindStringSubmatch(out); m != nil {
		r.perSecond, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.non2xx3xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkSocketErrs.FindStringSubmatch(out); m != nil {
		for i, k := range []string{"connect", "read", "write", "timeout"} {
			r.socketErrors[k], _ = strconv.ParseInt(m[i+1], 10, 64)
		}
	}
	return r, nil
}

// wrkRun is one wrk process running in the background.
type wrkRun struct {
	proc *framework.Process
}

// startWrk runs wrk against nginx on loopback for at most maxDuration; stop
// it earlier with (*wrkRun).stop, which sends SIGINT (wrk then prints its
// summary as at the end of its duration).
func startWrk(t *testing.T, bin string, c *controller, host string, maxDuration time.Duration, extra ...string) *wrkRun {
	t.Helper()
	args := append([]string{"-t1", "-c10", "-d" + strconv.Itoa(int(maxDuration.Seconds())) + "s", "--latency", "-H", "Host: " + host}, extra...)
	args = append(args, fmt.Sprintf("http://127.0.0.1:%d/", c.HTTPPort))
	cmd := exec.Command(bin, args...)
	// Dies with the test binary, whatever happens to the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p, err := suite.Children.Start("wrk", cmd)
	require.NoError(t, err, "starting wrk")
	t.Cleanup(func() { _ = p.Kill() })
	return &wrkRun{proc: p}
}

// running reports whether wrk has not exited yet.
func (w *wrkRun) running() bool { return w.proc.Alive() }

// stop interrupts wrk and returns its parsed summary.
func (w *wrkRun) stop(t *testing.T) wrkResult {
	t.Helper()
	if w.running() {
		require.NoError(t, w.proc.Cmd.Process.Signal(syscall.SIGINT))
	}
	select {
	case <-w.proc.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("wrk did not exit within 10s of SIGINT")
	}
	out := w.proc.Logs.String()
	require.NoError(t, w.proc.Err(), "wrk: %s", out)
	r, err := parseWrk(out)
	require.NoError(t, err)
	return r
}

// TestWrkAcrossReloads runs a bounded load (two wrk processes, 10
// connections each, at most 60s, loopback only) while the controller makes
// 50 reloads, each a real configuration change verified live.
//
// What nginx does on a reload, and so what can be asserted:
//   - A client that opens a connection per request ("Connection: close")
//     never notices: the listening socket stays open across generations, so
//     zero non-2xx responses and zero socket errors are required.
//   - Keep-alive connections belong to a worker process and cannot move to a
//     new one. An old worker answers the requests it is serving with
//     "Connection: close", but closes its idle keep-alive connections at once
//     (ngx_close_idle_connections on graceful shutdown; not configurable).
//     wrk counts that close as a read error, whether or not it had already
//     sent its next request; clients that follow RFC 9112 retry the request
//     on a new connection (Go's Transport, browsers and curl do). So for the
//     keep-alive run the test requires zero non-2xx responses, no connect,
//     write or timeout errors, and that no request nginx accepted was
//     lost: the backend saw no more requests than wrk got answers for (less
//     the at most 10 in flight when wrk was stopped). The read errors are
//     logged as a figure.
func TestWrkAcrossReloads(t *testing.T) {
	bin := wrkBinary(t)
	b := startBackends(t, "load", "other")
	const host = "wrk.example.com"
	const reloads = 50
	// Each reload adds a route that the load never requests, so the load's
	// own routing is the same in every generation.
	ing := func(k int) string { return growingIngress("wrk", host, "load", "other", k) }
	c := startController(t, options{
		args: append([]string{"--worker-processes", "2"}, fastSync...),
		files: map[string]string{
			"services.yaml": servicesYAML(b),
			"ingress.yaml":  ing(0),
		},
	})
	c.WaitServed(t, host, "/", "load")

	hitsBefore := b["load"].hits.Load()
	// wrk is stopped once the reloads are done; the cap only bounds a run
	// that goes wrong. 50 reloads take 20-70 s on 2 cores busy with the
	// rest of make test (the config grows with each), so the cap leaves room.
	const maxDuration = 3 * time.Minute
	began := time.Now()
	perRequest := startWrk(t, bin, c, host, maxDuration, "-H", "Connection: close")
	keepAlive := startWrk(t, bin, c, host, maxDuration)
	time.Sleep(time.Second) // load before the first reload

	var durations []float64
	for k := 1; k <= reloads; k++ {
		ev := c.update(t, "ingress.yaml", ing(k)) // waits until the reload is verified live
		durations = append(durations, ev.DurationMS)
	}
	time.Sleep(time.Second) // and after the last
	require.True(t, perRequest.running() && keepAlive.running(),
		"wrk ended (after its %s cap) before the %d reloads did; the load did not cover them", maxDuration, reloads)
	closeRes, kaRes := perRequest.stop(t), keepAlive.stop(t)
	elapsed := time.Since(began)
	// The backend's count settles once nginx has passed on what was in flight.
	time.Sleep(200 * time.Millisecond)
	hits := b["load"].hits.Load() - hitsBefore

	t.Logf("%d reloads in %s (durations ms: %s)", reloads, elapsed.Round(time.Millisecond), formatMS(durations))
	t.Logf("wrk, connection per request: %d requests, %.0f req/s, non-2xx %d, socket errors %v\n%s",
		closeRes.requests, closeRes.perSecond, closeRes.non2xx3xx, closeRes.socketErrors, closeRes.output)
	t.Logf("wrk, keep-alive: %d requests, %.0f req/s, non-2xx %d, socket errors %v (read errors: idle keep-alive connections closed by old workers)\n%s",
		kaRes.requests, kaRes.perSecond, kaRes.non2xx3xx, kaRes.socketErrors, kaRes.output)
	t.Logf("backend saw %d requests, wrk got %d answers", hits, closeRes.requests+kaRes.requests)

	for _, r := range []wrkResult{closeRes, kaRes} {
		assert.Positive(t, r.requests)
		assert.Zero(t, r.non2xx3xx, "non-2xx or 3xx responses")
		assert.Zero(t, r.socketErrors["connect"], "connect errors")
		assert.Zero(t, r.socketErrors["write"], "write errors")
		assert.Zero(t, r.socketErrors["timeout"], "timeouts")
	}
	assert.Zero(t, closeRes.socketErrors["read"], "read errors with a connection per request")
	answered := closeRes.requests + kaRes.requests
	assert.GreaterOrEqual(t, hits, answered, "every answer came from the backend")
	assert.LessOrEqual(t, hits-answered, int64(20), "requests nginx passed on but never answered (beyond the 20 in flight at the stop)")

	// Worker generations do not pile up: once the load is gone, only the
	// two workers of the last configuration remain.
	requireWorkerMetric(t, c, 2, 0)
}

// requireWorkerMetric waits until portico_nginx_worker_processes shows the
// given number of active and shutting-down workers.
func requireWorkerMetric(t *testing.T, c *controller, active, shuttingDown float64) {
	t.Helper()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		a, ok := c.Metric(t, "portico_nginx_worker_processes", map[string]string{"state": "active"})
		assert.True(ct, ok, "portico_nginx_worker_processes{state=\"active\"} is exported")
		assert.Equal(ct, active, a, "active workers")
		s, ok := c.Metric(t, "portico_nginx_worker_processes", map[string]string{"state": "shutting_down"})
		assert.True(ct, ok, "portico_nginx_worker_processes{state=\"shutting_down\"} is exported")
		assert.Equal(ct, shuttingDown, s, "workers shutting down")
	}, framework.RouteTimeout, framework.PollInterval)
}

// slowBackend answers GET /slow?ms=N after N milliseconds and everything
// else at once, always 200 with a short body.
type slowBackend struct {
	addr netip.AddrPort
	hits atomic.Int64
}

func (s *slowBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	if r.URL.Path == "/slow" {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		select {
		case <-time.After(time.Duration(min(ms, 10_000)) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	}
	_, _ = io.WriteString(w, "ok "+r.URL.Path)
}

// startSlowBackend listens on a fresh loopback address and returns the
// backend and the Service manifest (with its EndpointSlice) for it.
func startSlowBackend(t *testing.T, service string) (*slowBackend, string) {
	t.Helper()
	s := &slowBackend{}
	s.addr = netip.MustParseAddrPort(serveLoopback(t, s).String())
	return s, serviceYAML(service, &backend{service: service, addr: s.addr})
}

// rawConn is one client TCP connection speaking HTTP/1.1 by hand, so the
// test sees exactly what nginx does with it (no transparent retries).
type rawConn struct {
	conn net.Conn
	r    *bufio.Reader
	host string
}

func dialRaw(t *testing.T, c *controller, host string) *rawConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.HTTPPort)), 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &rawConn{conn: conn, r: bufio.NewReader(conn), host: host}
}

// send writes one GET request.
func (rc *rawConn) send(path string) error {
	_, err := fmt.Fprintf(rc.conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, rc.host)
	return err
}

// read reads one response; the deadline bounds the wait.
func (rc *rawConn) read(timeout time.Duration) (*http.Response, string, error) {
	if err := rc.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(rc.r, nil)
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

// TestKeepAliveAcrossReloads is what "keep-alive connections survive a
// reload" honestly means with nginx. A TCP connection belongs to the worker
// that accepted it; a reload replaces every worker, so no connection
// outlives its worker. What nginx guarantees, and this test checks:
//   - a request in flight during a reload is answered in full on its own
//     connection, with "Connection: close" so the client knows to go to a
//     new one (the old worker lives on, counted as shutting_down, until its
//     last request is done or worker_shutdown_timeout runs out);
//   - a client that keeps one keep-alive connection busy across reloads
//     sees no failed request: when an old worker closes the connection
//     between two requests, the client (here Go's Transport, which retries
//     idempotent requests on a connection closed before any response byte)
//     goes to a new one. The number of connections it needed is logged and
//     is at most two per reload (the new connection may land on an old
//     worker during the 100ms the master gives new workers to start).
func TestKeepAliveAcrossReloads(t *testing.T) {
	t.Parallel()
	be, svc := startSlowBackend(t, "ka")
	const host = "keepalive.example.com"
	ing := func(k int) string {
		return ingressYAML("ka", host, route{"/", "Prefix", "ka"}, route{fmt.Sprintf("/gen%d", k), "Exact", "ka"})
	}
	c := startController(t, options{files: map[string]string{"ka.yaml": svc, "ingress.yaml": ing(0)}})
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r, err := c.Request(host, "/")
		require.NoError(ct, err)
		assert.Equal(ct, "ok /", r.Body)
	}, framework.RouteTimeout, framework.PollInterval)
	gen := 0
	reload := func() {
		gen++
		c.update(t, "ingress.yaml", ing(gen))
	}

	t.Run("request in flight", func(t *testing.T) {
		rc := dialRaw(t, c, host)
		require.NoError(t, rc.send("/"))
		resp, body, err := rc.read(5 * time.Second)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		require.False(t, resp.Close, "a fresh keep-alive connection stays open")

		// 3s: longer than a reload takes to be verified, so the reload
		// happens while the request is waiting for the backend.
		hits := be.hits.Load()
		require.NoError(t, rc.send("/slow?ms=3000"))
		require.Eventually(t, func() bool { return be.hits.Load() > hits }, 5*time.Second, 5*time.Millisecond, "request reached the backend")
		sent := time.Now()
		reload()
		reloaded := time.Since(sent)
		requireWorkerMetric(t, c, 1, 1) // the old worker waits for the slow request

		resp, body, err = rc.read(10 * time.Second)
		require.NoError(t, err, "the request in flight during the reload is answered")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "ok /slow", body, "the whole response arrives")
		assert.True(t, resp.Close, "the old worker tells the client the connection closes (Connection: close)")
		require.NoError(t, rc.conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, err = rc.r.ReadByte()
		assert.ErrorIs(t, err, io.EOF, "then closes it cleanly")
		t.Logf("reload verified %s into a 3s request; the request then completed with Connection: close after %s",
			reloaded.Round(time.Millisecond), time.Since(sent).Round(time.Millisecond))
		requireWorkerMetric(t, c, 1, 0)
	})

	t.Run("client busy across reloads", func(t *testing.T) {
		const reloads = 10
		var conns, reqs, closes atomic.Int64
		transport := &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", strconv.Itoa(c.HTTPPort)))
			},
			MaxConnsPerHost:     1, // one connection at a time: the one the test follows
			MaxIdleConnsPerHost: 1,
		}
		defer transport.CloseIdleConnections()
		client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			if !info.Reused {
				conns.Add(1)
			}
		}}
		stop := make(chan struct{})
		var failures []string
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
					http.MethodGet, "http://placeholder.invalid/", nil)
				if err != nil {
					failures = append(failures, err.Error())
					return
				}
				req.Host = host
				reqs.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					failures = append(failures, fmt.Sprintf("request %d: %v", i, err))
					continue
				}
				body, err := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.Close {
					closes.Add(1)
				}
				if err != nil || resp.StatusCode != http.StatusOK || string(body) != "ok /" {
					failures = append(failures, fmt.Sprintf("request %d: %d %q %v", i, resp.StatusCode, body, err))
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
		time.Sleep(200 * time.Millisecond)
		for range reloads {
			reload()
		}
		time.Sleep(200 * time.Millisecond)
		close(stop)
		wg.Wait()
		t.Logf("%d requests on one keep-alive client across %d reloads: %d failed, %d connections opened, %d responses said Connection: close",
			reqs.Load(), reloads, len(failures), conns.Load(), closes.Load())
		assert.Empty(t, failures)
		assert.Positive(t, reqs.Load())
		assert.LessOrEqual(t, conns.Load(), int64(2*reloads+1), "a reload costs the client at most two new connections, not one per request")
	})
}

// TestWorkerShutdownTimeout sets worker-shutdown-timeout in the options
// ConfigMap and checks that a worker kept alive by a long request after a
// reload is ended when it runs out: old generations cannot pile up. nginx
// reads the timeout from the configuration the old worker runs, so it has
// to be in force before the reload.
func TestWorkerShutdownTimeout(t *testing.T) {
	t.Parallel()
	be, svc := startSlowBackend(t, "wst")
	const host = "shutdown-timeout.example.com"
	ing := func(k int) string {
		return ingressYAML("wst", host, route{"/", "Prefix", "wst"}, route{fmt.Sprintf("/gen%d", k), "Exact", "wst"})
	}
	const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico, namespace: default}\ndata:\n  worker-shutdown-timeout: 1s\n"
	c := startController(t, options{
		args:  []string{"--configmap", "default/portico"},
		files: map[string]string{"wst.yaml": svc, "ingress.yaml": ing(0), "configmap.yaml": cm},
	})
	require.Contains(t, string(c.MustStatusGet(t, "/debug/config")), `worker_shutdown_timeout "1s";`)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r, err := c.Request(host, "/")
		require.NoError(ct, err)
		assert.Equal(ct, "ok /", r.Body)
	}, framework.RouteTimeout, framework.PollInterval)

	rc := dialRaw(t, c, host)
	hits := be.hits.Load()
	require.NoError(t, rc.send("/slow?ms=8000"))
	require.Eventually(t, func() bool { return be.hits.Load() > hits }, 5*time.Second, 5*time.Millisecond, "request reached the backend")
	start := time.Now()
	c.update(t, "ingress.yaml", ing(1))
	requireWorkerMetric(t, c, 1, 0)
	gone := time.Since(start)
	_, _, err := rc.read(10 * time.Second)
	assert.Error(t, err, "the 8s request is cut when the old worker's 1s runs out")
	t.Logf("old worker ended %s after the reload started (worker-shutdown-timeout 1s, request of 8s)", gone.Round(time.Millisecond))
	assert.Less(t, gone, 6*time.Second, "ended by the timeout, not by the end of the request")
}
