//go:build linux

package local

import (
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/portico-ingress/portico/pkg/model"
)

// sqlInjection is a classic SQL injection probe the OWASP Core Rule Set
// detects (libinjection, rule 942100): ?id=1' OR '1'='1.
const sqlInjection = "/?id=1%27%20OR%20%271%27%3D%271"

// TestModSecurityCoreRules shows enable-modsecurity with the OWASP Core
// Rule Set on real traffic: with SecRuleEngine On (modsecurity-snippet, in
// a namespace allowed snippets) the injection probe is refused with 403
// and a plain request passes; the same probe reaches the backend of a host
// without the rules, and of one whose engine only detects.
func TestModSecurityCoreRules(t *testing.T) {
	if _, err := os.Stat(model.DebianModSecurityModule); err != nil {
		t.Skip("no ModSecurity module (hack/install-deps.sh installs libnginx-mod-http-modsecurity)")
	}
	t.Parallel()
	b := startBackends(t, "app")
	p := "nginx.ingress.kubernetes.io/"
	waf := annotate(ingressYAML("waf", "waf.example.com", route{"/", "Prefix", "app"}), map[string]string{
		p + "enable-modsecurity":         `"true"`,
		p + "enable-owasp-core-rules":    `"true"`,
		p + "modsecurity-transaction-id": `"$request_id"`,
		p + "modsecurity-snippet":        `"SecRuleEngine On"`,
	})
	detect := annotate(ingressYAML("detect", "detect.example.com", route{"/", "Prefix", "app"}), map[string]string{
		p + "enable-modsecurity":      `"true"`,
		p + "enable-owasp-core-rules": `"true"`,
	})
	c := startController(t, options{
		files: map[string]string{
			"services.yaml": servicesYAML(b),
			"waf.yaml":      waf,
			"detect.yaml":   detect,
			"plain.yaml":    ingressYAML("plain", "plain.example.com", route{"/", "Prefix", "app"}),
		},
		args: []string{"--allow-snippet-annotations", "--snippet-namespaces", "default"},
	})
	c.WaitServed(t, "waf.example.com", "/", "app")
	c.WaitServed(t, "detect.example.com", "/", "app")
	c.WaitServed(t, "plain.example.com", "/", "app")

	assert.Equal(t, http.StatusForbidden, c.Get(t, "waf.example.com", sqlInjection).Status, "the Core Rule Set refuses the injection")
	assert.Equal(t, http.StatusOK, c.Get(t, "waf.example.com", "/?id=42").Status, "a plain request passes the rules")
	assert.Equal(t, http.StatusOK, c.Get(t, "plain.example.com", sqlInjection).Status, "without the rules the probe reaches the backend")
	assert.Equal(t, http.StatusOK, c.Get(t, "detect.example.com", sqlInjection).Status, "DetectionOnly logs and lets it through")
}

// TestModSecuritySnippetNotAllowed: outside the snippet namespaces a
// modsecurity-snippet is not dropped silently (the Ingress would run
// without the rules its owner wrote): the paths answer 503.
func TestModSecuritySnippetNotAllowed(t *testing.T) {
	if _, err := os.Stat(model.DebianModSecurityModule); err != nil {
		t.Skip("no ModSecurity module (hack/install-deps.sh installs libnginx-mod-http-modsecurity)")
	}
	t.Parallel()
	b := startBackends(t, "app")
	p := "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"waf.yaml": annotate(ingressYAML("waf", "waf.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "enable-modsecurity":  `"true"`,
			p + "modsecurity-snippet": `"SecRuleEngine On"`,
		}),
		"plain.yaml": ingressYAML("plain", "plain.example.com", route{"/", "Prefix", "app"}),
	}})
	c.WaitServed(t, "plain.example.com", "/", "app")
	assert.Equal(t, http.StatusServiceUnavailable, c.Get(t, "waf.example.com", "/").Status)
}
