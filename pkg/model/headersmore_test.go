package model_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
)

// TestHeadersMoreModule: the headers-more module is loaded only when a
// served snippet uses its directives; without the module an Ingress whose
// snippet uses them is not served (its paths answer 503, its snippets are
// dropped so that nginx -t still passes for everyone), and no load_module
// is rendered; outside the namespaces the operator allows, the snippet is
// ignored and nothing is loaded.
func TestHeadersMoreModule(t *testing.T) {
	snap := loadSnapshot(t, "testdata/annotations-snippets.yaml")
	cases := []struct {
		name     string
		module   string
		allowed  []string
		want     int // Return of trusted.example.com's "/" (0: proxied)
		snippet  bool
		load     string
		findings []string
	}{
		{"module present", model.DebianHeadersMoreModule, []string{"trusted"}, 0, true, model.DebianHeadersMoreModule, nil},
		{"module missing", "", []string{"trusted"}, 503, false, "", []string{"trusted/trusted"}},
		{"snippets not allowed", model.DebianHeadersMoreModule, nil, 0, false, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := testOptions()
			opts.SnippetNamespaces = c.allowed
			opts.Global.HeadersMoreModule = c.module
			cfg, findings := model.Build(snap, opts)
			l, ok := prefixLocation(t, cfg, "trusted.example.com", "/")
			require.True(t, ok)
			assert.Equal(t, c.want, l.Action.Return)
			assert.Equal(t, c.snippet, len(l.Snippet) > 0)
			assert.Equal(t, c.load, cfg.LoadHeadersMore)
			var unavailable []string
			for _, f := range findings {
				if f.Reason == model.ReasonHeadersMoreUnavailable {
					assert.Equal(t, model.NotServed, f.Severity)
					unavailable = append(unavailable, f.Object.Namespace+"/"+f.Object.Name)
				}
			}
			assert.Equal(t, c.findings, unavailable)
		})
	}
}
