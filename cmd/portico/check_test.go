package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/source/kube"
	"github.com/portico-ingress/portico/pkg/source/manifests"
	"github.com/portico-ingress/portico/pkg/verdict"
)

const (
	checkFixtures = "testdata/ingress-nginx"
	annPrefix     = annotations.DefaultPrefix + "/"
)

// runCheckJSON runs `portico check ARGS -o json` in-process and decodes the report.
func runCheckJSON(t *testing.T, args ...string) (checkReport, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"check", "-o", "json"}, args...), &out, &errOut)
	var report checkReport
	require.NoError(t, json.Unmarshal(out.Bytes(), &report), "stdout: %s\nstderr: %s", out.String(), errOut.String())
	return report, code
}

func byName(report checkReport) map[string]verdict.Report {
	out := map[string]verdict.Report{}
	for _, r := range report.Ingresses {
		out[r.Namespace+"/"+r.Name] = r
	}
	return out
}

func shortKeys[T any](items []T, k func(T) string) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, strings.TrimPrefix(k(it), annPrefix))
	}
	return out
}

func reasons(fs []verdict.Finding) []string {
	return shortKeys(fs, func(f verdict.Finding) string { return f.Reason })
}

// fixtureAnnotations returns, per Ingress of the fixture set, its annotation names under the prefix.
func fixtureAnnotations(t *testing.T) map[string][]string {
	t.Helper()
	snap, _ := manifests.New(checkFixtures, nil).Load()
	out := map[string][]string{}
	for _, ing := range snap.Ingresses {
		var names []string
		for k := range ing.Annotations {
			if name, ok := strings.CutPrefix(k, annPrefix); ok {
				names = append(names, name)
			}
		}
		out[ing.Namespace+"/"+ing.Name] = names
	}
	return out
}

