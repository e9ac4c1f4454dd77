package model_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
)

// TestModSecurityWithoutModule: when nginx has no ModSecurity module, an
// Ingress asking for it is not served with the WAF gone: its paths answer
// 503 with the finding ModSecurityUnavailable, no load_module is rendered
// (it would fail nginx -t for everyone), and the other Ingresses are
// served as before.
func TestModSecurityWithoutModule(t *testing.T) {
	snap := loadSnapshot(t, "testdata/annotations-modsecurity.yaml")
	cases := []struct {
		name   string
		module string
		want   int // Return of waf.example.com's location (0: proxied)
		load   bool
	}{
		{"module present", model.DebianModSecurityModule, 0, true},
		{"module missing", "", 503, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := testOptions()
			opts.SnippetNamespaces = []string{"trusted"}
			opts.Global.ModSecurityModule = c.module
			cfg, findings := model.Build(snap, opts)
			waf := findServer(cfg, "waf.example.com")
			require.NotNil(t, waf)
			assert.Equal(t, c.want, waf.Locations[0].Action.Return)
			assert.Equal(t, c.want == 0, waf.Locations[0].ModSecurity != nil)
			assert.Equal(t, c.load, cfg.LoadModSecurity != "")
			var unavailable []string
			for _, f := range findings {
				if f.Reason == model.ReasonModSecurityUnavailable {
					assert.Equal(t, model.NotServed, f.Severity)
					unavailable = append(unavailable, f.Object.Namespace+"/"+f.Object.Name)
				}
			}
			if c.module == "" {
				assert.ElementsMatch(t, []string{"trusted/waf", "default/base", "default/disabled"}, unavailable)
			} else {
				assert.Empty(t, unavailable)
			}
		})
	}
}
