package promql

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Query is one PromQL query of a Grafana dashboard.
type Query struct {
	// Where says where the dashboard holds it: a panel, variable or annotation.
	Where string
	// Expr is the query as written, Grafana variables not expanded.
	Expr string
}

// Dashboard is what a Grafana dashboard asks of Prometheus.
type Dashboard struct {
	// Queries are the panels' targets (rows nest panels too), the
	// annotation queries and the query variables' label_values.
	Queries []Query
	// Vars maps each variable to the value Expand puts in its place.
	Vars map[string]string
}

// placeholder stands for a variable set to one value the user picked:
// not empty, so a matcher on it needs the label.
const placeholder = "value"

// ReadDashboard returns the queries and variables of a Grafana dashboard
// in its JSON model. A variable that offers "All" with an allValue (".*"
// in ingress-nginx's dashboards, and the default selection) stands for
// that value, as the dashboard first shows it; any other stands for one
// picked value.
func ReadDashboard(raw []byte) (Dashboard, error) {
	type target struct {
		Expr string `json:"expr"`
	}
	type panel struct {
		Title   string            `json:"title"`
		Panels  []json.RawMessage `json:"panels"`
		Targets []target          `json:"targets"`
	}
	var d struct {
		Panels []json.RawMessage `json:"panels"`
		// Rows are how dashboards before Grafana 5 grouped panels.
		Rows []struct {
			Panels []json.RawMessage `json:"panels"`
		} `json:"rows"`
		Annotations struct {
			List []struct {
				Name string `json:"name"`
				Expr string `json:"expr"`
			} `json:"list"`
		} `json:"annotations"`
		Templating struct {
			List []struct {
				Name       string          `json:"name"`
				Type       string          `json:"type"`
				Query      json.RawMessage `json:"query"`
				IncludeAll bool            `json:"includeAll"`
				AllValue   *string         `json:"allValue"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return Dashboard{}, fmt.Errorf("dashboard: %w", err)
	}
	out := Dashboard{Vars: map[string]string{}}
	var walk func(panels []json.RawMessage) error
	walk = func(panels []json.RawMessage) error {
		for _, raw := range panels {
			var p panel
			if err := json.Unmarshal(raw, &p); err != nil {
				return fmt.Errorf("panel: %w", err)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) != "" {
					out.Queries = append(out.Queries, Query{Where: fmt.Sprintf("panel %q", p.Title), Expr: tg.Expr})
				}
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return Dashboard{}, err
	}
	for _, r := range d.Rows {
		if err := walk(r.Panels); err != nil {
			return Dashboard{}, err
		}
	}
	for _, a := range d.Annotations.List {
		if strings.TrimSpace(a.Expr) != "" {
			out.Queries = append(out.Queries, Query{Where: fmt.Sprintf("annotation %q", a.Name), Expr: a.Expr})
		}
	}
	for _, v := range d.Templating.List {
		// A query is a string, or (Grafana 9 on) an object holding it.
		var q string
		if len(v.Query) > 0 && json.Unmarshal(v.Query, &q) != nil {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				return Dashboard{}, fmt.Errorf("variable %s: query: %w", v.Name, err)
			}
			q = obj.Query
		}
		switch v.Type {
		case "query":
			out.Queries = append(out.Queries, Query{Where: "variable " + v.Name, Expr: q})
			out.Vars[v.Name] = placeholder
			if v.IncludeAll && v.AllValue != nil && *v.AllValue != "" {
				out.Vars[v.Name] = *v.AllValue
			}
		case "constant", "textbox":
			out.Vars[v.Name] = q
		case "interval":
			out.Vars[v.Name] = "1m"
		case "datasource":
			// Names a data source, never part of a query.
		default:
			out.Vars[v.Name] = placeholder
		}
	}
	return out, nil
}

// Needs reads every query of the dashboard, variables expanded.
func (d Dashboard) Needs() (Needs, error) {
	all := Needs{}
	for _, q := range d.Queries {
		n, err := d.Read(q)
		if err != nil {
			return nil, err
		}
		all.Merge(n)
	}
	return all, nil
}

// Read reads one query of the dashboard, variables expanded.
func (d Dashboard) Read(q Query) (Needs, error) {
	expr, err := Expand(q.Expr, d.Vars)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q.Where, err)
	}
	n, err := Read(expr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q.Where, err)
	}
	return n, nil
}

// builtins are Grafana's global variables, as values a query reads like
// the ones Grafana puts in.
var builtins = map[string]string{
	"__rate_interval": "1m", "__interval": "1m", "__range": "1h",
	"__interval_ms": "60000", "__range_s": "3600", "__range_ms": "3600000",
}

// variable matches Grafana's three spellings: $name, ${name} or
// ${name:format}, [[name]] or [[name:format]].
var variable = regexp.MustCompile(`\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)`)

// Expand replaces Grafana variables in expr with the values in vars or
// Grafana's built-in ones; an unknown variable is an error.
func Expand(expr string, vars map[string]string) (string, error) {
	var unknown []string
	out := variable.ReplaceAllStringFunc(expr, func(m string) string {
		sub := variable.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		if v, ok := vars[name]; ok {
			return v
		}
		if v, ok := builtins[name]; ok {
			return v
		}
		unknown = append(unknown, name)
		return m
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("unknown variables %v in %q", unknown, expr)
	}
	return out, nil
}
