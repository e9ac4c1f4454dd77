package render_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/ngxconf"
	"github.com/portico-ingress/portico/pkg/render"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/testutil/nginxtest"
)

// wafSnapshot is n Ingresses of two paths each, all with
// enable-modsecurity: every third with the Core Rule Set, every other one
// with a modsecurity-snippet (namespace default may use snippets).
func wafSnapshot(n int) *snapshot.Snapshot {
	snap := fuzzSnapshot("waf0.example.com", "/", "web", "", "", "198.18.0.2")
	first := snap.Ingresses[0]
	first.Spec.DefaultBackend = nil
	first.Spec.TLS = nil
	snap.Secrets = nil
	p := annotations.DefaultPrefix + "/"
	for i := range n {
		ing := first.DeepCopy()
		if i > 0 {
			snap.Ingresses = append(snap.Ingresses, ing)
		} else {
			ing = first
		}
		host := fmt.Sprintf("waf%d.example.com", i)
		ing.Name, ing.Spec.Rules[0].Host = fmt.Sprintf("waf%d", i), host
		ing.Annotations = map[string]string{p + "enable-modsecurity": "true"}
		if i%3 == 0 {
			ing.Annotations[p+"enable-owasp-core-rules"] = "true"
		}
		if i%2 == 1 {
			ing.Annotations[p+"modsecurity-snippet"] = fmt.Sprintf("SecRuleEngine On\nSecRuleRemoveById %d", 942100+i)
		}
	}
	return snap
}

// TestModSecurityRulesReadOnce: however many locations ask for the WAF,
// the rendered config reads each rules file (and the Core Rule Set's
// Include) at most once, at http level, so nginx -t parses them once
// (docs/benchmarks.md has the times); every WAF location runs
// "modsecurity on", those that did not ask for the Core Rule Set remove
// its ids, and the result passes the real nginx -t. With the ConfigMap's
// switch on too, and no one asking for the Core Rule Set, it is not read.
func TestModSecurityRulesReadOnce(t *testing.T) {
	nginxtest.Binary(t)
	r, err := render.New("")
	require.NoError(t, err)
	defaultPEM, err := certs.SelfSigned(certs.DefaultCommonName, 24*60*60*1e9)
	require.NoError(t, err)
	opts := goldenOptions()
	opts.SnippetNamespaces = []string{"default"}
	crsInclude := "Include " + opts.Global.OWASPCRSRules
	cases := []struct {
		name      string
		ingresses int
		configMap map[string]string
		crs       bool
	}{
		{"one", 1, nil, true},
		{"twenty locations", 10, nil, true},
		{"two hundred locations", 100, nil, true},
		{"configmap on, base only", 10, map[string]string{"enable-modsecurity": "true", "modsecurity-snippet": "SecRuleEngine On"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := wafSnapshot(c.ingresses)
			if c.configMap != nil {
				for _, ing := range snap.Ingresses {
					delete(ing.Annotations, annotations.DefaultPrefix+"/enable-owasp-core-rules")
				}
				snap.ConfigMaps = []*corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "portico"}, Data: c.configMap}}
			}
			o := opts
			if c.configMap == nil {
				o.ConfigMap = ""
			}
			cfg, findings := model.Build(snap, o)
			require.Empty(t, findings)
			conf, err := r.Render(cfg, 1)
			require.NoError(t, err)
			tree, err := ngxconf.Parse(string(conf))
			require.NoError(t, err)
			// The model: every path runs the WAF; those that did not ask
			// for the Core Rule Set remove it.
			wafLocations, crsLocations := 0, 0
			for _, srv := range cfg.Servers {
				for _, l := range srv.Locations {
					if m := l.ModSecurity; assert.NotNil(t, m, "%s%s runs the WAF", srv.Name, l.Path) {
						wafLocations++
						if m.CoreRules {
							crsLocations++
						}
						assert.Equal(t, !m.CoreRules, slices.Contains(m.Rules, model.ModSecurityWithoutCRS), "%s%s removes the Core Rule Set iff it did not ask for it", srv.Name, l.Path)
						assert.Empty(t, m.RulesFiles, "a location reads no rules file")
					}
				}
			}
			assert.Equal(t, 2*c.ingresses, wafLocations)
			if c.crs {
				assert.Equal(t, 2*((c.ingresses+2)/3), crsLocations)
			} else {
				assert.Zero(t, crsLocations)
			}
			// The text: the rules are read at http level, each file once.
			files, includes, on := map[string]int{}, 0, 0
			ngxconf.Walk(tree, func(path []string, d *ngxconf.Directive) {
				switch {
				case d.Name == "modsecurity_rules_file":
					files[d.Args[0]]++
					assert.Equal(t, []string{"http"}, path, "rules files are read at http level only")
				case d.Name == "modsecurity_rules" && d.Args[0] == crsInclude:
					includes++
					assert.Equal(t, []string{"http"}, path, "the Core Rule Set is read at http level only")
				case d.Name == "modsecurity" && d.Args[0] == "on":
					on++
					assert.Equal(t, "location", path[len(path)-1])
				}
			})
			assert.Positive(t, on, "the locations switch the WAF on")
			assert.Equal(t, 1, files[opts.Global.ModSecurityConf], "the base rules are read once")
			want := 0
			if c.crs {
				want = 1
			}
			assert.Equal(t, want, files[opts.Global.OWASPCRSSetup], "the Core Rule Set's setup is read once when asked for")
			assert.Equal(t, want, includes, "the Core Rule Set is read once when asked for")
			assert.Len(t, files, 1+want, "no other rules file")
			out, ok := nginxCheck(t, cfg, conf, defaultPEM)
			require.True(t, ok, "nginx -t rejected the config:\n%s", out)
		})
	}
}
