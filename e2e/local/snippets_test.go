//go:build linux

package local

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// TestSnippetAllowlistOnRealNginx (issue 10, class 6): namespace default
// is allowed snippets, but only the allowlisted directives. Its Ingresses
// whose snippets run Lua or set $portico_route are not served, with a
// finding; an edit that adds such a snippet to a served Ingress keeps the
// last accepted version; its other Ingresses and a second tenant keep
// serving. A snippet that ends a location without an answer cannot read
// a file through a rewritten path.
func TestSnippetAllowlistOnRealNginx(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	q := strconv.Quote
	inTenant := func(doc string) string {
		return strings.Replace(doc, "metadata: {name: ", "metadata: {namespace: tenant, name: ", 1)
	}
	good := annotate(ingressYAML("good", "good.example.com", route{"/", "Prefix", "app"}), map[string]string{
		p + "configuration-snippet": q(`add_header X-Snippet "yes-$host" always; if ($http_x_block) { return 403 "blocked"; }`),
		p + "server-snippet":        q(`location = /healthz { return 200 "healthy"; } location /leak/ { rewrite ^ /../../../../../../../etc/hostname break; }`),
	})
	lua := annotate(ingressYAML("lua", "lua.example.com", route{"/", "Prefix", "app"}), map[string]string{
		p + "configuration-snippet": q(`access_by_lua_block { ngx.say(io.popen("id"):read("*a")); ngx.exit(200); }`),
	})
	reroute := annotate(ingressYAML("reroute", "reroute.example.com", route{"/", "Prefix", "app"}), map[string]string{
		p + "configuration-snippet": q(`set $portico_route "r0000000000000000";`),
	})
	c := startController(t, options{
		files: map[string]string{
			"services.yaml": servicesYAML(b),
			"tenant-svc.yaml": strings.ReplaceAll(strings.ReplaceAll(servicesYAML(b),
				"metadata: {name:", "metadata: {namespace: tenant, name:"), "metadata:\n  name:", "metadata:\n  namespace: tenant\n  name:"),
			"good.yaml":    good,
			"edited.yaml":  ingressYAML("edited", "edited.example.com", route{"/", "Prefix", "app"}),
			"lua.yaml":     lua,
			"reroute.yaml": reroute,
			"tenant.yaml":  inTenant(ingressYAML("tenant", "tenant.example.com", route{"/", "Prefix", "app"})),
		},
		args: []string{"--allow-snippet-annotations", "--snippet-namespaces", "default"},
	})
	c.WaitServed(t, "good.example.com", "/", "app")
	c.WaitServed(t, "edited.example.com", "/", "app")
	c.WaitServed(t, "tenant.example.com", "/", "app")

	// The allowed snippet works as written.
	assert.Equal(t, "yes-good.example.com", c.Get(t, "good.example.com", "/").Header.Get("X-Snippet"))
	req, err := http.NewRequest(http.MethodGet, "http://placeholder.invalid/", nil)
	require.NoError(t, err)
	req.Host = "good.example.com"
	req.Header.Set("X-Block", "1")
	resp, err := c.Client.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	health := c.Get(t, "good.example.com", "/healthz")
	assert.Equal(t, http.StatusOK, health.Status)
	assert.Equal(t, "healthy", health.Body)

	// "break" leaves /leak/ without an answer: nginx's static handler opens
	// root plus the rewritten path, and root is no directory. nginx's own
	// default root is html under its prefix (the runtime directory); made
	// to exist here, it would let the "/../" of the path through.
	require.NoError(t, os.MkdirAll(filepath.Join(c.RuntimeDir, "html"), 0o755))
	leak := c.Get(t, "good.example.com", "/leak/x")
	assert.Equal(t, http.StatusNotFound, leak.Status, "%s", leak)
	if hostname, err := os.ReadFile("/etc/hostname"); err == nil && len(strings.TrimSpace(string(hostname))) > 0 {
		assert.NotContains(t, leak.Body, strings.TrimSpace(string(hostname)), "no file is served")
	}

	// Lua and $portico_route: refused, not served, said so.
	require.Eventually(t, func() bool {
		logs := c.Logs.String()
		return strings.Contains(logs, "access_by_lua_block is not allowed in snippets") &&
			strings.Contains(logs, "$portico_route starts with portico")
	}, framework.ReloadTimeout, framework.PollInterval, "findings for the refused snippets")
	for _, host := range []string{"lua.example.com", "reroute.example.com"} {
		r := c.Get(t, host, "/")
		assert.Equal(t, http.StatusNotFound, r.Status, "%s: %s", host, r)
		assert.Empty(t, r.Served(), "%s is not served", host)
		assert.NotContains(t, r.Body, "uid=", "no Lua ran")
	}

	// A served Ingress edited to run Lua keeps its last accepted version.
	c.writeManifest(t, "edited.yaml", annotate(ingressYAML("edited", "edited.example.com", route{"/", "Prefix", "app"}), map[string]string{
		p + "configuration-snippet": q(`content_by_lua_block { ngx.say("owned"); }`),
	}))
	require.Eventually(t, func() bool {
		return strings.Contains(c.Logs.String(), "content_by_lua_block is not allowed in snippets")
	}, framework.ReloadTimeout, framework.PollInterval)
	edited := c.Get(t, "edited.example.com", "/")
	assert.Equal(t, "app", edited.Served(), "%s", edited)
	assert.NotContains(t, edited.Body, "owned")

	// Everything else keeps serving.
	assert.Equal(t, "app", c.Get(t, "good.example.com", "/").Served())
	assert.Equal(t, "app", c.Get(t, "tenant.example.com", "/").Served())
}

// TestSnippetAnnotations shows snippets on real traffic where the operator
// allows them, and ignored (with a warning) where it does not.
func TestSnippetAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	snippet := map[string]string{p + "configuration-snippet": `"add_header X-Snippet yes always;"`}
	tenant := strings.Replace(annotate(ingressYAML("tenant", "tenant.example.com", route{"/", "Prefix", "app"}), snippet),
		"metadata: {name: tenant", "metadata: {namespace: tenant, name: tenant", 1)
	c := startController(t, options{
		files: map[string]string{
			"services.yaml": servicesYAML(b),
			"tenant-svc.yaml": strings.ReplaceAll(strings.ReplaceAll(servicesYAML(b),
				"metadata: {name:", "metadata: {namespace: tenant, name:"), "metadata:\n  name:", "metadata:\n  namespace: tenant\n  name:"),
			"trusted.yaml": annotate(ingressYAML("trusted", "trusted.example.com", route{"/", "Prefix", "app"}), snippet),
			"tenant.yaml":  tenant,
		},
		args: []string{"--allow-snippet-annotations", "--snippet-namespaces", "default"},
	})
	c.WaitServed(t, "trusted.example.com", "/", "app")
	c.WaitServed(t, "tenant.example.com", "/", "app")
	assert.Equal(t, "yes", c.Get(t, "trusted.example.com", "/").Header.Get("X-Snippet"))
	assert.Empty(t, c.Get(t, "tenant.example.com", "/").Header.Get("X-Snippet"), "namespace tenant is not allowed snippets")
	assert.Contains(t, c.Logs.String(), "snippet annotations are ignored")
}
