//go:build linux

package local

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUnsupportedSecurityAnnotationIsNotServed: an Ingress migrated with a
// security annotation Portico does not implement (modsecurity-rules-file) is not
// served (real nginx answers 404 from the default server, not the backend)
// and its UnsupportedSecurityAnnotation finding is in the log; an Ingress
// with proxy-read-timeout "1800s" (nginx time units) and one with a plain
// invalid timeout (falls back to the default) are served, as is the
// Ingress using the current allowlist-source-range spelling.
func TestUnsupportedSecurityAnnotationIsNotServed(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	ing := func(name string, ann map[string]string) string {
		return annotate(ingressYAML(name, name+".example.com", route{"/", "Prefix", "app"}), ann)
	}
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"waf.yaml":      ing("waf", map[string]string{p + "modsecurity-rules-file": `"/etc/modsecurity/strict.conf"`}),
		"units.yaml":    ing("units", map[string]string{p + "proxy-read-timeout": `"1800s"`}),
		"typo.yaml":     ing("typo", map[string]string{p + "proxy-read-timeout": `"60sec"`}),
		"allowed.yaml":  ing("allowed", map[string]string{p + "allowlist-source-range": `"127.0.0.0/8"`}),
		"walled.yaml":   ing("walled", map[string]string{p + "allowlist-source-range": `"192.0.2.0/24"`}),
	}})
	c.WaitServed(t, "units.example.com", "/", "app")
	c.WaitServed(t, "typo.example.com", "/", "app")
	c.WaitServed(t, "allowed.example.com", "/", "app")
	assert.Equal(t, http.StatusForbidden, c.Get(t, "walled.example.com", "/").Status, "allowlist-source-range must be enforced")
	r := c.Get(t, "waf.example.com", "/")
	assert.Equal(t, http.StatusNotFound, r.Status, "an Ingress with an unsupported security annotation must not be served")
	assert.Nil(t, r.Echo, "the backend must not be reached")

	// The finding reaches the log with the first sync; wait boundedly.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.Logs.String(), "UnsupportedSecurityAnnotation") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	logs := c.Logs.String()
	require.Contains(t, logs, "UnsupportedSecurityAnnotation")
	assert.Contains(t, logs, "modsecurity-rules-file")
	assert.Contains(t, logs, "IgnoredAnnotationValue")
}
