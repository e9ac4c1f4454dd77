//go:build linux

// Package chart tests the Helm chart charts/portico with a real helm (v4,
// built from its Go module by hack/build-helm.sh; `make helm`): helm lint,
// helm template goldens for a few value sets, every rendered manifest
// decoded as its Kubernetes type, the security properties of the Pods,
// and the controller flags the chart passes checked against `portico
// controller --help`. It lives under e2e/ because it runs outside tools
// (helm, the portico binary) as the suites do; installing the chart into a
// cluster belongs to the kubelet suite.
//
// Environment:
//
//	PORTICO_REQUIRE_HELM=1  a helm not built yet fails the tests instead of skipping them
//
// Rewrite the goldens after a deliberate change with:
//
//	go test ./e2e/chart -run TestChartTemplate -update
package chart

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/portico-ingress/portico/e2e/framework"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from the current helm template output")

const (
	chartDir  = "../../charts/portico"
	release   = "portico"
	namespace = "portico"
)

// helmBinary returns the helm hack/build-helm.sh built (see framework.HelmBinary).
func helmBinary(t *testing.T) string { return framework.HelmBinary(t) }

// helm runs the helm binary and returns its stdout, or an error with stderr.
func helm(t *testing.T, bin string, args ...string) (string, error) {
	return framework.Helm(t, bin, args...)
}

// valueSet is one values file under testdata and what its output must hold
// besides the properties every set must have.
type valueSet struct {
	name  string
	check func(t *testing.T, r rendered)
}

