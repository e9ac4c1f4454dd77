// Package verdict judges one Ingress from the model's findings: served,
// served with warnings, or not served, with its annotations sorted into
// supported, unsupported (with advice) and invalid. portico check and the
// admission webhook both judge through it, so they give the same verdict
// for the same object.
package verdict

import (
	"cmp"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/model"
)

// Verdicts, stable strings scripts may compare.
const (
	// Served means Portico serves the Ingress as written.
	Served = "served"
	// Warnings means it is served, with something ignored or missing.
	Warnings = "served with warnings"
	// NotServed means Portico does not serve it (or not all of it).
	NotServed = "NOT served"
)

// Report is what is known of one Ingress: its annotations sorted, its
// findings and the verdict. portico check prints it as JSON; fields are
// only ever added, never renamed or removed.
type Report struct {
	// Namespace and Name name the Ingress.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Class is spec.ingressClassName, else the kubernetes.io/ingress.class annotation, else "".
	Class string `json:"class"`
	// Verdict is Served, Warnings or NotServed.
	Verdict string `json:"verdict"`
	// VerdictAfterClassChange is set when the class is not Portico's: the verdict
	// once the Ingress names Portico's class (every reported Ingress moved at once).
	VerdictAfterClassChange string `json:"verdictAfterClassChange,omitempty"`
	// Notes explain a verdict that the lists below do not (class, invalid values).
	Notes []string `json:"notes"`
	// Supported are the annotation keys Portico applies as written.
	Supported []string `json:"supported"`
	// Unsupported are annotation keys Portico ignores, with what to do instead.
	Unsupported []Unsupported `json:"unsupported"`
	// Invalid are annotation keys whose values Portico refuses, and why.
	Invalid []Invalid `json:"invalid"`
	// Findings are what the model found wrong with the Ingress (conflicts,
	// missing Services or Secrets, invalid hosts or paths).
	Findings []Finding `json:"findings"`
}

// Unsupported is an annotation Portico ignores.
type Unsupported struct {
	// Key is the full annotation name.
	Key string `json:"key"`
	// Advice says what to do instead.
	Advice string `json:"advice"`
}

// Invalid is an annotation whose value Portico refuses.
type Invalid struct {
	// Key is the full annotation name.
	Key string `json:"key"`
	// Message says what is wrong with the value.
	Message string `json:"message"`
}

// Finding is one of the model's findings about the Ingress.
type Finding struct {
	// Reason is the finding's reason (model.Reason*).
	Reason string `json:"reason"`
	// Severity is "Served", "PartlyServed" or "NotServed" (model.Severity).
	Severity string `json:"severity"`
	// Message says what was found, and what to do.
	Message string `json:"message"`
}

// Judge returns the verdict the findings of one build give the Ingress
// and puts its findings in the report; the annotation findings are in
// Unsupported and Invalid already (Lister.List). A NotServed verdict gets a
// note that says why, starting with prefix.
func (r *Report) Judge(findings []model.Finding, prefix string) string {
	worst := model.Served
	for _, fd := range findings {
		if fd.Severity.Rank() > worst.Rank() {
			worst = fd.Severity
		}
		if fd.Reason != model.ReasonUnknownAnnotation && fd.Reason != model.ReasonInvalidAnnotation {
			r.Findings = append(r.Findings, Finding{Reason: fd.Reason, Severity: string(fd.Severity), Message: fd.Message})
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
		return NotServed
	case len(findings) > 0 || len(r.Unsupported) > 0:
		return Warnings
	default:
		return Served
	}
}

// Key returns an Ingress's "namespace/name".
func Key(ing *networkingv1.Ingress) string { return ing.Namespace + "/" + ing.Name }

// ByIngress groups the findings about Ingresses by "namespace/name".
func ByIngress(findings []model.Finding) map[string][]model.Finding {
	out := map[string][]model.Finding{}
	for _, fd := range findings {
		if fd.Object.Kind == "Ingress" {
			k := fd.Object.Namespace + "/" + fd.Object.Name
			out[k] = append(out[k], fd)
		}
	}
	return out
}

// ClassOf returns the class an Ingress names and whether it comes from
// the legacy kubernetes.io/ingress.class annotation.
func ClassOf(ing *networkingv1.Ingress) (string, bool) {
	if ing.Spec.IngressClassName != nil {
		return *ing.Spec.IngressClassName, false
	}
	if name, ok := ing.Annotations[model.LegacyClassAnnotation]; ok {
		return name, true
	}
	return "", false
}

// Lister sorts an Ingress's annotations into supported, unsupported (with
// advice) and invalid, as the model's parser sees them. It holds nothing
// of the Ingresses it lists.
type Lister struct {
	parser    *annotations.Parser
	prefix    string
	supported map[string]bool
	// snippetNamespaces may use snippets; elsewhere the model ignores them
	// whatever they hold (SnippetNotAllowed), so they are not "invalid".
	snippetNamespaces []string
}

// NewLister returns the Lister for the model's options.
func NewLister(opts model.Options) Lister {
	return Lister{
		parser:            annotations.NewParser(opts.AnnotationPrefix),
		prefix:            strings.TrimSuffix(cmp.Or(opts.AnnotationPrefix, annotations.DefaultPrefix), "/") + "/",
		supported:         SupportedKeys(),
		snippetNamespaces: opts.SnippetNamespaces,
	}
}

// List starts the report of an Ingress with its annotations sorted.
func (l Lister) List(ing *networkingv1.Ingress) Report {
	class, _ := ClassOf(ing)
	r := Report{
		Namespace: ing.Namespace, Name: ing.Name, Class: class,
		Notes: []string{}, Supported: []string{}, Unsupported: []Unsupported{},
		Invalid: []Invalid{}, Findings: []Finding{},
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
			r.Unsupported = append(r.Unsupported, Unsupported{Key: p.Key, Advice: adviceFor(name, l.supported)})
		case annotations.UnsupportedSecurity:
			// The model's UnsupportedSecurityAnnotation finding makes the verdict NOT served.
			r.Unsupported = append(r.Unsupported, Unsupported{Key: p.Key,
				Advice: "The Ingress is NOT served: this security control is not implemented. " + adviceFor(name, l.supported)})
		default:
			r.Invalid = append(r.Invalid, Invalid{Key: p.Key, Message: strings.TrimPrefix(p.Message, "annotation "+p.Key+": ")})
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
