package inspect

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/reload"
	"github.com/portico-ingress/portico/pkg/status"
)

// Output formats.
const (
	// Table is aligned columns for people, sorted deterministically.
	Table = "table"
	// JSON is indented JSON with stable field names, for scripts.
	JSON = "json"
)

// CheckFormat returns an error for anything but Table and JSON.
func CheckFormat(format string) error {
	if format != Table && format != JSON {
		return fmt.Errorf("-o %q: use table or json", format)
	}
	return nil
}

// Pool is one pool of the backends view: a Service port's endpoints as the
// Lua balancer holds them.
type Pool struct {
	// Name is the pool ("namespace.service.port"), as ingresses' upstream says.
	Name string `json:"name"`
	// Endpoints are the ready "ip:port" addresses, sorted; [] for none.
	Endpoints []string `json:"endpoints"`
	// Routes is how many locations send requests to the pool (as their
	// backend, their fallback or their canary).
	Routes int `json:"routes"`
}

// Pools turns the balancer's data into pools sorted by name.
func Pools(d model.Dynamic) []Pool {
	uses := map[string]int{}
	for _, r := range d.Routes {
		uses[r.Backend]++
		if r.Fallback != "" {
			uses[r.Fallback]++
		}
		if r.Canary != nil {
			uses[r.Canary.Backend]++
		}
	}
	out := make([]Pool, 0, len(d.Backends))
	for name, eps := range d.Backends {
		eps = slices.Clone(eps)
		slices.Sort(eps)
		if eps == nil {
			eps = []string{}
		}
		out = append(out, Pool{Name: name, Endpoints: eps, Routes: uses[name]})
	}
	slices.SortFunc(out, func(a, b Pool) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// WriteJSON writes v indented, with a final newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table collects rows and prints them aligned.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	t.row(header...)
	return t
}

// row prints one row; each cell is cleaned so a value from a user object
// cannot break the columns or send escape sequences to the terminal.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		c = clean(c)
		if c == "" {
			c = "-"
		}
		cells[i] = c
	}
	_, _ = fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// clean escapes what is not printable (control characters, tabs, newlines,
// bidirectional overrides): hosts, messages and Secret names come from
// tenants' objects, and an operator's terminal must show them as text.
func clean(s string) string {
	if !strings.ContainsFunc(s, needsEscape) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if needsEscape(r) {
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func needsEscape(r rune) bool {
	return r == unicode.ReplacementChar || (!unicode.IsPrint(r) && r != ' ')
}

// WriteCertificates prints the certificates; now is when EXPIRES counts from.
func WriteCertificates(w io.Writer, format string, list []status.CertificateView, now time.Time) error {
	list = slices.Clone(list)
	slices.SortFunc(list, func(a, b status.CertificateView) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Secret, b.Secret))
	})
	if format == JSON {
		return WriteJSON(w, nonNil(list))
	}
	t := newTable(w, "NAMESPACE", "SECRET", "HOSTS", "ISSUER", "NOT BEFORE", "NOT AFTER", "EXPIRES", "SERIAL")
	for _, c := range list {
		if c.Error != "" {
			t.row(c.Namespace, c.Secret, strings.Join(c.Hosts, ","), "error: "+c.Error, "", "", "", "")
			continue
		}
		t.row(c.Namespace, c.Secret, strings.Join(c.Hosts, ","), c.Issuer, stamp(c.NotBefore), stamp(c.NotAfter),
			expiresIn(c.NotAfter, now), c.Serial)
	}
	return t.flush()
}

