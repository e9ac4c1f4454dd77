//go:build linux

package kube

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/portico-ingress/portico/e2e/framework"
)

// upstreamBlocks runs the controller as for an nginx without Lua: these
// tests read endpoints from the live nginx.conf and count a reload per
// endpoint change. The Lua balancer's side (pushed endpoints, no reloads) is
// churn_test.go's and e2e/local's.
var upstreamBlocks = []string{"--balancer", "upstreams"}

// TestLoadBalanceReachesEveryEndpoint gives a Service ten endpoints and
// checks that a bounded number of requests through nginx reaches each of
// them, and nothing else.
func TestLoadBalanceReachesEveryEndpoint(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	const n = 10
	eps := startBackends(t, "spread", n)
	createService(t, ns, "spread", eps)
	c := startController(t, ns, upstreamBlocks...)

	const host = "lb.example"
	createIngress(t, ingress(ns, "lb", host, route{path: "/", service: "spread"}))
	c.WaitServed(t, host, "/", "spread")
	lbWaitConfig(t, c, 0, func(conf string) bool {
		return strings.Contains(conf, lbServerName(host)) && lbContainsAll(conf, lbAddrs(eps)...)
	}, "the Ingress with ten endpoints")

	// Round robin over ten servers needs ten requests; 400 is the bound
	// whatever the balancing does, and the loop stops when all were seen.
	const maxRequests = 400
	seen := lbCollectEndpoints(t, c.Client, host, "/spread", maxRequests, func(seen map[string]int) bool {
		return len(seen) == n
	})
	want := lbAddrs(eps)
	for _, a := range want {
		assert.Contains(t, seen, a, "endpoint %s got no request in at most %d requests (seen %v)", a, maxRequests, seen)
	}
	assert.ElementsMatch(t, want, lbKeys(seen), "only the Service's endpoints answer")
	t.Logf("requests per endpoint until all %d were seen: %v", n, seen)

	// Over fresh connections too (each connection starts anew at the
	// worker, so balancing must not depend on the client's connection).
	fresh := framework.NewHTTPClient(c.HTTPPort, false)
	seen = lbCollectEndpoints(t, fresh, host, "/spread", maxRequests, func(seen map[string]int) bool {
		return len(seen) == n
	})
	assert.ElementsMatch(t, want, lbKeys(seen), "new connections reach every endpoint too")

	// No endpoint is starved: over 200 requests each gets at least a
	// quarter of its fair share (round robin gives each exactly 20).
	const total = 200
	seen = lbCollectEndpoints(t, fresh, host, "/spread", total, nil)
	for _, a := range want {
		assert.GreaterOrEqual(t, seen[a], total/n/4, "requests to %s out of %d (all: %v)", a, total, seen)
	}
	assert.ElementsMatch(t, want, lbKeys(seen))
}

// ---- helpers shared by loadbalance, lifecycle and configmap tests -----------

// lbCollectEndpoints sends up to limit GET requests for host+path and counts
// which endpoint answered each, until done says so. A transport error or a
// status other than 200 fails the test: every request here must be served.
func lbCollectEndpoints(t testing.TB, client *http.Client, host, path string, limit int, done func(map[string]int) bool) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for i := range limit {
		r, err := framework.DoGet(client, "http", host, path)
		require.NoError(t, err, "request %d: GET http://%s%s", i+1, host, path)
		require.Equal(t, http.StatusOK, r.Status, "request %d: GET http://%s%s: %s", i+1, host, path, r)
		require.NotEmpty(t, r.Endpoint(), "request %d: %s", i+1, r)
		seen[r.Endpoint()]++
		if done != nil && done(seen) {
			break
		}
	}
	return seen
}

// lbAddrs lists the IP:port of each endpoint.
func lbAddrs(eps []Endpoint) []string {
	out := make([]string, len(eps))
	for i, ep := range eps {
		out[i] = ep.Addr()
	}
	return out
}

