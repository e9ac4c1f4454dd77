package main

import (
	"cmp"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/source/manifests"
)

// Verdicts of portico check, stable strings scripts may compare.
const (
	verdictServed    = "served"
	verdictWarnings  = "served with warnings"
	verdictNotServed = "NOT served"
)

// checkReport is the JSON document `portico check -o json` prints. Fields
// are only ever added, never renamed or removed.
type checkReport struct {
	// Ingresses are the reported Ingresses, sorted by namespace then name.
	Ingresses []ingressReport `json:"ingresses"`
	// Problems are problems in the -f files (empty for a cluster).
	Problems []fileProblem `json:"problems"`
	// Findings are about objects other than the reported Ingresses: the
	// options ConfigMap, flags, the default certificate Secret.
	Findings []objectFinding `json:"findings"`
	// Summary counts the verdicts.
	Summary checkSummary `json:"summary"`
}

type ingressReport struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Class is spec.ingressClassName, else the kubernetes.io/ingress.class annotation, else "".
	Class string `json:"class"`
	// Verdict is "served", "served with warnings" or "NOT served".
	Verdict string `json:"verdict"`
	// VerdictAfterClassChange is set when the class is not Portico's: the verdict
	// once the Ingress names Portico's class (every reported Ingress moved at once).
	VerdictAfterClassChange string `json:"verdictAfterClassChange,omitempty"`
	// Notes explain a verdict that the lists below do not (class, invalid values).
	Notes []string `json:"notes"`
	// Supported are the annotation keys Portico applies as written.
	Supported []string `json:"supported"`
	// Unsupported are annotation keys Portico ignores, with what to do instead.
	Unsupported []unsupportedAnnotation `json:"unsupported"`
	// Invalid are annotation keys whose values Portico refuses, and why.
	Invalid []invalidAnnotation `json:"invalid"`
	// Findings are what the model found wrong with the Ingress (conflicts,
	// missing Services or Secrets, invalid hosts or paths).
	Findings []ingressFinding `json:"findings"`
}

type unsupportedAnnotation struct {
	Key    string `json:"key"`
	Advice string `json:"advice"`
}

type invalidAnnotation struct {
	Key     string `json:"key"`
	Message string `json:"message"`
}

