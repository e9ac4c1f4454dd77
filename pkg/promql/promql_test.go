package promql

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ingressNginxDashboards is where e2e/local keeps ingress-nginx's
// dashboards, vendored unchanged.
const ingressNginxDashboards = "../../e2e/local/testdata/ingress-nginx-dashboards/"

// TestRead reads queries of the kinds the dashboards and alert rules
// hold, most of them taken from ingress-nginx's dashboards, and lists
// what each needs as "series label" pairs.
func TestRead(t *testing.T) {
	for _, c := range []struct {
		name, expr string
		want       []string
	}{
		{"bare name", `up`, []string{"up"}},
		{"equality matchers need their labels", `a{x="1", y="2"}`, []string{"a x", "a y"}},
		{"a matcher matching the empty value does not", `a{x=~".*", y="", z!="unknown", w!~"[4-5].*"}`, []string{"a"}},
		{"!= on empty needs the label", `a{ingress!=""}`, []string{"a ingress"}},
		{"=~ that cannot match empty", `a{status=~"[4-5].*"}`, []string{"a status"}},
		{"!~ of a regex that does not match empty", `a{x!~"b"}`, []string{"a"}},
		{"!~ of a regex that matches empty", `a{x!~"|.+"}`, []string{"a x"}},
		{"!~ of empty", `a{x!~""}`, []string{"a x"}},
		{"regexes are anchored", `a{x=~"b|"}`, []string{"a"}},
		{"single quotes and backticks", "a{x='1', y=`2`, z='it\\'s'}", nil},
		{"by after the argument", `sum(rate(a{x=~".*"}[2m])) by (ingress)`, []string{"a ingress"}},
		{"by before the argument, no space", `sum by(le, ingress)(rate(a_bucket[5m]))`, []string{"a_bucket ingress", "a_bucket le"}},
		{"without and ignoring drop labels", `sum without (le) (a) / ignoring (x) b`, []string{"a", "b"}},
		{"on and group_left join on labels", `a * on (pod) group_left (node) b`, []string{"a node", "a pod", "b node", "b pod"}},
		{"by applies inside only", `sum(a) by (x) / sum(b)`, []string{"a x", "b"}},
		{"nested aggregations", `max by (x) (sum by (x, y) (a))`, []string{"a x", "a y"}},
		{"histogram_quantile", `histogram_quantile(0.99, sum(rate(a_bucket{ingress!=""}[2m])) by (le, ingress))`, []string{"a_bucket ingress", "a_bucket le"}},
		{"irate, round with a precision", `round(sum(irate(a{c=~".*"}[2m])) by (ingress), 0.001)`, []string{"a ingress"}},
		{"unary minus", `- sum (irate (a_sum{x=~".*"}[2m]))`, []string{"a_sum"}},
		{"space before braces, trailing comma", "sum (\n  rate (\n      a_sum {\n        ingress =~ \".*\",\n      }[5m]\n  )\n)  by (method, host, path)", []string{"a_sum host", "a_sum method", "a_sum path"}},
		{"multi-line with comments", "sum by (x) ( # the total\n  a\n)", []string{"a x"}},
		{"numbers are not names", `a / 1e3 > bool .5 + 0x1f - 1e-3`, []string{"a"}},
		{"offset and subqueries", `rate(a[5m] offset -1h) + max_over_time(b[1h:5m])`, []string{"a", "b"}},
		{"time() and keywords", `time() - max by (pod) (b) and c or d unless e`, []string{"b pod", "c", "d", "e"}},
		{"comparison with a number", `count(a{x="1"} == 0)`, []string{"a x"}},
		{"__name__ selector", `{__name__="a", x="1"}`, []string{"a x"}},
		{"label_values", `label_values(a{x=~".*"}, ingress)`, []string{"a ingress"}},
		{"label_values with trailing space", `label_values(a, ingress) `, []string{"a ingress"}},
		{"topk and count_values", `topk(5, a) + count_values("v", b)`, []string{"a", "b"}},
		{"a regex ending in $ is no variable", `a{path=~"/api$"}`, []string{"a path"}},
		{"strings with braces", `a{x="}", y="{"}`, []string{"a x", "a y"}},
		{"colons in recording rule names", `job:a:rate5m{x="1"}`, []string{"job:a:rate5m x"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Read(c.expr)
			require.NoError(t, err)
			want := c.want
			if want == nil {
				want = []string{"a x", "a y", "a z"}
			}
			assert.Equal(t, want, got.Pairs())
		})
	}
}