var valueSets = []valueSet{
	{name: "defaults", check: func(t *testing.T, r rendered) {
		d := r.controller(t)
		assert.Equal(t, int32(2), *d.Spec.Replicas, "deploy/ runs two replicas")
		assert.Equal(t, "portico:latest", d.Spec.Template.Spec.Containers[0].Image)
		pdb := r.one(t, "PodDisruptionBudget", "portico-controller").(*policyv1.PodDisruptionBudget)
		assert.Equal(t, "1", pdb.Spec.MinAvailable.String())
		svc := r.one(t, "Service", "portico-controller").(*corev1.Service)
		assert.Equal(t, corev1.ServiceTypeLoadBalancer, svc.Spec.Type)
		ic := r.one(t, "IngressClass", "portico").(*networkingv1.IngressClass)
		assert.Equal(t, "portico.dev/ingress-controller", ic.Spec.Controller)
		assert.NotContains(t, r.kinds(), "HorizontalPodAutoscaler")
		assert.NotContains(t, r.kinds(), "ServiceMonitor")
		assert.False(t, d.Spec.Template.Spec.HostNetwork)
		checkAdmission(t, r, "portico", 8443)
		args := r.controllerArgs(t)
		// The controller manages the webhook's certificate: the flags
		// name the chart's objects (the controller's defaults for a
		// release named portico), and it has RBAC for exactly those.
		for _, a := range []string{"--admission-secret=portico-admission", "--admission-webhook-name=portico-admission", "--admission-service=portico-admission"} {
			assert.Contains(t, args, a)
		}
		assert.NotContains(t, strings.Join(args, " "), "--admission-cert-dir")
		assert.NotContains(t, strings.Join(args, " "), "--admission-allow-conflicts")
		assert.NotContains(t, strings.Join(args, " "), "--admission-client-ca")
		vwc := r.one(t, "ValidatingWebhookConfiguration", "portico-admission").(*admissionregistrationv1.ValidatingWebhookConfiguration)
		assert.Empty(t, vwc.Annotations, "no cert-manager injection")
		for _, w := range vwc.Webhooks {
			assert.Empty(t, w.ClientConfig.CABundle, "%s: the controller patches the caBundle", w.Name)
			assert.Equal(t, admissionregistrationv1.Fail, *w.FailurePolicy, w.Name)
			assert.Equal(t, int32(5), *w.TimeoutSeconds, w.Name)
		}
		role := r.one(t, "Role", "portico").(*rbacv1.Role)
		assert.Contains(t, role.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"portico-admission"}, Verbs: []string{"get", "update"}})
		assert.Contains(t, role.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}})
		cr := r.one(t, "ClusterRole", "portico").(*rbacv1.ClusterRole)
		assert.Contains(t, cr.Rules, rbacv1.PolicyRule{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"validatingwebhookconfigurations"}, ResourceNames: []string{"portico-admission"}, Verbs: []string{"get", "update", "patch"}})
		assert.NotContains(t, r.kinds(), "Certificate")
	}},
	{name: "admission-cert-manager", check: func(t *testing.T, r rendered) {
		checkAdmission(t, r, "portico", 9443)
		args := r.controllerArgs(t)
		assert.Contains(t, args, "--admission-cert-dir=/etc/portico-admission")
		assert.Contains(t, args, "--admission-allow-conflicts=true")
		assert.Contains(t, args, "--admission-client-ca=/etc/portico-admission-client-ca/ca.crt")
		for _, a := range args {
			assert.False(t, strings.HasPrefix(a, "--admission-secret") || strings.HasPrefix(a, "--admission-webhook-name"),
				"cert-manager manages the certificate; the controller patches nothing: %s", a)
		}
		vwc := r.one(t, "ValidatingWebhookConfiguration", "portico-admission").(*admissionregistrationv1.ValidatingWebhookConfiguration)
		assert.Equal(t, "portico/portico-admission-tls", vwc.Annotations["cert-manager.io/inject-ca-from"])
		for _, w := range vwc.Webhooks {
			assert.Equal(t, admissionregistrationv1.Ignore, *w.FailurePolicy, w.Name)
			assert.Equal(t, int32(10), *w.TimeoutSeconds, w.Name)
		}
		cert := r.one(t, "Certificate", "portico-admission-tls").(*unstructured.Unstructured)
		secret, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
		assert.Equal(t, "portico-admission-tls", secret)
		dns, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
		assert.Equal(t, []string{"portico-admission", "portico-admission.portico", "portico-admission.portico.svc", "portico-admission.portico.svc.cluster.local"}, dns)
		issuer, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
		r.one(t, "Issuer", issuer)
		ca := r.one(t, "Certificate", "portico-admission-ca").(*unstructured.Unstructured)
		isCA, _, _ := unstructured.NestedBool(ca.Object, "spec", "isCA")
		assert.True(t, isCA)
		r.one(t, "Issuer", "portico-admission-selfsign")
		pod := r.controller(t).Spec.Template.Spec
		var vol *corev1.Volume
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == "admission-cert" {
				vol = &pod.Volumes[i]
			}
		}
		require.NotNil(t, vol, "the Certificate's Secret is mounted")
		require.NotNil(t, vol.Secret)
		assert.Equal(t, "portico-admission-tls", vol.Secret.SecretName)
		var clientCA *corev1.Volume
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == "admission-client-ca" {
				clientCA = &pod.Volumes[i]
			}
		}
		require.NotNil(t, clientCA, "the client CA ConfigMap is mounted")
		require.NotNil(t, clientCA.ConfigMap)
		assert.Equal(t, "apiserver-webhook-client-ca", clientCA.ConfigMap.Name)
		// No self-management: no RBAC for Secrets beyond the informers'
		// list and watch, none for the webhook configuration.
		role := r.one(t, "Role", "portico").(*rbacv1.Role)
		for _, rule := range role.Rules {
			assert.NotContains(t, rule.Resources, "secrets")
		}
		cr := r.one(t, "ClusterRole", "portico").(*rbacv1.ClusterRole)
		for _, rule := range cr.Rules {
			assert.NotContains(t, rule.Resources, "validatingwebhookconfigurations")
		}
	}},
	{name: "ingress-nginx", check: func(t *testing.T, r rendered) {
		d := r.controller(t)
		assert.Nil(t, d.Spec.Replicas, "the HPA owns the replica count")
		args := r.controllerArgs(t)
		assert.Contains(t, args, "--controller-class=example.com/portico-public")
		assert.Contains(t, args, "--ingress-class=portico-public")
		assert.Contains(t, args, "--default-ssl-certificate=portico/wildcard-tls")
		assert.Contains(t, args, "--update-status-on-shutdown")
		cm := r.one(t, "ConfigMap", "portico-controller").(*corev1.ConfigMap)
		assert.Equal(t, map[string]string{"proxy-body-size": "8m", "use-forwarded-headers": "true", "ssl-protocols": "TLSv1.2 TLSv1.3"}, cm.Data)
		ic := r.one(t, "IngressClass", "portico-public").(*networkingv1.IngressClass)
		assert.Equal(t, "true", ic.Annotations["ingressclass.kubernetes.io/is-default-class"])
		svc := r.one(t, "Service", "portico-controller").(*corev1.Service)
		assert.Equal(t, corev1.ServiceExternalTrafficPolicyLocal, svc.Spec.ExternalTrafficPolicy)
		assert.Equal(t, "nlb", svc.Annotations["service.beta.kubernetes.io/aws-load-balancer-type"])
		nginx := d.Spec.Template.Spec.Containers[0]
		assert.Equal(t, "512Mi", nginx.Resources.Limits.Memory().String(), "controller.resources are the nginx container's")
		pdb := r.one(t, "PodDisruptionBudget", "portico-controller").(*policyv1.PodDisruptionBudget)
		assert.Equal(t, "2", pdb.Spec.MinAvailable.String())
		hpa := r.one(t, "HorizontalPodAutoscaler", "portico-controller").(*autoscalingv2.HorizontalPodAutoscaler)
		assert.Equal(t, int32(3), *hpa.Spec.MinReplicas)
		assert.Equal(t, int32(10), hpa.Spec.MaxReplicas)
		require.Len(t, hpa.Spec.Metrics, 1, "memory utilization was turned off")
		assert.Equal(t, corev1.ResourceCPU, hpa.Spec.Metrics[0].Resource.Name)
		assert.Len(t, d.Spec.Template.Spec.TopologySpreadConstraints, 1)
		assert.NotNil(t, d.Spec.Template.Spec.Affinity.PodAntiAffinity)
		assert.Len(t, d.Spec.Template.Spec.Tolerations, 1)
		assert.Equal(t, "true", d.Spec.Template.Spec.NodeSelector["node-role.example.com/ingress"])
		sm := r.one(t, "ServiceMonitor", "portico-controller").(*unstructured.Unstructured)
		port, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		require.Len(t, port, 1)
		assert.Equal(t, "metrics", port[0].(map[string]any)["port"])
		assert.Equal(t, "prometheus", sm.GetLabels()["release"])
		metrics := r.one(t, "Service", "portico-controller-metrics").(*corev1.Service)
		assert.Equal(t, "metrics", metrics.Spec.Ports[0].TargetPort.String())
		rule := r.one(t, "PrometheusRule", "portico-controller").(*unstructured.Unstructured)
		groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
		// Portico's alert rules (prometheusRule.defaultRules), then the
		// values file's own rules in a group of their own.
		var shipped struct {
			Groups []any `json:"groups"`
		}
		raw, err := os.ReadFile("../../deploy/prometheus/portico-alerts.yaml")
		require.NoError(t, err)
		require.NoError(t, sigsyaml.Unmarshal(raw, &shipped))
		require.Len(t, groups, len(shipped.Groups)+1)
		assert.Equal(t, shipped.Groups, groups[:len(shipped.Groups)], "the chart's rules are deploy/prometheus/portico-alerts.yaml's")
		assert.Equal(t, "portico", groups[len(shipped.Groups)].(map[string]any)["name"])
		dash := r.one(t, "ConfigMap", "portico-controller-dashboard").(*corev1.ConfigMap)
		want, err := os.ReadFile("../../deploy/grafana/portico.json")
		require.NoError(t, err)
		assert.Equal(t, strings.TrimSpace(string(want)), dash.Data["portico.json"])
		assert.Equal(t, "1", dash.Labels["grafana_dashboard"])
	}},
	{name: "default-backend", check: func(t *testing.T, r rendered) {
		assert.Contains(t, r.controllerArgs(t), "--default-backend-service=$(POD_NAMESPACE)/portico-defaultbackend")
		db := r.one(t, "Deployment", "portico-defaultbackend").(*appsv1.Deployment)
		assert.Equal(t, int32(2), *db.Spec.Replicas)
		assert.Equal(t, "registry.k8s.io/defaultbackend-amd64:1.5", db.Spec.Template.Spec.Containers[0].Image)
		assert.NotContains(t, r.kinds(), "PodDisruptionBudget", "one replica: a PDB would block node drains")
		svc := r.one(t, "Service", "portico-controller").(*corev1.Service)
		assert.Equal(t, int32(30080), svc.Spec.Ports[0].NodePort)
		assert.Contains(t, r.kinds(), "ValidatingWebhookConfiguration", "the webhook is on by default")
		pod := r.controller(t).Spec.Template.Spec
		assert.True(t, pod.HostNetwork)
		assert.Equal(t, corev1.DNSClusterFirstWithHostNet, pod.DNSPolicy)
	}},
}