// TestCheckFixtures checks the migration report for the ingress-nginx fixture set.
// Annotation groups are being added one by one, so what is supported comes
// from annotations.Fields(); what follows from the objects is fixed.
func TestCheckFixtures(t *testing.T) {
	report, code := runCheckJSON(t, "-f", checkFixtures)
	assert.Equal(t, 1, code, "Ingresses still of class nginx are not served")
	got := byName(report)

	supported := verdict.SupportedKeys()
	tests := []struct {
		ingress  string
		class    string
		verdict  string
		after    string // verdictAfterClassChange; "derive" when it depends on what Fields() supports
		invalid  []string
		findings []string
		note     string // in the notes or a finding's message
	}{
		{ingress: "blog/blog", class: "nginx", verdict: verdict.NotServed, after: verdict.Warnings,
			findings: []string{model.ReasonServiceNotFound}, note: "remove the kubernetes.io/ingress.class annotation"},
		// Its host belongs to namespace shop, whose Ingress is older.
		{ingress: "partners/partner-api", class: "nginx", verdict: verdict.NotServed, after: verdict.NotServed,
			findings: []string{model.ReasonHostNotOwned}, note: "--allow-shared-hosts"},
		{ingress: "reports/reports", class: "portico", verdict: verdict.NotServed,
			invalid: []string{"proxy-read-timeout"}, note: "not served until it is fixed"},
		// Snippets are parsed (supported keys) but not allowed in namespace shop.
		{ingress: "shop/admin", class: "nginx", verdict: verdict.NotServed, after: "derive",
			note:     `class "nginx" belongs to ingress-nginx: set spec.ingressClassName: portico`,
			findings: []string{model.ReasonSnippetNotAllowed}},
		{ingress: "shop/api", class: "nginx", verdict: verdict.NotServed, after: "derive"},
		{ingress: "shop/checkout", class: "nginx", verdict: verdict.NotServed, after: verdict.Served},
		// Served as the canary of shop/checkout, not as a conflict with it.
		{ingress: "shop/checkout-canary", class: "nginx", verdict: verdict.NotServed, after: verdict.Served},
		{ingress: "shop/status-page", class: "portico", verdict: verdict.Warnings,
			findings: []string{model.ReasonSecretNotFound}},
		{ingress: "shop/storefront", class: "portico", verdict: verdict.Served},
	}
	var names []string
	for _, r := range report.Ingresses {
		names = append(names, r.Namespace+"/"+r.Name)
	}
	var want []string
	for _, tc := range tests {
		want = append(want, tc.ingress)
	}
	assert.Equal(t, want, names, "reported Ingresses, sorted; intranet/wiki (class traefik) only with --all-classes")

	annots := fixtureAnnotations(t)
	for _, tc := range tests {
		t.Run(tc.ingress, func(t *testing.T) {
			r, ok := got[tc.ingress]
			require.True(t, ok)
			assert.Equal(t, tc.class, r.Class)
			assert.Equal(t, tc.verdict, r.Verdict)
			assert.Equal(t, tc.invalid, nilIfEmpty(shortKeys(r.Invalid, func(i verdict.Invalid) string { return i.Key })))
			assert.Equal(t, tc.findings, nilIfEmpty(reasons(r.Findings)))
			if tc.note != "" {
				assert.Contains(t, explained(r), tc.note)
			}

			// Every annotation under the annPrefix is in exactly one list, and the
			// lists agree with the annotation tables.
			sup := shortKeys(r.Supported, func(s string) string { return s })
			unsup := shortKeys(r.Unsupported, func(u verdict.Unsupported) string { return u.Key })
			inv := shortKeys(r.Invalid, func(i verdict.Invalid) string { return i.Key })
			all := slices.Concat(sup, unsup, inv)
			slices.Sort(all)
			wantAll := slices.Clone(annots[tc.ingress])
			slices.Sort(wantAll)
			assert.Equal(t, nilIfEmpty(wantAll), nilIfEmpty(all))
			for _, k := range sup {
				assert.True(t, supported[k], "%s listed as supported but not in annotations.Fields()", k)
			}
			for _, u := range r.Unsupported {
				name := strings.TrimPrefix(u.Key, annPrefix)
				assert.False(t, supported[name], "%s listed as unsupported but in annotations.Fields()", name)
				assert.NotEmpty(t, u.Advice)
				if strings.HasSuffix(name, "-snippet") {
					assert.Contains(t, u.Advice, "ask the operator")
				}
				if strings.HasPrefix(name, "canary") {
					assert.Contains(t, u.Advice, "canary")
				}
			}
			for _, i := range r.Invalid {
				assert.True(t, supported[strings.TrimPrefix(i.Key, annPrefix)])
				assert.NotContains(t, i.Message, "annotation "+i.Key, "the key is not repeated in the message")
			}

			after := tc.after
			if after == "derive" {
				after = verdict.Served
				if len(r.Unsupported) > 0 || len(r.Findings) > 0 {
					after = verdict.Warnings
				}
			}
			assert.Equal(t, after, r.VerdictAfterClassChange)
			if r.Class == "nginx" {
				assert.NotEmpty(t, r.Notes, "a class that is not ours is explained")
			}
		})
	}

	// The specific messages a migrating user needs.
	assert.Equal(t, `value "60 seconds" is not a time: whole seconds, or nginx units such as 1800s, 30m, 1h30m, 500ms (at most 999999s) (allowed: whole seconds or nginx time (1800s, 30m, 1h30m, 500ms))`, got["reports/reports"].Invalid[0].Message)
	assert.Equal(t, []string{annPrefix + "proxy-connect-timeout"}, got["reports/reports"].Supported)
	assert.Equal(t, []string{annPrefix + "proxy-body-size", annPrefix + "proxy-read-timeout", annPrefix + "ssl-redirect"},
		got["shop/storefront"].Supported)
	assert.Contains(t, got["blog/blog"].Findings[0].Message, "Service blog/blog not found")
	assert.Equal(t, []string{annPrefix + "canary", annPrefix + "canary-weight"}, got["shop/checkout-canary"].Supported)

	assert.Equal(t, checkSummary{Ingresses: 9, Served: 1, ServedWithWarnings: 1, NotServed: 7}, report.Summary)
	require.Len(t, report.Problems, 1, "the ignored Deployment")
	assert.Equal(t, "warning", report.Problems[0].Severity)
	assert.Contains(t, report.Problems[0].Message, "Deployment")
	assert.Empty(t, report.Findings)
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestCheckAllClasses(t *testing.T) {
	report, code := runCheckJSON(t, "-f", checkFixtures, "--all-classes")
	assert.Equal(t, 1, code)
	wiki, ok := byName(report)["intranet/wiki"]
	require.True(t, ok, "--all-classes reports the traefik Ingress")
	assert.Equal(t, "traefik", wiki.Class)
	assert.Equal(t, verdict.NotServed, wiki.Verdict)
	assert.Equal(t, verdict.Served, wiki.VerdictAfterClassChange)
	assert.Contains(t, wiki.Notes[0], `class "traefik" belongs to controller traefik.io/ingress-controller`)
	assert.Equal(t, 10, report.Summary.Ingresses)
}

// TestCheckModelFlags: the class flags decide what is ours, as for the controller.
func TestCheckModelFlags(t *testing.T) {
	report, code := runCheckJSON(t, "-f", checkFixtures, "--controller-class", "k8s.io/ingress-nginx")
	assert.Equal(t, 1, code, "partners/partner-api names a host namespace shop owns")
	got := byName(report)
	assert.Equal(t, verdict.NotServed, got["partners/partner-api"].Verdict)
	assert.Contains(t, explained(got["partners/partner-api"]), "--allow-shared-hosts")
	assert.Equal(t, []string{string(model.NotServed)}, severities(got["partners/partner-api"].Findings),
		"its only host belongs to another namespace")

	// Sharing hosts between namespaces: every ingress-nginx Ingress is served with warnings at most.
	report, code = runCheckJSON(t, "-f", checkFixtures, "--controller-class", "k8s.io/ingress-nginx", "--allow-shared-hosts")
	assert.Equal(t, 0, code, "every ingress-nginx Ingress is served with warnings at most")
	got = byName(report)
	assert.Equal(t, verdict.Served, got["partners/partner-api"].Verdict)
	assert.NotContains(t, got, "shop/storefront", "class portico is neither ours nor ingress-nginx's now")
	assert.Equal(t, verdict.Served, got["shop/checkout"].Verdict)
	assert.Empty(t, got["shop/checkout"].VerdictAfterClassChange)
	assert.Equal(t, verdict.Warnings, got["blog/blog"].Verdict, "legacy annotation nginx is ours")

	// Another annotation annPrefix: the nginx.ingress.kubernetes.io keys are not read at all.
	report, code = runCheckJSON(t, "-f", checkFixtures+"/migrated", "--annotations-prefix", "example.com")
	assert.Equal(t, 0, code)
	for _, r := range report.Ingresses {
		assert.Empty(t, r.Supported)
	}
}

func TestCheckTable(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"check", "-f", checkFixtures}, &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Empty(t, errOut.String())
	text := out.String()
	report, _ := runCheckJSON(t, "-f", checkFixtures)
	lines := strings.Split(text, "\n")
	assert.Regexp(t, `^NAMESPACE +NAME +CLASS +VERDICT +SUPPORTED +UNSUPPORTED +INVALID +FINDINGS$`, lines[0])
	for i, r := range report.Ingresses {
		fields := strings.Fields(lines[i+1])
		require.GreaterOrEqual(t, len(fields), 4)
		assert.Equal(t, []string{r.Namespace, r.Name, r.Class}, fields[:3], "row %d", i+1)
		assert.Contains(t, lines[i+1], r.Verdict)
		if r.Verdict != verdict.Served {
			assert.Contains(t, text, "\n"+r.Namespace+"/"+r.Name+": "+r.Verdict+"\n", "details of %s/%s", r.Namespace, r.Name)
		}
	}
	assert.Contains(t, text, "  invalid      proxy-read-timeout: value \"60 seconds\" is not a time")
	assert.Contains(t, text, "  finding      ServiceNotFound: Service blog/blog not found")
	assert.Contains(t, text, "NOT served (after class change: served)")
	assert.Contains(t, text, "Problems in the files:\n  "+filepath.Join(checkFixtures, "migrated", "storefront.yaml")+":4: warning: ")
	assert.True(t, strings.HasSuffix(text, "\n9 Ingress(es): 1 served, 1 served with warnings, 7 NOT served.\n"), text)
}