type ingressFinding struct {
	Reason string `json:"reason"`
	// Severity is "Served", "PartlyServed" or "NotServed" (model.Severity).
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

type objectFinding struct {
	Object   string `json:"object"`
	Reason   string `json:"reason"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

type fileProblem struct {
	File     string `json:"file"`
	Line     int    `json:"line,omitempty"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

type checkSummary struct {
	Ingresses          int `json:"ingresses"`
	Served             int `json:"served"`
	ServedWithWarnings int `json:"servedWithWarnings"`
	NotServed          int `json:"notServed"`
	FileErrors         int `json:"fileErrors"`
}

// migratedClass is the IngressClass the report's second build gives the
// Ingresses of other classes; the name cannot collide with a real object
// (IngressClass names are DNS subdomains without "~").
const migratedClass = "~portico-check"

// buildCheckReport reports the Ingresses of Portico's class, picked as
// Build picks them, and those ingress-nginx serves (with allClasses, those
// of every class). A verdict is the worst severity of the Ingress's
// findings in one build: the objects as they are for Portico's Ingresses;
// for the others, the build in which all of them name Portico's class, so
// that conflicts between them show up.
func buildCheckReport(snap *snapshot.Snapshot, problems []manifests.Problem, opts model.Options,
	namespace string, allClasses bool) checkReport {
	if snap == nil {
		snap = &snapshot.Snapshot{}
	}
	ci := newClassInfo(snap.IngressClasses, opts)
	ours := model.OfOurClass(snap.IngressClasses, opts)

	var reported, others []*networkingv1.Ingress
	for _, ing := range snap.Ingresses {
		switch {
		case namespace != "" && ing.Namespace != namespace:
		case ours(ing):
			reported = append(reported, ing)
		case allClasses || ci.ingressNginx(ing):
			reported = append(reported, ing)
			others = append(others, ing)
		}
	}
	_, findings := model.Build(snap, opts)
	asTheyAre := findingsByIngress(findings)
	var afterMove map[string][]model.Finding
	if len(others) > 0 {
		_, moved := model.Build(withClassMoved(snap, others, opts.ControllerClass), opts)
		afterMove = findingsByIngress(moved)
	}

	lister := newAnnotationLister(opts)
	report := checkReport{
		Ingresses: []ingressReport{},
		Problems:  []fileProblem{},
		Findings:  []objectFinding{},
	}
	for _, ing := range reported {
		r := lister.list(ing)
		if ours(ing) {
			r.Verdict = r.judge(asTheyAre[ingressKey(ing)], "")
		} else {
			r.Verdict = verdictNotServed
			r.Notes = append(r.Notes, ci.classNote(ing))
			r.VerdictAfterClassChange = r.judge(afterMove[ingressKey(ing)], "after the class change it would still not be served: ")
		}
		report.Ingresses = append(report.Ingresses, r)
	}
	slices.SortFunc(report.Ingresses, func(a, b ingressReport) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})

	for _, fd := range findings {
		if fd.Object.Kind != "Ingress" {
			report.Findings = append(report.Findings, objectFinding{Object: fd.Object.String(), Reason: fd.Reason,
				Severity: string(fd.Severity), Message: fd.Message})
		}
	}
	for _, p := range problems {
		msg := "unknown problem"
		if p.Err != nil {
			msg = p.Err.Error()
		}
		report.Problems = append(report.Problems, fileProblem{File: p.File, Line: p.Line, Severity: p.Severity.String(), Message: msg})
		if p.Severity == manifests.SeverityError {
			report.Summary.FileErrors++
		}
	}
	report.Summary.Ingresses = len(report.Ingresses)
	for _, r := range report.Ingresses {
		switch r.Verdict {
		case verdictServed:
			report.Summary.Served++
		case verdictWarnings:
			report.Summary.ServedWithWarnings++
		default:
			report.Summary.NotServed++
		}
	}
	return report
}

// withClassMoved returns the snapshot in which the moved Ingresses name an
// IngressClass of Portico's controller instead of their own class.
func withClassMoved(snap *snapshot.Snapshot, moved []*networkingv1.Ingress, controller string) *snapshot.Snapshot {
	sim := *snap
	class := &networkingv1.IngressClass{}
	class.Name, class.Spec.Controller = migratedClass, controller
	sim.IngressClasses = append(slices.Clone(snap.IngressClasses), class)
	move := make(map[string]bool, len(moved))
	for _, ing := range moved {
		move[ingressKey(ing)] = true
	}
	sim.Ingresses = make([]*networkingv1.Ingress, 0, len(snap.Ingresses))
	for _, ing := range snap.Ingresses {
		if move[ingressKey(ing)] {
			c := ing.DeepCopy()
			delete(c.Annotations, model.LegacyClassAnnotation)
			name := migratedClass
			c.Spec.IngressClassName = &name
			ing = c
		}
		sim.Ingresses = append(sim.Ingresses, ing)
	}
	return &sim
}

// judge returns the verdict the findings of one build give the Ingress
// and puts its findings in the report; the annotation findings are in
// Unsupported and Invalid already. A NOT served verdict gets a note that
// says why, starting with prefix.
func (r *ingressReport) judge(findings []model.Finding, prefix string) string {
	worst := model.Served
	for _, fd := range findings {
		if fd.Severity.Rank() > worst.Rank() {
			worst = fd.Severity
		}
		if fd.Reason != model.ReasonUnknownAnnotation && fd.Reason != model.ReasonInvalidAnnotation {
			r.Findings = append(r.Findings, ingressFinding{Reason: fd.Reason, Severity: string(fd.Severity), Message: fd.Message})
		}
	}
	switch {
	case worst == model.NotServed && len(r.Invalid) > 0 && prefix == "":
		r.Notes = append(r.Notes, "an annotation value is invalid: a new Ingress is not served until it is fixed "+
			"(a running controller keeps serving the version it last accepted, if any)")
	case worst == model.NotServed && len(r.Invalid) > 0:
		r.Notes = append(r.Notes, prefix+"fix the invalid annotation values first")
	case worst == model.NotServed:
		r.Notes = append(r.Notes, "Portico would not serve it; see the findings")
	}
	switch {
	case worst == model.NotServed:
		return verdictNotServed
	case len(findings) > 0 || len(r.Unsupported) > 0:
		return verdictWarnings
	default:
		return verdictServed
	}
}

func ingressKey(ing *networkingv1.Ingress) string { return ing.Namespace + "/" + ing.Name }

// findingsByIngress groups the findings about Ingresses by namespace/name.
func findingsByIngress(findings []model.Finding) map[string][]model.Finding {
	out := map[string][]model.Finding{}
	for _, fd := range findings {
		if fd.Object.Kind == "Ingress" {
			k := fd.Object.Namespace + "/" + fd.Object.Name
			out[k] = append(out[k], fd)
		}
	}
	return out
}

// annotationLister sorts an Ingress's annotations into supported,
// unsupported (with advice) and invalid, as the model's parser sees them.
type annotationLister struct {
	parser    *annotations.Parser
	prefix    string
	supported map[string]bool
	// snippetNamespaces may use snippets; elsewhere the model ignores them
	// whatever they hold (SnippetNotAllowed), so they are not "invalid".
	snippetNamespaces []string
}

func newAnnotationLister(opts model.Options) annotationLister {
	return annotationLister{
		parser:            annotations.NewParser(opts.AnnotationPrefix),
		prefix:            strings.TrimSuffix(cmp.Or(opts.AnnotationPrefix, annotations.DefaultPrefix), "/") + "/",
		supported:         supportedKeys(),
		snippetNamespaces: opts.SnippetNamespaces,
	}
}

// list starts the report of an Ingress with its annotations sorted.
func (l annotationLister) list(ing *networkingv1.Ingress) ingressReport {
	class, _ := ingressClassOf(ing)
	r := ingressReport{
		Namespace: ing.Namespace, Name: ing.Name, Class: class,
		Notes: []string{}, Supported: []string{}, Unsupported: []unsupportedAnnotation{},
		Invalid: []invalidAnnotation{}, Findings: []ingressFinding{},
	}
	_, probs := l.parser.Parse(ing.Annotations)
	bad := map[string]bool{}
	for _, p := range probs {
		name := strings.TrimPrefix(p.Key, l.prefix)
		if p.Kind == annotations.Invalid && strings.HasSuffix(name, "-snippet") && !slices.Contains(l.snippetNamespaces, ing.Namespace) {
			continue
		}
		bad[p.Key] = true
		switch p.Kind {
		case annotations.Conflict, annotations.IgnoredValue:
			// Reported by the model's ConflictingAnnotation and IgnoredAnnotationValue findings.
		case annotations.Unknown:
			r.Unsupported = append(r.Unsupported, unsupportedAnnotation{Key: p.Key, Advice: adviceFor(name, l.supported)})
		case annotations.UnsupportedSecurity:
			// The model's UnsupportedSecurityAnnotation finding makes the verdict NOT served.
			r.Unsupported = append(r.Unsupported, unsupportedAnnotation{Key: p.Key,
				Advice: "The Ingress is NOT served: this security control is not implemented. " + adviceFor(name, l.supported)})
		default:
			r.Invalid = append(r.Invalid, invalidAnnotation{Key: p.Key, Message: strings.TrimPrefix(p.Message, "annotation "+p.Key+": ")})
		}
	}
	for a := range ing.Annotations {
		if strings.HasPrefix(a, l.prefix) && !bad[a] {
			r.Supported = append(r.Supported, a)
		}
	}
	slices.Sort(r.Supported)
	return r
}
