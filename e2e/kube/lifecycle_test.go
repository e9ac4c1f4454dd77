//go:build linux

package kube

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/e2e/framework"
)

// lbAfterChange is how many requests are sent once a change is live to
// check that only the remaining endpoints answer.
const lbAfterChange = 60

// lbUpstream is the upstream block header of a Service's port 80 in a
// rendered nginx.conf.
func lbUpstream(namespace, service string) string {
	return fmt.Sprintf("upstream %q {", fmt.Sprintf("%s.%s.%d", namespace, service, servicePort))
}

// TestLifecycleScaleUpAndDown scales a Service from one endpoint to three
// (the new ones get traffic) and back to one (the removed ones, still
// running, get none once the reload is live).
func TestLifecycleScaleUpAndDown(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	eps := startBackends(t, "scale", 3)
	createService(t, ns, "scale", eps[:1])
	c := startController(t, ns, upstreamBlocks...)

	const host = "scale.example"
	createIngress(t, ingress(ns, "scale", host, route{path: "/", service: "scale"}))
	c.WaitServed(t, host, "/", "scale")
	lbWaitConfig(t, c, 0, func(conf string) bool { return strings.Contains(conf, lbServerName(host)) }, "the Ingress")
	seen := lbCollectEndpoints(t, framework.NewHTTPClient(c.HTTPPort, false), host, "/one", 20, nil)
	assert.Equal(t, []string{eps[0].Addr()}, lbKeys(seen), "one endpoint: only it answers")

	// Up: 1 -> 3.
	gen := lbLiveGeneration(t, c)
	setEndpoints(t, ns, "scale", eps)
	_, ev := lbWaitConfig(t, c, gen, func(conf string) bool {
		return lbContainsAll(conf, lbAddrs(eps)...)
	}, "three endpoints")
	t.Logf("scale up: reload generation %d in %.0fms, changes %+v", ev.Generation, ev.DurationMS, ev.Changes)
	seen = lbCollectEndpoints(t, framework.NewHTTPClient(c.HTTPPort, false), host, "/up", 300, func(seen map[string]int) bool {
		return len(seen) == len(eps)
	})
	assert.ElementsMatch(t, lbAddrs(eps), lbKeys(seen), "after scaling up every endpoint answers")

	// Down: 3 -> 1. The removed echo servers keep running, so a request
	// nginx still sent them would answer and show up here.
	gen = ev.Generation
	setEndpoints(t, ns, "scale", eps[:1])
	_, ev = lbWaitConfig(t, c, gen, func(conf string) bool {
		return strings.Contains(conf, eps[0].Addr()) && lbContainsNone(conf, lbAddrs(eps[1:])...)
	}, "only the first endpoint")
	t.Logf("scale down: reload generation %d in %.0fms, changes %+v", ev.Generation, ev.DurationMS, ev.Changes)
	seen = lbCollectEndpoints(t, framework.NewHTTPClient(c.HTTPPort, false), host, "/down", lbAfterChange, nil)
	assert.Equal(t, map[string]int{eps[0].Addr(): lbAfterChange}, seen,
		"after scaling down only %s answers", eps[0].Addr())
	// A client that kept its connection from before gets the same: old
	// workers close idle keep-alive connections as they drain.
	seen = lbCollectEndpoints(t, c.Client, host, "/down-keepalive", lbAfterChange, nil)
	assert.Equal(t, map[string]int{eps[0].Addr(): lbAfterChange}, seen,
		"after scaling down only %s answers (keep-alive client)", eps[0].Addr())
}

