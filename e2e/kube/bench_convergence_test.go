//go:build linux

package kube

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/portico-ingress/portico/e2e/framework"
)

// Parameters of the convergence benchmark (docs/benchmarks.md, make bench).
const (
	// convergenceIngresses is how many Ingresses exist before the tries.
	convergenceIngresses = 1000
	// convergenceTries is the default number of timed Ingress creations;
	// PORTICO_BENCH_TRIES overrides it. 100 makes p99 the 99th of 100
	// values rather than the maximum.
	convergenceTries = 100
	// convergenceWorkers is how many API calls run at once while the
	// Ingresses are created: enough to finish in seconds, few enough not to
	// starve the API server on two cores.
	convergenceWorkers = 8
	// convergencePoll is the pause between two requests to nginx while a
	// try waits; it bounds the measurement's resolution.
	convergencePoll = 5 * time.Millisecond
)

// TestBenchConvergence measures how long a new Ingress takes, from the
// Create call returning until nginx answers its host with 200 from the
// backend, with 1,000 Ingresses (each with its own Service and
// EndpointSlice) already served. It creates the 1,000 objects, starts the
// controller, checks that every host is served, then creates one Ingress
// for a new host at a time and polls nginx over fresh loopback connections
// (a kept-alive connection could stay on an old worker). Between tries it
// waits for the controller to record the reload, so each try starts from a
// settled controller.
//
// It is a measurement, not a test of a goal: it runs only with
// PORTICO_BENCH=1 (make bench) and prints one line that hack/bench/report
// reads:
//
//	BENCH convergence ingresses=1000 tries=100 median_ms=... p90_ms=... p99_ms=... max_ms=...
func TestBenchConvergence(t *testing.T) {
	tries := benchSize(t, "PORTICO_BENCH_TRIES", convergenceTries)
	ns := newNamespace(t)
	ensureIngressClass(t)
	// Three endpoints, shared by every Service: what matters here is the
	// number of Ingresses, Services and EndpointSlices the controller
	// handles, and the network namespace has addresses for about 240
	// backends in all.
	web := startBackends(t, "web", 3)

	started := time.Now()
	convergenceCreateApps(t, ns, convergenceIngresses, web)
	t.Logf("created %d Ingresses, Services and EndpointSlices in %s", convergenceIngresses, time.Since(started).Round(time.Millisecond))

	c := startController(t, ns)
	started = time.Now()
	client := framework.NewHTTPClient(c.HTTPPort, false)
	for i := range convergenceIngresses {
		host := convergenceHost(i)
		framework.EventuallyWithin(t, framework.RouteTimeout, func() bool {
			r, err := framework.DoGet(client, "http", host, "/")
			return err == nil && r.Status == http.StatusOK && r.Served() == "web"
		}, "%s served by web", host)
	}
	t.Logf("controller ready in %s; all %d hosts served %s later", c.ReadyIn.Round(time.Millisecond),
		convergenceIngresses, time.Since(started).Round(time.Millisecond))

	latencies := make([]time.Duration, 0, tries)
	reloads := make([]time.Duration, 0, tries)
	for i := range tries {
		gen := c.Generation(t)
		host := fmt.Sprintf("try-%03d.convergence.example", i)
		service := convergenceName(i % convergenceIngresses)
		ing := ingress(ns, fmt.Sprintf("try-%03d", i), host, route{path: "/", service: service})
		createIngress(t, ing)
		d := servedAfter(t, client, host, "web", framework.RouteTimeout, convergencePoll)
		latencies = append(latencies, d)
		ev := c.WaitReload(t, gen)
		require.Equal(t, "success", ev.Result, "reload of try %d: %s", i, ev.Message)
		reloads = append(reloads, time.Duration(ev.DurationMS*float64(time.Millisecond)))
		if i%10 == 0 {
			t.Logf("try %d: %s served %s after its creation (reload %.0fms)", i, host, latencyMS(d), ev.DurationMS)
		}
	}

	slices.Sort(latencies)
	slices.Sort(reloads)
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
	}
	t.Logf("BENCH convergence ingresses=%d tries=%d poll_ms=%d min_ms=%s median_ms=%s p90_ms=%s p99_ms=%s max_ms=%s reload_median_ms=%s",
		convergenceIngresses, len(latencies), convergencePoll.Milliseconds(), ms(latencies[0]),
		ms(latencyPercentile(latencies, 0.5)), ms(latencyPercentile(latencies, 0.9)),
		ms(latencyPercentile(latencies, 0.99)), ms(latencies[len(latencies)-1]),
		ms(latencyPercentile(reloads, 0.5)))
}

// convergenceName is the name of the i-th Ingress, Service and EndpointSlice.
func convergenceName(i int) string { return fmt.Sprintf("app-%04d", i) }

// convergenceHost is the host of the i-th Ingress.
func convergenceHost(i int) string { return convergenceName(i) + ".convergence.example" }

// convergenceCreateApps creates n Services, each with an EndpointSlice
// listing eps, and n Ingresses, one per Service, with a Prefix and an
// Exact path like fixture.Synthetic's. convergenceWorkers calls run at a
// time through a client allowed to go faster than the suite's (100 QPS
// would take 30 s for 3,000 objects).
func convergenceCreateApps(t *testing.T, namespace string, n int, eps []Endpoint) {
	t.Helper()
	cfg := rest.CopyConfig(env.config)
	cfg.QPS, cfg.Burst = 1000, 1000
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)

	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range convergenceWorkers {
		wg.Go(func() {
			for i := range jobs {
				if err := convergenceCreateApp(client, namespace, i, eps); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	// Goroutines cannot fail the test themselves (FailNow must run on the
	// test's goroutine), so their errors are reported here.
	require.NoError(t, errors.Join(errs...))
}

// convergenceCreateApp creates the i-th Service, EndpointSlice and Ingress.
func convergenceCreateApp(client kubernetes.Interface, namespace string, i int, eps []Endpoint) error {
	ctx, cancel := apiContext()
	defer cancel()
	name := convergenceName(i)
	if _, err := client.CoreV1().Services(namespace).Create(ctx, serviceObject(namespace, name), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating Service %s: %w", name, err)
	}
	if _, err := client.DiscoveryV1().EndpointSlices(namespace).Create(ctx, endpointSlice(namespace, name, eps), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating EndpointSlice of %s: %w", name, err)
	}
	ing := ingress(namespace, name, convergenceHost(i),
		route{path: "/", service: name},
		route{path: "/api/v1/status", pathType: networkingv1.PathTypeExact, service: name})
	if _, err := client.NetworkingV1().Ingresses(namespace).Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating Ingress %s: %w", name, err)
	}
	return nil
}

// benchSize skips a benchmark unless PORTICO_BENCH=1 (make bench), and
// returns the size the environment variable env sets, or def.
func benchSize(t *testing.T, env string, def int) int {
	t.Helper()
	if os.Getenv("PORTICO_BENCH") != "1" {
		t.Skip("a benchmark: set PORTICO_BENCH=1 (make bench)")
	}
	s := os.Getenv(env)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	require.NoError(t, err, env)
	require.Positive(t, n, env)
	return n
}
