//go:build linux

package local

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHeadersMoreOnNginx: where the operator allows snippets, the
// headers-more directives ingress-nginx users write work on real nginx:
// response headers set (for the status codes asked) and cleared, request
// headers set and cleared before the backend sees them. A snippet setting
// Content-Length is refused (its Ingress not served, with a finding) and
// another host of the same nginx is untouched by either. The module comes
// and goes with the snippets that use it, by reload: nginx starts without
// it, loads it when the snippet arrives and drops it when it leaves.
func TestHeadersMoreOnNginx(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	q := strconv.Quote
	more := annotate(ingressYAML("more", "more.example.com", route{"/", "Prefix", "app"}), map[string]string{
		p + "configuration-snippet": q(`more_set_headers "X-Frame-Options: DENY" "X-Served-For: $host";
more_set_headers -s 404 "X-Only-On-404: yes";
more_clear_headers Server;
more_set_input_headers "X-Tenant: blue";
more_clear_input_headers "X-Debug-*";`),
	})
	c := startController(t, options{
		files: map[string]string{
			"services.yaml": servicesYAML(b),
			"more.yaml":     ingressYAML("more", "more.example.com", route{"/", "Prefix", "app"}),
			"framing.yaml": annotate(ingressYAML("framing", "framing.example.com", route{"/", "Prefix", "app"}), map[string]string{
				p + "configuration-snippet": q(`more_set_headers "Content-Length: 1";`),
			}),
			"plain.yaml": ingressYAML("plain", "plain.example.com", route{"/", "Prefix", "app"}),
		},
		args: []string{"--allow-snippet-annotations", "--snippet-namespaces", "default"},
	})
	c.WaitServed(t, "more.example.com", "/", "app")
	c.WaitServed(t, "plain.example.com", "/", "app")
	assert.NotContains(t, c.renderedConf(t), "headers_more", "no snippet uses the module yet")
	assert.Equal(t, "nginx", c.Get(t, "more.example.com", "/").Header.Get("Server"))

	// The snippet arrives: the reload loads the module.
	c.update(t, "more.yaml", more)
	assert.Contains(t, c.renderedConf(t), "ngx_http_headers_more_filter_module.so")

	r := c.getWith(t, "more.example.com", "/x", map[string]string{"X-Debug-Token": "secret", "X-Other": "kept"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r)
	require.NotNil(t, r.Echo, "%s", r)
	assert.Equal(t, "DENY", r.Header.Get("X-Frame-Options"))
	assert.Equal(t, "more.example.com", r.Header.Get("X-Served-For"))
	assert.Empty(t, r.Header.Values("X-Only-On-404"), "-s 404 applies to 404 answers only")
	assert.Empty(t, r.Header.Values("Server"), "more_clear_headers removes nginx's Server header")
	assert.Equal(t, "blue", r.Echo.Headers["X-Tenant"], "the backend sees the request header the snippet set")
	assert.NotContains(t, r.Echo.Headers, "X-Debug-Token", "the backend does not see the cleared request header")
	assert.Equal(t, "kept", r.Echo.Headers["X-Other"])

	// Another host of the same nginx: none of it.
	other := c.Get(t, "plain.example.com", "/")
	require.Equal(t, http.StatusOK, other.Status)
	assert.Empty(t, other.Header.Values("X-Frame-Options"))
	assert.Equal(t, "nginx", other.Header.Get("Server"))

	// Content-Length set by a snippet: refused, not served, said so.
	assert.Equal(t, http.StatusNotFound, c.Get(t, "framing.example.com", "/").Status)
	c.waitLogLine(t, `"reason":"InvalidAnnotation"`, `framing`, `Content-Length: 1 may not be set`)

	// The snippet leaves: the reload drops the module and its headers.
	c.update(t, "more.yaml", ingressYAML("more", "more.example.com", route{"/", "Prefix", "app"}))
	assert.NotContains(t, c.renderedConf(t), "headers_more")
	gone := c.Get(t, "more.example.com", "/")
	assert.Empty(t, gone.Header.Values("X-Frame-Options"))
	assert.Equal(t, "nginx", gone.Header.Get("Server"))
}

// renderedConf is the nginx.conf the controller last wrote.
func (c *controller) renderedConf(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.ConfigDir, "nginx.conf"))
	require.NoError(t, err)
	return string(b)
}
