// Package promql reads which series and labels a PromQL query needs from
// the exporter it is written against, so that tests can hold Portico's
// /metrics to the dashboards and alert rules people already run (Grafana
// dashboards, Prometheus rule files). It is a lexer with just enough
// structure for that question, not a PromQL parser: it knows selectors,
// label matchers, function calls, aggregations and their grouping, and
// refuses what it does not model (label_replace, label_join, selectors
// without a metric name) rather than answer wrongly.
package promql

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Needs maps each series name a query selects to the labels the query
// needs on it (an empty set: the name alone).
type Needs map[string]map[string]bool

// add records that series name is needed, with labels.
func (n Needs) add(name string, labels ...string) {
	if n[name] == nil {
		n[name] = map[string]bool{}
	}
	for _, l := range labels {
		n[name][l] = true
	}
}

// Merge adds every need of other to n.
func (n Needs) Merge(other Needs) {
	for name, labels := range other {
		n.add(name, slices.Collect(maps.Keys(labels))...)
	}
}

// Pairs returns the needs as sorted "series label" pairs, and "series"
// alone for a series needed without labels: a stable, readable listing.
func (n Needs) Pairs() []string {
	var out []string
	for name, labels := range n {
		if len(labels) == 0 {
			out = append(out, name)
		}
		for l := range labels {
			out = append(out, name+" "+l)
		}
	}
	slices.Sort(out)
	return out
}

// aggregations are PromQL's aggregation operators: they take by/without.
var aggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// keywords are words that are neither metric names nor functions.
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true, "by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true,
}

// unsupported are functions whose effect on labels this reader does not
// model: label_replace and label_join read labels named in strings.
var unsupported = map[string]bool{"label_replace": true, "label_join": true}

// tokenKind tells tokens apart.
type tokenKind int

const (
	tIdent  tokenKind = iota // a name: metric, label, function or keyword
	tString                  // a quoted string, already unquoted
	tNumber                  // a number
	tRange                   // a [range] or [range:step], contents dropped
	tPunct                   // ( ) { } , and operators
)

