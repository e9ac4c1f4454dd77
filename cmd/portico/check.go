package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/source/kube"
	"github.com/portico-ingress/portico/pkg/source/manifests"
)

// Verdicts of portico check, stable strings scripts may compare.
const (
	verdictServed    = "served"
	verdictWarnings  = "served with warnings"
	verdictNotServed = "NOT served"
)

// ingress-nginx's default class name and its IngressClass spec.controller.
const (
	ingressNginxClass   = "nginx"
	ingressNginxControl = "k8s.io/ingress-nginx"
)

// Exit codes of portico check besides 0.
const (
	checkExitNotServed = 1
	checkExitUsage     = 2
)

type checkFlags struct {
	model      modelFlags
	file       string
	kubeconfig string
	namespace  string
	allClasses bool
	output     string
	timeout    time.Duration
}

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
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

type objectFinding struct {
	Object  string `json:"object"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
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

// usageError prints a usage problem and exits with 2.
func usageError(stderr io.Writer, format string, args ...any) error {
	fmt.Fprintf(stderr, "Error: "+format+"\n", args...)
	fmt.Fprintln(stderr, "Run 'portico check --help' for usage.")
	return exitError{code: checkExitUsage}
}

func newCheckCommand(stdout, stderr io.Writer) *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "check (-f FILE_OR_DIR | --kubeconfig FILE)",
		Short: "Report, per Ingress, whether Portico would serve it and what to change (migration report)",
		Long: `Read Ingresses from manifests (-f) or from a cluster (--kubeconfig, read once)
and report for each one whether Portico would serve it as written:

  supported     annotations Portico applies as written
  unsupported   annotations Portico ignores, with what to do instead
  invalid       annotation values Portico refuses, and why
  findings      conflicts, missing Services or Secrets, invalid hosts or paths

and a verdict: "served", "served with warnings" (unsupported annotations or
findings), or "NOT served" (an invalid annotation value: a new Ingress is not
served until it is fixed; or a class that is not Portico's).

Reported are the Ingresses of Portico's class (--controller-class,
--ingress-class, --watch-ingress-without-class, as for the controller) and
those ingress-nginx serves: class "nginx", an IngressClass whose controller is
k8s.io/ingress-nginx, or no class while ingress-nginx's IngressClass is the
default. Those are NOT served until their class changes; the report says what
they would get after the change ("verdictAfterClassChange"), computed as if
every reported Ingress moved at once, so conflicts between them show up.
--all-classes reports the Ingresses of every other class the same way.

Output is a table, or with -o json one document:

  {"ingresses": [{"namespace", "name", "class", "verdict",
                  "verdictAfterClassChange" (only when the class is not ours),
                  "notes": [string],
                  "supported": [annotation key],
                  "unsupported": [{"key", "advice"}],
                  "invalid": [{"key", "message"}],
                  "findings": [{"reason", "message"}]}],
   "problems": [{"file", "line", "severity", "message"}],   problems in -f files
   "findings": [{"object", "reason", "message"}],          about other objects
   "summary": {"ingresses", "served", "servedWithWarnings", "notServed", "fileErrors"}}

Lists are never null; Ingresses are sorted by namespace and name; keys are
full annotation names. Fields may be added, never renamed or removed.

Exit status: 0 when every reported Ingress would be served (warnings
included), 1 when one would NOT be served or a -f file has errors (warnings
such as ignored Deployments do not count), 2 on usage errors or when the
input cannot be read (missing path, cluster unreachable within --timeout).`,
		Example: `  # manifests of an application still on ingress-nginx
  portico check -f k8s/

  # everything in the cluster, as JSON, Ingresses that would not be served
  portico check --kubeconfig ~/.kube/config -o json |
    jq '.ingresses[] | select(.verdict == "NOT served") | .namespace + "/" + .name'

  # one namespace, every class
  portico check --kubeconfig ~/.kube/config -n shop --all-classes`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError(stderr, "unexpected arguments %q: give the manifests with -f", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd.Context(), f, stdout, stderr)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError(stderr, "%v", err)
	})
	fs := cmd.Flags()
	fs.StringVarP(&f.file, "file", "f", "", "YAML file or directory of manifests to check")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to check (read once; in a Pod without -f the service account is used)")
	fs.StringVarP(&f.namespace, "namespace", "n", "", "report only the Ingresses of this namespace (default: all)")
	fs.BoolVar(&f.allClasses, "all-classes", false, "also report Ingresses of classes other than Portico's and ingress-nginx's")
	fs.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	fs.DurationVar(&f.timeout, "timeout", time.Minute, "how long reading the cluster may take")
	f.model.register(fs)
	return cmd
}

func runCheck(ctx context.Context, f checkFlags, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if f.output != "table" && f.output != "json" {
		return usageError(stderr, "--output %q: use table or json", f.output)
	}
	if f.file != "" && f.kubeconfig != "" {
		return usageError(stderr, "give either -f or --kubeconfig, not both")
	}
	if f.timeout <= 0 {
		return usageError(stderr, "--timeout %s: must be positive", f.timeout)
	}
	opts, err := f.model.options("/tmp/portico", "/etc/portico", "/etc/portico/certs/default-selfsigned.pem")
	if err != nil {
		return usageError(stderr, "%v", err)
	}

	var snap *snapshot.Snapshot
	var problems []manifests.Problem
	if f.file != "" {
		if _, err := os.Stat(f.file); err != nil {
			return usageError(stderr, "-f: %v", err)
		}
		snap, problems = manifests.New(f.file, nil).Load()
	} else {
		if f.kubeconfig == "" && os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
			return usageError(stderr, "nothing to check: give -f FILE_OR_DIR or --kubeconfig FILE")
		}
		client, _, err := kubeClient(f.kubeconfig)
		if err != nil {
			return usageError(stderr, "%v", err)
		}
		var extra []string
		if f.model.defaultSSLCertificate != "" {
			extra = append(extra, f.model.defaultSSLCertificate)
		}
		snap, err = clusterSnapshot(ctx, client, kube.Options{
			Namespace: f.namespace, ConfigMap: f.model.configMap, ExtraSecrets: extra,
		}, f.timeout)
		if err != nil {
			fmt.Fprintln(stderr, "Error:", err)
			return exitError{code: checkExitUsage}
		}
	}

	report := buildCheckReport(snap, problems, opts, f.namespace, f.allClasses)
	if f.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
	} else if err := writeCheckTable(stdout, report, opts.AnnotationPrefix); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	if report.Summary.NotServed > 0 || report.Summary.FileErrors > 0 {
		return exitError{code: checkExitNotServed}
	}
	return nil
}

// clusterSnapshot runs the informer source until its caches have synced,
// takes one snapshot and stops it.
func clusterSnapshot(ctx context.Context, client kubernetes.Interface, o kube.Options, timeout time.Duration) (*snapshot.Snapshot, error) {
	o.Client = client
	src, err := kube.New(o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	synced := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func() { once.Do(func() { close(synced) }) })
	}()
	select {
	case <-synced:
	case err := <-done:
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("reading the cluster: %w", err)
	case <-ctx.Done():
		cancel()
		<-done
		return nil, fmt.Errorf("reading the cluster: no complete list of Ingresses, IngressClasses, Services, EndpointSlices "+
			"and Secrets within --timeout %s; is the API server reachable and may this user list them?", timeout)
	}
	snap, err := src.Snapshot()
	cancel()
	<-done
	return snap, err
}

// ingressClassOf returns the class an Ingress names and whether it comes from the legacy annotation.
func ingressClassOf(ing *networkingv1.Ingress) (string, bool) {
	if ing.Spec.IngressClassName != nil {
		return *ing.Spec.IngressClassName, false
	}
	if name, ok := ing.Annotations[model.LegacyClassAnnotation]; ok {
		return name, true
	}
	return "", false
}

// classInfo answers which controller a class name belongs to.
type classInfo struct {
	controllers    map[string]string // IngressClass name -> spec.controller
	defaultClasses []string          // names of IngressClasses marked as the cluster default, sorted
	target         string            // class name an Ingress should name to be ours
}

func newClassInfo(classes []*networkingv1.IngressClass, opts model.Options) classInfo {
	ci := classInfo{controllers: map[string]string{}}
	var ours, oursDefault []string
	for _, c := range classes {
		ci.controllers[c.Name] = c.Spec.Controller
		isDefault := c.Annotations[model.DefaultClassAnnotation] == "true"
		if isDefault {
			ci.defaultClasses = append(ci.defaultClasses, c.Name)
		}
		if c.Spec.Controller == opts.ControllerClass {
			ours = append(ours, c.Name)
			if isDefault {
				oursDefault = append(oursDefault, c.Name)
			}
		}
	}
	slices.Sort(ci.defaultClasses)
	slices.Sort(ours)
	slices.Sort(oursDefault)
	switch {
	case len(oursDefault) > 0:
		ci.target = oursDefault[0]
	case len(ours) > 0:
		ci.target = ours[0]
	default:
		ci.target = opts.IngressClass
	}
	return ci
}

// ingressNginx reports whether ingress-nginx serves an Ingress that is not ours.
func (ci classInfo) ingressNginx(ing *networkingv1.Ingress) bool {
	name, _ := ingressClassOf(ing)
	if name == "" {
		for _, d := range ci.defaultClasses {
			if ci.controllers[d] == ingressNginxControl {
				return true
			}
		}
		return false
	}
	if ctrl, ok := ci.controllers[name]; ok {
		return ctrl == ingressNginxControl
	}
	return name == ingressNginxClass
}

// classNote explains why an Ingress of another class is not served and what to change.
func (ci classInfo) classNote(ing *networkingv1.Ingress) string {
	name, legacy := ingressClassOf(ing)
	change := fmt.Sprintf("set spec.ingressClassName: %s", ci.target)
	if legacy {
		change += " and remove the " + model.LegacyClassAnnotation + " annotation"
	}
	owner := "another controller"
	if ctrl, ok := ci.controllers[name]; ok && ctrl != "" {
		owner = "controller " + ctrl
	}
	switch {
	case name == "" && ci.ingressNginx(ing):
		return fmt.Sprintf("names no class, so ingress-nginx's default IngressClass takes it: %s to be served by Portico "+
			"(or make Portico's IngressClass the default, or run with --watch-ingress-without-class)", change)
	case name == "":
		return fmt.Sprintf("names no class and no IngressClass of Portico's is the default: %s, "+
			"or run with --watch-ingress-without-class", change)
	case ci.ingressNginx(ing):
		return fmt.Sprintf("class %q belongs to ingress-nginx: %s to be served by Portico", name, change)
	case legacy:
		return fmt.Sprintf("class %q (%s annotation) belongs to %s: %s to be served by Portico", name, model.LegacyClassAnnotation, owner, change)
	default:
		return fmt.Sprintf("class %q belongs to %s: %s to be served by Portico", name, owner, change)
	}
}

// migratedClass is the IngressClass the report's second build gives the
// Ingresses of other classes; the name cannot collide with a real object
// (IngressClass names are DNS subdomains without "~").
const migratedClass = "~portico-check"

// buildCheckReport builds the model twice: once as the objects are, which
// gives the verdicts of Ingresses of Portico's class, and once with every
// other reported Ingress moved to Portico's class, which gives what those
// would get after the change. A third build without annotations tells which
// Ingresses are of Portico's class exactly as the model decides it.
func buildCheckReport(snap *snapshot.Snapshot, problems []manifests.Problem, opts model.Options,
	namespace string, allClasses bool) checkReport {
	if snap == nil {
		snap = &snapshot.Snapshot{}
	}
	prefix := strings.TrimSuffix(cmp.Or(opts.AnnotationPrefix, annotations.DefaultPrefix), "/") + "/"
	ci := newClassInfo(snap.IngressClasses, opts)

	ours := oursByModel(snap, opts, prefix)
	cfg, findings := model.Build(snap, opts)
	served := refSet(cfg.Ingresses)

	var reported, others []*networkingv1.Ingress
	for _, ing := range snap.Ingresses {
		if namespace != "" && ing.Namespace != namespace {
			continue
		}
		k := ingressKey(ing)
		switch {
		case ours[k]:
			reported = append(reported, ing)
		case allClasses || ci.ingressNginx(ing):
			reported = append(reported, ing)
			others = append(others, ing)
		}
	}

	// The second build: the other reported Ingresses moved to our class.
	var simServed map[string]bool
	var simFindings []model.Finding
	if len(others) > 0 {
		sim := *snap
		sim.IngressClasses = append(slices.Clone(snap.IngressClasses), &networkingv1.IngressClass{})
		sim.IngressClasses[len(sim.IngressClasses)-1].Name = migratedClass
		sim.IngressClasses[len(sim.IngressClasses)-1].Spec.Controller = opts.ControllerClass
		moved := map[string]bool{}
		for _, ing := range others {
			moved[ingressKey(ing)] = true
		}
		sim.Ingresses = make([]*networkingv1.Ingress, 0, len(snap.Ingresses))
		for _, ing := range snap.Ingresses {
			if moved[ingressKey(ing)] {
				c := ing.DeepCopy()
				delete(c.Annotations, model.LegacyClassAnnotation)
				name := migratedClass
				c.Spec.IngressClassName = &name
				ing = c
			}
			sim.Ingresses = append(sim.Ingresses, ing)
		}
		simCfg, fs := model.Build(&sim, opts)
		simServed, simFindings = refSet(simCfg.Ingresses), fs
	}

	parser := annotations.NewParser(opts.AnnotationPrefix)
	supported := supportedKeys()
	byIngress := findingsByIngress(findings)
	simByIngress := findingsByIngress(simFindings)

	report := checkReport{
		Ingresses: []ingressReport{},
		Problems:  []fileProblem{},
		Findings:  []objectFinding{},
	}
	for _, ing := range reported {
		k := ingressKey(ing)
		class, _ := ingressClassOf(ing)
		r := ingressReport{
			Namespace: ing.Namespace, Name: ing.Name, Class: class,
			Notes: []string{}, Supported: []string{}, Unsupported: []unsupportedAnnotation{},
			Invalid: []invalidAnnotation{}, Findings: []ingressFinding{},
		}
		_, probs := parser.Parse(ing.Annotations)
		bad := map[string]bool{}
		for _, p := range probs {
			name := strings.TrimPrefix(p.Key, prefix)
			if p.Kind == annotations.Invalid && strings.HasSuffix(name, "-snippet") && !slices.Contains(opts.SnippetNamespaces, ing.Namespace) {
				// As the model does: a namespace the operator does not
				// allow snippets has them ignored (SnippetNotAllowed),
				// whatever they hold.
				continue
			}
			bad[p.Key] = true
			switch p.Kind {
			case annotations.Unknown:
				r.Unsupported = append(r.Unsupported, unsupportedAnnotation{Key: p.Key, Advice: adviceFor(name, supported)})
			default:
				r.Invalid = append(r.Invalid, invalidAnnotation{Key: p.Key,
					Message: strings.TrimPrefix(p.Message, "annotation "+p.Key+": ")})
			}
		}
		for a := range ing.Annotations {
			if strings.HasPrefix(a, prefix) && !bad[a] {
				r.Supported = append(r.Supported, a)
			}
		}
		slices.Sort(r.Supported)

		isOurs := ours[k]
		fset, servedSet := byIngress, served
		if !isOurs {
			fset, servedSet = simByIngress, simServed
		}
		for _, fd := range fset[k] {
			r.Findings = append(r.Findings, ingressFinding{Reason: fd.Reason, Message: fd.Message})
		}
		verdict := verdictOf(servedSet[k] && !everyHostRefused(ing, fset[k]), r)
		if shared := refusedHosts(fset[k]); len(shared) > 0 && !opts.AllowSharedHosts {
			r.Notes = append(r.Notes, fmt.Sprintf("another namespace owns %s: its rules there are served only if the two namespaces "+
				"are meant to share the host and the controller runs with --allow-shared-hosts", strings.Join(shared, ", ")))
		}
		if isOurs {
			r.Verdict = verdict
		} else {
			r.Verdict = verdictNotServed
			r.VerdictAfterClassChange = verdict
			r.Notes = append(r.Notes, ci.classNote(ing))
		}
		if verdict == verdictNotServed {
			switch {
			case len(r.Invalid) > 0 && isOurs:
				r.Notes = append(r.Notes, "an annotation value is invalid: a new Ingress is not served until it is fixed "+
					"(a running controller keeps serving the version it last accepted, if any)")
			case len(r.Invalid) > 0:
				r.Notes = append(r.Notes, "after the class change it would still not be served: fix the invalid annotation values first")
			default:
				r.Notes = append(r.Notes, "Portico would not serve it; see the findings")
			}
		}
		report.Ingresses = append(report.Ingresses, r)
	}
	slices.SortFunc(report.Ingresses, func(a, b ingressReport) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})

	for _, fd := range findings {
		if fd.Object.Kind == "Ingress" {
			continue
		}
		report.Findings = append(report.Findings, objectFinding{Object: fd.Object.String(), Reason: fd.Reason, Message: fd.Message})
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

func verdictOf(served bool, r ingressReport) string {
	switch {
	case !served:
		return verdictNotServed
	case len(r.Unsupported) > 0 || len(r.Findings) > 0 || len(r.Invalid) > 0:
		return verdictWarnings
	default:
		return verdictServed
	}
}

func ingressKey(ing *networkingv1.Ingress) string { return ing.Namespace + "/" + ing.Name }

// refusedHosts are the hosts (quoted) whose rules the model did not serve
// because another namespace owns them.
func refusedHosts(findings []model.Finding) []string {
	var hosts []string
	for _, fd := range findings {
		if fd.Reason != model.ReasonHostNotOwned || !strings.HasPrefix(fd.Message, model.RulesNotServed) {
			continue
		}
		rest := strings.TrimPrefix(fd.Message, model.RulesNotServed)
		if host, err := strconv.QuotedPrefix(rest); err == nil && !slices.Contains(hosts, host) {
			hosts = append(hosts, host)
		}
	}
	return hosts
}

// everyHostRefused reports whether none of an Ingress's rules is served
// because other namespaces own all their hosts.
func everyHostRefused(ing *networkingv1.Ingress, findings []model.Finding) bool {
	refused := refusedHosts(findings)
	if len(refused) == 0 || len(ing.Spec.Rules) == 0 {
		return false
	}
	for _, rule := range ing.Spec.Rules {
		host := rule.Host
		if host == "" {
			host = "*"
		}
		if !slices.Contains(refused, strconv.Quote(host)) {
			return false
		}
	}
	return true
}

func refSet(refs []model.ObjectRef) map[string]bool {
	out := make(map[string]bool, len(refs))
	for _, r := range refs {
		out[r.Namespace+"/"+r.Name] = true
	}
	return out
}

// findingsByIngress groups the findings about Ingresses, leaving out the
// annotation findings the report lists as unsupported and invalid.
func findingsByIngress(findings []model.Finding) map[string][]model.Finding {
	out := map[string][]model.Finding{}
	for _, fd := range findings {
		if fd.Object.Kind != "Ingress" || fd.Reason == model.ReasonUnknownAnnotation || fd.Reason == model.ReasonInvalidAnnotation {
			continue
		}
		k := fd.Object.Namespace + "/" + fd.Object.Name
		out[k] = append(out[k], fd)
	}
	return out
}

// oursByModel returns the Ingresses of our class exactly as the model
// selects them: without their annotations every Ingress of our class is
// served, so the served list of that build is the class decision.
func oursByModel(snap *snapshot.Snapshot, opts model.Options, prefix string) map[string]bool {
	plain := *snap
	plain.Ingresses = make([]*networkingv1.Ingress, 0, len(snap.Ingresses))
	for _, ing := range snap.Ingresses {
		c := *ing
		c.Annotations = make(map[string]string, len(ing.Annotations))
		for k, v := range ing.Annotations {
			if !strings.HasPrefix(k, prefix) {
				c.Annotations[k] = v
			}
		}
		plain.Ingresses = append(plain.Ingresses, &c)
	}
	cfg, _ := model.Build(&plain, opts)
	return refSet(cfg.Ingresses)
}

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
		if in.Verdict == verdictServed {
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

// adviceRule says what to do about ingress-nginx annotations Portico does
// not implement. Rules never claim that a key is unsupported: adviceFor is
// only asked about keys the parser reported unknown, and it names other
// keys (siblings of the group, a replacement) only when Fields() has them,
// so the advice stays true as annotation groups are added.
type adviceRule struct {
	// keys are annotation names without the prefix; a trailing "*" matches a prefix.
	keys []string
	// feature names what the keys do, for "Portico does not implement FEATURE yet (planned)".
	feature string
	// planned says Portico means to implement the feature.
	planned bool
	// meanwhile says what happens while the feature is missing; it is left
	// out once Portico supports some annotation of the rule (a partial
	// implementation changes what happens).
	meanwhile string
	// hint is what to do instead; always shown.
	hint string
	// instead and insteadValue name a replacement annotation, used only while it is supported.
	instead, insteadValue string
}

var adviceRules = []adviceRule{
	// configuration-snippet and server-snippet are implemented (behind an operator flag).
	{keys: []string{"auth-snippet", "stream-snippet", "modsecurity-snippet"},
		hint: "this snippet is not supported; configuration-snippet and server-snippet are, where the operator allows them " +
			"(ask the operator), and an annotation Portico supports is better still"},
	{keys: []string{"cors-*"},
		hint: "this CORS option is not implemented; enable-cors and the cors-allow-*, cors-expose-headers and cors-max-age options are"},
	// canary and affinity are implemented: only keys outside the families reach these rules.
	{keys: []string{"canary-*"},
		hint: "this canary option is not implemented; canary, canary-weight, canary-weight-total, canary-by-header, " +
			"canary-by-header-value, canary-by-header-pattern and canary-by-cookie are"},
	{keys: []string{"affinity-*", "session-cookie-*"},
		hint: "this session-affinity option is not implemented; affinity, affinity-mode and session-cookie-name, -path, -domain, " +
			"-max-age, -expires, -secure, -samesite and -change-on-failure are"},
	{keys: []string{"upstream-hash-by-*"},
		hint: "hash subsets are not implemented; upstream-hash-by alone gives consistent hashing"},
	{keys: []string{"satisfy"},
		hint: "not implemented: when basic and external authentication are both set, both must pass"},
	{keys: []string{"auth-request-redirect", "auth-cache-*", "auth-keepalive*", "auth-proxy-set-headers", "auth-always-set-cookie",
		"enable-global-auth", "auth-signin-redirect-param"},
		hint: "this external-authentication option is not implemented; auth-url, auth-method, auth-signin and auth-response-headers are"},
	{keys: []string{"auth-tls-*"},
		hint: "this client-certificate option is not implemented; auth-tls-secret, -verify-client, -verify-depth and -pass-certificate-to-upstream are"},
	{keys: []string{"proxy-ssl-*"},
		hint: "this backend TLS option is not implemented; proxy-ssl-secret, -verify, -name and -server-name are"},
	{keys: []string{"service-upstream"}, feature: "proxying to the Service's cluster IP", planned: true},
	{keys: []string{"proxy-buffers-number", "proxy-busy-buffers-size", "proxy-max-temp-file-size", "proxy-cookie-domain",
		"proxy-cookie-path", "proxy-redirect-from", "proxy-redirect-to", "connection-proxy-header"},
		feature: "this proxy setting", planned: true},
	{keys: []string{"limit-rate", "limit-rate-after"}, feature: "bandwidth limits", planned: true},
	{keys: []string{"enable-rewrite-log"}, feature: "the rewrite log", planned: true},
	{keys: []string{"mirror-*"}, feature: "request mirroring", planned: true},
	{keys: []string{"global-rate-limit*"},
		hint: "not planned: Portico has no shared rate-limit store", instead: "limit-rps"},
	{keys: []string{"enable-opentelemetry", "opentelemetry-*", "enable-opentracing", "opentracing-*"},
		hint: "not implemented: Portico has no tracing module"},
	{keys: []string{"enable-modsecurity", "enable-owasp-core-rules", "modsecurity-transaction-id"},
		hint: "not planned: ModSecurity is not part of Portico's nginx; put a WAF in front of it or in the backend"},
	{keys: []string{"ssl-passthrough"},
		hint: "not planned: Portico terminates TLS; pass TLS through with a TCP (L4) load balancer instead"},
	{keys: []string{"ssl-ciphers", "ssl-prefer-server-ciphers"},
		hint: "per-Ingress TLS settings are not implemented; the ConfigMap keys ssl-ciphers and ssl-protocols set them for every host"},
	{keys: []string{"http2-push-preload"},
		hint: "not planned: nginx no longer supports HTTP/2 server push; remove it"},
	{keys: []string{"secure-backends"},
		hint: "removed from ingress-nginx long ago", instead: "backend-protocol", insteadValue: "HTTPS"},
	{keys: []string{"grpc-backend"},
		hint: "removed from ingress-nginx long ago", instead: "backend-protocol", insteadValue: "GRPC"},
	{keys: []string{"influxdb-*", "add-base-url", "base-url-scheme"},
		hint: "removed from ingress-nginx; remove it"},
}

// supportedKeys returns the annotation names Portico implements.
func supportedKeys() map[string]bool {
	out := map[string]bool{}
	for _, f := range annotations.Fields() {
		out[f.Key] = true
	}
	return out
}

func matchKey(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	return pattern == name
}

// findRule returns the rule for an annotation name: an exact key wins over
// a prefix, a longer prefix over a shorter one.
func findRule(name string) (adviceRule, bool) {
	var best adviceRule
	bestLen, exact := -1, false
	for _, r := range adviceRules {
		for _, k := range r.keys {
			if !matchKey(k, name) {
				continue
			}
			isExact := !strings.HasSuffix(k, "*")
			if (isExact && !exact) || (isExact == exact && len(k) > bestLen) {
				best, bestLen, exact = r, len(k), isExact
			}
		}
	}
	return best, bestLen >= 0
}

// adviceFor says what to do about an annotation name (without prefix) that
// the parser reported unknown; supported are the names Portico implements.
func adviceFor(name string, supported map[string]bool) string {
	r, ok := findRule(name)
	if !ok {
		return "Portico does not implement this annotation and ignores it; check the spelling and docs/annotations.md"
	}
	var parts []string
	if r.planned {
		var siblings []string
		for s := range supported {
			for _, k := range r.keys {
				if matchKey(k, s) {
					siblings = append(siblings, s)
					break
				}
			}
		}
		slices.Sort(siblings)
		if len(siblings) > 0 {
			parts = append(parts, fmt.Sprintf("Portico does not implement this annotation yet (planned; related ones it supports: %s)",
				strings.Join(siblings, ", ")))
		} else {
			parts = append(parts, "Portico does not implement "+r.feature+" yet (planned)")
			if r.meanwhile != "" {
				parts = append(parts, r.meanwhile)
			}
		}
	}
	if r.instead != "" && supported[r.instead] {
		use := "use " + r.instead
		if r.insteadValue != "" {
			use += fmt.Sprintf(": %q", r.insteadValue)
		}
		parts = append(parts, use+" instead")
	}
	if r.hint != "" {
		parts = append(parts, r.hint)
	}
	if len(parts) == 0 {
		return "Portico does not implement this annotation and ignores it"
	}
	s := strings.Join(parts, "; ")
	return strings.ToUpper(s[:1]) + s[1:]
}