// TestChartLint runs helm lint --strict on the chart with each value set.
func TestChartLint(t *testing.T) {
	bin := helmBinary(t)
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			out, err := helm(t, bin, "lint", "--strict", chartDir, "-f", valuesFile(vs.name))
			require.NoError(t, err)
			assert.Contains(t, out, "0 chart(s) failed")
		})
	}
}

// TestChartTemplate renders each value set, compares it with its golden
// file, decodes every manifest as its Kubernetes type, and checks what
// every set must keep: the Pods' security, the flags, the names the
// controller's arguments refer to, and the set's own expectations.
func TestChartTemplate(t *testing.T) {
	bin := helmBinary(t)
	flags := controllerFlags(t)
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			out, err := helm(t, bin, "template", release, chartDir, "--namespace", namespace, "-f", valuesFile(vs.name))
			require.NoError(t, err)
			golden := filepath.Join("testdata", vs.name+".golden.yaml")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(out), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run with -update to create it")
			assert.Equal(t, string(want), out, "helm template differs from %s (run with -update after a deliberate change)", golden)

			r := decode(t, out)
			checkSecurity(t, r)
			args := r.controllerArgs(t)
			for _, a := range args[1:] {
				name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
				assert.True(t, strings.HasPrefix(a, "--") && flags[name], "the chart passes %q, which is not a flag of portico controller", a)
			}
			checkReferences(t, r, args)
			vs.check(t, r)
		})
	}
}

