//go:build linux

package kube

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/e2e/framework"
)

// Parameters of the endpoint churn test.
const (
	// churnUpdates is how many EndpointSlice updates the test makes: enough
	// to go through every set of one to three endpoints several times, few
	// enough to stay at a few seconds (even at 200ms per update, the
	// hold-off endpoint changes waited before --sync-endpoint-holdoff).
	churnUpdates = 30
	// churnPoll is the pause between two rounds of requests while an
	// update is not served yet; it bounds the latency's resolution.
	churnPoll = 5 * time.Millisecond
	// churnTimeout bounds one update until nginx serves exactly its
	// endpoints. With the Lua balancer that is --sync-endpoint-holdoff
	// (20ms) plus a push; the bound is for a loaded machine.
	churnTimeout = 10 * time.Second
)

// churnReadySets are the sets of ready endpoints (indices into three
// backends) the test goes through, in an order where two neighbours, the
// last and the first included, always differ: every update then changes
// which endpoints serve, which the test can see in the traffic.
var churnReadySets = [][]int{{0}, {0, 1}, {1}, {1, 2}, {0, 1, 2}, {2}, {0, 2}}

// TestEndpointChurnNoReload makes 30 EndpointSlice updates on the real API
// server (scaling between one and three endpoints, and flipping endpoints
// between ready and not ready), waits after each until the traffic through
// nginx reaches exactly the new ready endpoints, and checks that none of
// them reloaded nginx: with the Lua balancer, endpoints are data pushed to
// nginx (docs/balancer.md), and a reload per Pod change is exactly what it
// is there to avoid. It runs with the controller's default flags, so the
// latencies it logs are those of the default --sync-endpoint-holdoff
// (TestBenchEndpointChurn measures them over 1,000 updates).
func TestEndpointChurnNoReload(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	eps := startBackends(t, "churn", 3)
	createService(t, ns, "churn", eps)
	// The Ingress exists before the controller starts, so its first
	// configuration already serves the host: every reload after that one
	// would be one the churn caused.
	const host = "churn.example"
	createIngress(t, ingress(ns, "churn", host, route{path: "/", service: "churn"}))
	c := startController(t, ns)
	c.WaitServed(t, host, "/", "churn")

	// One kept-alive connection: without reloads there is no old worker it
	// could stay on, and it keeps the polling cheap.
	client := framework.NewHTTPClient(c.HTTPPort, true)
	_, err := churnWaitExactly(client, host, lbAddrs(eps), time.Now(), churnTimeout)
	require.NoError(t, err, "before the churn")

	gen := c.Generation(t)
	require.NotZero(t, gen, "the configuration that serves the host was a reload event")
	reloads := c.MetricSum(t, "portico_reloads_total", nil)
	pushes := c.MetricSum(t, "portico_balancer_pushes_total", map[string]string{"result": "success"})
	failedPushes := c.MetricSum(t, "portico_balancer_pushes_total", map[string]string{"result": "failed"})

	w := newChurnWriter(t, ns, "churn")
	latencies := make([]time.Duration, 0, churnUpdates)
	for i := range churnUpdates {
		var ready, unready []Endpoint
		set := churnReadySets[i%len(churnReadySets)]
		for j, ep := range eps {
			switch {
			case slices.Contains(set, j):
				ready = append(ready, ep)
			case i%2 == 0:
				// Listed but not ready, as for a failing readiness probe.
				unready = append(unready, ep)
			default:
				// Gone from the slice, as for a scale-down.
			}
		}
		accepted := w.set(t, ready, unready)
		d, err := churnWaitExactly(client, host, lbAddrs(ready), accepted, churnTimeout)
		require.NoError(t, err, "update %d: ready %v, not ready %v", i+1, lbAddrs(ready), lbAddrs(unready))
		latencies = append(latencies, d)

		// Served exactly the new set once does not mean it stays so: a
		// second round, now that the change is live, must agree.
		seen := lbCollectEndpoints(t, client, host, "/after", 3*len(eps), nil)
		require.ElementsMatch(t, lbAddrs(ready), lbKeys(seen), "update %d: after the change only the ready endpoints answer (%v)", i+1, seen)
	}

	assert.Equal(t, gen, c.Generation(t), "EndpointSlice updates must not reload nginx (newest reload generation)")
	assert.Zero(t, c.MetricSum(t, "portico_reloads_total", nil)-reloads, "reload attempts during %d EndpointSlice updates", churnUpdates)
	pushed := c.MetricSum(t, "portico_balancer_pushes_total", map[string]string{"result": "success"}) - pushes
	// Every update changes which endpoints serve, and the test waits for
	// each before the next, so none can share a push with another.
	assert.GreaterOrEqual(t, pushed, float64(churnUpdates), "successful balancer pushes during %d updates", churnUpdates)
	assert.Zero(t, c.MetricSum(t, "portico_balancer_pushes_total", map[string]string{"result": "failed"})-failedPushes, "failed balancer pushes")

	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	t.Logf("endpoint churn: %d EndpointSlice updates, 0 reloads, %.0f pushes; API update until nginx served exactly the new endpoints: min %s, median %s, max %s (poll %s, default hold-offs)",
		len(sorted), pushed, latencyMS(sorted[0]), latencyMS(latencyPercentile(sorted, 0.5)), latencyMS(sorted[len(sorted)-1]), churnPoll)
	t.Logf("latencies in update order: %s", churnList(latencies))
}

