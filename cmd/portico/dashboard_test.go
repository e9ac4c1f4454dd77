package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	dto "github.com/prometheus/client_model/go"

	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/compat"
	"github.com/portico-ingress/portico/pkg/nginx"
	"github.com/portico-ingress/portico/pkg/reload"
)

// The Grafana dashboard ships twice: in deploy/ for people who import it
// by hand, and in the chart (a chart cannot read files outside itself).
const (
	dashboardDeploy = "../../deploy/grafana/portico.json"
	dashboardChart  = "../../charts/portico/dashboards/portico.json"
)

// exportedMetricNames lists what /metrics serves, from the registry the
// controller builds (newOutputs) with every collector made to report: nginx
// run by the controller (so portico_nginx_restarts_total exists), one
// reload recorded and one certificate served. Histograms and summaries
// count with their _bucket, _sum and _count series, which PromQL names.
func exportedMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	sup := nginx.NewSupervisor(nginx.Options{}, io.Discard, io.Discard)
	parts := nginxParts{proc: sup, supervisor: sup, health: nginx.NewHealth(sup, time.Second)}
	out := newOutputs(slog.New(slog.NewTextHandler(io.Discard, nil)), parts, "lua", 1, time.Now(), compat.Controller{Class: "k8s.io/portico"})
	out.recorder.Record(reload.Event{Result: reload.ResultSuccess, Generation: 1, ConfigHash: strings.Repeat("a", 64), Time: time.Now()})
	out.expiry.Set([]certs.Expiry{{Namespace: "ns", Secret: "tls", NotAfter: time.Now().Add(time.Hour)}})
	families, err := out.registry.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, f := range families {
		n := f.GetName()
		names[n] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[n+"_sum"], names[n+"_count"] = true, true
		}
	}
	return names
}