// TestChartRefuses: values that would break what Portico promises fail
// the install with a message, rather than deploying something else.
func TestChartRefuses(t *testing.T) {
	bin := helmBinary(t)
	for _, c := range []struct{ set, want string }{
		{"controller.image.runAsUser=0", "must not be 0"},
		{"controller.kind=DaemonSet", "only Deployment"},
		{"admission.failurePolicy=Nope", "admission.failurePolicy must be Fail or Ignore"},
		// An ingress-nginx flag Portico does not have.
		{"controller.extraArgs.enable-ssl-passthrough=true", "--enable-ssl-passthrough is not a flag of portico controller"},
	} {
		_, err := helm(t, bin, "template", release, chartDir, "--namespace", namespace, "--set", c.set)
		require.Error(t, err, c.set)
		assert.Contains(t, err.Error(), c.want, c.set)
	}
}

// TestChartFlagsMatchHelp keeps the chart's list of controller flags
// (templates/_flags.tpl, what extraArgs may set) equal to --help.
func TestChartFlagsMatchHelp(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "templates", "_flags.tpl"))
	require.NoError(t, err)
	_, body, ok := strings.Cut(string(raw), `{{- define "portico.controllerFlags" -}}`)
	require.True(t, ok)
	body, _, ok = strings.Cut(body, "{{- end -}}")
	require.True(t, ok)
	listed := strings.Fields(body)
	var help []string
	for f := range controllerFlags(t) {
		help = append(help, f)
	}
	sort.Strings(help)
	assert.Equal(t, help, listed, "templates/_flags.tpl must list exactly the flags of portico controller --help, sorted")
}

