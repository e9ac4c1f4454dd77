//go:build linux

package kube

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/e2e/framework"
)

// Bounds of the API server restart test.
const (
	// apiDownFor is how long the API server stays stopped before it is
	// started again (its startup then adds a few seconds of outage).
	apiDownFor = 3 * time.Second
	// reconnectTimeout bounds the restarted API server until the
	// controller's watches are open again: client-go's reflectors back off
	// exponentially while the API server is away (up to 30s between tries).
	reconnectTimeout = 60 * time.Second
	// quietWindow is how long the test watches for a reload that must not
	// come after the controller reconnected.
	quietWindow = 2 * time.Second
	// probeInterval is the pace of requests during the outage.
	probeInterval = 20 * time.Millisecond
)

// apiserverWatches returns the number of open WATCH requests for resource
// (plural, e.g. "ingresses") from kube-apiserver's metric
// apiserver_longrunning_requests.
func apiserverWatches(resource string) (int, error) {
	ctx, cancel := apiContext()
	defer cancel()
	raw, err := env.client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_longrunning_requests{") ||
			!strings.Contains(line, `verb="WATCH"`) || !strings.Contains(line, `resource="`+resource+`"`) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, err
		}
		total += int(v)
	}
	return total, sc.Err()
}

// prober sends GET host+path to a controller's nginx every probeInterval
// until stopped, and counts the answers that were not 200 from service.
type prober struct {
	mu       sync.Mutex
	sent, ok int
	bad      []string
	stopCh   chan struct{}
	done     chan struct{}
}

