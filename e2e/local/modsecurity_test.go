//go:build linux

package local

import (
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/portico-ingress/portico/pkg/model"
)

// sqlInjection is a classic SQL injection probe the OWASP Core Rule Set
// detects (libinjection, rule 942100): ?id=1' OR '1'='1.
const sqlInjection = "/?id=1%27%20OR%20%271%27%3D%271"

// scriptInjection is a cross-site scripting probe the Core Rule Set's
// 941xxx rules refuse: ?q=<script>alert(1)</script>.
const scriptInjection = "/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"

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

// TestModSecurityBaseOnlyWithoutCRS: the rules files are read once at http
// level, the Core Rule Set included as soon as one Ingress asks for it, so
// a location that asked for the base rules only must not run it. On one
// nginx, with the engine on in both: the Core Rule Set location refuses the
// injection probe with 403, the base-only location lets it reach the
// backend (Debian's base rules check request bodies, not the query); the
// audit log stays untouched.
func TestModSecurityBaseOnlyWithoutCRS(t *testing.T) {
	if _, err := os.Stat(model.DebianModSecurityModule); err != nil {
		t.Skip("no ModSecurity module (hack/install-deps.sh installs libnginx-mod-http-modsecurity)")
	}
	t.Parallel()
	const auditLog = "/var/log/nginx/modsec_audit.log"
	auditBefore, auditErr := os.Stat(auditLog)
	b := startBackends(t, "app")
	p := "nginx.ingress.kubernetes.io/"
	crs := annotate(ingressYAML("crs", "crs.example.com", route{"/", "Prefix", "app"}), map[string]string{
		p + "enable-modsecurity":      `"true"`,
		p + "enable-owasp-core-rules": `"true"`,
		p + "modsecurity-snippet":     `"SecRuleEngine On"`,
	})
	base := annotate(ingressYAML("base", "base.example.com", route{"/", "Prefix", "app"}), map[string]string{
		p + "enable-modsecurity":  `"true"`,
		p + "modsecurity-snippet": `"SecRuleEngine On"`,
	})
	c := startController(t, options{
		files: map[string]string{
			"services.yaml": servicesYAML(b),
			"crs.yaml":      crs,
			"base.yaml":     base,
		},
		args: []string{"--allow-snippet-annotations", "--snippet-namespaces", "default"},
	})
	c.WaitServed(t, "crs.example.com", "/", "app")
	c.WaitServed(t, "base.example.com", "/", "app")

	assert.Equal(t, http.StatusForbidden, c.Get(t, "crs.example.com", sqlInjection).Status, "the Core Rule Set location refuses the injection")
	assert.Equal(t, http.StatusOK, c.Get(t, "base.example.com", sqlInjection).Status, "the base-only location does not run the Core Rule Set")
	assert.Equal(t, http.StatusOK, c.Get(t, "crs.example.com", "/?id=42").Status, "a plain request passes the Core Rule Set")

	// The http level's SecAuditEngine Off reaches the locations too: the
	// 403 above is not written to Debian's audit log.
	auditAfter, err := os.Stat(auditLog)
	if auditErr != nil {
		assert.Error(t, err, "the WAF must not start an audit log (it would hold Authorization headers)")
	} else if assert.NoError(t, err) {
		assert.Equal(t, auditBefore.Size(), auditAfter.Size(), "the WAF must not write the audit log")
	}
}