func valuesFile(name string) string { return filepath.Join("testdata", name+".values.yaml") }

// porticoBinary is the portico binary TestMain builds once for the tests.
var porticoBinary string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "portico-chart-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := framework.ModuleRoot()
	if err == nil {
		porticoBinary = filepath.Join(dir, "portico")
		err = framework.GoBuild(root, porticoBinary, "./cmd/portico")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e/chart: building portico:", err)
		return 1
	}
	return m.Run()
}

// controllerFlags returns the flags `portico controller --help` lists
// (without help itself).
func controllerFlags(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command(porticoBinary, "controller", "--help").Output()
	require.NoError(t, err)
	flagLine := regexp.MustCompile(`^\s+(?:-[a-zA-Z], )?--([a-z0-9-]+)`)
	flags := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := flagLine.FindStringSubmatch(sc.Text()); m != nil && m[1] != "help" {
			flags[m[1]] = true
		}
	}
	require.Greater(t, len(flags), 20, "parsed too few flags from --help:\n%s", out)
	return flags
}

// rendered are the decoded manifests of one helm template run.
type rendered []runtime.Object

// decode parses every YAML document: built-in kinds with client-go's
// scheme (an unknown field or kind fails), the Prometheus operator's and
// cert-manager's CRDs as unstructured.
func decode(t *testing.T, out string) rendered {
	t.Helper()
	var objs rendered
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	// Strict: a field the type does not have is a typo the API server
	// would drop (or refuse).
	strict := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		require.NoError(t, sigsyaml.Unmarshal(doc, &meta))
		if strings.HasPrefix(meta.APIVersion, "monitoring.coreos.com/") || strings.HasPrefix(meta.APIVersion, "cert-manager.io/") {
			require.Contains(t, []string{"ServiceMonitor", "PrometheusRule", "Certificate", "Issuer"}, meta.Kind)
			u := &unstructured.Unstructured{}
			j, err := sigsyaml.YAMLToJSON(doc)
			require.NoError(t, err)
			require.NoError(t, u.UnmarshalJSON(j))
			objs = append(objs, u)
			continue
		}
		obj, gvk, err := strict.Decode(doc, nil, nil)
		require.NoError(t, err, "%s", doc)
		require.Equal(t, meta.Kind, gvk.Kind)
		obj.GetObjectKind().SetGroupVersionKind(*gvk)
		objs = append(objs, obj)
	}
	require.NotEmpty(t, objs)
	return objs
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

func (r rendered) kinds() []string {
	var out []string
	for _, o := range r {
		out = append(out, o.GetObjectKind().GroupVersionKind().Kind)
	}
	return out
}

// one returns the object of kind and name, failing when there is not exactly one.
func (r rendered) one(t *testing.T, kind, name string) runtime.Object {
	t.Helper()
	var found []runtime.Object
	for _, o := range r {
		if o.GetObjectKind().GroupVersionKind().Kind != kind {
			continue
		}
		if m, ok := o.(interface{ GetName() string }); ok && m.GetName() == name {
			found = append(found, o)
		}
	}
	require.Len(t, found, 1, "%s %s among %v", kind, name, r.kinds())
	return found[0]
}

func (r rendered) controller(t *testing.T) *appsv1.Deployment {
	t.Helper()
	return r.one(t, "Deployment", "portico-controller").(*appsv1.Deployment)
}

// controllerArgs are the controller container's arguments ("controller" first).
func (r rendered) controllerArgs(t *testing.T) []string {
	t.Helper()
	for _, c := range r.controller(t).Spec.Template.Spec.Containers {
		if c.Name == "controller" {
			require.NotEmpty(t, c.Args)
			require.Equal(t, "controller", c.Args[0])
			return c.Args
		}
	}
	t.Fatal("no controller container")
	return nil
}

