package main

import (
	"slices"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/admission"
	"github.com/portico-ingress/portico/pkg/source/manifests"
)

// TestCheckAndWebhookAgree: portico check and the admission webhook give
// the same verdict for the same object. Over the corpus of real-world
// ingress-nginx manifests (both its ConfigMaps) and the check fixtures,
// every Ingress check reports as Portico's is reviewed as an update of
// itself, against the same objects and flags.
func TestCheckAndWebhookAgree(t *testing.T) {
	cases := []struct {
		dir   string
		flags []string
	}{
		{corpusDir, slices.Concat([]string{"--configmap", "ingress-nginx/ingress-nginx-controller"}, corpusFlags)},
		{corpusDir, slices.Concat([]string{"--configmap", "ingress-nginx/ingress-nginx-logs"}, corpusFlags)},
		{checkFixtures, nil},
	}
	for _, c := range cases {
		var mf modelFlags
		fs := pflag.NewFlagSet("check", pflag.ContinueOnError)
		mf.register(fs)
		require.NoError(t, fs.Parse(c.flags))
		mf.resolvers = []string{}
		opts, err := mf.options("/tmp/portico", "/etc/portico", "/etc/portico/certs/default.pem")
		require.NoError(t, err)
		snap, problems := manifests.New(c.dir, nil).Load()
		report := buildCheckReport(snap, problems, opts, "", false)

		reviewer := admission.NewReviewer(opts, admission.Options{})
		reviewer.SetSnapshot(snap)
		byKey := map[string]string{}
		for _, r := range report.Ingresses {
			if r.VerdictAfterClassChange == "" { // of Portico's class
				byKey[r.Namespace+"/"+r.Name] = r.Verdict
			}
		}
		reviewed := 0
		for _, ing := range snap.Ingresses {
			want, ours := byKey[ing.Namespace+"/"+ing.Name]
			if !ours {
				continue
			}
			d, err := reviewer.Ingress(ing, false)
			require.NoError(t, err)
			require.NotNil(t, d.Report, "%s/%s", ing.Namespace, ing.Name)
			assert.Equal(t, want, d.Report.Verdict, "%s %v: %s/%s", c.dir, c.flags, ing.Namespace, ing.Name)
			reviewed++
		}
		assert.Positive(t, reviewed, "%s: no Ingress of Portico's class", c.dir)
		t.Logf("%s %v: %d Ingresses, the same verdict", c.dir, c.flags, reviewed)
	}
}
