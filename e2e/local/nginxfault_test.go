//go:build linux

package local

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// The nginx process under faults: the controller killed, the nginx master
// killed or stopped, with a small bounded load through the real nginx.

// TestControllerSIGKILLKeepsNginxServing kills the controller with SIGKILL
// while requests are in flight: nginx must keep serving (no request reset,
// none refused), and a controller started again on the same directories
// (and ports) adopts that nginx instead of starting another, and serves
// an edit through it.
func TestControllerSIGKILLKeepsNginxServing(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web")
	var arrived atomic.Int32
	slow := startHandlerBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		sleepOr(r, 1500*time.Millisecond)
		_, _ = fmt.Fprint(w, "slow done")
	})
	const host = "survive.example.com"
	ingress := ingressYAML("survive", host, route{"/", "Prefix", "web"}, route{"/slow", "Exact", "slow"})
	c := startController(t, options{files: map[string]string{
		"web.yaml":     serviceYAML("web", b["web"]),
		"slow.yaml":    slow,
		"ingress.yaml": ingress,
	}})
	c.WaitServed(t, host, "/", "web")
	master := c.nginxMaster(t)

	// A steady load of new connections, and slow requests in flight.
	steady := startSteadyLoad(t, c, loadTarget{host, "/", "web"})
	const inFlight = 6
	slowResults := make(chan string, inFlight)
	for range inFlight {
		go func() {
			r, err := framework.DoGet(framework.NewHTTPClient(c.HTTPPort, false), "http", host, "/slow")
			switch {
			case err != nil:
				slowResults <- err.Error()
			case r.Status != http.StatusOK || r.Body != "slow done":
				slowResults <- r.String()
			default:
				slowResults <- ""
			}
		}()
	}
	framework.EventuallyWithin(t, 10*time.Second, func() bool { return arrived.Load() == inFlight }, "slow requests in flight")

	killed := time.Now()
	c.Kill(t)
	for range inFlight {
		assert.Empty(t, <-slowResults, "a request in flight when the controller was killed")
	}
	assert.True(t, alive(master), "nginx master %d died with the controller", master)
	time.Sleep(500 * time.Millisecond) // nginx alone, serving
	r := c.Get(t, host, "/")
	assert.Equal(t, "web", r.Served(), "nginx without its controller: %s", r)

	// A new controller on the same directories and ports adopts nginx.
	root := filepath.Dir(c.manifests)
	c2 := &controller{manifests: c.manifests, Controller: suite.StartController(t, framework.ControllerConfig{
		Source: []string{"--manifests", c.manifests, "--allow-loopback-backends"},
		Dir:    root,
		Args: []string{"--http-port", fmt.Sprint(c.HTTPPort), "--https-port", fmt.Sprint(c.HTTPSPort),
			"--internal-port", fmt.Sprint(c.InternalPort)},
	})}
	c2.HTTPPort, c2.HTTPSPort, c2.InternalPort = c.HTTPPort, c.HTTPSPort, c.InternalPort
	c2.Client = c.Client
	assert.Equal(t, master, c2.nginxMaster(t), "the running master was adopted, not replaced")
	assert.Contains(t, c2.Logs.String(), "adopted the running nginx master")

	// The adopted nginx takes the new controller's edits.
	c2.update(t, "ingress.yaml", ingressYAML("survive", host, route{"/", "Prefix", "web"}, route{"/after", "Exact", "web"}))
	c2.WaitServed(t, host, "/after", "web")
	assert.Equal(t, master, c2.nginxMaster(t))

	steady.requireNoFailures(t, 100)
	t.Logf("controller killed at %s; %d slow requests in flight all finished", killed.Format("15:04:05.000"), inFlight)
}

