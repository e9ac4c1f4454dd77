//go:build linux

package kube

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// Parameters of the endpoint churn benchmark (docs/benchmarks.md).
const (
	// churnBenchUpdates is the default number of EndpointSlice updates per
	// setting; PORTICO_BENCH_CHURN_UPDATES overrides it for a quick look.
	churnBenchUpdates = 1000
	// churnBenchPool is how many echo servers each setting starts; the
	// slice holds churnBenchWindow of them at a time and each update
	// slides the window by one, so every update brings in an endpoint that
	// was not in the slice before (8 > 3 + 1 also keeps the one that just
	// left, listed as not ready, out of the next window).
	churnBenchPool   = 8
	churnBenchWindow = 3
	// churnBenchPoll is the pause between two rounds of requests while an
	// update is not served yet; with a round of three requests on a
	// kept-alive connection (about a millisecond) it bounds the
	// measurement's resolution to a few milliseconds.
	churnBenchPoll = 2 * time.Millisecond
	// churnBenchBound bounds one update until nginx serves the new
	// endpoint; past it the benchmark fails rather than waits.
	churnBenchBound = 10 * time.Second
	// churnBenchFullUpdates caps the updates of the 200ms setting: each
	// takes the hold-off and little else, so 200 give a steady median and
	// p99 in 45 s where 1,000 would take 3.5 minutes.
	churnBenchFullUpdates = 200
	// churnBenchBudget bounds the whole benchmark, every setting included
	// (about 2.5 minutes on 2 cores), well inside the -timeout 20m of the
	// documented command.
	churnBenchBudget = 12 * time.Minute
)

// churnBenchSetting is one controller configuration the benchmark measures.
type churnBenchSetting struct {
	// name is the subtest's name.
	name string
	// prefix starts this setting's keys in the BENCH line; "" for the
	// controller's defaults, whose figures are the row's main ones.
	prefix string
	// flag and value describe the setting in the BENCH line.
	flag, value string
	// args are the controller flags.
	args []string
	// maxUpdates caps the number of updates for this setting; 0: none.
	maxUpdates int
}

// churnBenchSettings: the defaults (EndpointSlice-only changes wait
// --sync-endpoint-holdoff, 20ms); the small hold-off for every change
// (--sync-holdoff 10ms, the alternative for controllers without an
// endpoint hold-off); and endpoint changes waiting the full 200ms hold-off,
// which is how every change waited before --sync-endpoint-holdoff existed.
var churnBenchSettings = []churnBenchSetting{
	{name: "defaults", prefix: "", flag: "endpoint_holdoff"},
	{name: "small-holdoff", prefix: "small_", flag: "holdoff", value: "10ms",
		args: []string{"--sync-holdoff", "10ms", "--sync-max-holdoff", "100ms"}},
	{name: "full-holdoff", prefix: "full_", flag: "endpoint_holdoff", value: "200ms",
		args: []string{"--sync-endpoint-holdoff", "200ms"}, maxUpdates: churnBenchFullUpdates},
}

// churnBenchResult is what one setting measured.
type churnBenchResult struct {
	updates   int
	latencies []time.Duration // update accepted until the new endpoint answered, sorted
	api       []time.Duration // the Update call itself, sorted
	reloads   float64         // reload attempts (portico_reloads_total) during the updates
	newGens   uint64          // reload generations during the updates
	pushes    float64         // successful balancer pushes during the updates
	non200    int             // answers other than 200 from a backend while polling
	took      time.Duration
}

