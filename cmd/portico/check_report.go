package main

import (
	"cmp"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/source/manifests"
	"github.com/portico-ingress/portico/pkg/verdict"
)

// checkReport is the JSON document `portico check -o json` prints. Fields
// are only ever added, never renamed or removed.
type checkReport struct {
	// Ingresses are the reported Ingresses, sorted by namespace then name.
	Ingresses []verdict.Report `json:"ingresses"`
	// Problems are problems in the -f files (empty for a cluster).
	Problems []fileProblem `json:"problems"`
	// Findings are about objects other than the reported Ingresses: the
	// options ConfigMap, flags, the default certificate Secret.
	Findings []objectFinding `json:"findings"`
	// Summary counts the verdicts.
	Summary checkSummary `json:"summary"`
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
	asTheyAre := verdict.ByIngress(findings)
	var afterMove map[string][]model.Finding
	if len(others) > 0 {
		_, moved := model.Build(withClassMoved(snap, others, opts.ControllerClass), opts)
		afterMove = verdict.ByIngress(moved)
	}

	lister := verdict.NewLister(opts)
	report := checkReport{
		Ingresses: []verdict.Report{},
		Problems:  []fileProblem{},
		Findings:  []objectFinding{},
	}
	for _, ing := range reported {
		r := lister.List(ing)
		if ours(ing) {
			r.Verdict = r.Judge(asTheyAre[verdict.Key(ing)], "")
		} else {
			r.Verdict = verdict.NotServed
			r.Notes = append(r.Notes, ci.classNote(ing))
			r.VerdictAfterClassChange = r.Judge(afterMove[verdict.Key(ing)], "after the class change it would still not be served: ")
		}
		report.Ingresses = append(report.Ingresses, r)
	}
	slices.SortFunc(report.Ingresses, func(a, b verdict.Report) int {
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
		case verdict.Served:
			report.Summary.Served++
		case verdict.Warnings:
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
		move[verdict.Key(ing)] = true
	}
	sim.Ingresses = make([]*networkingv1.Ingress, 0, len(snap.Ingresses))
	for _, ing := range snap.Ingresses {
		if move[verdict.Key(ing)] {
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
