//go:build linux

package local

import (
	"testing"

	"github.com/stretchr/testify/assert"
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