// TestBenchEndpointChurn measures endpoint churn on the real API server:
// for each setting of churnBenchSettings, 1,000 EndpointSlice updates, each
// of which replaces one of the Service's three endpoints with one that was
// not there (every other update leaves the outgoing endpoint listed as not
// ready instead of removing it). For each update it takes the time from the
// API server's answer to the Update until a request through nginx (over
// loopback, with the Host header, on a kept-alive connection, polled every
// 2ms) is answered by the new endpoint, and it counts nginx reloads, which
// must be 0: with the Lua balancer endpoints are pushed, never reloaded.
// The answer to the Update is the first moment the test knows the update
// was accepted; the API server sends the watch event to the controller at
// about the same time, so on a loaded machine, where the answer can reach
// the test late, a few updates measure less than the hold-off.
//
// The settings run one after another; the 200ms one makes at most
// churnBenchFullUpdates updates (its figures then carry full_updates).
//
// It is a measurement, not a test of a goal: it runs only with
// PORTICO_BENCH=1 (make bench) and prints one line that hack/bench/report
// reads, the defaults' figures first, then each other setting's with its
// prefix:
//
//	BENCH churn updates=1000 endpoint_holdoff=20ms reloads=0 median_ms=... p99_ms=... small_median_ms=... full_median_ms=...
func TestBenchEndpointChurn(t *testing.T) {
	updates := benchSize(t, "PORTICO_BENCH_CHURN_UPDATES", churnBenchUpdates)
	requireEnv(t)
	ensureIngressClass(t)
	deadline := time.Now().Add(churnBenchBudget)

	results := make([]churnBenchResult, len(churnBenchSettings))
	for i, s := range churnBenchSettings {
		n := updates
		if s.maxUpdates > 0 {
			n = min(n, s.maxUpdates)
		}
		if !t.Run(s.name, func(t *testing.T) { results[i] = churnBenchRun(t, s, n, deadline) }) {
			return // no line with figures that are missing
		}
	}

	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
	}
	var line strings.Builder
	fmt.Fprintf(&line, "BENCH churn updates=%d", updates)
	for i, s := range churnBenchSettings {
		r := results[i]
		value := s.value
		if value == "" {
			value = churnFlagDefault("sync-endpoint-holdoff")
		}
		p := s.prefix
		fmt.Fprintf(&line, " %s%s=%s", p, s.flag, value)
		if r.updates != updates {
			fmt.Fprintf(&line, " %supdates=%d", p, r.updates)
		}
		fmt.Fprintf(&line, " %sreloads=%.0f %smedian_ms=%s", p, r.reloads, p, ms(latencyPercentile(r.latencies, 0.5)))
		if p == "" {
			fmt.Fprintf(&line, " p90_ms=%s", ms(latencyPercentile(r.latencies, 0.9)))
		}
		fmt.Fprintf(&line, " %sp99_ms=%s %smax_ms=%s", p, ms(latencyPercentile(r.latencies, 0.99)), p, ms(r.latencies[len(r.latencies)-1]))
		if p == "" {
			fmt.Fprintf(&line, " min_ms=%s api_median_ms=%s pushes=%.0f non200=%d poll_ms=%d endpoints=%d",
				ms(r.latencies[0]), ms(latencyPercentile(r.api, 0.5)), r.pushes, r.non200, churnBenchPoll.Milliseconds(), churnBenchWindow)
		}
	}
	t.Log(line.String())

	// Printed first, checked after: a reload is a bug the line must show.
	for i, s := range churnBenchSettings {
		assert.Zero(t, results[i].reloads, "%s: reload attempts during %d EndpointSlice updates", s.name, results[i].updates)
		assert.Zero(t, results[i].newGens, "%s: new reload generations during %d EndpointSlice updates", s.name, results[i].updates)
		assert.Zero(t, results[i].non200, "%s: answers other than 200 while the endpoints churned", s.name)
	}
}

