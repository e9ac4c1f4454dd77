//go:build linux

package local

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
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

// sample is one request of a load and what it got.
type sample struct {
	at     time.Time
	status int
	served string
	err    error
}

// ok reports whether the request was answered 200 by the service.
func (s sample) ok(service string) bool {
	return s.err == nil && s.status == http.StatusOK && s.served == service
}

// load sends GET host/path through client every interval, at most max
// requests, until stopped; bounded in count and time like every load loop
// of the suite.
type load struct {
	stopOnce sync.Once
	stopped  chan struct{}
	done     chan []sample
	samples  []sample
}

func startLoad(client *http.Client, host, path string, every time.Duration, max int) *load {
	l := &load{stopped: make(chan struct{}), done: make(chan []sample, 1)}
	go func() {
		var out []sample
		tick := time.NewTicker(every)
		defer tick.Stop()
		for range max {
			s := sample{at: time.Now()}
			r, err := framework.DoGet(client, "http", host, path)
			s.status, s.served, s.err = r.Status, r.Served(), err
			out = append(out, s)
			select {
			case <-l.stopped:
				l.done <- out
				return
			case <-tick.C:
			}
		}
		l.done <- out
	}()
	return l
}

// stop ends the load and returns its samples; calling it again returns
// them again.
func (l *load) stop() []sample {
	l.stopOnce.Do(func() {
		close(l.stopped)
		l.samples = <-l.done
	})
	return l.samples
}

// failures lists the requests not answered 200 by service.
func failures(samples []sample, service string) []string {
	var out []string
	for _, s := range samples {
		if s.ok(service) {
			continue
		}
		if s.err != nil {
			out = append(out, fmt.Sprintf("%s: %v", s.at.Format("15:04:05.000"), s.err))
		} else {
			out = append(out, fmt.Sprintf("%s: %d from %q", s.at.Format("15:04:05.000"), s.status, s.served))
		}
	}
	return out
}

// outageAfter is the time from t0 until the first request sent after t0
// that was answered 200 by service after the last one that was not.
func outageAfter(samples []sample, service string, t0 time.Time) time.Duration {
	end := t0
	failed := false
	for _, s := range samples {
		if s.at.Before(t0) {
			continue
		}
		if !s.ok(service) {
			failed = true
			continue
		}
		if failed {
			end = s.at
			failed = false
		}
	}
	if failed {
		return time.Duration(1<<63 - 1) // never recovered
	}
	return end.Sub(t0)
}

// probeLog polls a status path of c as fast as it answers and records each
// answer's code, until stopped.
type probeLog struct {
	mu    sync.Mutex
	codes []int
	stop  chan struct{}
	done  chan struct{}
}

func pollStatus(c *framework.Controller, path string) *probeLog {
	p := &probeLog{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := 0; i < 20000; i++ { // bounded: 20,000 probes at most
			code, _, err := c.StatusGet(path)
			if err != nil {
				code = 0
			}
			p.mu.Lock()
			p.codes = append(p.codes, code)
			p.mu.Unlock()
			select {
			case <-p.stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return p
}

// end stops the polling and returns the codes seen, in order.
func (p *probeLog) end() []int {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.codes
}

// wentDownAndUp reports whether codes hold a 503 followed later by a 200.
func wentDownAndUp(codes []int) bool {
	down := false
	for _, c := range codes {
		if c == http.StatusServiceUnavailable {
			down = true
		} else if down && c == http.StatusOK {
			return true
		}
	}
	return false
}

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
	steady := startLoad(framework.NewHTTPClient(c.HTTPPort, false), host, "/", 20*time.Millisecond, 1500)
	defer steady.stop()
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

	samples := steady.stop()
	assert.Empty(t, failures(samples, "web"), "requests failed while the controller was killed and replaced")
	t.Logf("controller killed at %s; %d requests over %s through the kill, the adoption and a reload, %d failed; %d slow requests in flight all finished",
		killed.Format("15:04:05.000"), len(samples), samples[len(samples)-1].at.Sub(samples[0].at).Round(time.Millisecond),
		len(failures(samples, "web")), inFlight)
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

	steady := startLoad(framework.NewHTTPClient(c.HTTPPort, false), host, "/", 5*time.Millisecond, 2000)
	defer steady.stop()
	ready := pollStatus(c.Controller, "/readyz")
	health := pollStatus(c.Controller, "/healthz")
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
	samples := steady.stop()
	readyCodes, healthCodes := ready.end(), health.end()

	// The supervisor starts the new master at once (retry_in 0); what
	// remains is nginx's own start, 0.1 s on an idle machine and up to
	// 0.4 s on two cores busy with other tests. Before issue 12 one kill
	// cost 250 ms of backoff plus up to a second of 503s without data.
	outage := outageAfter(samples, "web", killed)
	const bound = 1500 * time.Millisecond
	assert.Less(t, outage, bound, "outage after one SIGKILL of the nginx master")
	assert.Contains(t, c.Logs.String(), `"msg":"nginx exited unexpectedly; restarting"`)
	assert.Contains(t, c.Logs.String(), `"retry_in":0,`, "one crash is restarted without waiting")
	var unavailable int
	for _, s := range samples {
		if s.err == nil && s.status == http.StatusServiceUnavailable {
			unavailable++
		}
	}
	assert.Zero(t, unavailable, "503 answers: the restarted nginx had no balancer data")
	assert.LessOrEqual(t, c.Logs.Count("in the dynamic configuration yet"), 1, "warnings about missing data")
	assert.True(t, wentDownAndUp(readyCodes), "/readyz did not go 503 and back to 200: %v", compact(readyCodes))
	assert.NotContains(t, healthCodes, http.StatusServiceUnavailable, "/healthz failed during a quick restart")
	assert.Equal(t, 1.0, c.MetricSum(t, "portico_nginx_restarts_total", nil))
	assert.Equal(t, 1.0, c.MetricSum(t, "portico_nginx_up", nil))
	t.Logf("nginx master killed: outage %s (bound %s), %d of %d requests failed, %d answered 503; /readyz %v",
		outage.Round(time.Millisecond), bound, len(failures(samples, "web")), len(samples), unavailable, compact(readyCodes))
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

// compact runs a sequence of codes together: 200x31 503x4 200x12.
func compact(codes []int) string {
	var b strings.Builder
	for i := 0; i < len(codes); {
		j := i
		for j < len(codes) && codes[j] == codes[i] {
			j++
		}
		fmt.Fprintf(&b, "%dx%d ", codes[i], j-i)
		i = j
	}
	return strings.TrimSpace(b.String())
}