func TestCheckExitCodes(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken")
	require.NoError(t, os.MkdirAll(broken, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(broken, "good.yaml"), []byte(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ok, namespace: shop}
spec:
  ingressClassName: portico
  defaultBackend: {service: {name: app, port: {number: 80}}}
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: shop}
spec: {ports: [{port: 80}]}
`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(broken, "bad.yaml"), []byte("kind: Ingress\nmetadata: [\n"), 0o644))

	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{name: "all served (a Deployment warning does not count)", args: []string{"-f", checkFixtures + "/migrated"}, code: 0},
		{name: "one file", args: []string{"-f", checkFixtures + "/migrated/storefront.yaml"}, code: 0},
		{name: "full set", args: []string{"-f", checkFixtures}, code: 1},
		{name: "namespace filter", args: []string{"-f", checkFixtures, "-n", "shop", "--controller-class", "k8s.io/ingress-nginx"}, code: 0},
		{name: "invalid annotation only", args: []string{"-f", checkFixtures + "/timeouts.yaml"}, code: 1},
		{name: "nothing reported", args: []string{"-f", checkFixtures + "/services.yaml"}, code: 0},
		{name: "file errors", args: []string{"-f", broken}, code: 1},
		{name: "json", args: []string{"-f", checkFixtures + "/migrated", "-o", "json"}, code: 0},
		{name: "help", args: []string{"--help"}, code: 0},
		{name: "no input", args: nil, code: 2, stderr: "give -f FILE_OR_DIR or --kubeconfig FILE"},
		{name: "both inputs", args: []string{"-f", checkFixtures, "--kubeconfig", "x"}, code: 2, stderr: "not both"},
		{name: "missing path", args: []string{"-f", filepath.Join(dir, "nope")}, code: 2, stderr: "no such file"},
		{name: "bad output", args: []string{"-f", checkFixtures, "-o", "yaml"}, code: 2, stderr: `--output "yaml"`},
		{name: "unknown flag", args: []string{"-f", checkFixtures, "--frobnicate"}, code: 2, stderr: "unknown flag: --frobnicate"},
		{name: "argument", args: []string{checkFixtures}, code: 2, stderr: "unexpected arguments"},
		{name: "bad model flag", args: []string{"-f", checkFixtures, "--http-port", "0"}, code: 2, stderr: "--http-port 0"},
		{name: "bad kubeconfig", args: []string{"--kubeconfig", filepath.Join(dir, "nope")}, code: 2, stderr: "--kubeconfig"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append([]string{"check"}, tc.args...), &out, &errOut)
			assert.Equal(t, tc.code, code, "stdout: %s\nstderr: %s", out.String(), errOut.String())
			if tc.stderr != "" {
				assert.Contains(t, errOut.String(), tc.stderr)
			}
		})
	}

	report, code := runCheckJSON(t, "-f", broken)
	assert.Equal(t, 1, code)
	assert.Equal(t, 1, report.Summary.FileErrors)
	assert.Equal(t, verdict.Served, byName(report)["shop/ok"].Verdict)
	require.Len(t, report.Problems, 1)
	assert.Equal(t, "error", report.Problems[0].Severity)

	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"check", "--help"}, &out, &errOut))
	for _, s := range []string{"--all-classes", "-o json", "verdictAfterClassChange", "Exit status", "portico check -f"} {
		assert.Contains(t, out.String(), s)
	}
}

func TestCheckJSONShape(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"check", "-f", checkFixtures + "/services.yaml", "-o", "json"}, &out, &errOut))
	assert.JSONEq(t, `{"ingresses": [], "problems": [], "findings": [],
		"summary": {"ingresses": 0, "served": 0, "servedWithWarnings": 0, "notServed": 0, "fileErrors": 0}}`, out.String())

	report, _ := runCheckJSON(t, "-f", checkFixtures+"/migrated/storefront.yaml")
	b, err := json.Marshal(report.Ingresses[0])
	require.NoError(t, err)
	assert.JSONEq(t, `{"namespace": "shop", "name": "storefront", "class": "portico", "verdict": "served", "notes": [],
		"supported": ["nginx.ingress.kubernetes.io/proxy-body-size", "nginx.ingress.kubernetes.io/proxy-read-timeout",
			"nginx.ingress.kubernetes.io/ssl-redirect"],
		"unsupported": [], "invalid": [], "findings": []}`, string(b))
}

func TestClassNotes(t *testing.T) {
	report, _ := runCheckJSON(t, "-f", checkFixtures, "--all-classes")
	got := byName(report)
	assert.Equal(t, []string{`class "nginx" belongs to ingress-nginx: set spec.ingressClassName: portico and remove the ` +
		`kubernetes.io/ingress.class annotation to be served by Portico`}, got["blog/blog"].Notes)
	assert.Equal(t, []string{`class "nginx" belongs to ingress-nginx: set spec.ingressClassName: portico to be served by Portico`},
		got["shop/checkout"].Notes)
}

// TestCheckCluster reads the fixture objects through the informer source
// (a fake API server) and expects the same report as from the files.
func TestCheckCluster(t *testing.T) {
	snap, _ := manifests.New(checkFixtures, nil).Load()
	var objs []runtime.Object
	for _, o := range snap.Ingresses {
		objs = append(objs, o)
	}
	for _, o := range snap.IngressClasses {
		objs = append(objs, o)
	}
	for _, o := range snap.Services {
		objs = append(objs, o)
	}
	for _, o := range snap.EndpointSlices {
		objs = append(objs, o)
	}
	for _, o := range snap.Secrets {
		objs = append(objs, o)
	}
	var mf modelFlags
	mf.register(pflag.NewFlagSet("check", pflag.ContinueOnError)) // sets the defaults
	mf.resolvers = []string{}
	opts, err := mf.options("/tmp/portico", "/etc/portico", "/etc/portico/certs/default.pem")
	require.NoError(t, err)

	fromFiles := buildCheckReport(snap, nil, opts, "", false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clusterSnap, err := clusterSnapshot(ctx, fake.NewClientset(objs...), kube.Options{}, 20*time.Second)
	require.NoError(t, err)
	fromCluster := buildCheckReport(clusterSnap, nil, opts, "", false)
	assert.Equal(t, fromFiles, fromCluster)

	clusterSnap, err = clusterSnapshot(ctx, fake.NewClientset(objs...), kube.Options{Namespace: "reports"}, 20*time.Second)
	require.NoError(t, err)
	one := buildCheckReport(clusterSnap, nil, opts, "reports", false)
	require.Len(t, one.Ingresses, 1)
	assert.Equal(t, "reports", one.Ingresses[0].Name)
}

// TestCheckClusterUnreachable: a cluster that does not answer is exit status 2 after --timeout.
func TestCheckClusterUnreachable(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600))
	var out, errOut bytes.Buffer
	start := time.Now()
	code := run([]string{"check", "--kubeconfig", kubeconfig, "--timeout", "500ms"}, &out, &errOut)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut.String(), "within --timeout 500ms")
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestIngressNginxClass(t *testing.T) {
	class := func(name, controller string, isDefault bool) *networkingv1.IngressClass {
		c := &networkingv1.IngressClass{}
		c.Name, c.Spec.Controller = name, controller
		if isDefault {
			c.Annotations = map[string]string{model.DefaultClassAnnotation: "true"}
		}
		return c
	}
	ing := func(specClass, legacy string) *networkingv1.Ingress {
		i := &networkingv1.Ingress{}
		i.Namespace, i.Name = "ns", "x"
		if specClass != "" {
			i.Spec.IngressClassName = &specClass
		}
		if legacy != "" {
			i.Annotations = map[string]string{model.LegacyClassAnnotation: legacy}
		}
		return i
	}
	opts := model.Options{ControllerClass: model.DefaultControllerClass, IngressClass: model.DefaultIngressClass}
	tests := []struct {
		name    string
		classes []*networkingv1.IngressClass
		ing     *networkingv1.Ingress
		nginx   bool
		target  string
		note    string
	}{
		{name: "nginx without IngressClass", ing: ing("nginx", ""), nginx: true, target: "portico",
			note: `class "nginx" belongs to ingress-nginx: set spec.ingressClassName: portico to be served`},
		{name: "legacy annotation", ing: ing("", "nginx"), nginx: true, target: "portico",
			note: "and remove the kubernetes.io/ingress.class annotation"},
		{name: "another class name of ingress-nginx", classes: []*networkingv1.IngressClass{class("public", "k8s.io/ingress-nginx", false)},
			ing: ing("public", ""), nginx: true, target: "portico", note: `class "public" belongs to ingress-nginx`},
		{name: "class nginx of another controller", classes: []*networkingv1.IngressClass{class("nginx", "nginx.org/ingress-controller", false)},
			ing: ing("nginx", ""), nginx: false, target: "portico", note: "belongs to controller nginx.org/ingress-controller"},
		{name: "no class, ingress-nginx default", classes: []*networkingv1.IngressClass{class("nginx", "k8s.io/ingress-nginx", true)},
			ing: ing("", ""), nginx: true, target: "portico", note: "names no class, so ingress-nginx's default IngressClass takes it"},
		{name: "no class, no default", ing: ing("", ""), nginx: false, target: "portico", note: "--watch-ingress-without-class"},
		{name: "target is our IngressClass, the default first",
			classes: []*networkingv1.IngressClass{class("a-portico", model.DefaultControllerClass, false), class("z-portico", model.DefaultControllerClass, true)},
			ing:     ing("traefik", ""), nginx: false, target: "z-portico", note: "set spec.ingressClassName: z-portico"},
		{name: "target is our only IngressClass",
			classes: []*networkingv1.IngressClass{class("edge", model.DefaultControllerClass, false)},
			ing:     ing("traefik", ""), nginx: false, target: "edge", note: `class "traefik" belongs to another controller`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ci := newClassInfo(tc.classes, opts)
			assert.Equal(t, tc.nginx, ci.ingressNginx(tc.ing))
			assert.Equal(t, tc.target, ci.target)
			assert.Contains(t, ci.classNote(tc.ing), tc.note)
		})
	}
}

// explained is what a report says about an Ingress in words: its notes and
// the messages of its findings.
func explained(r verdict.Report) string {
	text := slices.Clone(r.Notes)
	for _, f := range r.Findings {
		text = append(text, f.Message)
	}
	return strings.Join(text, "\n")
}

func severities(findings []verdict.Finding) []string {
	var out []string
	for _, f := range findings {
		out = append(out, f.Severity)
	}
	return out
}

// TestCheckVerdictFromSeverity: the verdict is the worst severity of an
// Ingress's findings: every path left out or a control that cannot be
// honoured is NOT served; a path left out or a missing Service is a warning.
func TestCheckVerdictFromSeverity(t *testing.T) {
	report, code := runCheckJSON(t, "-f", "testdata/severity")
	assert.Equal(t, 1, code)
	got := byName(report)
	tests := []struct {
		ingress    string
		verdict    string
		reasons    []string
		severities []string
	}{
		{ingress: "web/first", verdict: verdict.Served},
		{ingress: "web/shadowed", verdict: verdict.NotServed, reasons: []string{model.ReasonConflict}, severities: []string{"NotServed"}},
		{ingress: "web/partly", verdict: verdict.Warnings, reasons: []string{model.ReasonConflict}, severities: []string{"PartlyServed"}},
		{ingress: "web/locked", verdict: verdict.NotServed, reasons: []string{model.ReasonInvalidAuthSecret}, severities: []string{"NotServed"}},
		{ingress: "web/early", verdict: verdict.Warnings, reasons: []string{model.ReasonServiceNotFound}, severities: []string{"Served"}},
	}
	for _, tc := range tests {
		t.Run(tc.ingress, func(t *testing.T) {
			r := got[tc.ingress]
			assert.Equal(t, tc.verdict, r.Verdict)
			assert.Equal(t, tc.reasons, nilIfEmpty(reasons(r.Findings)))
			assert.Equal(t, tc.severities, severities(r.Findings))
		})
	}
	assert.Equal(t, checkSummary{Ingresses: 5, Served: 1, ServedWithWarnings: 2, NotServed: 2}, report.Summary)
}