// checkSecurity: every Pod runs as a non-root user with a read-only root
// filesystem, no privilege escalation and every capability dropped, none
// added; the controller's Pod shares its process namespace (the controller
// signals nginx) and its two emptyDirs, and lets nginx bind ports below
// 1024 through the namespaced sysctl.
func checkSecurity(t *testing.T, r rendered) {
	t.Helper()
	for _, o := range r {
		d, ok := o.(*appsv1.Deployment)
		if !ok {
			continue
		}
		spec := d.Spec.Template.Spec
		pod := spec.SecurityContext
		for _, c := range spec.Containers {
			sc := c.SecurityContext
			require.NotNil(t, sc, "%s/%s has no securityContext", d.Name, c.Name)
			nonRoot := sc.RunAsNonRoot != nil && *sc.RunAsNonRoot || pod != nil && pod.RunAsNonRoot != nil && *pod.RunAsNonRoot
			assert.True(t, nonRoot, "%s/%s: runAsNonRoot", d.Name, c.Name)
			uid := sc.RunAsUser
			if uid == nil && pod != nil {
				uid = pod.RunAsUser
			}
			assert.True(t, uid != nil && *uid != 0, "%s/%s: a non-zero runAsUser", d.Name, c.Name)
			assert.True(t, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem, "%s/%s: readOnlyRootFilesystem", d.Name, c.Name)
			assert.True(t, sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation, "%s/%s: allowPrivilegeEscalation false", d.Name, c.Name)
			assert.Nil(t, sc.Privileged, "%s/%s: privileged", d.Name, c.Name)
			require.NotNil(t, sc.Capabilities, "%s/%s: capabilities", d.Name, c.Name)
			assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, "%s/%s drops every capability", d.Name, c.Name)
			assert.Empty(t, sc.Capabilities.Add, "%s/%s adds a capability", d.Name, c.Name)
		}
		if d.Name != "portico-controller" {
			continue
		}
		assert.True(t, spec.ShareProcessNamespace != nil && *spec.ShareProcessNamespace, "the controller signals nginx across containers")
		require.Len(t, spec.Containers, 2)
		assert.Equal(t, []string{"nginx", "controller"}, []string{spec.Containers[0].Name, spec.Containers[1].Name})
		for _, c := range spec.Containers {
			var mounts []string
			for _, m := range c.VolumeMounts {
				if c.Name == "controller" && (m.Name == "admission-cert" || m.Name == "admission-client-ca") {
					// The webhook's certificate from cert-manager, the
					// API server's client CA: read-only.
					assert.Equal(t, map[string]string{"admission-cert": "/etc/portico-admission", "admission-client-ca": "/etc/portico-admission-client-ca"}[m.Name], m.MountPath)
					assert.True(t, m.ReadOnly, "%s is mounted read-only", m.Name)
					continue
				}
				mounts = append(mounts, m.Name+":"+m.MountPath)
			}
			assert.Equal(t, []string{"config:/etc/portico", "runtime:/tmp/portico"}, mounts, "%s shares both emptyDirs", c.Name)
		}
		nginx := spec.Containers[0]
		require.NotNil(t, nginx.ReadinessProbe, "nginx readiness")
		require.NotNil(t, nginx.ReadinessProbe.Exec)
		assert.Equal(t, []string{"/usr/local/bin/portico", "nginx-probe", "--runtime-dir=/tmp/portico"}, nginx.ReadinessProbe.Exec.Command)
		require.NotNil(t, nginx.Lifecycle, "nginx preStop")
		require.NotNil(t, nginx.Lifecycle.PreStop)
		require.NotNil(t, pod, "the controller Pod's securityContext")
		if spec.HostNetwork {
			assert.Empty(t, pod.Sysctls, "a Pod on the host network may not set sysctls")
		} else {
			assert.Equal(t, []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}, pod.Sysctls,
				"nginx binds 80 and 443 without a capability")
		}
	}
}

