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
