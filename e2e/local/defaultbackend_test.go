//go:build linux

package local

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startStatusBackend starts a Service endpoint that answers every request
// with status, and returns the Service and its EndpointSlice as YAML.
func startStatusBackend(t *testing.T, service string, status int) string {
	t.Helper()
	return startHandlerBackend(t, service, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "answered by "+service, status)
	})
}

// TestDefaultBackendAnnotations shows default-backend and custom-http-errors
// on real traffic: a path whose Service has no ready endpoints and a path
// no rule matches are served by the default backend; a backend's 404 is
// replaced by the default backend's answer, which learns the code and the
// original URI from X-Code and X-Original-URI; other paths are untouched.
func TestDefaultBackendAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app", "fallback")
	const p = "nginx.ingress.kubernetes.io/"
	const host = "shop.example.com"
	ing := annotate(ingressYAML("shop", host,
		route{"/up", "Prefix", "app"}, route{"/down", "Prefix", "down"}, route{"/missing", "Prefix", "notfound"}),
		map[string]string{p + "default-backend": "fallback", p + "custom-http-errors": `"404,500"`})
	c := startController(t, options{files: map[string]string{
		"services.yaml": joinDocs(servicesYAML(b), serviceOnlyYAML("down"), startStatusBackend(t, "notfound", http.StatusNotFound)),
		"shop.yaml":     ing,
	}})
	c.WaitServed(t, host, "/up", "app")

	for _, path := range []string{"/down/x", "/elsewhere"} {
		r := c.Get(t, host, path)
		assert.Equal(t, http.StatusOK, r.Status, "%s: %s", path, r)
		assert.Equal(t, "fallback", r.Served(), "%s is served by the default backend", path)
	}
	r := c.Get(t, host, "/missing/page?q=1")
	require.Equal(t, "fallback", r.Served(), "a 404 from the backend is replaced: %s", r)
	assert.Equal(t, "404", r.Echo.Headers["X-Code"])
	assert.Equal(t, "/missing/page?q=1", r.Echo.Headers["X-Original-Uri"])
	assert.Equal(t, "default", r.Echo.Headers["X-Namespace"])
	assert.Equal(t, "shop", r.Echo.Headers["X-Ingress-Name"])

	// Without custom-http-errors the backend's own 404 reaches the client.
	c.writeManifest(t, "shop.yaml", annotate(ingressYAML("shop", host,
		route{"/up", "Prefix", "app"}, route{"/missing", "Prefix", "notfound"}),
		map[string]string{p + "default-backend": "fallback:" + strconv.Itoa(80)}))
	c.WaitStatus(t, host, "/missing/page", http.StatusNotFound, "")
}

// TestDefaultBackendFallbackNoReload shows the default-backend annotation
// with the Lua balancer: while the Service has no ready endpoints its paths
// are served by the default backend, and when they come back the Service
// serves again, all without a reload.
func TestDefaultBackendFallbackNoReload(t *testing.T) {
	t.Parallel()
	eps := startEndpoints(t, "app", 2)
	fallback := startBackends(t, "fallback")["fallback"]
	port := int(eps[0].addr.Port())
	slice := func(bs ...*backend) string {
		return joinDocs(serviceOnlyYAML("app"), sliceYAML("app", "app-1", port, readyEndpoints(bs...)...))
	}
	const host = "db.example.com"
	c := startController(t, options{files: map[string]string{
		"app.yaml":      slice(eps...),
		"fallback.yaml": serviceYAML("fallback", fallback),
		"ingress.yaml": withAnnotations(ingressYAML("db", host, route{"/", "Prefix", "app"}),
			map[string]string{"default-backend": "fallback"}),
	}})
	c.WaitServed(t, host, "/", "app")
	gen := c.Generation(t)
	assert.Equal(t, map[string]int{"app": 20}, c.countBy(t, host, "/", nil, 20, byService))

	c.changeNoReload(t, "removing every endpoint", func() { c.writeManifest(t, "app.yaml", slice()) })
	assert.Equal(t, map[string]int{"fallback": 20}, c.countBy(t, host, "/", nil, 20, byService),
		"without endpoints the default backend answers")

	c.changeNoReload(t, "endpoints coming back", func() { c.writeManifest(t, "app.yaml", slice(eps...)) })
	assert.Equal(t, map[string]int{"app": 20}, c.countBy(t, host, "/", nil, 20, byService),
		"with endpoints again the Service answers")
	assert.Equal(t, gen, c.Generation(t), "the fallback needs no reload")
}