// lbKeys is the sorted keys of a count map.
func lbKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lbWaitConfig waits until the live configuration (/debug/config) is
// newer than generation after and satisfies cond, and returns it with the
// reload event that made it live.
//
// This, not a first answer with the new routing, is what "the change is
// live" means: on SIGHUP the nginx master starts new workers and lets the
// old ones accept for another 100ms, so one answer from a new worker does
// not mean the next connection gets one. /debug/config changes only once
// the controller verified the reload, past that window.
func lbWaitConfig(t testing.TB, c *controller, after uint64, cond func(conf string) bool, what string) (string, framework.ReloadEvent) {
	t.Helper()
	var conf string
	var gen uint64
	framework.Eventually(t, func() bool {
		code, body, err := c.StatusGet("/debug/config")
		if err != nil || code != http.StatusOK {
			return false
		}
		conf = string(body)
		gen = lbConfigGeneration(conf)
		return gen > after && cond(conf)
	}, "the live configuration (generation %d, after %d) shows %s", lbRef(&gen), after, what)
	var ev framework.ReloadEvent
	// The event is recorded right after the live configuration is set.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		events, err := c.TryReloads()
		require.NoError(ct, err)
		for _, e := range events {
			if e.Generation == gen {
				ev = e
				return
			}
		}
		assert.Fail(ct, "no reload event", "for generation %d", gen)
	}, framework.ReloadTimeout, framework.PollInterval)
	require.Equal(t, "success", ev.Result, "reload event of the live generation %d: %+v", gen, ev)
	return conf, ev
}

// lbLiveGeneration is the generation of the live configuration.
func lbLiveGeneration(t testing.TB, c *controller) uint64 {
	t.Helper()
	return lbConfigGeneration(lbDebugConfig(t, c))
}

// lbConfigGeneration reads the "# generation N" line of a rendered nginx.conf.
func lbConfigGeneration(conf string) uint64 {
	for line := range strings.Lines(conf) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "# generation "); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return 0
}

// lbRef prints the value behind p when the message is formatted.
func lbRef[T any](p *T) fmt.Stringer { return lbStringer(func() string { return fmt.Sprint(*p) }) }

// lbServerName is the server_name line of host in a rendered nginx.conf.
func lbServerName(host string) string { return fmt.Sprintf("server_name %q;", host) }

// lbContainsAll reports whether s contains every one of subs.
func lbContainsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// lbContainsNone reports whether s contains none of subs.
func lbContainsNone(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// lbDebugConfig returns the live nginx.conf from /debug/config.
func lbDebugConfig(t testing.TB, c *controller) string {
	t.Helper()
	return string(c.MustStatusGet(t, "/debug/config"))
}

// lbEvents lists the Events about the object kind/name in namespace.
func lbEvents(t testing.TB, namespace, kind, name string) []corev1.Event {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	sel := fields.Set{"involvedObject.name": name, "involvedObject.kind": kind}.AsSelector().String()
	list, err := env.client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: sel})
	require.NoError(t, err, "listing Events of %s %s/%s", kind, namespace, name)
	return list.Items
}

// lbWaitEvent waits for an Event of type typ and reason on the object
// kind/name whose message contains every string of contains, and returns it.
func lbWaitEvent(t testing.TB, namespace, kind, name, typ, reason string, contains ...string) corev1.Event {
	t.Helper()
	var found corev1.Event
	var last []corev1.Event
	ok := false
	framework.Eventually(t, func() bool {
		last = lbEvents(t, namespace, kind, name)
		for _, ev := range last {
			if ev.Type != typ || ev.Reason != reason {
				continue
			}
			all := true
			for _, s := range contains {
				all = all && strings.Contains(ev.Message, s)
			}
			if all {
				found, ok = ev, true
				return true
			}
		}
		return false
	}, "a %s Event %s on %s %s/%s mentioning %q (Events: %s)", typ, reason, kind, namespace, name, contains, lbEventsString(&last))
	require.True(t, ok)
	return found
}

// lbEventsString formats Events for a failure message; it takes a pointer
// so a message built before the wait shows the Events of the last poll.
func lbEventsString(events *[]corev1.Event) fmt.Stringer {
	return lbStringer(func() string {
		var b strings.Builder
		for _, ev := range *events {
			fmt.Fprintf(&b, "\n  %s %s: %s", ev.Type, ev.Reason, ev.Message)
		}
		if b.Len() == 0 {
			return "none"
		}
		return b.String()
	})
}

type lbStringer func() string

func (f lbStringer) String() string { return f() }

// lbPost sends POST path with the given Host header and body to nginx's
// HTTP port over a fresh connection.
func lbPost(c *controller, host, path string, body []byte) (framework.Response, error) {
	req, err := http.NewRequest(http.MethodPost, "http://placeholder.invalid"+path, bytes.NewReader(body))
	if err != nil {
		return framework.Response{}, err
	}
	req.Host = host
	req.Header.Set("Content-Type", "application/octet-stream")
	return framework.Do(framework.NewHTTPClient(c.HTTPPort, false), req)
}
