package model_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// limitsIngress is an Ingress "big" with the given rules (host: paths) and
// annotations, plus a Service for its paths.
func limitsIngress(hosts, pathsPerHost int, regex bool, annotations map[string]string) string {
	var b strings.Builder
	b.WriteString("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: big\n  uid: big-uid\n  annotations:\n")
	if regex {
		b.WriteString("    nginx.ingress.kubernetes.io/use-regex: \"true\"\n")
	}
	for k, v := range annotations {
		fmt.Fprintf(&b, "    nginx.ingress.kubernetes.io/%s: %q\n", k, v)
	}
	b.WriteString("spec:\n  ingressClassName: portico\n  rules:\n")
	for h := range hosts {
		fmt.Fprintf(&b, "  - host: h%d.example.com\n    http:\n      paths:\n", h)
		for p := range pathsPerHost {
			fmt.Fprintf(&b, "      - {path: /p%d, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}\n", p)
		}
	}
	b.WriteString("---\napiVersion: v1\nkind: Service\nmetadata: {name: app}\nspec: {ports: [{port: 80}]}\n")
	b.WriteString("---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: small}\nspec:\n  ingressClassName: portico\n  rules:\n  - host: small.example.com\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}\n")
	return b.String()
}

// TestLimits: an Ingress over a bound is not served and gets a finding
// naming the bound and its flag; other Ingresses are served; an edit over
// a bound keeps the last accepted version serving.
func TestLimits(t *testing.T) {
	small := model.Limits{HostsPerIngress: 3, PathsPerIngress: 4, AnnotationBytes: 100, SnippetBytes: 20, RegexPathsPerHost: 2}
	tests := []struct {
		name  string
		yaml  string
		limit model.Limits
		// want is a part of the finding; "" when the Ingress is served whole.
		want string
	}{
		{"at every bound", limitsIngress(2, 2, false, map[string]string{"proxy-body-size": "8m"}), small, ""},
		{"hosts", limitsIngress(4, 1, false, nil), small, "more than the 3 hosts an Ingress may have (--max-hosts-per-ingress)"},
		{"paths", limitsIngress(1, 5, false, nil), small, "it has 5 paths, more than the 4 an Ingress may have (--max-paths-per-ingress)"},
		{"annotation bytes", limitsIngress(1, 1, false, map[string]string{"x-forwarded-prefix": "/" + strings.Repeat("a", 120)}), small,
			"more than the 100 an Ingress may have (--max-annotation-bytes)"},
		{"snippet bytes", limitsIngress(1, 1, false, map[string]string{"configuration-snippet": "add_header X-A aaaaaaaaaaaaaaaa;"}), small,
			"its configuration-snippet is 32 bytes, more than the 20 a snippet may have (--max-snippet-bytes)"},
		{"regex paths per host", limitsIngress(1, 3, true, nil), small,
			"the host has 2 regex paths already, the most a host may have (--max-regex-paths-per-host)"},
		{"defaults hold a large Ingress", limitsIngress(50, 20, false, nil), model.Limits{}, ""},
		{"default paths bound", limitsIngress(3, 700, false, nil), model.Limits{}, "it has 2100 paths, more than the 2000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap, err := fixture.Parse([]byte(tt.yaml))
			require.NoError(t, err)
			opts := testOptions()
			opts.Limits = tt.limit
			cfg, findings := model.Build(snap, opts)
			assert.NotNil(t, findServer(cfg, "small.example.com"), "other Ingresses are served")
			var over []string
			for _, f := range findings {
				if f.Reason == model.ReasonOverLimit {
					over = append(over, f.Message)
				}
			}
			if tt.want == "" {
				assert.Empty(t, over)
				assert.NotNil(t, findServer(cfg, "h0.example.com"))
				return
			}
			require.NotEmpty(t, over)
			assert.Contains(t, over[0], tt.want)
			if !strings.Contains(tt.name, "regex") {
				assert.Nil(t, findServer(cfg, "h0.example.com"), "the Ingress over the bound is not served")
			}
		})
	}

	// An edit over a bound: the last accepted version keeps serving.
	opts := testOptions()
	opts.Limits = small
	snap, err := fixture.Parse([]byte(limitsIngress(1, 1, false, nil)))
	require.NoError(t, err)
	cfg, _ := model.Build(snap, opts)
	opts.LastAccepted = cfg.Accepted
	snap, err = fixture.Parse([]byte(limitsIngress(4, 1, false, nil)))
	require.NoError(t, err)
	cfg, findings := model.Build(snap, opts)
	require.NotNil(t, findServer(cfg, "h0.example.com"))
	assert.Nil(t, findServer(cfg, "h3.example.com"))
	require.Len(t, findings, 1)
	assert.Contains(t, findings[0].Message, "still serving the last accepted version")
}

// TestCertificateLimit: a certificate chain over --max-certificate-bytes is
// refused like an invalid one (the host gets the default certificate).
func TestCertificateLimit(t *testing.T) {
	opts := testOptions()
	opts.Limits.CertificateBytes = 100
	cfg, findings := model.Build(fixture.Synthetic(fixture.SyntheticTLSEvery), opts)
	require.NotEmpty(t, findings)
	assert.Equal(t, model.ReasonInvalidCertificate, findings[0].Reason)
	assert.Contains(t, findings[0].Message, "more than the 100 a chain may have (--max-certificate-bytes)")
	assert.Empty(t, cfg.Certificates)

	opts.Limits.CertificateBytes = 0 // the default holds a real chain
	cfg, findings = model.Build(fixture.Synthetic(fixture.SyntheticTLSEvery), opts)
	assert.Empty(t, findings)
	assert.Len(t, cfg.Certificates, 1)
}
