//go:build linux

package kube

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/e2e/framework"
)

// TestRoutingFollowsIngress applies an Ingress through the API server and
// checks that nginx routes by host and path to the Services' endpoints in
// the network namespace, then follows an update and a delete.
func TestRoutingFollowsIngress(t *testing.T) {
	ns := newNamespace(t)
	ensureIngressClass(t)
	alpha := startBackends(t, "alpha", 2)
	beta := startBackends(t, "beta", 1)
	createService(t, ns, "alpha", alpha)
	createService(t, ns, "beta", beta)
	c := startController(t, ns)

	const host = "routing.example"
	created := time.Now()
	createIngress(t, ingress(ns, "web", host,
		route{path: "/alpha", service: "alpha"},
		route{path: "/beta", service: "beta"},
	))
	c.WaitServed(t, host, "/alpha", "alpha")
	t.Logf("Ingress created until nginx served it: %s", time.Since(created).Round(time.Millisecond))

	r := c.Get(t, host, "/beta/x?y=1")
	assert.Equal(t, http.StatusOK, r.Status, "%s", r)
	assert.Equal(t, "beta", r.Served(), "%s", r)
	require.NotNil(t, r.Echo)
	assert.Equal(t, beta[0].Addr(), r.Echo.Endpoint)
	assert.Equal(t, "/beta/x?y=1", r.Echo.Path)
	assert.Equal(t, host, r.Echo.Host)
	// No rule for this path, and no rule for another host.
	r = c.Get(t, host, "/other")
	assert.Equal(t, http.StatusNotFound, r.Status, "%s", r)
	assert.Empty(t, r.Served(), "%s", r)
	r = c.Get(t, "elsewhere.example", "/alpha")
	assert.Equal(t, http.StatusNotFound, r.Status, "%s", r)
	assert.Empty(t, r.Served(), "%s", r)

	// Both endpoints of alpha get requests.
	seen := map[string]bool{}
	framework.Eventually(t, func() bool {
		r, err := c.Request(host, "/alpha")
		if err == nil && r.Served() == "alpha" {
			seen[r.Endpoint()] = true
		}
		return len(seen) == len(alpha)
	}, "requests to /alpha reach both endpoints %s and %s (seen %v)", alpha[0].Addr(), alpha[1].Addr(), seen)

	// A new path.
	updated := time.Now()
	updateIngress(t, ns, "web", func(ing *networkingv1.Ingress) {
		pt := networkingv1.PathTypeExact
		paths := &ing.Spec.Rules[0].HTTP.Paths
		*paths = append(*paths, networkingv1.HTTPIngressPath{
			Path: "/new", PathType: &pt,
			Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: "beta", Port: networkingv1.ServiceBackendPort{Number: servicePort},
			}},
		})
	})
	c.WaitServed(t, host, "/new", "beta")
	t.Logf("Ingress updated until nginx served the new path: %s", time.Since(updated).Round(time.Millisecond))
	c.WaitServed(t, host, "/alpha", "alpha")
	r = c.Get(t, host, "/new/sub")
	assert.Equal(t, http.StatusNotFound, r.Status, "Exact path /new must not match /new/sub: %s", r)

	// Endpoints change: alpha down to its first endpoint.
	setEndpoints(t, ns, "alpha", alpha[:1])
	framework.Eventually(t, func() bool {
		for range 4 {
			r, err := c.Request(host, "/alpha")
			if err != nil || r.Endpoint() != alpha[0].Addr() {
				return false
			}
		}
		return true
	}, "after the EndpointSlice update only %s serves /alpha", alpha[0].Addr())

	// Deleted: nginx answers 404 itself.
	deleted := time.Now()
	deleteIngress(t, ns, "web")
	c.WaitStatus(t, host, "/alpha", http.StatusNotFound, "")
	c.WaitStatus(t, host, "/new", http.StatusNotFound, "")
	t.Logf("Ingress deleted until nginx stopped serving it: %s", time.Since(deleted).Round(time.Millisecond))
}