// TestModSecurityAnnotationTenancy: with the annotations alone (no
// ConfigMap switch) the rules are read once at http level for every
// namespace, so a tenant's modsecurity-snippet must still act on its own
// locations only: namespace a's SecRuleEngine Off and SecRuleRemoveById
// 942100 let the injection probe through on a's hosts, while namespace b's
// Core Rule Set location, on the same nginx, refuses it with 403.
func TestModSecurityAnnotationTenancy(t *testing.T) {
	if _, err := os.Stat(model.DebianModSecurityModule); err != nil {
		t.Skip("no ModSecurity module (hack/install-deps.sh installs libnginx-mod-http-modsecurity)")
	}
	t.Parallel()
	b := startBackends(t, "app")
	p := "nginx.ingress.kubernetes.io/"
	waf := func(name, host, snippet string) string {
		return annotate(ingressYAML(name, host, route{"/", "Prefix", "app"}), map[string]string{
			p + "enable-modsecurity":      `"true"`,
			p + "enable-owasp-core-rules": `"true"`,
			p + "modsecurity-snippet":     `"` + snippet + `"`,
		})
	}
	c := startController(t, options{
		files: map[string]string{
			"a.yaml": inNamespace("a", joinDocs(servicesYAML(b),
				waf("waf-off", "a-off.example.com", `SecRuleEngine Off`),
				waf("waf-remove", "a-remove.example.com", `SecRuleEngine On\nSecRuleRemoveById 942100`),
			)),
			"b.yaml": inNamespace("b", joinDocs(servicesYAML(b), waf("shop", "b.example.com", `SecRuleEngine On`))),
		},
		args: []string{"--allow-snippet-annotations", "--snippet-namespaces", "a,b"},
	})
	for _, host := range []string{"a-off.example.com", "a-remove.example.com", "b.example.com"} {
		c.WaitServed(t, host, "/", "app")
	}
	assert.Equal(t, http.StatusOK, c.Get(t, "a-off.example.com", sqlInjection).Status, "a's SecRuleEngine Off holds on a's path")
	assert.Equal(t, http.StatusOK, c.Get(t, "a-remove.example.com", sqlInjection).Status, "a's SecRuleRemoveById 942100 holds on a's path")
	assert.Equal(t, http.StatusForbidden, c.Get(t, "a-remove.example.com", scriptInjection).Status,
		"the rest of the Core Rule Set still runs there (the probe passed because of the removal)")
	assert.Equal(t, http.StatusForbidden, c.Get(t, "b.example.com", sqlInjection).Status, "b's path still refuses the injection")
	assert.Equal(t, http.StatusOK, c.Get(t, "b.example.com", "/?id=42").Status, "a plain request passes b's rules")
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

// modSecurityConfigMap is the options ConfigMap default/portico with the
// ModSecurity keys of data.
func modSecurityConfigMap(data map[string]string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico, namespace: default}\ndata:\n")
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(&b, "  %s: %q\n", k, data[k])
	}
	return b.String()
}

// TestModSecurityConfigMapTenancy attacks the WAF the ConfigMap turns on
// for every Ingress (enable-modsecurity, enable-owasp-modsecurity-crs,
// modsecurity-snippet "SecRuleEngine On") from namespace a, which may use
// snippets: its own Ingresses switch the engine off, remove the SQL
// injection rule, opt out, and try to Include a file. Each attempt acts
// on a's own paths only (the probe passes there, proving it took), while
// namespace b's Ingress still refuses the probe with 403; the Include is
// refused (not served), and ModSecurity's audit log stays untouched.
func TestModSecurityConfigMapTenancy(t *testing.T) {
	if _, err := os.Stat(model.DebianModSecurityModule); err != nil {
		t.Skip("no ModSecurity module (hack/install-deps.sh installs libnginx-mod-http-modsecurity)")
	}
	t.Parallel()
	// The Core Rule Set by its key, and as ingress-nginx's docs write it:
	// an Include of its image's file, read as a name.
	for _, cm := range []struct {
		name string
		data map[string]string
	}{
		{"crs key", map[string]string{"enable-modsecurity": "true", "enable-owasp-modsecurity-crs": "true", "modsecurity-snippet": "SecRuleEngine On"}},
		{"ingress-nginx snippet", map[string]string{"enable-modsecurity": "true",
			"modsecurity-snippet": "Include /etc/nginx/owasp-modsecurity-crs/nginx-modsecurity.conf\nSecRuleEngine On\nSecRequestBodyAccess On"}},
	} {
		t.Run(cm.name, func(t *testing.T) {
			t.Parallel()
			modSecurityTenancy(t, cm.data)
		})
	}
}