// churnBenchRun measures one setting: its own namespace, backends, Service,
// Ingress and controller, all gone when it returns.
func churnBenchRun(t *testing.T, s churnBenchSetting, updates int, deadline time.Time) churnBenchResult {
	ns := newNamespace(t)
	pool := startBackends(t, "churn", churnBenchPool)
	createService(t, ns, "churn", pool[:churnBenchWindow])
	// Created before the controller starts: its first configuration serves
	// the host, and no reload is due once the churn begins.
	const host = "churn.bench.example"
	createIngress(t, ingress(ns, "churn", host, route{path: "/", service: "churn"}))
	c := startController(t, ns, s.args...)
	client := framework.NewHTTPClient(c.HTTPPort, true)
	_, err := churnWaitExactly(client, host, lbAddrs(pool[:churnBenchWindow]), time.Now(), framework.RouteTimeout)
	require.NoError(t, err, "before the churn")

	gen := c.Generation(t)
	reloads := c.MetricSum(t, "portico_reloads_total", nil)
	pushes := c.MetricSum(t, "portico_balancer_pushes_total", map[string]string{"result": "success"})
	w := newChurnWriter(t, ns, "churn")
	r := churnBenchResult{updates: updates}
	started := time.Now()
	for i := 1; i <= updates; i++ {
		window := make([]Endpoint, churnBenchWindow)
		for j := range window {
			window[j] = pool[(i+j)%len(pool)]
		}
		var unready []Endpoint
		if i%2 == 1 {
			// The outgoing endpoint stays listed, not ready, as for a Pod
			// whose readiness probe fails; the next update drops it.
			unready = []Endpoint{pool[(i-1)%len(pool)]}
		}
		newest := window[len(window)-1].Addr()
		before := time.Now()
		accepted := w.set(t, window, unready)
		r.api = append(r.api, accepted.Sub(before))
		d, bad, err := churnBenchWaitFor(client, host, newest, len(window), accepted)
		r.non200 += bad
		require.NoError(t, err, "update %d: %s added", i, newest)
		r.latencies = append(r.latencies, d)
		if i%100 == 0 {
			t.Logf("%d updates in %s; update %d: %s answered %s after the API server accepted it",
				i, time.Since(started).Round(time.Millisecond), i, newest, latencyMS(d))
		}
		if time.Now().After(deadline) {
			t.Fatalf("the benchmark's budget of %s is spent after %d updates of %s", churnBenchBudget, i, s.name)
		}
	}
	r.took = time.Since(started)
	r.reloads = c.MetricSum(t, "portico_reloads_total", nil) - reloads
	r.newGens = c.Generation(t) - gen
	r.pushes = c.MetricSum(t, "portico_balancer_pushes_total", map[string]string{"result": "success"}) - pushes

	slices.Sort(r.latencies)
	slices.Sort(r.api)
	t.Logf("%s %v: %d updates in %s; accepted until the new endpoint answered: min %s, median %s, p90 %s, p99 %s, max %s; "+
		"Update call median %s; %.0f reloads, %.0f pushes, %d answers other than 200",
		s.name, s.args, updates, r.took.Round(time.Millisecond), latencyMS(r.latencies[0]),
		latencyMS(latencyPercentile(r.latencies, 0.5)), latencyMS(latencyPercentile(r.latencies, 0.9)),
		latencyMS(latencyPercentile(r.latencies, 0.99)), latencyMS(r.latencies[len(r.latencies)-1]),
		latencyMS(latencyPercentile(r.api, 0.5)), r.reloads, r.pushes, r.non200)
	return r
}

// churnBenchWaitFor polls nginx for host until newest answers, and returns
// how long after since it did and how many answers were not a backend's
// 200. Each round sends n requests, n being the number of ready endpoints:
// the Lua balancer's round robin reaches each of them once in n requests,
// so a round cannot miss the new endpoint once nginx has it.
func churnBenchWaitFor(client *http.Client, host, newest string, n int, since time.Time) (time.Duration, int, error) {
	bad := 0
	for {
		for range n {
			r, err := framework.DoGet(client, "http", host, "/churn")
			if err != nil {
				return 0, bad, fmt.Errorf("GET http://%s/churn: %w", host, err)
			}
			if r.Status != http.StatusOK || r.Endpoint() == "" {
				bad++
				continue
			}
			if r.Endpoint() == newest {
				return time.Since(since), bad, nil
			}
		}
		if time.Since(since) > churnBenchBound {
			return 0, bad, fmt.Errorf("%s not answering within %s", newest, churnBenchBound)
		}
		time.Sleep(churnBenchPoll)
	}
}

// churnFlagDefaultRE finds a flag's default in `portico controller --help`.
var churnFlagDefaultRE = regexp.MustCompile(`(?m)^\s*--(\S+) duration\s.*\(default (\S+)\)$`)

// churnFlagDefault is the default of a duration flag of the controller as
// its --help prints it, so the BENCH line says what "the defaults" were
// for the binary measured; "default" when the help does not say.
func churnFlagDefault(flag string) string {
	for _, m := range churnFlagDefaultRE.FindAllStringSubmatch(env.porticoHelp, -1) {
		if m[1] == flag {
			return m[2]
		}
	}
	return "default"
}
