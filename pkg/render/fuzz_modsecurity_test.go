package render_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/ngxconf"
)

// FuzzRenderModSecurity feeds arbitrary values of the ConfigMap's
// ModSecurity keys (enable-modsecurity, enable-owasp-modsecurity-crs,
// modsecurity-snippet) and of an Ingress's enable-modsecurity and
// modsecurity-snippet (in a namespace allowed snippets) through model and
// render. The config must parse with the model's shape; every
// modsecurity_rules string must be allowlisted lines or the operator's own
// (the audit log off, the Core Rule Set's Include), every rules file one of
// the operator's paths; and the WAF fails closed: when the ConfigMap turns
// it on and the Ingress does not opt out, each of the Ingress's locations
// runs ModSecurity with rules loaded (the Core Rule Set too when it asks
// for it), or answers 503. Seed inputs also go
// through the real nginx -t.
func FuzzRenderModSecurity(f *testing.F) {
	f.Add("true", "false", "SecRuleEngine On", "", "")
	f.Add("true", "true", "SecRuleEngine On\nSecRuleRemoveById 920350", "", "SecRuleEngine Off\nSecRuleRemoveById 942100")
	f.Add("true", "false", "", "false", "")
	f.Add("false", "true", "SecRuleEngine On", "true", "SecRuleEngine DetectionOnly")
	f.Add("true", "false", "SecRuleEngine On\nInclude /etc/shadow", "", "")
	f.Add("ture", "false", "", "", "")
	f.Add("true", "yes", "SecAuditLog /tmp/leak", "", "")
	f.Add("true", "false", "SecRuleEngine On\";\n}\nssl_engine foobar;#", "", "SecRule ARGS \"@pmFromFile /etc/passwd\" \"id:1,deny\"")
	f.Add("1", "0", "# comment only", "true", "SecRemoteRules k https://198.18.0.1/r")
	f.Add("true", "false", "SecRuleRemoveById 5-3", "", "SecRuleRemoveById 1-999999999 942100-942100")
	// ingress-nginx's docs: Include its Core Rule Set file, then settings.
	f.Add("true", "false", "Include /etc/nginx/owasp-modsecurity-crs/nginx-modsecurity.conf\nSecRuleEngine On\nSecRequestBodyAccess On", "", "Include /etc/nginx/modsecurity/modsecurity.conf")
	f.Add("true", "false", "Include /etc/nginx/owasp-modsecurity-crs/plugins/nextcloud-rule-exclusions-before.conf", "", "Include /etc/nginx/owasp-modsecurity-crs/nginx-modsecurity.conf ")
	r, opts, runNginx, defaultPEM := fuzzSetup(f)
	opts.SnippetNamespaces = []string{"default"}
	p := annotations.DefaultPrefix + "/"
	operator := []string{"SecAuditEngine Off", "Include " + opts.Global.OWASPCRSRules}
	files := []string{opts.Global.ModSecurityConf, opts.Global.OWASPCRSSetup}
	f.Fuzz(func(t *testing.T, enable, crs, snippet, annEnable, annSnippet string) {
		snap := fuzzSnapshot("waf.example.com", "/", "web", "", "", "198.18.0.2")
		snap.ConfigMaps = []*corev1.ConfigMap{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "portico"},
			Data:       map[string]string{"enable-modsecurity": enable, "enable-owasp-modsecurity-crs": crs, "modsecurity-snippet": snippet},
		}}
		ing := snap.Ingresses[0]
		ing.Annotations = map[string]string{}
		if annEnable != "" {
			ing.Annotations[p+"enable-modsecurity"] = annEnable
		}
		if annSnippet != "" {
			ing.Annotations[p+"modsecurity-snippet"] = annSnippet
		}
		cfg, _ := model.Build(snap, opts)
		conf, err := r.Render(cfg, 7)
		require.NoError(t, err)
		tree, err := ngxconf.Parse(string(conf))
		require.NoError(t, err, "%s", conf)
		require.Equal(t, ExpectedShape(cfg), RenderedShape(tree), "rendered config differs from the model")
		ngxconf.Walk(tree, func(_ []string, d *ngxconf.Directive) {
			switch d.Name {
			case "modsecurity_rules":
				require.Len(t, d.Args, 1)
				if slices.Contains(operator, d.Args[0]) {
					return
				}
				lines, _, err := annotations.CheckModSecuritySnippet(d.Args[0])
				require.NoError(t, err, "modsecurity_rules %q", d.Args[0])
				require.Equal(t, strings.Split(d.Args[0], "\n"), lines)
			case "modsecurity_rules_file":
				require.Len(t, d.Args, 1)
				require.Contains(t, files, d.Args[0])
			}
		})
		on, _ := strconv.ParseBool(strings.TrimSpace(enable))
		// The annotation is a boolean as every annotation's (strconv.ParseBool):
		// "0", "f" and "FALSE" opt out as "false" does.
		annOn, annErr := strconv.ParseBool(strings.TrimSpace(annEnable))
		optOut := annErr == nil && !annOn
		if (on || cfg.Global.ModSecurityBroken != "") && !optOut {
			for _, srv := range cfg.Servers {
				for _, l := range srv.Locations {
					if l.Source != "default/fuzz" {
						continue
					}
					if l.ModSecurity == nil {
						require.Equal(t, 503, l.Action.Return, "location %s answers without the WAF the ConfigMap asks for", l.Path)
						continue
					}
					require.NotNil(t, cfg.ModSecurityRules, "ModSecurity on without rules")
					if l.ModSecurity.CoreRules {
						require.True(t, cfg.ModSecurityRules.CoreRules, "the Core Rule Set a location asks for is loaded")
					} else {
						require.Contains(t, l.ModSecurity.Rules, model.ModSecurityWithoutCRS, "a location that did not ask for the Core Rule Set removes it")
					}
				}
			}
		}
		if !runNginx {
			return
		}
		out, ok := nginxCheck(t, cfg, conf, defaultPEM)
		require.True(t, ok, "nginx -t rejected the config:\n%s\n%s", out, conf)
	})
}
