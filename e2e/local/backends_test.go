//go:build linux

package local

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUnavailableBackends checks that a backend nginx cannot reach answers
// 503 while the other routes of the same host keep working.
func TestUnavailableBackends(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "ok")
	unready := startBackends(t, "unready")["unready"]
	const host = "svc.example.com"
	c := startController(t, options{files: map[string]string{
		"ok.yaml": serviceYAML("ok", b["ok"]),
		// Endpoints that exist but are not ready get no traffic.
		"unready.yaml": joinDocs(serviceOnlyYAML("unready"),
			sliceYAML("unready", "unready-1", int(unready.addr.Port()), endpoint{unready.addr.Addr().String(), false})),
		// A Service whose slice lists no endpoints at all.
		"empty.yaml": joinDocs(serviceOnlyYAML("empty"), sliceYAML("empty", "empty-1", 8080)),
		// A Service without any EndpointSlice.
		"no-slice.yaml": serviceOnlyYAML("no-slice"),
		"ingress.yaml": ingressYAML("svc", host,
			route{"/ok", "Prefix", "ok"},
			route{"/unready", "Prefix", "unready"},
			route{"/empty", "Prefix", "empty"},
			route{"/no-slice", "Prefix", "no-slice"},
			route{"/missing", "Prefix", "missing"}, // no such Service
		),
	}})

	for _, path := range []string{"/unready", "/empty", "/no-slice", "/missing"} {
		t.Run(path, func(t *testing.T) {
			r := c.getHTTP(t, host, path)
			assert.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r)
			assert.Empty(t, r.served(), "%s", r)
		})
	}
	r := c.getHTTP(t, host, "/ok")
	assert.Equal(t, http.StatusOK, r.status, "%s", r)
	assert.Equal(t, "ok", r.served(), "%s", r)
	assert.Zero(t, unready.hits.Load(), "an endpoint that is not ready got requests")

	// The missing Service appears: its route starts working.
	missing := startBackends(t, "missing")["missing"]
	c.update(t, "missing.yaml", serviceYAML("missing", missing))
	c.waitServed(t, host, "/missing", "missing")
}

// TestLoadBalancing scales a Service's endpoints down, up and unready, with
// each balancer. With the Lua balancer the changes reach nginx without a
// reload (the generation stays the same); with upstream blocks each one is
// a reload.
func TestLoadBalancing(t *testing.T) {
	t.Parallel()
	for _, balancer := range []string{"lua", "upstreams"} {
		t.Run(balancer, func(t *testing.T) {
			t.Parallel()
			testLoadBalancing(t, balancer)
		})
	}
}

func testLoadBalancing(t *testing.T, balancer string) {
	eps := startEndpoints(t, "web", 3)
	const host = "lb.example.com"
	port := int(eps[0].addr.Port())
	slice := func(list ...endpoint) string {
		return joinDocs(serviceOnlyYAML("web"), sliceYAML("web", "web-1", port, list...))
	}
	ready := func(bs ...*backend) []endpoint {
		list := make([]endpoint, len(bs))
		for i, b := range bs {
			list[i] = endpoint{b.addr.Addr().String(), true}
		}
		return list
	}
	c := startController(t, options{args: []string{"--balancer", balancer}, files: map[string]string{
		"web.yaml":     slice(ready(eps...)...),
		"ingress.yaml": ingressYAML("web", host, route{"/", "Prefix", "web"}),
	}})

	served := func(t *testing.T, n int) map[string]int {
		t.Helper()
		counts, err := c.spread(host, "/", "web", n)
		require.NoError(t, err)
		return counts
	}
	addrs := func(bs ...*backend) []string {
		out := make([]string, len(bs))
		for i, b := range bs {
			out[i] = b.addr.String()
		}
		return out
	}
	// change writes the endpoints and waits until exactly want serve; it
	// checks that nginx reloaded only with upstream blocks.
	change := func(t *testing.T, content string, want ...*backend) {
		t.Helper()
		before := c.generation(t)
		start := time.Now()
		if balancer == "upstreams" {
			c.update(t, "web.yaml", content)
		} else {
			c.writeManifest(t, "web.yaml", content)
		}
		c.waitOnly(t, host, "web", addrs(want...))
		t.Logf("%s: %v serving %s after the change", balancer, addrs(want...), time.Since(start).Round(time.Millisecond))
		if balancer == "lua" {
			assert.Equal(t, before, c.generation(t), "an endpoint change must not reload nginx")
			pushed := string(c.mustGet(t, "/debug/balancer"))
			for _, addr := range addrs(want...) {
				assert.Contains(t, pushed, `"`+addr+`"`, "/debug/balancer shows the endpoints nginx holds")
			}
		} else {
			assert.Greater(t, c.generation(t), before, "upstream blocks need a reload")
		}
	}

	counts := served(t, 60)
	t.Logf("60 requests over 3 endpoints: %v", counts)
	assert.ElementsMatch(t, addrs(eps...), keys(counts), "every endpoint gets traffic")

	// Scale down to one endpoint: only it gets traffic.
	change(t, slice(ready(eps[2])...), eps[2])
	assert.Equal(t, map[string]int{eps[2].addr.String(): 20}, served(t, 20))

	// Scale up to two: both get traffic, the removed one none.
	change(t, slice(ready(eps[0], eps[2])...), eps[0], eps[2])
	counts = served(t, 40)
	assert.ElementsMatch(t, addrs(eps[0], eps[2]), keys(counts), "40 requests over 2 endpoints: %v", counts)

	// An endpoint that turns unready leaves the rotation.
	change(t, slice(endpoint{eps[0].addr.Addr().String(), false}, endpoint{eps[2].addr.Addr().String(), true}), eps[2])
	assert.Equal(t, map[string]int{eps[2].addr.String(): 20}, served(t, 20))
}

// spread sends n requests to host+path, which must all be answered 200 by
// service, and counts the answers per endpoint.
func (c *controller) spread(host, path, service string, n int) (map[string]int, error) {
	counts := map[string]int{}
	for range n {
		r, err := c.tryGet(host, path)
		if err != nil {
			return counts, err
		}
		if r.status != http.StatusOK || r.served() != service {
			return counts, fmt.Errorf("GET http://%s%s: %s, want 200 from %s", host, path, r, service)
		}
		counts[r.echo.Endpoint]++
	}
	return counts, nil
}

// waitOnly waits until a batch of 10 requests to host goes to exactly the endpoints want.
func (c *controller) waitOnly(t *testing.T, host, service string, want []string) {
	t.Helper()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		counts, err := c.spread(host, "/", service, 10)
		require.NoError(ct, err)
		assert.ElementsMatch(ct, want, keys(counts))
	}, routeTimeout, pollInterval)
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
