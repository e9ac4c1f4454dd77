//go:build linux

package local

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCustomHeadersAnnotation shows custom-headers on real traffic: the
// ConfigMap's entries are added to responses, and editing it changes them.
func TestCustomHeadersAnnotation(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	cm := func(value string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-headers}\ndata:\n  X-Frame-Options: " + value + "\n"
	}
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"headers.yaml":  cm("DENY"),
		"app.yaml": annotate(ingressYAML("app", "app.example.com", route{"/", "Prefix", "app"}),
			map[string]string{"nginx.ingress.kubernetes.io/custom-headers": "app-headers"}),
	}})
	c.WaitServed(t, "app.example.com", "/", "app")
	assert.Equal(t, "DENY", c.Get(t, "app.example.com", "/").Header.Get("X-Frame-Options"))
	c.update(t, "headers.yaml", cm("SAMEORIGIN"))
	assert.Equal(t, "SAMEORIGIN", c.Get(t, "app.example.com", "/").Header.Get("X-Frame-Options"))
}

// TestCustomHeadersVariables: custom-headers values with nginx variables of
// the allowlist arrive expanded ($host, $request_uri, ${msec}); an entry
// naming another variable is skipped with a finding that names it, and the
// Ingress is served with its other entries; $uri (percent-decoded) and
// Content-Length are skipped too, so a client's %0d%0a in the path adds no
// header and the response's length is the body's.
func TestCustomHeadersVariables(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"headers.yaml": `apiVersion: v1
kind: ConfigMap
metadata: {name: app-headers}
data:
  X-Seen-Host: "$host"
  X-Seen-Uri: "$request_uri"
  X-Request-Start: "t=${msec}"
  X-Unknown: "$request_id"
  X-Decoded: "$uri"
  Content-Length: "0"
`,
		"app.yaml": annotate(ingressYAML("app", "app.example.com", route{"/", "Prefix", "app"}),
			map[string]string{"nginx.ingress.kubernetes.io/custom-headers": "app-headers"}),
	}})
	c.WaitServed(t, "app.example.com", "/", "app")

	r := c.Get(t, "app.example.com", "/some/path?q=1&r=a%20b")
	require.Equal(t, http.StatusOK, r.Status, "%s", r)
	assert.Equal(t, "app.example.com", r.Header.Get("X-Seen-Host"))
	assert.Equal(t, "/some/path?q=1&r=a%20b", r.Header.Get("X-Seen-Uri"))
	assert.Regexp(t, `^t=[0-9]{10}\.[0-9]{3}$`, r.Header.Get("X-Request-Start"))
	assert.Empty(t, r.Header.Values("X-Unknown"), "an entry with a variable off the allowlist is skipped")
	assert.Empty(t, r.Header.Values("X-Decoded"))
	assert.Equal(t, []string{strconv.Itoa(len(r.Body))}, r.Header.Values("Content-Length"), "one Content-Length, the body's")

	// A client's line break in the path stays in $request_uri's raw form
	// and nowhere else.
	r = c.Get(t, "app.example.com", "/a%0d%0aX-Injected:%20yes")
	assert.Empty(t, r.Header.Values("X-Injected"), "%s", r)
	assert.Equal(t, "/a%0d%0aX-Injected:%20yes", r.Header.Get("X-Seen-Uri"))

	c.waitLogLine(t, `"reason":"IneffectiveAnnotation"`, `X-Unknown`, `$request_id`)
	c.waitLogLine(t, `"reason":"IneffectiveAnnotation"`, `X-Decoded`, `percent-decodes`)
	c.waitLogLine(t, `"reason":"IneffectiveAnnotation"`, `Content-Length`, `frames the response`)
}