// checkReferences: the NAMESPACE/NAME the controller's arguments name are
// objects the chart renders, so a renamed object cannot leave a flag
// pointing at nothing.
func checkReferences(t *testing.T, r rendered, args []string) {
	t.Helper()
	kinds := map[string]string{"configmap": "ConfigMap", "publish-service": "Service", "default-backend-service": "Service"}
	seen := 0
	for _, a := range args {
		name, value, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		kind, ok := kinds[name]
		if !ok {
			continue
		}
		seen++
		ns, obj, ok := strings.Cut(value, "/")
		require.True(t, ok, a)
		assert.Equal(t, "$(POD_NAMESPACE)", ns, "%s: the release's namespace, from the Pod", a)
		r.one(t, kind, obj)
	}
	assert.GreaterOrEqual(t, seen, 1)
	assert.True(t, slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--configmap=") }), "the options ConfigMap is passed")
}

// checkAdmission: the webhook's Service points at the controller
// container's admission port, which --admission-address serves, and its
// ValidatingWebhookConfiguration sends Ingresses and only the options
// ConfigMap (the one --configmap names) to that Service's /validate.
func checkAdmission(t *testing.T, r rendered, release string, port int32) {
	t.Helper()
	name := release + "-admission"
	args := r.controllerArgs(t)
	assert.Contains(t, args, fmt.Sprintf("--admission-address=:%d", port))
	var controller corev1.Container
	for _, c := range r.controller(t).Spec.Template.Spec.Containers {
		if c.Name == "controller" {
			controller = c
		}
	}
	assert.Contains(t, controller.Ports, corev1.ContainerPort{Name: "admission", ContainerPort: port, Protocol: corev1.ProtocolTCP})
	svc := r.one(t, "Service", name).(*corev1.Service)
	require.Len(t, svc.Spec.Ports, 1)
	assert.Equal(t, int32(443), svc.Spec.Ports[0].Port)
	assert.Equal(t, "admission", svc.Spec.Ports[0].TargetPort.String())
	assert.Equal(t, r.controller(t).Spec.Selector.MatchLabels, svc.Spec.Selector, "the Service selects the controller Pods")

	var options string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--configmap=$(POD_NAMESPACE)/"); ok {
			options = v
		}
	}
	require.NotEmpty(t, options)
	vwc := r.one(t, "ValidatingWebhookConfiguration", name).(*admissionregistrationv1.ValidatingWebhookConfiguration)
	require.Len(t, vwc.Webhooks, 2)
	for _, w := range vwc.Webhooks {
		require.NotNil(t, w.ClientConfig.Service, w.Name)
		assert.Equal(t, name, w.ClientConfig.Service.Name, w.Name)
		assert.Equal(t, namespace, w.ClientConfig.Service.Namespace, w.Name)
		assert.Equal(t, "/validate", *w.ClientConfig.Service.Path, w.Name)
		assert.Equal(t, admissionregistrationv1.SideEffectClassNone, *w.SideEffects, w.Name)
		assert.Equal(t, []string{"v1"}, w.AdmissionReviewVersions, w.Name)
		require.Len(t, w.Rules, 1, w.Name)
		assert.Equal(t, []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}, w.Rules[0].Operations, w.Name)
	}
	ing, cm := vwc.Webhooks[0], vwc.Webhooks[1]
	assert.Equal(t, "ingresses.admission.portico.dev", ing.Name)
	assert.Equal(t, []string{"networking.k8s.io"}, ing.Rules[0].APIGroups)
	assert.Equal(t, []string{"ingresses"}, ing.Rules[0].Resources)
	assert.Equal(t, "configmaps.admission.portico.dev", cm.Name)
	assert.Equal(t, []string{""}, cm.Rules[0].APIGroups)
	assert.Equal(t, []string{"configmaps"}, cm.Rules[0].Resources)
	require.NotNil(t, cm.NamespaceSelector)
	assert.Equal(t, map[string]string{"kubernetes.io/metadata.name": namespace}, cm.NamespaceSelector.MatchLabels)
	require.Len(t, cm.MatchConditions, 1)
	assert.Equal(t, fmt.Sprintf("object.metadata.name == %q", options), cm.MatchConditions[0].Expression,
		"only the options ConfigMap is reviewed")
	r.one(t, "ConfigMap", options)
}
