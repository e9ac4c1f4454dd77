//go:build linux

package local

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
	"github.com/portico-ingress/portico/pkg/promql"
)

// ingressNginxDashboards holds ingress-nginx's Grafana dashboards, unchanged
// (README.md beside them says from where and under which license).
const ingressNginxDashboards = "testdata/ingress-nginx-dashboards/"

// TestIngressNginxDashboards: ingress-nginx's published dashboards work
// against Portico unchanged. A controller with --metrics-per-host (the
// request-handling-performance dashboard groups by host) and the Pod
// identity a Deployment gives it serves a TLS Ingress and a plain one;
// requests answered 200, 404 and 500 go through nginx; then every series
// and label the dashboards' queries need must be on /metrics, the label
// with a value on at least one sample.
//
// What a query needs of the exporter is promql.ForExporter of what it
// reads: Prometheus adds instance, job and, through Kubernetes service
// discovery, namespace, pod and kubernetes_pod_name to every series
// itself, and keeps the exporter's own namespace label as
// exported_namespace (honor_labels false). So a query's exported_namespace
// is asked of /metrics as namespace, and its namespace is not asked at all.
func TestIngressNginxDashboards(t *testing.T) {
	t.Parallel()
	const shop, secure = "shop.example.com", "secure.example.com"
	b := startBackends(t, "web")
	broken := startHandlerBackend(t, "broken", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "broken on purpose", http.StatusInternalServerError)
	})
	pair := framework.NewKeyPair(t, secure)
	c := startController(t, options{
		files: map[string]string{
			"web.yaml":    serviceYAML("web", b["web"]),
			"broken.yaml": broken,
			"shop.yaml": ingressYAML("shop", shop,
				route{"/", "Prefix", "web"}, route{"/fail", "Prefix", "broken"}),
			"secret.yaml": secretYAML("secure-tls", pair),
			"secure.yaml": tlsIngressYAML("secure", "web", map[string]string{secure: "secure-tls"}, secure),
		},
		args: []string{"--metrics-per-host"},
		// ingress-nginx's controller_namespace and controller_pod labels
		// come from the Pod's identity, which the Deployment passes so.
		env: append(os.Environ(), "POD_NAMESPACE=ingress", "POD_NAME=portico-0"),
	})

	roots := x509.NewCertPool()
	roots.AddCert(pair.Leaf)
	for range 5 {
		r := c.Get(t, shop, "/")
		require.Equal(t, http.StatusOK, r.Status, "%s", r)
		r = c.Get(t, shop, "/fail")
		require.Equal(t, http.StatusInternalServerError, r.Status, "%s", r)
		r = c.Get(t, "nowhere.example.com", "/")
		require.Equal(t, http.StatusNotFound, r.Status, "%s", r)
		r, err := framework.DoGet(c.HTTPSClient(secure, roots), "https", secure, "/")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, r.Status, "%s", r)
	}

	needs := promql.Needs{}
	for _, file := range []string{"nginx.json", "request-handling-performance.json"} {
		raw, err := os.ReadFile(ingressNginxDashboards + file)
		require.NoError(t, err)
		d, err := promql.ReadDashboard(raw)
		require.NoError(t, err)
		n, err := d.Needs()
		require.NoError(t, err, file)
		needs.Merge(promql.ForExporter(n))
	}
	require.NotEmpty(t, needs)

	// Request series may be counted a moment after the response: wait
	// until nothing is missing, then report what still is.
	var missing []string
	assert.EventuallyWithT(t, func(ct *assert.CollectT) {
		code, body, err := c.StatusGet("/metrics")
		require.NoError(ct, err)
		require.Equal(ct, http.StatusOK, code)
		series, err := framework.ParseMetrics(body)
		require.NoError(ct, err)
		scraped, err := scrapedLabels(series)
		require.NoError(ct, err)
		missing = missingNeeds(needs, scraped)
		assert.Empty(ct, missing)
	}, framework.RouteTimeout, framework.PollInterval)
	assert.Empty(t, missing, "series and labels ingress-nginx's dashboards use that /metrics lacks")
}

// scrapedLabels maps each series name of a scrape to the labels that have
// a value on at least one of its samples (Prometheus drops empty labels).
func scrapedLabels(series []framework.Series) (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	for _, s := range series {
		if out[s.Name] == nil {
			out[s.Name] = map[string]bool{}
		}
		labels, err := parseLabels(s.Labels)
		if err != nil {
			return nil, fmt.Errorf("%s{%s}: %w", s.Name, s.Labels, err)
		}
		for k, v := range labels {
			if v != "" {
				out[s.Name][k] = true
			}
		}
	}
	return out, nil
}

// parseLabels reads the text between a sample's braces: name="value"
// pairs, comma separated, values quoted with Go's escapes (\\, \", \n).
func parseLabels(text string) (map[string]string, error) {
	out := map[string]string{}
	for text = strings.TrimSpace(text); text != ""; {
		name, rest, ok := strings.Cut(text, "=")
		if !ok || !strings.HasPrefix(rest, `"`) {
			return nil, strconv.ErrSyntax
		}
		quoted, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return nil, err
		}
		value, err := strconv.Unquote(quoted)
		if err != nil {
			return nil, err
		}
		out[strings.TrimSpace(name)] = value
		text = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest[len(quoted):]), ","))
	}
	return out, nil
}

// missingNeeds lists, sorted, the needs a scrape does not meet: "series"
// when no sample of the series is there, "series label" when no sample
// carries the label.
func missingNeeds(needs promql.Needs, scraped map[string]map[string]bool) []string {
	var out []string
	for name, labels := range needs {
		have, ok := scraped[name]
		if !ok {
			out = append(out, name)
			continue
		}
		for l := range labels {
			if !have[l] {
				out = append(out, name+" "+l)
			}
		}
	}
	slices.Sort(out)
	return out
}
