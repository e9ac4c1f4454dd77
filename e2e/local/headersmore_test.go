//go:build linux

package local

import (
	"net/http"
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
// another host of the same nginx is untouched by either.
func TestHeadersMoreOnNginx(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	q := strconv.Quote
	c := startController(t, options{
		files: map[string]string{
			"services.yaml": servicesYAML(b),
			"more.yaml": annotate(ingressYAML("more", "more.example.com", route{"/", "Prefix", "app"}), map[string]string{
				p + "configuration-snippet": q(`more_set_headers "X-Frame-Options: DENY" "X-Served-For: $host";
more_set_headers -s 404 "X-Only-On-404: yes";
more_clear_headers Server;
more_set_input_headers "X-Tenant: blue";
more_clear_input_headers "X-Debug-*";`),
			}),
			"framing.yaml": annotate(ingressYAML("framing", "framing.example.com", route{"/", "Prefix", "app"}), map[string]string{
				p + "configuration-snippet": q(`more_set_headers "Content-Length: 1";`),
			}),
			"plain.yaml": ingressYAML("plain", "plain.example.com", route{"/", "Prefix", "app"}),
		},
		args: []string{"--allow-snippet-annotations", "--snippet-namespaces", "default"},
	})
	c.WaitServed(t, "more.example.com", "/", "app")
	c.WaitServed(t, "plain.example.com", "/", "app")

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
}