func startProber(c *controller, host, path, service string) *prober {
	p := &prober{stopCh: make(chan struct{}), done: make(chan struct{})}
	client := framework.NewHTTPClient(c.HTTPPort, true)
	go func() {
		defer close(p.done)
		tick := time.NewTicker(probeInterval)
		defer tick.Stop()
		for {
			r, err := framework.DoGet(client, "http", host, path)
			p.mu.Lock()
			p.sent++
			switch {
			case err != nil:
				p.bad = append(p.bad, time.Now().Format("15:04:05.000")+" "+err.Error())
			case r.Status != http.StatusOK || r.Served() != service:
				p.bad = append(p.bad, time.Now().Format("15:04:05.000")+" "+r.String())
			default:
				p.ok++
			}
			p.mu.Unlock()
			select {
			case <-p.stopCh:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// stop ends the probing and returns the counts.
func (p *prober) stop() (sent, ok int, bad []string) {
	close(p.stopCh)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent, p.ok, p.bad
}

// TestAPIServerRestartKeepsRoutes kills kube-apiserver while a controller
// serves an Ingress, and starts it again (same port, certificates and
// etcd): nginx keeps serving every route throughout, the controller
// reconnects by itself, nothing reloads because of the outage or the
// reconnection (the relist brings the same objects), and the next real
// change is served.
//
// Not parallel on purpose: while the API server is down every other test
// would fail. Go runs the non-parallel tests of a package before it resumes
// the parallel ones, and the API server is running again when this test
// returns, also when it fails (t.Cleanup).
func TestAPIServerRestartKeepsRoutes(t *testing.T) {
	ns := newNamespace(t)
	ensureIngressClass(t)
	web := startBackends(t, "web", 2)
	createService(t, ns, "web", web)
	c := startController(t, ns)
	const host = "restart.example"
	before := c.Generation(t)
	createIngress(t, ingress(ns, "web", host, route{path: "/a", service: "web"}))
	// nginx serves a new configuration a moment before the reload is
	// recorded (the controller confirms it first): wait for both.
	c.WaitReload(t, before)
	c.WaitServed(t, host, "/a", "web")
	gen := c.Generation(t)
	// Nothing else is pending: the generation holds still.
	time.Sleep(quietWindow)
	require.Equal(t, gen, c.Generation(t), "a reload happened before the API server was stopped")
	watches, err := apiserverWatches("ingresses")
	require.NoError(t, err)
	t.Logf("generation %d live; open Ingress watches on the API server: %d", gen, watches)

	// Registered after startController's cleanups, so it runs before them:
	// the API server is back before the controller is stopped, and always
	// before the next test.
	t.Cleanup(func() {
		if err := env.restartAPIServer(); err != nil {
			t.Errorf("restarting kube-apiserver in cleanup: %v", err)
		}
	})

	probe := startProber(c, host, "/a", "web")
	stopping := time.Now()
	require.NoError(t, env.stopAPIServer(), "stopping kube-apiserver")
	stopped := time.Now()
	t.Logf("kube-apiserver stopped in %s", stopped.Sub(stopping).Round(time.Millisecond))
	ctx, cancel := apiContext()
	_, err = env.client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{})
	cancel()
	require.Error(t, err, "the API server must be unreachable while stopped")

	// While it is down the controller stays up and healthy.
	time.Sleep(apiDownFor)
	require.True(t, c.Process.Alive(), "the controller must survive the API server's outage:\n%s", c.Process.LogTail(30))
	healthz, _, herr := c.StatusGet("/healthz")
	readyz, _, rerr := c.StatusGet("/readyz")
	t.Logf("during the outage: /healthz %d %v, /readyz %d %v", healthz, herr, readyz, rerr)
	assert.Equal(t, http.StatusOK, healthz, "/healthz during the API server's outage")

	require.NoError(t, env.restartAPIServer(), "restarting kube-apiserver")
	back := time.Now()
	t.Logf("kube-apiserver down for %s (stopped until ready again)", back.Sub(stopped).Round(time.Millisecond))

	// The controller reconnects: its watches are open again. (The API
	// server watches Services, EndpointSlices and IngressClasses itself;
	// Ingresses and Secrets only the controller does.)
	var open map[string]int
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		open = map[string]int{}
		for _, res := range []string{"ingresses", "ingressclasses", "services", "endpointslices", "secrets"} {
			n, err := apiserverWatches(res)
			require.NoError(ct, err)
			open[res] = n
			assert.Positive(ct, n, "open WATCH requests for %s", res)
		}
	}, reconnectTimeout, 100*time.Millisecond, "the controller's watches are not open again (%v)", open)
	reconnected := time.Now()
	t.Logf("API server ready until the controller's watches were open again: %s (%v)", reconnected.Sub(back).Round(time.Millisecond), open)

	// The relist after the reconnection brings the same objects: no reload.
	time.Sleep(quietWindow)
	sent, ok, bad := probe.stop()
	t.Logf("requests while the API server was away and after it came back: %d sent, %d served by web", sent, ok)
	assert.Empty(t, bad, "every request must be served while the API server is down and after it is back")
	assert.Positive(t, sent)
	require.True(t, c.Process.Alive(), "controller exited: %v", c.Process.Err())
	assert.Equal(t, gen, c.Generation(t), "no reload during the outage or after the reconnection")

	// A change after the reconnection is served.
	changed := time.Now()
	updateIngress(t, ns, "web", func(ing *networkingv1.Ingress) {
		pt := networkingv1.PathTypePrefix
		paths := &ing.Spec.Rules[0].HTTP.Paths
		*paths = append(*paths, networkingv1.HTTPIngressPath{
			Path: "/b", PathType: &pt,
			Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: "web", Port: networkingv1.ServiceBackendPort{Number: servicePort},
			}},
		})
	})
	var last framework.Response
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r, err := c.Request(host, "/b")
		require.NoError(ct, err)
		last = r
		assert.Equal(ct, http.StatusOK, r.Status)
		assert.Equal(ct, "web", r.Served())
	}, reconnectTimeout, framework.PollInterval, "the new path /b after the reconnection: last %s", last)
	t.Logf("Ingress updated after the reconnection until nginx served the new path: %s", time.Since(changed).Round(time.Millisecond))
	c.WaitServed(t, host, "/a", "web")

	// Exactly one reload: the change's.
	ev := c.WaitReload(t, gen)
	assert.Equal(t, gen+1, ev.Generation, "the change is the only reload since generation %d", gen)
	assert.Equal(t, "success", ev.Result)
	assert.Contains(t, ev.Changes.Changed, host)
}
