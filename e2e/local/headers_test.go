//go:build linux

package local

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// TestHeadersAnnotations shows upstream-vhost and x-forwarded-prefix as the
// backend receives them, and server-alias answering for an extra name.
func TestHeadersAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"app.yaml": annotate(ingressYAML("app", "app.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "upstream-vhost":     "internal.example.svc",
			p + "x-forwarded-prefix": "/app",
			p + "server-alias":       "www.app.example.com",
		}),
	}})
	c.WaitServed(t, "app.example.com", "/", "app")
	r := c.Get(t, "app.example.com", "/x")
	require.NotNil(t, r.Echo, "%s", r)
	assert.Equal(t, "internal.example.svc", r.Echo.Host, "upstream-vhost sets the Host the backend sees")
	assert.Equal(t, "/app", r.Echo.Headers["X-Forwarded-Prefix"])
	assert.Equal(t, "app.example.com", r.Echo.Headers["X-Forwarded-Host"], "the other proxy headers are kept")
	alias := c.Get(t, "www.app.example.com", "/")
	assert.Equal(t, http.StatusOK, alias.Status, "server-alias answers: %s", alias)
	assert.Equal(t, "app", alias.Served())
}

// TestEnableAccessLogAnnotation shows enable-access-log on real traffic:
// with --access-log FILE, requests to the Ingress with "false" are not
// logged while requests to another Ingress are.
func TestEnableAccessLogAnnotation(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	logFile := filepath.Join(t.TempDir(), "access.log")
	c := startController(t, options{
		files: map[string]string{
			"services.yaml": servicesYAML(b),
			"quiet.yaml": annotate(ingressYAML("quiet", "quiet.example.com", route{"/", "Prefix", "app"}),
				map[string]string{"nginx.ingress.kubernetes.io/enable-access-log": `"false"`}),
			"loud.yaml": ingressYAML("loud", "loud.example.com", route{"/", "Prefix", "app"}),
		},
		args: []string{"--access-log", logFile},
	})
	c.WaitServed(t, "quiet.example.com", "/", "app")
	c.WaitServed(t, "loud.example.com", "/", "app")

	// One worker logs requests in the order it finishes them: once the
	// later loud request is in the file, the quiet ones would be too.
	for range 3 {
		assert.Equal(t, http.StatusOK, c.Get(t, "quiet.example.com", "/quiet-marker").Status)
	}
	assert.Equal(t, http.StatusOK, c.Get(t, "loud.example.com", "/loud-marker").Status)
	var content string
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(logFile)
		content = string(data)
		return err == nil && strings.Contains(content, "/loud-marker")
	}, framework.RouteTimeout, framework.PollInterval, "requests to an Ingress without the annotation are logged")
	assert.NotContains(t, content, "/quiet-marker", "enable-access-log false keeps the Ingress's requests out of the log")
}