// TestLifecycleEndpointNotReady marks one endpoint not ready
// (conditions.ready=false, as for a failing readiness probe): it stops
// getting requests, gets them again once ready, and none while terminating.
func TestLifecycleEndpointNotReady(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	eps := startBackends(t, "probe", 2)
	createService(t, ns, "probe", eps)
	c := startController(t, ns, upstreamBlocks...)

	const host = "probe.example"
	createIngress(t, ingress(ns, "probe", host, route{path: "/", service: "probe"}))
	c.WaitServed(t, host, "/", "probe")
	_, ev := lbWaitConfig(t, c, 0, func(conf string) bool {
		return strings.Contains(conf, lbServerName(host)) && lbContainsAll(conf, lbAddrs(eps)...)
	}, "the Ingress with both endpoints")
	seen := lbCollectEndpoints(t, framework.NewHTTPClient(c.HTTPPort, false), host, "/", 100, func(seen map[string]int) bool {
		return len(seen) == 2
	})
	require.ElementsMatch(t, lbAddrs(eps), lbKeys(seen), "both endpoints answer while ready")

	onlyFirst := func(conf string) bool {
		return strings.Contains(conf, eps[0].Addr()) && !strings.Contains(conf, eps[1].Addr())
	}
	both := func(conf string) bool { return lbContainsAll(conf, lbAddrs(eps)...) }

	lbSetEndpointConditions(t, ns, "probe", eps, map[string]lbConditions{eps[1].IP: {ready: false, serving: false}})
	_, ev = lbWaitConfig(t, c, ev.Generation, onlyFirst, "the not-ready endpoint removed")
	seen = lbCollectEndpoints(t, framework.NewHTTPClient(c.HTTPPort, false), host, "/", lbAfterChange, nil)
	assert.Equal(t, map[string]int{eps[0].Addr(): lbAfterChange}, seen, "the not-ready endpoint %s gets no requests", eps[1].Addr())

	// Ready again: it gets requests again.
	setEndpoints(t, ns, "probe", eps)
	_, ev = lbWaitConfig(t, c, ev.Generation, both, "both endpoints again")
	seen = lbCollectEndpoints(t, framework.NewHTTPClient(c.HTTPPort, false), host, "/", 100, func(seen map[string]int) bool {
		return len(seen) == 2
	})
	assert.ElementsMatch(t, lbAddrs(eps), lbKeys(seen), "both endpoints answer once ready again")

	// Terminating while it drains (ready may still be true then): no new
	// requests either.
	lbSetEndpointConditions(t, ns, "probe", eps, map[string]lbConditions{eps[1].IP: {ready: true, serving: true, terminating: true}})
	lbWaitConfig(t, c, ev.Generation, onlyFirst, "the terminating endpoint removed")
	seen = lbCollectEndpoints(t, framework.NewHTTPClient(c.HTTPPort, false), host, "/", lbAfterChange, nil)
	assert.Equal(t, map[string]int{eps[0].Addr(): lbAfterChange}, seen, "the terminating endpoint %s gets no requests", eps[1].Addr())
}

// TestLifecycleNoEndpoints removes every endpoint of a Service: nginx
// answers 503 itself, and serves again when an endpoint comes back.
func TestLifecycleNoEndpoints(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	eps := startBackends(t, "empty", 2)
	other := startBackends(t, "other", 1)
	createService(t, ns, "empty", eps)
	createService(t, ns, "other", other)
	c := startController(t, ns, upstreamBlocks...)

	const host = "empty.example"
	createIngress(t, ingress(ns, "empty", host,
		route{path: "/", service: "empty"},
		route{path: "/other", service: "other"},
	))
	c.WaitServed(t, host, "/", "empty")
	_, ev := lbWaitConfig(t, c, 0, func(conf string) bool {
		return strings.Contains(conf, lbUpstream(ns, "empty"))
	}, "the upstream of Service empty")

	setEndpoints(t, ns, "empty", nil)
	lbWaitConfig(t, c, ev.Generation, func(conf string) bool {
		return !strings.Contains(conf, lbUpstream(ns, "empty")) && strings.Contains(conf, lbUpstream(ns, "other"))
	}, "no upstream for Service empty")
	for range 10 {
		r := c.Get(t, host, "/x")
		assert.Equal(t, http.StatusServiceUnavailable, r.Status, "no endpoints: %s", r)
		assert.Empty(t, r.Served(), "no endpoints: nginx answers itself: %s", r)
	}
	r := c.Get(t, host, "/other")
	assert.Equal(t, http.StatusOK, r.Status, "another Service of the same host is unaffected: %s", r)
	assert.Equal(t, "other", r.Served(), "%s", r)

	setEndpoints(t, ns, "empty", eps[1:])
	r = c.WaitServed(t, host, "/", "empty")
	assert.Equal(t, eps[1].Addr(), r.Endpoint(), "%s", r)
}