// dashboardQueries returns every PromQL expression of a Grafana dashboard:
// the panels' targets (rows nest panels too) and the query variables.
func dashboardQueries(t *testing.T, raw []byte) []string {
	t.Helper()
	var d struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	require.NoError(t, json.Unmarshal(raw, &d))
	var out []string
	var walk func(panels []json.RawMessage)
	walk = func(panels []json.RawMessage) {
		for _, raw := range panels {
			var p struct {
				Panels  []json.RawMessage `json:"panels"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			}
			require.NoError(t, json.Unmarshal(raw, &p))
			for _, tg := range p.Targets {
				out = append(out, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		require.NoError(t, json.Unmarshal(v.Query, &q), "variable query")
		out = append(out, q.Query)
	}
	return out
}

// TestGrafanaDashboardNamesExportedMetrics: every query of the dashboard
// names only metrics the controller exports, so a renamed metric cannot
// leave an empty panel behind; and every Portico metric has a panel.
func TestGrafanaDashboardNamesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile(dashboardDeploy)
	require.NoError(t, err)
	inChart, err := os.ReadFile(dashboardChart)
	require.NoError(t, err)
	assert.Equal(t, string(raw), string(inChart), "charts/portico/dashboards/portico.json must be a copy of deploy/grafana/portico.json")

	exported := exportedMetricNames(t)
	queries := dashboardQueries(t, raw)
	require.NotEmpty(t, queries)
	used := map[string]bool{}
	for _, q := range queries {
		names := promqlMetricNames(q)
		assert.NotEmpty(t, names, "query names no metric: %s", q)
		for _, n := range names {
			used[n] = true
			assert.True(t, exported[n], "the dashboard queries %s, which Portico does not export: %s", n, q)
		}
	}
	for n := range exported {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		// Only portico_* series need a panel here: the nginx_ingress_controller_*
		// series exist for ingress-nginx's own dashboards, which show them.
		if !strings.HasPrefix(n, "portico_") || (base != n && exported[base]) {
			continue
		}
		covered := used[n]
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			covered = covered || used[n+s]
		}
		assert.True(t, covered, "Portico exports %s and no panel shows it", n)
	}
}

// TestPromQLMetricNames checks the extractor the dashboard test relies on:
// metric names are found, and functions, keywords, label names, label
// values, durations and Grafana variables are not taken for metrics.
func TestPromQLMetricNames(t *testing.T) {
	for q, want := range map[string][]string{
		`sum by (result) (rate(portico_reloads_total{pod=~"$pod", x="a{b}"}[$__rate_interval]))`: {"portico_reloads_total"},
		`histogram_quantile(0.99, sum without (le) (rate(a_bucket[5m] offset 1h)))`:              {"a_bucket"},
		`time() - max by (pod) (b{namespace=~"$namespace"})`:                                     {"b"},
		`sum by (pod) (c and on (namespace, pod) group_left (x) d) / 1e3 > bool 2`:               {"c", "d"},
		`label_values(portico_nginx_up{namespace=~"$namespace"}, pod)`:                           {"portico_nginx_up"},
		`f[1m:30s] unless ignoring (pod) g{a='}'}`:                                               {"f", "g"},
		`sort(min by (namespace, secret) (h) - time()) / 86400`:                                  {"h"},
	} {
		got := promqlMetricNames(q)
		assert.ElementsMatch(t, want, got, q)
	}
}

// promqlMetricNames returns the metric names a PromQL expression selects
// (a Grafana label_values(SELECTOR, LABEL) counts as SELECTOR). It is a
// lexer, not a parser: strings, label matchers and [ranges] are skipped;
// an identifier followed by "(" is a function or aggregation; the label
// lists of by, without, on, ignoring, group_left and group_right are
// skipped; keywords and numbers are not names.
func promqlMetricNames(q string) []string {
	if rest, ok := strings.CutPrefix(strings.TrimSpace(q), "label_values("); ok {
		if i := strings.LastIndexByte(rest, ','); i >= 0 {
			q = rest[:i]
		} else {
			q = strings.TrimSuffix(rest, ")")
		}
	}
	keywords := []string{"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "by", "without", "on", "ignoring", "group_left", "group_right"}
	labelLists := []string{"by", "without", "on", "ignoring", "group_left", "group_right"}
	isStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isPart := func(c byte) bool { return isStart(c) || c >= '0' && c <= '9' }
	var names []string
	// skipString returns the index after the string that starts at i.
	skipString := func(i int) int {
		quote := q[i]
		for i++; i < len(q) && q[i] != quote; i++ {
			if q[i] == '\\' && quote != '`' {
				i++
			}
		}
		return i + 1
	}
	// skipTo returns the index after the bracket closing the one at i,
	// stepping over quoted strings.
	skipTo := func(i int, open, closing byte) int {
		depth := 0
		for i < len(q) {
			switch c := q[i]; {
			case c == '"' || c == '\'' || c == '`':
				i = skipString(i)
				continue
			case c == open:
				depth++
			case c == closing:
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '{':
			i = skipTo(i, '{', '}')
		case c == '[':
			i = skipTo(i, '[', ']')
		case c == '"' || c == '\'' || c == '`':
			i = skipString(i)
		case c == '$':
			// A Grafana variable: $name or ${name}.
			i++
			if i < len(q) && q[i] == '{' {
				i = skipTo(i, '{', '}')
			}
			for i < len(q) && isPart(q[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(q) && (isPart(q[i]) || q[i] == '.') {
				i++
			}
		case isStart(c):
			j := i
			for j < len(q) && isPart(q[j]) {
				j++
			}
			word := q[i:j]
			k := j
			for k < len(q) && q[k] == ' ' {
				k++
			}
			// An aggregation may put its grouping first: sum by (x) (...).
			called := k < len(q) && q[k] == '('
			for _, grouping := range []string{"by", "without"} {
				if after, ok := strings.CutPrefix(q[k:], grouping); ok && strings.HasPrefix(strings.TrimLeft(after, " "), "(") {
					called = true
				}
			}
			switch {
			case slices.Contains(labelLists, word) && called:
				j = skipTo(k, '(', ')')
			case word == "offset":
				// The duration after it.
				for k < len(q) && (isPart(q[k]) || q[k] == '-') {
					k++
				}
				j = k
			case called || slices.Contains(keywords, word):
			default:
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	return names
}
