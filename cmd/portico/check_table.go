package main

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/verdict"
)

// writeCheckTable prints one line per Ingress, then the details of every
// Ingress that is not simply served, then problems and the summary.
func writeCheckTable(w io.Writer, r checkReport, prefix string) error {
	prefix = strings.TrimSuffix(cmp.Or(prefix, annotations.DefaultPrefix), "/") + "/"
	short := func(k string) string { return strings.TrimPrefix(k, prefix) }
	var b strings.Builder
	if len(r.Ingresses) == 0 {
		b.WriteString("No Ingresses of Portico's or ingress-nginx's class found (--all-classes reports every class).\n")
	} else {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAMESPACE\tNAME\tCLASS\tVERDICT\tSUPPORTED\tUNSUPPORTED\tINVALID\tFINDINGS")
		for _, in := range r.Ingresses {
			verdict := in.Verdict
			if in.VerdictAfterClassChange != "" {
				verdict += " (after class change: " + in.VerdictAfterClassChange + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", in.Namespace, in.Name, cmp.Or(in.Class, "(none)"), verdict,
				len(in.Supported), len(in.Unsupported), len(in.Invalid), len(in.Findings))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, in := range r.Ingresses {
		if in.Verdict == verdict.Served {
			continue
		}
		fmt.Fprintf(&b, "\n%s/%s: %s\n", in.Namespace, in.Name, in.Verdict)
		line := func(label, text string) { fmt.Fprintf(&b, "  %-12s %s\n", label, text) }
		for _, n := range in.Notes {
			line("note", n)
		}
		if len(in.Supported) > 0 {
			names := make([]string, len(in.Supported))
			for i, k := range in.Supported {
				names[i] = short(k)
			}
			line("supported", strings.Join(names, ", "))
		}
		for _, u := range in.Unsupported {
			line("unsupported", short(u.Key)+": "+u.Advice)
		}
		for _, iv := range in.Invalid {
			line("invalid", short(iv.Key)+": "+iv.Message)
		}
		for _, fd := range in.Findings {
			line("finding", fd.Reason+": "+fd.Message)
		}
	}
	if len(r.Findings) > 0 {
		b.WriteString("\nOther findings:\n")
		for _, fd := range r.Findings {
			fmt.Fprintf(&b, "  %s: %s: %s\n", fd.Object, fd.Reason, fd.Message)
		}
	}
	if len(r.Problems) > 0 {
		b.WriteString("\nProblems in the files:\n")
		for _, p := range r.Problems {
			loc := p.File
			if p.Line > 0 {
				loc = fmt.Sprintf("%s:%d", p.File, p.Line)
			}
			fmt.Fprintf(&b, "  %s: %s: %s\n", loc, p.Severity, p.Message)
		}
	}
	s := r.Summary
	fmt.Fprintf(&b, "\n%d Ingress(es): %d served, %d served with warnings, %d NOT served", s.Ingresses, s.Served, s.ServedWithWarnings, s.NotServed)
	if s.FileErrors > 0 {
		fmt.Fprintf(&b, "; %d error(s) in the files", s.FileErrors)
	}
	b.WriteString(".\n")
	_, err := io.WriteString(w, b.String())
	return err
}
