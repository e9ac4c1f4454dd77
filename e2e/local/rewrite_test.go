//go:build linux

package local

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRewriteAnnotations shows rewrite-target with use-regex on real
// traffic: the backend receives the rewritten path, and the other paths of
// the host keep longest-match routing.
func TestRewriteAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "api", "web", "static")
	const p = "nginx.ingress.kubernetes.io/"
	rewrite := annotate(ingressYAML("rewrite", "rw.example.com", route{"/api(/|$)(.*)", "ImplementationSpecific", "api"}),
		map[string]string{p + "use-regex": `"true"`, p + "rewrite-target": "/$2"})
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"rewrite.yaml":  rewrite,
		"plain.yaml": ingressYAML("plain", "rw.example.com",
			route{"/", "Prefix", "web"}, route{"/static", "Prefix", "static"}),
	}})
	c.WaitServed(t, "rw.example.com", "/api/users", "api")
	cases := []struct{ path, service, seen string }{
		{"/api/users?id=7", "api", "/users?id=7"},
		{"/api", "api", "/"},
		{"/static/app.js", "static", "/static/app.js"},
		{"/staticfile", "web", "/staticfile"},
	}
	for _, tc := range cases {
		r := c.Get(t, "rw.example.com", tc.path)
		require.NotNil(t, r.Echo, "%s: %s", tc.path, r)
		assert.Equal(t, tc.service, r.Served(), tc.path)
		assert.Equal(t, tc.seen, r.Echo.Path, "path the backend received for %s", tc.path)
	}
}

// TestRewriteTargetRoot is the day-one case of issue 13: rewrite-target on
// the path "/" (no use-regex) must proxy every request, not answer the
// host's fallback 404; and the common "/api(/|$)(.*)" with "/$2" works
// without use-regex, as in ingress-nginx.
func TestRewriteTargetRoot(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "root", "api")
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"root.yaml": annotate(ingressYAML("root", "root.example.com", route{"/", "Prefix", "root"}),
			map[string]string{p + "rewrite-target": "/"}),
		"api.yaml": annotate(ingressYAML("api", "api.example.com", route{"/api(/|$)(.*)", "ImplementationSpecific", "api"}),
			map[string]string{p + "rewrite-target": "/$2"}),
	}})
	c.WaitServed(t, "root.example.com", "/", "root")
	c.WaitServed(t, "api.example.com", "/api/x", "api")
	cases := []struct{ host, path, service, seen string }{
		{"root.example.com", "/", "root", "/"},
		{"root.example.com", "/any/thing?q=1", "root", "/?q=1"},
		{"api.example.com", "/api/users?id=7", "api", "/users?id=7"},
		{"api.example.com", "/api", "api", "/"},
		{"api.example.com", "/API/v1", "api", "/v1"},
	}
	for _, tc := range cases {
		r := c.Get(t, tc.host, tc.path)
		require.NotNil(t, r.Echo, "%s%s: %s", tc.host, tc.path, r)
		assert.Equal(t, tc.service, r.Served(), tc.path)
		assert.Equal(t, tc.seen, r.Echo.Path, "path the backend received for %s%s", tc.host, tc.path)
	}
	r := c.Get(t, "api.example.com", "/other")
	assert.Equal(t, 404, r.Status, "a path no rule matches: %s", r)
}

// TestRewriteTargetRedirect: an absolute rewrite-target answers a 302 to
// the fixed host with the captures in the path, the request's query kept,
// and a CR LF in the path never becomes a header.
func TestRewriteTargetRedirect(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web")
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"moved.yaml": annotate(ingressYAML("moved", "moved.example.com", route{"/old/(.*)", "ImplementationSpecific", "web"}),
			map[string]string{p + "rewrite-target": "https://new.example.com/moved/$1"}),
		"keep.yaml": ingressYAML("keep", "moved.example.com", route{"/keep", "Prefix", "web"}),
	}})
	c.WaitServed(t, "moved.example.com", "/keep", "web")
	cases := []struct{ path, location string }{
		{"/old/page", "https://new.example.com/moved/page"},
		{"/old/a/b?q=1", "https://new.example.com/moved/a/b?q=1"},
		{"/OLD/x", "https://new.example.com/moved/x"},
		// The capture stops at LF and nginx escapes the CR: no header.
		{"/old/a%0d%0aX-Evil:%201", "https://new.example.com/moved/a%0D"},
	}
	for _, tc := range cases {
		r := c.Get(t, "moved.example.com", tc.path)
		assert.Equal(t, 302, r.Status, "%s: %s", tc.path, r)
		assert.Equal(t, tc.location, r.Header.Get("Location"), tc.path)
		assert.Empty(t, r.Header.Get("X-Evil"), tc.path)
	}
}