// TestReadRefuses: what the reader cannot answer for is an error, never
// a silent short answer.
func TestReadRefuses(t *testing.T) {
	for _, expr := range []string{
		`label_replace(a, "dst", "$1", "src", "(.*)")`,
		`label_join(a, "dst", ",", "x", "y")`,
		`{x="1"}`,
		`label_values(ingress)`,
		`a{x="1"`,
		`a{x=~"("}`,
		`a{x="unterminated}`,
		`a{x=~"$var"}`,
		`a{x=~"${var}"}`,
		`sum by (x`,
	} {
		_, err := Read(expr)
		assert.Error(t, err, expr)
	}
}

// TestExpand covers Grafana's variable spellings and built-ins.
func TestExpand(t *testing.T) {
	got, err := Expand(`a{x=~"$ingress", y=~"${ns}", z=~"${ns:regex}", w=~"[[ingress]]"}[$__rate_interval]`, map[string]string{"ingress": ".*", "ns": "value"})
	require.NoError(t, err)
	assert.Equal(t, `a{x=~".*", y=~"value", z=~"value", w=~".*"}[1m]`, got)
	_, err = Expand(`a{x=~"$missing"}`, nil)
	assert.ErrorContains(t, err, "missing")
}

// TestForExporter: labels Prometheus adds at scrape time are dropped and
// exported_namespace is the exporter's namespace.
func TestForExporter(t *testing.T) {
	n := Needs{}
	n.add("a", "instance", "job", "namespace", "pod", "kubernetes_pod_name", "exported_namespace", "ingress")
	n.add("b")
	assert.Equal(t, []string{"a ingress", "a namespace", "b"}, ForExporter(n).Pairs())
}

// TestReadDashboard reads the dashboard model's places that hold queries:
// nested panels, old-style rows, annotations, and query variables written
// as a string or as an object; variables expand as documented.
func TestReadDashboard(t *testing.T) {
	raw := []byte(`{
	  "panels": [{"title": "row", "panels": [{"title": "p1", "targets": [{"expr": "sum(a{v=~\"$v\"}) by (x)"}]}]},
	             {"title": "p2", "targets": [{"expr": "b{w=~\"$w\"}"}, {"expr": ""}]}],
	  "rows": [{"panels": [{"title": "p3", "targets": [{"expr": "c"}]}]}],
	  "annotations": {"list": [{"name": "builtin"}, {"name": "reloads", "expr": "changes(d[$__interval])"}]},
	  "templating": {"list": [
	    {"name": "ds", "type": "datasource", "query": "prometheus"},
	    {"name": "v", "type": "query", "query": "label_values(a, v)", "includeAll": true, "allValue": ".*"},
	    {"name": "w", "type": "query", "query": {"query": "label_values(b, w)", "refId": "w"}, "includeAll": true}
	  ]}
	}`)
	d, err := ReadDashboard(raw)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"v": ".*", "w": placeholder}, d.Vars)
	var where []string
	for _, q := range d.Queries {
		where = append(where, q.Where)
	}
	assert.Equal(t, []string{`panel "p1"`, `panel "p2"`, `panel "p3"`, `annotation "reloads"`, "variable v", "variable w"}, where)
	n, err := d.Needs()
	require.NoError(t, err)
	// v's "All" is .*, which needs nothing; w without an allValue is one
	// picked value, which needs w.
	assert.Equal(t, []string{"a v", "a x", "b w", "c", "d"}, n.Pairs())
}