// TestNginxCrashRestartsFast kills the nginx master once under load: the
// supervisor starts a new one at once, the outage stays under a second,
// the new nginx has its balancer data from its first request (no 503, one
// warning at most), /readyz goes 503 and back to 200 while /healthz stays
// 200, and the restart is counted.
func TestNginxCrashRestartsFast(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web")
	const host = "crashfast.example.com"
	c := startController(t, options{files: map[string]string{
		"web.yaml":     serviceYAML("web", b["web"]),
		"ingress.yaml": ingressYAML("crashfast", host, route{"/", "Prefix", "web"}),
	}})
	c.WaitServed(t, host, "/", "web")
	assert.Equal(t, 0.0, c.MetricSum(t, "portico_nginx_restarts_total", nil))
	assert.Equal(t, 1.0, c.MetricSum(t, "portico_nginx_up", nil))
	old := c.nginxMaster(t)

	steady := startSteadyLoad(t, c, loadTarget{host, "/", "web"})
	status := startStatusRecorder(c.Controller)
	defer status.stop()
	time.Sleep(200 * time.Millisecond)
	killed := time.Now()
	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))
	framework.EventuallyWithin(t, 10*time.Second, func() bool {
		pid, err := readPid(filepath.Join(c.RuntimeDir, "nginx.pid"))
		return err == nil && pid != old && alive(pid)
	}, "a new nginx master")
	framework.EventuallyWithin(t, 10*time.Second, func() bool {
		code, _, err := c.StatusGet("/readyz")
		return err == nil && code == http.StatusOK
	}, "/readyz back to 200")
	time.Sleep(time.Second) // traffic after the restart
	a := steady.analysis()
	status.stop()
	now := time.Now()

	// The supervisor starts the new master at once (retry_in 0); what
	// remains is nginx's own start, 0.1 s on an idle machine and up to
	// 0.4 s on two cores busy with other tests. Before issue 12 one kill
	// cost 250 ms of backoff plus up to a second of 503s without data.
	var outage time.Duration
	if back, ok := a.RecoveredAt(killed); !ok {
		outage = now.Sub(killed)
	} else if !back.IsZero() {
		outage = back.Sub(killed)
	}
	const bound = 1500 * time.Millisecond
	assert.Less(t, outage, bound, "outage after one SIGKILL of the nginx master")
	assert.Contains(t, c.Logs.String(), `"msg":"nginx exited unexpectedly; restarting"`)
	assert.Contains(t, c.Logs.String(), `"retry_in":0,`, "one crash is restarted without waiting")
	unavailable := 0
	for detail, n := range a.Details {
		if strings.Contains(detail, "status 503") {
			unavailable += n
		}
	}
	assert.Zero(t, unavailable, "503 answers: the restarted nginx had no balancer data")
	assert.LessOrEqual(t, c.Logs.Count("in the dynamic configuration yet"), 1, "warnings about missing data")
	down, _, wentDown := status.firstCode("/readyz", http.StatusServiceUnavailable, killed, now)
	_, _, cameBack := status.firstCode("/readyz", http.StatusOK, down, now)
	assert.True(t, wentDown && cameBack, "/readyz did not go 503 and back to 200: %s", status.codes("/readyz", killed))
	_, body, healthFailed := status.firstCode("/healthz", http.StatusServiceUnavailable, killed, now)
	assert.False(t, healthFailed, "/healthz failed during a quick restart: %s", body)
	assert.Equal(t, 1.0, c.MetricSum(t, "portico_nginx_restarts_total", nil))
	assert.Equal(t, 1.0, c.MetricSum(t, "portico_nginx_up", nil))
	t.Logf("nginx master killed: outage %s (bound %s), %d of %d requests failed (%s); /readyz %s",
		outage.Round(time.Millisecond), bound, a.Failed, a.Requests, a.DetailSummary(), status.codes("/readyz", killed))
}

// TestNginxStoppedFailsHealth stops the nginx master with SIGSTOP: it
// still exists (kill -0 succeeds) but neither reloads nor restarts
// workers, so /healthz and /readyz answer 503 and portico_nginx_up is 0;
// SIGCONT brings them back.
func TestNginxStoppedFailsHealth(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web")
	const host = "stopped.example.com"
	c := startController(t, options{files: map[string]string{
		"web.yaml":     serviceYAML("web", b["web"]),
		"ingress.yaml": ingressYAML("stopped", host, route{"/", "Prefix", "web"}),
	}})
	c.WaitServed(t, host, "/", "web")
	master := c.nginxMaster(t)

	require.NoError(t, syscall.Kill(master, syscall.SIGSTOP))
	continued := false
	t.Cleanup(func() {
		if !continued {
			_ = syscall.Kill(master, syscall.SIGCONT) // or the graceful stop would wait for it
		}
	})
	for _, path := range []string{"/healthz", "/readyz"} {
		var body []byte
		framework.EventuallyWithin(t, 10*time.Second, func() bool {
			var code int
			var err error
			code, body, err = c.StatusGet(path)
			return err == nil && code == http.StatusServiceUnavailable
		}, "%s of a stopped nginx", path)
		assert.Contains(t, string(body), "is stopped", path)
	}
	assert.Equal(t, 0.0, c.MetricSum(t, "portico_nginx_up", nil))

	require.NoError(t, syscall.Kill(master, syscall.SIGCONT))
	continued = true
	for _, path := range []string{"/healthz", "/readyz"} {
		framework.EventuallyWithin(t, 10*time.Second, func() bool {
			code, _, err := c.StatusGet(path)
			return err == nil && code == http.StatusOK
		}, "%s after SIGCONT", path)
	}
	assert.Equal(t, 1.0, c.MetricSum(t, "portico_nginx_up", nil))
	assert.Equal(t, master, c.nginxMaster(t), "a stop is not a restart")
	assert.Equal(t, 0.0, c.MetricSum(t, "portico_nginx_restarts_total", nil))
	c.WaitServed(t, host, "/", "web")
}