// modSecurityTenancy runs TestModSecurityConfigMapTenancy's attacks with
// the ConfigMap data.
func modSecurityTenancy(t *testing.T, data map[string]string) {
	const auditLog = "/var/log/nginx/modsec_audit.log"
	auditBefore, auditErr := os.Stat(auditLog)
	b := startBackends(t, "app")
	p := "nginx.ingress.kubernetes.io/"
	ing := func(name, host string, anns map[string]string) string {
		y := ingressYAML(name, host, route{"/", "Prefix", "app"})
		if len(anns) > 0 {
			y = annotate(y, anns)
		}
		return y
	}
	c := startController(t, options{
		files: map[string]string{
			"configmap.yaml": modSecurityConfigMap(data),
			"a.yaml": inNamespace("a", joinDocs(servicesYAML(b),
				ing("waf-off", "a-off.example.com", map[string]string{p + "modsecurity-snippet": `"SecRuleEngine Off"`}),
				ing("waf-remove", "a-remove.example.com", map[string]string{p + "modsecurity-snippet": `"SecRuleRemoveById 942100"`}),
				ing("waf-optout", "a-optout.example.com", map[string]string{p + "enable-modsecurity": `"false"`}),
				ing("waf-include", "a-include.example.com", map[string]string{p + "modsecurity-snippet": `"SecRuleEngine Off\nInclude /etc/shadow"`}),
			)),
			"b.yaml": inNamespace("b", joinDocs(servicesYAML(b), ing("shop", "b.example.com", nil))),
		},
		args: []string{"--configmap", "default/portico", "--allow-snippet-annotations", "--snippet-namespaces", "a"},
	})
	for _, host := range []string{"b.example.com", "a-off.example.com", "a-remove.example.com", "a-optout.example.com"} {
		c.WaitServed(t, host, "/", "app")
	}

	// The attacks took on a's own paths.
	assert.Equal(t, http.StatusOK, c.Get(t, "a-off.example.com", sqlInjection).Status, "a's SecRuleEngine Off holds on a's path")
	assert.Equal(t, http.StatusOK, c.Get(t, "a-optout.example.com", sqlInjection).Status, "a's enable-modsecurity: false holds on a's path")
	assert.Equal(t, http.StatusOK, c.Get(t, "a-remove.example.com", sqlInjection).Status, "a's SecRuleRemoveById 942100 holds on a's path")
	assert.NotEqual(t, http.StatusOK, c.Get(t, "a-include.example.com", "/").Status, "a snippet with Include is not served")

	// Nothing of it reaches b.
	probe := c.getWith(t, "b.example.com", sqlInjection, map[string]string{"Authorization": "Bearer e2e-secret-token"})
	assert.Equal(t, http.StatusForbidden, probe.Status, "b's path still refuses the injection")
	assert.Equal(t, http.StatusOK, c.Get(t, "b.example.com", "/?id=42").Status, "a plain request passes b's rules")

	auditAfter, err := os.Stat(auditLog)
	if auditErr != nil {
		assert.Error(t, err, "the WAF must not start an audit log (it would hold Authorization headers)")
	} else if assert.NoError(t, err) {
		assert.Equal(t, auditBefore.Size(), auditAfter.Size(), "the WAF must not write the audit log")
	}
}

// TestModSecurityConfigMapFailsClosed: a ConfigMap that turns ModSecurity
// on for every Ingress with a snippet outside the allowlist (and no earlier
// accepted value) does not leave the WAF off: the covered Ingress answers
// 503 while the one that opted out is served.
func TestModSecurityConfigMapFailsClosed(t *testing.T) {
	if _, err := os.Stat(model.DebianModSecurityModule); err != nil {
		t.Skip("no ModSecurity module (hack/install-deps.sh installs libnginx-mod-http-modsecurity)")
	}
	t.Parallel()
	b := startBackends(t, "app")
	p := "nginx.ingress.kubernetes.io/"
	c := startController(t, options{
		files: map[string]string{
			"configmap.yaml": modSecurityConfigMap(map[string]string{
				"enable-modsecurity": "true", "modsecurity-snippet": "SecRuleEngine On\nInclude /etc/shadow",
			}),
			"services.yaml": servicesYAML(b),
			"shop.yaml":     ingressYAML("shop", "shop.example.com", route{"/", "Prefix", "app"}),
			"optout.yaml": annotate(ingressYAML("optout", "optout.example.com", route{"/", "Prefix", "app"}),
				map[string]string{p + "enable-modsecurity": `"false"`}),
		},
		args: []string{"--configmap", "default/portico"},
	})
	c.WaitServed(t, "optout.example.com", "/", "app")
	assert.Equal(t, http.StatusServiceUnavailable, c.Get(t, "shop.example.com", "/").Status, "covered by a WAF that cannot be honoured: 503, not unchecked")
}
