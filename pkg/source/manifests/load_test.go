package manifests

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/portico-ingress/portico/pkg/snapshot"
)

// wantProblem describes an expected Problem; file is relative to the case directory.
type wantProblem struct {
	file     string
	line     int
	severity Severity
	contains string
}

// TestLoadFixtures loads each directory under testdata and checks the objects
// and problems. Objects are listed as "Kind namespace/name", grouped by kind
// in Snapshot field order, in the order Load returns them.
func TestLoadFixtures(t *testing.T) {
	tests := []struct {
		dir      string
		objects  []string
		problems []wantProblem
		check    func(t *testing.T, snap *snapshot.Snapshot)
	}{
		{
			dir: "all-kinds",
			objects: []string{
				"Ingress shop/web",
				"IngressClass portico",
				"Service shop/web",
				"EndpointSlice shop/web-abc12",
				"Secret shop/web-tls",
				"ConfigMap portico-system/portico",
			},
			check: func(t *testing.T, snap *snapshot.Snapshot) {
				svc := snap.Services[0]
				assert.Equal(t, corev1.ServiceTypeClusterIP, svc.Spec.Type, "type defaults to ClusterIP")
				assert.Equal(t, corev1.ProtocolTCP, svc.Spec.Ports[0].Protocol)
				assert.Equal(t, intstr.FromInt32(8080), svc.Spec.Ports[0].TargetPort)
				es := snap.EndpointSlices[0]
				require.NotNil(t, es.Ports[0].Protocol)
				assert.Equal(t, corev1.ProtocolTCP, *es.Ports[0].Protocol)
				assert.Equal(t, []string{"198.18.0.10"}, es.Endpoints[0].Addresses)
				assert.Equal(t, []byte("cert"), snap.Secrets[0].Data["tls.crt"])
				assert.Equal(t, "TLSv1.3", snap.ConfigMaps[0].Data["ssl-protocols"])
				assert.Equal(t, "web", snap.Ingresses[0].Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name)
			},
		},
		{
			dir:     "list",
			objects: []string{"Ingress default/api", "Service default/api"},
			problems: []wantProblem{
				{"list.yaml", 1, SeverityWarning, `items[2]: apps/v1 Deployment "api" is ignored`},
			},
			check: func(t *testing.T, snap *snapshot.Snapshot) {
				assert.Equal(t, intstr.FromInt32(80), snap.Services[0].Spec.Ports[0].TargetPort, "targetPort defaults to port")
			},
		},
		{
			dir:     "string-data",
			objects: []string{"Secret default/creds"},
			check: func(t *testing.T, snap *snapshot.Snapshot) {
				s := snap.Secrets[0]
				assert.Equal(t, map[string][]byte{
					"user":     []byte("alice"),
					"keep":     []byte("keep"),
					"password": []byte("s3cret"),
				}, s.Data)
				assert.Nil(t, s.StringData)
				assert.Equal(t, corev1.SecretTypeOpaque, s.Type)
			},
		},
		{
			dir: "namespace-default",
			objects: []string{
				"Ingress default/web",
				"IngressClass portico",
				"Service default/web",
				"ConfigMap team-a/settings",
			},
			check: func(t *testing.T, snap *snapshot.Snapshot) {
				assert.Empty(t, snap.IngressClasses[0].Namespace, "IngressClass is cluster-scoped")
			},
		},
		{
			dir:     "malformed-yaml",
			objects: []string{"ConfigMap default/a", "ConfigMap default/c"},
			problems: []wantProblem{
				{"b-bad.yaml", 14, SeverityError, "invalid YAML: did not find expected '-' indicator; the file is skipped until it is fixed"},
			},
		},
		{
			dir:     "duplicates",
			objects: []string{"Service default/web", "Service other/web", "ConfigMap default/web"},
			problems: []wantProblem{
				{"b.yaml", 6, SeverityError, "Service default/web is already defined at " + filepath.Join("testdata", "duplicates", "a.yaml") + ":1; this copy is ignored"},
			},
			check: func(t *testing.T, snap *snapshot.Snapshot) {
				assert.Equal(t, int32(80), snap.Services[0].Spec.Ports[0].Port, "the first file wins")
			},
		},
		{
			dir:     "unsupported-kind",
			objects: []string{"Service default/web"},
			problems: []wantProblem{
				{"app.yaml", 1, SeverityWarning, `apps/v1 Deployment "web" is ignored: Portico reads only`},
			},
		},
		{
			dir:     "hidden-files",
			objects: []string{"ConfigMap default/upper", "ConfigMap default/nested", "ConfigMap default/visible"},
		},
		{
			dir:     "json",
			objects: []string{"Service shop/web"},
		},
		{
			dir:     "missing-name",
			objects: []string{"ConfigMap default/other"},
			problems: []wantProblem{
				{"app.yaml", 7, SeverityError, `Service in namespace "default" has no metadata.name: add one`},
			},
		},
		{
			dir: "decode-error",
			problems: []wantProblem{
				{"app.yaml", 1, SeverityError, "cannot decode v1 Service: json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port"},
			},
		},
		{
			dir:     "unknown-field",
			objects: []string{"Ingress default/web"},
			problems: []wantProblem{
				{"app.yaml", 1, SeverityWarning, `Ingress default/web: unknown field "spec.rules[0].http.paths[0].backend.sevice"`},
			},
		},
		{
			dir:     "duplicate-key",
			objects: []string{"ConfigMap default/settings"},
			problems: []wantProblem{
				{"app.yaml", 7, SeverityWarning, `key "proxy-body-size" already set in map; only the last value is used`},
			},
			check: func(t *testing.T, snap *snapshot.Snapshot) {
				assert.Equal(t, "8m", snap.ConfigMaps[0].Data["proxy-body-size"])
			},
		},
		{
			dir:     "old-api-version",
			objects: []string{"Service default/web"},
			problems: []wantProblem{
				{"app.yaml", 1, SeverityError, `extensions/v1beta1 Ingress "legacy" is ignored: Portico reads Ingress only in apiVersion networking.k8s.io/v1`},
			},
		},
		{
			dir: "missing-kind",
			problems: []wantProblem{
				{"app.yaml", 1, SeverityError, "missing kind"},
			},
		},
		{
			dir: "invalid-name",
			problems: []wantProblem{
				{"app.yaml", 1, SeverityError, `invalid metadata.name "Web_1"`},
			},
		},
		{
			dir: "bad-base64",
			problems: []wantProblem{
				{"app.yaml", 1, SeverityError, "put plain text under stringData instead"},
			},
		},
		{
			dir: "unquoted-value",
			problems: []wantProblem{
				{"configmap.yaml", 1, SeverityError, "quote the value"},
			},
		},
		{
			dir: "not-an-object",
			problems: []wantProblem{
				{"app.yaml", 1, SeverityError, "expected a Kubernetes object"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			dir := filepath.Join("testdata", tt.dir)
			snap, problems := New(dir, nil).Load()
			assert.Equal(t, tt.objects, keys(snap))
			assertProblems(t, dir, tt.problems, problems)
			if tt.check != nil {
				tt.check(t, snap)
			}
		})
	}
}

// TestLoadIsDeterministic guards the property the controller relies on to
// skip reloads: loading the same files twice gives equal snapshots.
func TestLoadIsDeterministic(t *testing.T) {
	for _, dir := range []string{"all-kinds", "duplicates", "hidden-files"} {
		first, p1 := New(filepath.Join("testdata", dir), nil).Load()
		second, p2 := New(filepath.Join("testdata", dir), nil).Load()
		assert.Equal(t, first, second, dir)
		assert.Equal(t, p1, p2, dir)
	}
}

// keys lists the objects of a snapshot as "Kind namespace/name".
func keys(snap *snapshot.Snapshot) []string {
	var out []string
	for _, o := range snap.Ingresses {
		out = append(out, "Ingress "+o.Namespace+"/"+o.Name)
	}
	for _, o := range snap.IngressClasses {
		out = append(out, "IngressClass "+o.Name)
	}
	for _, o := range snap.Services {
		out = append(out, "Service "+o.Namespace+"/"+o.Name)
	}
	for _, o := range snap.EndpointSlices {
		out = append(out, "EndpointSlice "+o.Namespace+"/"+o.Name)
	}
	for _, o := range snap.Secrets {
		out = append(out, "Secret "+o.Namespace+"/"+o.Name)
	}
	for _, o := range snap.ConfigMaps {
		out = append(out, "ConfigMap "+o.Namespace+"/"+o.Name)
	}
	return out
}

// assertProblems compares problems, in order, with what is wanted.
func assertProblems(t *testing.T, dir string, want []wantProblem, got []Problem) {
	t.Helper()
	if !assert.Len(t, got, len(want), "problems: %v", got) {
		return
	}
	for i, w := range want {
		g := got[i]
		rel, err := filepath.Rel(dir, g.File)
		require.NoError(t, err)
		assert.Equal(t, w.file, rel, "problem %d file: %v", i, g)
		assert.Equal(t, w.line, g.Line, "problem %d line: %v", i, g)
		assert.Equal(t, w.severity, g.Severity, "problem %d severity: %v", i, g)
		assert.Contains(t, g.Error(), w.contains, "problem %d message", i)
	}
}
