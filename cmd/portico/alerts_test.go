package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"text/template"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/portico-ingress/portico/pkg/promql"
)

// The alert rules ship twice, as the dashboard does: in deploy/ for a
// rule_files entry or a hand-made PrometheusRule, and in the chart, whose
// PrometheusRule template reads its own copy.
const (
	alertsDeploy = "../../deploy/prometheus/portico-alerts.yaml"
	alertsChart  = "../../charts/portico/prometheus/portico-alerts.yaml"
)

// ruleFile is a Prometheus rule file (and a PrometheusRule's spec).
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// promDuration is a Prometheus duration: units from ms to y, largest first.
var promDuration = regexp.MustCompile(`^([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$`)

// TestPrometheusAlertRules: the rule file parses (unknown fields refused),
// both copies are the same, every rule is an alert with a severity, a
// summary, a description and a for, its annotations are templates
// Prometheus can run, and its expression uses only series and labels
// Portico exports.
func TestPrometheusAlertRules(t *testing.T) {
	raw, err := os.ReadFile(alertsDeploy)
	require.NoError(t, err)
	inChart, err := os.ReadFile(alertsChart)
	require.NoError(t, err)
	assert.Equal(t, string(raw), string(inChart), "charts/portico/prometheus/portico-alerts.yaml must be a copy of deploy/prometheus/portico-alerts.yaml")

	var rules ruleFile
	require.NoError(t, yaml.UnmarshalStrict(raw, &rules))
	require.NotEmpty(t, rules.Groups)
	exported := exportedSeries(t)
	names := map[string]bool{}
	for _, g := range rules.Groups {
		require.NotEmpty(t, g.Name)
		for _, r := range g.Rules {
			t.Run(r.Alert, func(t *testing.T) {
				require.NotEmpty(t, r.Alert, "a rule of group %s is no alert", g.Name)
				assert.False(t, names[r.Alert], "two alerts named %s", r.Alert)
				names[r.Alert] = true
				assert.Contains(t, []string{"warning", "critical"}, r.Labels["severity"], "severity")
				assert.Regexp(t, promDuration, r.For, "for")
				assert.NotEmpty(t, r.For, "for: an alert without it fires on one bad scrape")
				for _, a := range []string{"summary", "description"} {
					assert.NotEmpty(t, strings.TrimSpace(r.Annotations[a]), a)
				}
				for name, text := range r.Annotations {
					assertAlertTemplate(t, name, text)
				}
				needs, err := promql.Read(r.Expr)
				require.NoError(t, err)
				require.NotEmpty(t, needs, "the expression names no series")
				assertExported(t, r.Alert, promql.ForExporter(needs), exported)
			})
		}
	}
	// What issue 15 asks the rules to cover, by the series they read.
	for _, series := range []string{"portico_reloads_total", "portico_last_reload_successful",
		"nginx_ingress_controller_ssl_expire_time_seconds", "nginx_ingress_controller_requests"} {
		assert.Contains(t, string(raw), series)
	}
}

// assertAlertTemplate runs an annotation as Prometheus does: a Go text
// template with $labels, $externalLabels and $value defined first, and
// Prometheus's humanize functions (stubbed: their output does not matter
// here, only that the template parses and runs).
func assertAlertTemplate(t *testing.T, name, text string) {
	t.Helper()
	stub := func(v any) string { return "x" }
	tmpl, err := template.New(name).Option("missingkey=zero").Funcs(template.FuncMap{
		"humanize": stub, "humanizeDuration": stub, "humanizePercentage": stub, "humanizeTimestamp": stub,
	}).Parse("{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$value := .Value}}" + text)
	if !assert.NoError(t, err, "annotation %s", name) {
		return
	}
	var out strings.Builder
	data := map[string]any{"Labels": map[string]string{"namespace": "ns", "ingress": "web"}, "ExternalLabels": map[string]string{}, "Value": 0.5}
	assert.NoError(t, tmpl.Execute(&out, data), "annotation %s", name)
	assert.NotContains(t, out.String(), "<no value>", "annotation %s", name)
}