// churnWaitExactly sends rounds of GET requests for host through client
// until one round is answered only by endpoints of want and by each of
// them, and returns how long after since that round ended.
//
// One such round proves the change is live, for a Service whose previous
// set of endpoints was another one: the Lua balancer goes round robin
// through a backend's endpoints, so a round of three times as many
// requests as endpoints reaches every endpoint of the set the worker uses;
// an older set that lacked one of want would miss it, one with another
// endpoint would show it. (The suite runs nginx with one worker.) A status
// other than 200 from a backend is an error at once: the endpoints that
// leave keep running, so nothing should ever fail.
func churnWaitExactly(client *http.Client, host string, want []string, since time.Time, timeout time.Duration) (time.Duration, error) {
	round := 3 * max(len(want), 2)
	var last map[string]int
	for {
		seen := map[string]int{}
		for range round {
			r, err := framework.DoGet(client, "http", host, "/churn")
			if err != nil {
				return 0, fmt.Errorf("GET http://%s/churn: %w", host, err)
			}
			if r.Status != http.StatusOK || r.Endpoint() == "" {
				return 0, fmt.Errorf("GET http://%s/churn: %s", host, r)
			}
			seen[r.Endpoint()]++
		}
		d := time.Since(since)
		if slices.Equal(lbKeys(seen), churnSorted(want)) {
			return d, nil
		}
		last = seen
		if d > timeout {
			return 0, fmt.Errorf("nginx did not serve exactly %v within %s (last round of %d requests: %v)", want, timeout, round, last)
		}
		time.Sleep(churnPoll)
	}
}

// churnWriter updates the EndpointSlice of a Service made by createService.
// It keeps the object each Update returned, so an update is one API call
// (no Get first, which would add its time to the measurement); nothing
// else writes the slice, so its resourceVersion never goes stale.
type churnWriter struct {
	namespace string
	service   string
	cur       *discoveryv1.EndpointSlice
}

func newChurnWriter(t testing.TB, namespace, service string) *churnWriter {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	cur, err := env.client.DiscoveryV1().EndpointSlices(namespace).Get(ctx, service+"-e2e", metav1.GetOptions{})
	require.NoError(t, err)
	return &churnWriter{namespace: namespace, service: service, cur: cur}
}

// set writes ready as ready endpoints and unready as endpoints that are
// neither ready nor serving (a failing readiness probe), and returns the
// moment the API server's answer arrived: the update was accepted then.
func (w *churnWriter) set(t testing.TB, ready, unready []Endpoint) time.Time {
	t.Helper()
	want := endpointSlice(w.namespace, w.service, append(slices.Clone(ready), unready...))
	for i := len(ready); i < len(want.Endpoints); i++ {
		no := false
		want.Endpoints[i].Conditions.Ready = &no
		want.Endpoints[i].Conditions.Serving = &no
	}
	want.ResourceVersion = w.cur.ResourceVersion
	ctx, cancel := apiContext()
	defer cancel()
	out, err := env.client.DiscoveryV1().EndpointSlices(w.namespace).Update(ctx, want, metav1.UpdateOptions{})
	accepted := time.Now()
	require.NoError(t, err, "updating EndpointSlice %s/%s", w.namespace, want.Name)
	w.cur = out
	return accepted
}

// churnSorted is a sorted copy of s.
func churnSorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// churnList formats durations as milliseconds, for a log line.
func churnList(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64)
	}
	return strings.Join(parts, " ") + " (ms)"
}
