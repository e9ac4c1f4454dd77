//go:build linux

package kube

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/portico-ingress/portico/e2e/framework"
)

// Parameters of the Ingress latency measurement.
const (
	latencyIngresses = 20
	latencyPoll      = 5 * time.Millisecond
	latencyBound     = framework.RouteTimeout
)

// latencySummaryPrefix starts the summary line hack/measure-ingress-latency.sh greps.
const latencySummaryPrefix = "ingress-latency summary:"

// TestMeasureIngressLatency measures, for 20 Ingresses created one after
// another (each with a new host), the time from the Create call returning
// until nginx serves the host, polling every 5ms. It is a measurement, not
// a test of a bound: it runs only with PORTICO_MEASURE=1 (see
// hack/measure-ingress-latency.sh) and prints min, median, p90 and max.
func TestMeasureIngressLatency(t *testing.T) {
	if os.Getenv("PORTICO_MEASURE") != "1" {
		t.Skip("a measurement: set PORTICO_MEASURE=1 (hack/measure-ingress-latency.sh)")
	}
	ns := newNamespace(t)
	ensureIngressClass(t)
	web := startBackends(t, "web", 1)
	createService(t, ns, "web", web)
	c := startController(t, ns)

	latencies := make([]time.Duration, 0, latencyIngresses)
	for i := range latencyIngresses {
		gen := c.Generation(t)
		host := fmt.Sprintf("m%02d.latency.example", i)
		createIngress(t, ingress(ns, fmt.Sprintf("m%02d", i), host, route{path: "/", service: "web"}))
		d := servedAfter(t, c.Client, host, "web", latencyBound, latencyPoll)
		latencies = append(latencies, d)
		// The next Ingress starts from a settled controller: its reload is
		// recorded (the controller confirms a reload a moment after nginx
		// serves it).
		ev := c.WaitReload(t, gen)
		require.Equal(t, "success", ev.Result)
		t.Logf("%s: served %s after its creation (reload generation %d took %.0fms)", host, latencyMS(d), ev.Generation, ev.DurationMS)
	}

	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	t.Logf("%s n=%d min=%s median=%s p90=%s max=%s (Create returned until nginx served the host; poll %s; --sync-holdoff default 200ms)",
		latencySummaryPrefix, len(sorted), latencyMS(sorted[0]), latencyMS(latencyPercentile(sorted, 0.5)), latencyMS(latencyPercentile(sorted, 0.9)), latencyMS(sorted[len(sorted)-1]), latencyPoll)

	// An observation for the report, not an assertion: how many of the
	// reloads became RELOAD Events on the Pod (client-go's recorder
	// aggregates and rate-limits Events per object).
	reloads := c.Generation(t)
	want := fmt.Sprintf("generation %d ", reloads)
	var events []corev1.Event
	framework.EventuallyWithin(t, eventTimeout, func() bool {
		var err error
		events, err = eventsAbout(deployNamespace, c.opts.PodName, "RELOAD")
		if err != nil {
			return false
		}
		for _, ev := range events {
			if strings.Contains(ev.Message+" ", want) {
				return true
			}
		}
		return false
	}, "the RELOAD Event of generation %d", reloads)
	total := int32(0)
	for _, ev := range events {
		total += max(ev.Count, 1)
	}
	t.Logf("reloads: %d; RELOAD Events on Pod %s/%s: %d object(s), total count %d", reloads, deployNamespace, c.opts.PodName, len(events), total)
}

// latencyPercentile returns the nearest-rank percentile p (0 < p <= 1) of sorted.
func latencyPercentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// servedAfter polls GET http://host/ through client every poll until it
// answers 200 from service and returns the time since servedAfter was
// called (callers call it right after creating the Ingress); past bound it
// fails the test.
func servedAfter(t *testing.T, client *http.Client, host, service string, bound, poll time.Duration) time.Duration {
	t.Helper()
	created := time.Now()
	for {
		last, err := framework.DoGet(client, "http", host, "/")
		if err == nil && last.Status == http.StatusOK && last.Served() == service {
			return time.Since(created)
		}
		if time.Since(created) > bound {
			t.Fatalf("%s not served within %s of its creation (last: %v %v)", host, bound, last, err)
		}
		time.Sleep(poll)
	}
}

func latencyMS(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}