// vendored are the sha256 sums of ingress-nginx's dashboards as copied
// (the README beside them names the commit): the point is that they work
// unedited, so an edit to make a test pass fails here.
var vendored = map[string]string{
	"nginx.json":                        "bde34d97540dd79603c5825f3af89f84421519a8247c267d6f5f3dd7690786f4",
	"request-handling-performance.json": "faf1a80e86fa4a7e349128dd04beea695ee67727c2df34910a276e9cd5a86e6c",
}

// TestIngressNginxDashboards pins what ingress-nginx's two dashboards need
// of the exporter, after the scrape-time mapping of ForExporter. A change
// here is either a reader change or a new dashboard version: both need a
// look at e2e/local's TestIngressNginxDashboards, which holds Portico's
// /metrics to this list.
func TestIngressNginxDashboards(t *testing.T) {
	for file, want := range map[string][]string{
		"nginx.json": {
			"nginx_ingress_controller_config_hash controller_class",
			"nginx_ingress_controller_config_hash controller_namespace",
			"nginx_ingress_controller_config_hash controller_pod",
			"nginx_ingress_controller_config_last_reload_successful",
			"nginx_ingress_controller_config_last_reload_successful_timestamp_seconds controller_class",
			"nginx_ingress_controller_nginx_process_connections state",
			"nginx_ingress_controller_nginx_process_cpu_seconds_total",
			"nginx_ingress_controller_nginx_process_resident_memory_bytes",
			"nginx_ingress_controller_request_duration_seconds_bucket ingress",
			"nginx_ingress_controller_request_duration_seconds_bucket le",
			"nginx_ingress_controller_request_size_sum ingress",
			"nginx_ingress_controller_requests ingress",
			"nginx_ingress_controller_requests namespace",
			"nginx_ingress_controller_response_size_sum ingress",
			"nginx_ingress_controller_ssl_expire_time_seconds host",
			"nginx_ingress_controller_success",
		},
		"request-handling-performance.json": {
			"nginx_ingress_controller_request_duration_seconds_bucket le",
			"nginx_ingress_controller_request_duration_seconds_count host",
			"nginx_ingress_controller_request_duration_seconds_count method",
			"nginx_ingress_controller_request_duration_seconds_count path",
			"nginx_ingress_controller_request_duration_seconds_count status",
			"nginx_ingress_controller_requests ingress",
			"nginx_ingress_controller_response_duration_seconds_bucket host",
			"nginx_ingress_controller_response_duration_seconds_bucket le",
			"nginx_ingress_controller_response_duration_seconds_bucket method",
			"nginx_ingress_controller_response_duration_seconds_bucket path",
			"nginx_ingress_controller_response_duration_seconds_sum host",
			"nginx_ingress_controller_response_duration_seconds_sum method",
			"nginx_ingress_controller_response_duration_seconds_sum path",
			"nginx_ingress_controller_response_size_bucket le",
			"nginx_ingress_controller_response_size_count host",
			"nginx_ingress_controller_response_size_count method",
			"nginx_ingress_controller_response_size_count path",
			"nginx_ingress_controller_response_size_sum host",
			"nginx_ingress_controller_response_size_sum method",
			"nginx_ingress_controller_response_size_sum path",
		},
	} {
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(ingressNginxDashboards + file)
			require.NoError(t, err)
			sum := sha256.Sum256(raw)
			assert.Equal(t, vendored[file], hex.EncodeToString(sum[:]), "%s is not ingress-nginx's file as vendored (its README says from which commit); it must work unchanged", file)
			d, err := ReadDashboard(raw)
			require.NoError(t, err)
			n, err := d.Needs()
			require.NoError(t, err)
			assert.Equal(t, want, ForExporter(n).Pairs())
		})
	}
}