// TestRewriteTargetExact: an Exact path with rewrite-target stays exact
// (ingress-nginx would make it a prefix regex): the one path is rewritten,
// or redirected for an absolute target, and a longer path is not served.
func TestRewriteTargetExact(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web")
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"page.yaml": annotate(ingressYAML("page", "exact.example.com", route{"/legacy.html", "Exact", "web"}),
			map[string]string{p + "rewrite-target": "/current/$1"}),
		"moved.yaml": annotate(ingressYAML("moved", "exact.example.com", route{"/old-page", "Exact", "web"}),
			map[string]string{p + "rewrite-target": "https://new.example.com/moved"}),
	}})
	c.WaitServed(t, "exact.example.com", "/legacy.html", "web")
	r := c.Get(t, "exact.example.com", "/legacy.html?v=2")
	require.NotNil(t, r.Echo, r.String())
	assert.Equal(t, "/current/?v=2", r.Echo.Path, "the path the backend received")
	r = c.Get(t, "exact.example.com", "/old-page")
	assert.Equal(t, 302, r.Status, r.String())
	assert.Equal(t, "https://new.example.com/moved", r.Header.Get("Location"))
	for _, path := range []string{"/legacy.html/x", "/old-pages", "/LEGACY.html"} {
		assert.Equal(t, 404, c.Get(t, "exact.example.com", path).Status, path)
	}
}

// TestRegexLocationOrder is the ordering table: exact, prefix, use-regex,
// rewrite-target regexes and the host's fallback on one host, each request
// reaching the winner ingress-nginx gives it (exact first, then the
// longest path among prefixes and regexes, regexes case-insensitive).
func TestRegexLocationOrder(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web", "app", "exact", "regex", "rw", "long")
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"plain.yaml": ingressYAML("plain", "order.example.com",
			route{"/", "Prefix", "web"}, route{"/app", "Prefix", "app"}, route{"/app/exact", "Exact", "exact"},
			route{"/ab/cdefgh", "Prefix", "long"}),
		"regex.yaml": annotate(ingressYAML("regex", "order.example.com",
			route{"/app/v[0-9]+", "ImplementationSpecific", "regex"}, route{"/ab/(.*)", "ImplementationSpecific", "regex"}),
			map[string]string{p + "use-regex": `"true"`}),
		"rw.yaml": annotate(ingressYAML("rw", "order.example.com", route{"/rw/(.*)", "ImplementationSpecific", "rw"}),
			map[string]string{p + "rewrite-target": "/$1"}),
	}})
	c.WaitServed(t, "order.example.com", "/app/x", "app")
	cases := []struct{ path, service, seen string }{
		{"/app/exact", "exact", "/app/exact"},
		{"/app/v2/x", "regex", "/app/v2/x"},
		{"/APP/V2", "regex", "/APP/V2"},
		{"/app/other", "app", "/app/other"},
		{"/app", "app", "/app"},
		{"/apple", "web", "/apple"},
		{"/rw/a/b", "rw", "/a/b"},
		{"/zzz", "web", "/zzz"},
		{"/ab/x", "regex", "/ab/x"},
		// ingress-nginx sorts by the Ingress path's length: "/ab/cdefgh"
		// (10) before the regex "/ab/(.*)" (8).
		{"/ab/cdefgh/x", "long", "/ab/cdefgh/x"},
	}
	for _, tc := range cases {
		r := c.Get(t, "order.example.com", tc.path)
		require.NotNil(t, r.Echo, "%s: %s", tc.path, r)
		assert.Equal(t, tc.service, r.Served(), tc.path)
		assert.Equal(t, tc.seen, r.Echo.Path, "path the backend received for %s", tc.path)
	}
}