// TestLifecycleIngressDeleted deletes one of two Ingresses: its host
// answers 404 from nginx, the other host keeps its routing.
func TestLifecycleIngressDeleted(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	eps := startBackends(t, "web", 1)
	createService(t, ns, "web", eps)
	c := startController(t, ns, upstreamBlocks...)

	const gone, kept = "gone.example", "kept.example"
	createIngress(t, ingress(ns, "gone", gone, route{path: "/", service: "web"}))
	createIngress(t, ingress(ns, "kept", kept, route{path: "/", service: "web"}))
	c.WaitServed(t, gone, "/", "web")
	c.WaitServed(t, kept, "/", "web")
	_, ev := lbWaitConfig(t, c, 0, func(conf string) bool {
		return lbContainsAll(conf, lbServerName(gone), lbServerName(kept))
	}, "both Ingresses")

	deleteIngress(t, ns, "gone")
	_, ev = lbWaitConfig(t, c, ev.Generation, func(conf string) bool {
		return !strings.Contains(conf, lbServerName(gone)) && strings.Contains(conf, lbServerName(kept))
	}, "no server for the deleted Ingress")
	assert.Contains(t, ev.Changes.Removed, gone, "the reload event names the removed server: %+v", ev.Changes)
	for _, path := range []string{"/", "/a/b"} {
		r := c.Get(t, gone, path)
		assert.Equal(t, http.StatusNotFound, r.Status, "deleted Ingress: %s", r)
		assert.Empty(t, r.Served(), "deleted Ingress: nginx answers itself: %s", r)
	}
	r := c.Get(t, kept, "/")
	assert.Equal(t, http.StatusOK, r.Status, "%s", r)
	assert.Equal(t, "web", r.Served(), "%s", r)
}

// TestLifecycleServiceDeleted deletes the Service an Ingress routes to:
// nginx answers 503, the Ingress gets a ServiceNotFound Warning, and
// routing comes back when the Service does.
func TestLifecycleServiceDeleted(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	eps := startBackends(t, "doomed", 1)
	createService(t, ns, "doomed", eps)
	c := startController(t, ns, upstreamBlocks...)

	const host = "doomed.example"
	createIngress(t, ingress(ns, "doomed", host, route{path: "/", service: "doomed"}))
	c.WaitServed(t, host, "/", "doomed")
	_, ev := lbWaitConfig(t, c, 0, func(conf string) bool {
		return strings.Contains(conf, lbUpstream(ns, "doomed"))
	}, "the upstream of Service doomed")

	ctx, cancel := apiContext()
	require.NoError(t, env.client.CoreV1().Services(ns).Delete(ctx, "doomed", metav1.DeleteOptions{}))
	cancel()
	lbWaitConfig(t, c, ev.Generation, func(conf string) bool {
		return !strings.Contains(conf, lbUpstream(ns, "doomed")) && strings.Contains(conf, lbServerName(host))
	}, "no upstream for the deleted Service")
	for range 10 {
		r := c.Get(t, host, "/")
		assert.Equal(t, http.StatusServiceUnavailable, r.Status, "deleted Service: %s", r)
		assert.Empty(t, r.Served(), "deleted Service: nginx answers itself: %s", r)
	}
	lbWaitEvent(t, ns, "Ingress", "doomed", corev1.EventTypeWarning, "ServiceNotFound", ns+"/doomed")

	// The Service comes back (its EndpointSlice stayed: nothing here
	// garbage-collects it).
	ctx, cancel = apiContext()
	defer cancel()
	_, err := env.client.CoreV1().Services(ns).Create(ctx, serviceObject(ns, "doomed"), metav1.CreateOptions{})
	require.NoError(t, err)
	r := c.WaitServed(t, host, "/", "doomed")
	assert.Equal(t, eps[0].Addr(), r.Endpoint())
}

// lbConditions are the conditions of one endpoint of an EndpointSlice.
type lbConditions struct {
	ready, serving, terminating bool
}

// lbSetEndpointConditions replaces the endpoints of a Service made by
// createService; endpoints whose IP is in conds get those conditions, the
// others are ready.
func lbSetEndpointConditions(t testing.TB, namespace, name string, eps []Endpoint, conds map[string]lbConditions) {
	t.Helper()
	want := endpointSlice(namespace, name, eps)
	for i := range want.Endpoints {
		cond, ok := conds[want.Endpoints[i].Addresses[0]]
		if !ok {
			continue
		}
		want.Endpoints[i].Conditions.Ready = &cond.ready
		want.Endpoints[i].Conditions.Serving = &cond.serving
		want.Endpoints[i].Conditions.Terminating = &cond.terminating
	}
	ctx, cancel := apiContext()
	defer cancel()
	cur, err := env.client.DiscoveryV1().EndpointSlices(namespace).Get(ctx, want.Name, metav1.GetOptions{})
	require.NoError(t, err)
	want.ResourceVersion = cur.ResourceVersion
	_, err = env.client.DiscoveryV1().EndpointSlices(namespace).Update(ctx, want, metav1.UpdateOptions{})
	require.NoError(t, err, "updating EndpointSlice %s/%s", namespace, want.Name)
}