// token is one lexeme.
type token struct {
	kind tokenKind
	text string
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// lex splits a query into tokens. Grafana variables must have been
// expanded (Expand) first; a '$' left over is an error.
func lex(q string) ([]token, error) {
	var out []token
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			// A comment runs to the end of the line.
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(q) && q[j] != c {
				if q[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(q) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			s, err := unquote(q[i : j+1])
			if err != nil {
				return nil, fmt.Errorf("string at %d: %w", i, err)
			}
			out = append(out, token{tString, s})
			i = j + 1
		case c == '[':
			j := strings.IndexByte(q[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unterminated [ at %d", i)
			}
			out = append(out, token{tRange, q[i : i+j+1]})
			i += j + 1
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			// Numbers and durations: 0.001, .5, 1e3, 1e-3, 0x1f, 5m.
			j := i
			for j < len(q) && (isIdentPart(q[j]) || q[j] == '.' ||
				(q[j] == '-' || q[j] == '+') && (q[j-1] == 'e' || q[j-1] == 'E') && !strings.HasPrefix(q[i:], "0x")) {
				j++
			}
			out = append(out, token{tNumber, q[i:j]})
			i = j
		case isIdentStart(c):
			j := i
			for j < len(q) && isIdentPart(q[j]) {
				j++
			}
			out = append(out, token{tIdent, q[i:j]})
			i = j
		case c == '$':
			return nil, fmt.Errorf("unexpanded variable at %d: %.20q", i, q[i:])
		default:
			// Two-character operators first: =~ != !~ == <= >=.
			if i+1 < len(q) && strings.Contains("=~ != !~ == <= >=", q[i:i+2]) {
				out = append(out, token{tPunct, q[i : i+2]})
				i += 2
				continue
			}
			if !strings.ContainsRune("(){},=<>+-*/%^@", rune(c)) {
				return nil, fmt.Errorf("unexpected %q at %d", c, i)
			}
			out = append(out, token{tPunct, string(c)})
			i++
		}
	}
	return out, nil
}

// unquote reads a PromQL string literal: Go's rules for "..." and `...`;
// '...' is the same as "..." with the other quote.
func unquote(s string) (string, error) {
	if s[0] == '\'' {
		inner := strings.ReplaceAll(s[1:len(s)-1], `"`, `\"`)
		inner = strings.ReplaceAll(inner, `\'`, `'`)
		s = `"` + inner + `"`
	}
	return strconv.Unquote(s)
}

// matcher is one label matcher of a selector.
type matcher struct {
	label, op, value string
}

// matchesEmpty reports whether the matcher selects a series that lacks
// the label: Prometheus compares an absent label as "".
func (m matcher) matchesEmpty() (bool, error) {
	switch m.op {
	case "=":
		return m.value == "", nil
	case "!=":
		return m.value != "", nil
	case "=~", "!~":
		// Prometheus anchors label regexes at both ends.
		re, err := regexp.Compile("^(?:" + m.value + ")$")
		if err != nil {
			return false, fmt.Errorf("matcher %s%s%q: %w", m.label, m.op, m.value, err)
		}
		return re.MatchString("") == (m.op == "=~"), nil
	}
	return false, fmt.Errorf("matcher %s: operator %q", m.label, m.op)
}

// selector is one series selector and where it sits among the tokens.
type selector struct {
	name     string
	at       int
	matchers []matcher
}

// scope is the token span of an aggregation's argument and the labels
// its by clause keeps.
type scope struct {
	from, to int
	labels   []string
}

// unexpanded finds a Grafana variable left in a query, in a string or out
// ("$" alone, as a regex's end anchor, is not one).
var unexpanded = regexp.MustCompile(`\$\w+|\$\{[^}]*\}|\[\[\w+`)

// Read returns the series expr selects and, for each, the labels the
// query needs the exporter to put on it:
//   - labels of by (...) of every aggregation the selector sits inside (the
//     grouping would lump series without them together);
//   - labels of on (...), group_left (...) and group_right (...), needed on
//     every selector of the query (vector matching joins on them);
//   - labels of matchers that would not match a series lacking the label
//     (Prometheus compares an absent label as "": ingress!="" needs
//     ingress, ingress=~".*" does not).
//
// Labels of without (...) and ignoring (...) are not needed: they are
// dropped. A Grafana label_values(SELECTOR, LABEL) query needs LABEL on
// SELECTOR's series besides what SELECTOR needs. Grafana variables must be
// expanded first (Expand).
func Read(expr string) (Needs, error) {
	expr = strings.TrimSpace(expr)
	if rest, ok := strings.CutPrefix(expr, "label_values("); ok {
		return readLabelValues(strings.TrimSpace(rest))
	}
	if v := unexpanded.FindString(expr); v != "" {
		return nil, fmt.Errorf("unexpanded Grafana variable %s in %q", v, expr)
	}
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	var (
		sels     []selector
		scopes   []scope
		matching []string
	)
	for i := 0; i < len(toks); i++ {
		tk := toks[i]
		switch {
		case tk.kind == tPunct && tk.text == "{":
			// A selector without a name before its braces.
			ms, end, err := readMatchers(toks, i)
			if err != nil {
				return nil, err
			}
			sel := selector{at: i, matchers: ms}
			for _, m := range ms {
				if m.label == "__name__" && m.op == "=" {
					sel.name = m.value
				}
			}
			if sel.name == "" {
				return nil, fmt.Errorf("a selector without a metric name: %q", expr)
			}
			sels = append(sels, sel)
			i = end
		case tk.kind != tIdent:
		case tk.text == "offset":
			// offset 5m or offset -5m: the duration is not a name.
			for i+1 < len(toks) && (toks[i+1].kind == tNumber || toks[i+1].text == "-") {
				i++
			}
		case tk.text == "on" || tk.text == "ignoring" || tk.text == "group_left" || tk.text == "group_right":
			if next(toks, i+1, "(") {
				labels, end, err := readLabels(toks, i+1)
				if err != nil {
					return nil, err
				}
				if tk.text != "ignoring" {
					matching = append(matching, labels...)
				}
				i = end
			}
		case (tk.text == "by" || tk.text == "without") && next(toks, i+1, "("):
			// A by/without after its aggregation's argument: read with
			// the aggregation; its labels are not selectors.
			_, end, err := readLabels(toks, i+1)
			if err != nil {
				return nil, err
			}
			i = end
		case keywords[tk.text]:
		case unsupported[tk.text]:
			return nil, fmt.Errorf("%s changes labels in ways this reader does not follow: %q", tk.text, expr)
		case aggregations[tk.text]:
			sc, err := readAggregation(toks, i)
			if err != nil {
				return nil, err
			}
			scopes = append(scopes, sc)
			// Go on inside the argument; the by clause after it was read.
			i = sc.from
		case next(toks, i+1, "("):
			// A function: its arguments are read as the loop goes on.
		default:
			sel := selector{name: tk.text, at: i}
			if next(toks, i+1, "{") {
				ms, end, err := readMatchers(toks, i+1)
				if err != nil {
					return nil, err
				}
				sel.matchers, i = ms, end
			}
			sels = append(sels, sel)
		}
	}
	needs := Needs{}
	for _, s := range sels {
		needs.add(s.name, matching...)
		for _, m := range s.matchers {
			empty, err := m.matchesEmpty()
			if err != nil {
				return nil, err
			}
			if !empty && m.label != "__name__" {
				needs.add(s.name, m.label)
			}
		}
		for _, sc := range scopes {
			if s.at > sc.from && s.at < sc.to {
				needs.add(s.name, sc.labels...)
			}
		}
	}
	return needs, nil
}

// readLabelValues reads the rest of a Grafana label_values(SELECTOR, LABEL)
// after its opening parenthesis.
func readLabelValues(rest string) (Needs, error) {
	rest, ok := strings.CutSuffix(rest, ")")
	if !ok {
		return nil, fmt.Errorf("label_values(%s: no closing parenthesis", rest)
	}
	i := strings.LastIndexByte(rest, ',')
	if i < 0 {
		// label_values(LABEL) asks every series: no series is named.
		return nil, fmt.Errorf("label_values(%s) names no metric", rest)
	}
	sel, label := strings.TrimSpace(rest[:i]), strings.TrimSpace(rest[i+1:])
	needs, err := Read(sel)
	if err != nil {
		return nil, err
	}
	if len(needs) != 1 {
		return nil, fmt.Errorf("label_values(%s, %s): want one selector", sel, label)
	}
	for name := range needs {
		needs.add(name, label)
	}
	return needs, nil
}

// next reports whether token i is the punctuation p.
func next(toks []token, i int, p string) bool {
	return i < len(toks) && toks[i].kind == tPunct && toks[i].text == p
}

// readLabels reads the label list (a, b) starting at the "(" at i and
// returns the labels and the index of the ")".
func readLabels(toks []token, i int) ([]string, int, error) {
	var labels []string
	for i++; i < len(toks); i++ {
		switch tk := toks[i]; {
		case tk.kind == tPunct && tk.text == ")":
			return labels, i, nil
		case tk.kind == tPunct && tk.text == ",":
		case tk.kind == tIdent, tk.kind == tString:
			labels = append(labels, tk.text)
		default:
			return nil, 0, fmt.Errorf("%q in a label list", tk.text)
		}
	}
	return nil, 0, fmt.Errorf("unterminated label list")
}

// readMatchers reads {label op "value", ...} starting at the "{" at i and
// returns the matchers and the index of the "}". A trailing comma is
// allowed, as Prometheus allows it.
func readMatchers(toks []token, i int) ([]matcher, int, error) {
	var ms []matcher
	for i++; i < len(toks); i++ {
		tk := toks[i]
		if tk.kind == tPunct && tk.text == "}" {
			return ms, i, nil
		}
		if tk.kind == tPunct && tk.text == "," {
			continue
		}
		if i+2 >= len(toks) || (tk.kind != tIdent && tk.kind != tString) || toks[i+1].kind != tPunct || toks[i+2].kind != tString {
			return nil, 0, fmt.Errorf("a label matcher at %q", tk.text)
		}
		ms = append(ms, matcher{label: tk.text, op: toks[i+1].text, value: toks[i+2].text})
		i += 2
	}
	return nil, 0, fmt.Errorf("unterminated label matchers")
}

// readAggregation reads an aggregation at i (sum by (x) (...) or
// sum (...) by (x)) and returns the span of its argument with the labels
// of its by clause. A by clause after the argument is read here and
// skipped again by Read when it gets there.
func readAggregation(toks []token, i int) (scope, error) {
	var sc scope
	j := i + 1
	grouping := func() error {
		if j < len(toks) && toks[j].kind == tIdent && (toks[j].text == "by" || toks[j].text == "without") {
			labels, end, err := readLabels(toks, j+1)
			if err != nil {
				return fmt.Errorf("%s %s: %w", toks[i].text, toks[j].text, err)
			}
			if toks[j].text == "by" {
				sc.labels = append(sc.labels, labels...)
			}
			j = end + 1
		}
		return nil
	}
	if err := grouping(); err != nil {
		return sc, err
	}
	if !next(toks, j, "(") {
		return sc, fmt.Errorf("%s without its argument", toks[i].text)
	}
	sc.from = j
	depth := 0
	for ; j < len(toks); j++ {
		if toks[j].kind != tPunct {
			continue
		}
		switch toks[j].text {
		case "(":
			depth++
		case ")":
			depth--
		}
		if depth == 0 {
			break
		}
	}
	if j >= len(toks) {
		return sc, fmt.Errorf("%s: unbalanced parentheses", toks[i].text)
	}
	sc.to = j
	j++
	return sc, grouping()
}

// ForExporter returns the needs an exporter must meet itself, from needs
// written against series as Prometheus stores them. Prometheus adds some
// labels at scrape time and renames others, so a query's label is not
// always the exporter's:
//   - instance and job are set from the scrape target;
//   - namespace, pod and kubernetes_pod_name are target labels that
//     Kubernetes service discovery relabels onto every series (a
//     ServiceMonitor does; kubernetes_pod_name is the older
//     kubernetes-pods scrape config's name for pod);
//   - exported_namespace is the exporter's own namespace label: with
//     honor_labels false (the default), an exporter's label that collides
//     with a target label is kept under the name exported_<label>.
//
// So instance, job, namespace, pod and kubernetes_pod_name are dropped and
// exported_namespace becomes namespace. A query's namespace is therefore
// never asked of the exporter: it is the Pod's namespace once scraped.
func ForExporter(needs Needs) Needs {
	out := Needs{}
	for name, labels := range needs {
		out.add(name)
		for l := range labels {
			switch l {
			case "instance", "job", "namespace", "pod", "kubernetes_pod_name":
			case "exported_namespace":
				out.add(name, "namespace")
			default:
				out.add(name, l)
			}
		}
	}
	return out
}