// expiresIn says in whole days (hours under two days) when t comes.
func expiresIn(t, now time.Time) string {
	d := t.Sub(now)
	past := d < 0
	if past {
		d = -d
	}
	var s string
	if d >= 48*time.Hour {
		s = fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	} else {
		s = fmt.Sprintf("%dh", int(d/time.Hour))
	}
	if past {
		return "EXPIRED " + s + " ago"
	}
	return "in " + s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// WriteIngresses prints one row per route of each Ingress (one row with
// dashes for an Ingress without routes), then each finding on a line.
func WriteIngresses(w io.Writer, format string, list []status.IngressView) error {
	list = slices.Clone(list)
	slices.SortFunc(list, func(a, b status.IngressView) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	if format == JSON {
		return WriteJSON(w, nonNil(list))
	}
	t := newTable(w, "NAMESPACE", "INGRESS", "HOST", "PATH", "MATCH", "SERVICE", "UPSTREAM", "TLS SECRET", "FINDINGS")
	for _, ing := range list {
		found := findingSummary(ing)
		if len(ing.Paths) == 0 {
			t.row(ing.Namespace, ing.Name, "", "", "", "", "", "", found)
			continue
		}
		for _, p := range ing.Paths {
			upstream := p.Upstream
			if p.Return != 0 {
				upstream = "return " + strconv.Itoa(p.Return)
			}
			if p.Canary {
				upstream += " (canary)"
			}
			host := p.Host
			if host == "" {
				host = "*"
			}
			t.row(ing.Namespace, ing.Name, host, p.Path, p.Match, p.Service, upstream, p.TLSSecret, found)
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	var lines []string
	for _, ing := range list {
		for _, f := range ing.Findings {
			lines = append(lines, clean(fmt.Sprintf("%s/%s: %s %s: %s", ing.Namespace, ing.Name, f.Severity, f.Reason, f.Message)))
		}
	}
	if len(lines) > 0 {
		_, err := fmt.Fprintf(w, "\nFindings:\n  %s\n", strings.Join(lines, "\n  "))
		return err
	}
	return nil
}

// findingSummary is "-" without findings, else the count and the worst severity.
func findingSummary(ing status.IngressView) string {
	if !ing.Served && len(ing.Findings) > 0 {
		return fmt.Sprintf("%d, not served", len(ing.Findings))
	}
	worst := model.Served
	for _, f := range ing.Findings {
		if s := model.Severity(f.Severity); s.Rank() > worst.Rank() {
			worst = s
		}
	}
	if len(ing.Findings) == 0 {
		return ""
	}
	return fmt.Sprintf("%d (%s)", len(ing.Findings), worst)
}

// WriteBackends prints the balancer's pools.
func WriteBackends(w io.Writer, format string, pools []Pool) error {
	if format == JSON {
		return WriteJSON(w, nonNil(pools))
	}
	t := newTable(w, "POOL", "ENDPOINTS", "ROUTES", "ADDRESSES")
	for _, p := range pools {
		t.row(p.Name, strconv.Itoa(len(p.Endpoints)), strconv.Itoa(p.Routes), strings.Join(p.Endpoints, ","))
	}
	return t.flush()
}

// WriteReloads prints the reload events, newest first as the controller keeps them.
func WriteReloads(w io.Writer, format string, events []reload.Event) error {
	if format == JSON {
		return WriteJSON(w, nonNil(events))
	}
	t := newTable(w, "TIME", "RESULT", "GENERATION", "DURATION", "COUNT", "REASON")
	for _, e := range events {
		t.row(stamp(e.Time), string(e.Result), strconv.FormatUint(e.Generation, 10),
			e.Duration.Round(time.Millisecond).String(), strconv.Itoa(max(e.Count, 1)), reason(e))
	}
	return t.flush()
}

// reason is why a reload happened (the servers it added, removed or
// changed) or, for one that failed, the first line of nginx's error.
func reason(e reload.Event) string {
	if e.Message != "" {
		first, _, _ := strings.Cut(strings.TrimSpace(e.Message), "\n")
		return first
	}
	var parts []string
	for _, c := range []struct {
		verb  string
		hosts []string
	}{{"added", e.Changes.Added}, {"removed", e.Changes.Removed}, {"changed", e.Changes.Changed}} {
		if len(c.hosts) > 0 {
			parts = append(parts, c.verb+" "+abbreviate(c.hosts, 3))
		}
	}
	return strings.Join(parts, "; ")
}

// abbreviate joins the first n names and says how many more there are.
func abbreviate(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ",")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ","), len(names)-n)
}

// nonNil makes an empty list print as [] rather than null.
func nonNil[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}
