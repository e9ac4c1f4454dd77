//go:build linux

package kube

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/e2e/framework"
)

// TestPathMatching checks the Kubernetes path rules end to end: Ingresses
// go through the API server, requests through the controller's nginx, and
// the echo server that answers names the Service nginx picked.
func TestPathMatching(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	rtServices(t, ns, "root", "exact-foo", "prefix-foo", "aaa-bbb", "aaa-bbb-ccc", "exact-slash", "impl", "case")
	c := startController(t, ns)

	exact, prefix, impl := networkingv1.PathTypeExact, networkingv1.PathTypePrefix, networkingv1.PathTypeImplementationSpecific
	// The table of kubernetes.io/docs/concepts/services-networking/ingress/#examples,
	// all on one host.
	createIngress(t, ingress(ns, "paths", "paths.example",
		route{path: "/", pathType: prefix, service: "root"},
		route{path: "/foo", pathType: exact, service: "exact-foo"},
		route{path: "/foo", pathType: prefix, service: "prefix-foo"},
		route{path: "/aaa/bbb/", pathType: prefix, service: "aaa-bbb"},
		route{path: "/aaa/bbb/ccc", pathType: prefix, service: "aaa-bbb-ccc"},
		route{path: "/exact/", pathType: exact, service: "exact-slash"},
		route{path: "/impl", pathType: impl, service: "impl"},
		route{path: "/Case", pathType: prefix, service: "case"},
	))
	// A host without a "/" rule: whatever matches no path is a 404.
	createIngress(t, ingress(ns, "no-root", "exact.example",
		route{path: "/foo", pathType: exact, service: "exact-foo"},
		route{path: "/dir/", pathType: exact, service: "exact-slash"},
		route{path: "/pre", pathType: prefix, service: "prefix-foo"},
		route{path: "/Upper", pathType: exact, service: "case"},
		route{path: "/impl/", pathType: impl, service: "impl"},
	))
	// An empty ImplementationSpecific path (the API server accepts it) is "/".
	createIngress(t, ingress(ns, "impl-empty", "impl-empty.example",
		route{path: "", pathType: impl, service: "impl"},
	))
	// Exact and Prefix rules for the same path in two Ingresses are no
	// conflict: Exact wins for the path itself whichever Ingress is older.
	older := createIngress(t, ingress(ns, "mixed-older", "mixed.example",
		route{path: "/app", pathType: prefix, service: "prefix-foo"},
		route{path: "/other", pathType: exact, service: "exact-foo"},
	))
	rtCreateNewer(t, older, ingress(ns, "mixed-newer", "mixed.example",
		route{path: "/app", pathType: exact, service: "exact-foo"},
		route{path: "/other", pathType: prefix, service: "prefix-foo"},
	))
	// Each Ingress is applied whole; these are the last route of each.
	c.WaitServed(t, "paths.example", "/Case", "case")
	c.WaitServed(t, "exact.example", "/impl/x", "impl")
	c.WaitServed(t, "impl-empty.example", "/", "impl")
	c.WaitServed(t, "mixed.example", "/other/x", "prefix-foo")

	rtCheck(t, c, []rtCase{
		// Prefix "/" matches everything no longer rule matches.
		{"paths.example", "/", "root"},
		{"paths.example", "/unknown", "root"},
		{"paths.example", "/unknown/deeper/", "root"},
		// Exact wins over Prefix for the same path; Prefix takes the rest.
		{"paths.example", "/foo", "exact-foo"},
		{"paths.example", "/foo?query=1", "exact-foo"},
		{"paths.example", "/foo/", "prefix-foo"},
		{"paths.example", "/foo/bar", "prefix-foo"},
		{"paths.example", "/foo/bar/baz", "prefix-foo"},
		// Prefix is matched per path element: /foo does not match /foobar.
		{"paths.example", "/foobar", "root"},
		{"paths.example", "/foo.bar", "root"},
		// A trailing slash of a Prefix path is ignored: /aaa/bbb/ matches /aaa/bbb.
		{"paths.example", "/aaa/bbb", "aaa-bbb"},
		{"paths.example", "/aaa/bbb/", "aaa-bbb"},
		{"paths.example", "/aaa/bbb/x", "aaa-bbb"},
		{"paths.example", "/aaa/bbbxyz", "root"},
		{"paths.example", "/aaa", "root"},
		// The longest matching prefix wins.
		{"paths.example", "/aaa/bbb/ccc", "aaa-bbb-ccc"},
		{"paths.example", "/aaa/bbb/ccc/", "aaa-bbb-ccc"},
		{"paths.example", "/aaa/bbb/ccc/d", "aaa-bbb-ccc"},
		{"paths.example", "/aaa/bbb/cccd", "aaa-bbb"},
		// Exact "/exact/" does not match "/exact" (no redirect either): the
		// longest prefix, "/", takes it.
		{"paths.example", "/exact/", "exact-slash"},
		{"paths.example", "/exact", "root"},
		{"paths.example", "/exact/x", "root"},
		// ImplementationSpecific is Prefix.
		{"paths.example", "/impl", "impl"},
		{"paths.example", "/impl/", "impl"},
		{"paths.example", "/impl/x", "impl"},
		{"paths.example", "/implx", "root"},
		// Paths are case-sensitive.
		{"paths.example", "/Case", "case"},
		{"paths.example", "/Case/x", "case"},
		{"paths.example", "/case", "root"},
		{"paths.example", "/case/x", "root"},
		{"paths.example", "/CASE", "root"},

		// No "/" rule: unmatched paths are a 404 from nginx itself.
		{"exact.example", "/", ""},
		{"exact.example", "/unknown", ""},
		{"exact.example", "/foo", "exact-foo"},
		{"exact.example", "/foo/", ""},
		{"exact.example", "/foo/bar", ""},
		{"exact.example", "/foox", ""},
		{"exact.example", "/dir/", "exact-slash"},
		{"exact.example", "/dir", ""},
		{"exact.example", "/dir/x", ""},
		{"exact.example", "/pre", "prefix-foo"},
		{"exact.example", "/pre/", "prefix-foo"},
		{"exact.example", "/pre/x", "prefix-foo"},
		{"exact.example", "/prefix", ""},
		{"exact.example", "/Upper", "case"},
		{"exact.example", "/upper", ""},
		{"exact.example", "/UPPER", ""},
		{"exact.example", "/impl", "impl"},
		{"exact.example", "/impl/x", "impl"},
		{"exact.example", "/implx", ""},

		{"impl-empty.example", "/", "impl"},
		{"impl-empty.example", "/any/path", "impl"},

		// Exact and Prefix for one path from two Ingresses.
		{"mixed.example", "/app", "exact-foo"},
		{"mixed.example", "/app/", "prefix-foo"},
		{"mixed.example", "/app/x", "prefix-foo"},
		{"mixed.example", "/other", "exact-foo"},
		{"mixed.example", "/other/", "prefix-foo"},
		{"mixed.example", "/other/x", "prefix-foo"},
		{"mixed.example", "/", ""},
		{"mixed.example", "/apps", ""},
	})
}

// TestPathRulesFollowUpdates changes the path type and the paths of a live
// Ingress and checks that the matching follows.
func TestPathRulesFollowUpdates(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	rtServices(t, ns, "first", "second")
	c := startController(t, ns)

	const host = "path-updates.example"
	createIngress(t, ingress(ns, "web", host, route{path: "/api", pathType: networkingv1.PathTypeExact, service: "first"}))
	c.WaitServed(t, host, "/api", "first")
	rtCheck(t, c, []rtCase{{host, "/api/v1", ""}, {host, "/api/", ""}})

	// Exact -> Prefix: the subpaths match now.
	updateIngress(t, ns, "web", func(ing *networkingv1.Ingress) {
		pt := networkingv1.PathTypePrefix
		ing.Spec.Rules[0].HTTP.Paths[0].PathType = &pt
	})
	c.WaitServed(t, host, "/api/v1", "first")
	rtCheck(t, c, []rtCase{{host, "/api", "first"}, {host, "/api/", "first"}, {host, "/apix", ""}})

	// A longer Prefix to another Service takes its subtree only.
	updateIngress(t, ns, "web", func(ing *networkingv1.Ingress) {
		pt := networkingv1.PathTypePrefix
		ing.Spec.Rules[0].HTTP.Paths = append(ing.Spec.Rules[0].HTTP.Paths, networkingv1.HTTPIngressPath{
			Path: "/api/v2/", PathType: &pt, Backend: rtBackend("second"),
		})
	})
	c.WaitServed(t, host, "/api/v2", "second")
	rtCheck(t, c, []rtCase{
		{host, "/api/v2/x", "second"},
		{host, "/api/v2x", "first"},
		{host, "/api/v1", "first"},
		{host, "/api", "first"},
	})

	// The shorter path goes away; only the longer one stays.
	updateIngress(t, ns, "web", func(ing *networkingv1.Ingress) {
		ing.Spec.Rules[0].HTTP.Paths = ing.Spec.Rules[0].HTTP.Paths[1:]
	})
	c.WaitStatus(t, host, "/api/v1", http.StatusNotFound, "")
	rtCheck(t, c, []rtCase{{host, "/api/v2/x", "second"}, {host, "/api", ""}})
}

// rtCase is one request and the Service that must answer it with 200, or
// "" when nginx itself must answer 404.
type rtCase struct {
	host, path string
	want       string
}

// rtCheck sends each request once and checks who answered. The
// configuration must already be live (a waitServed on a route that was
// applied together with, or after, everything the cases depend on).
func rtCheck(t *testing.T, c *controller, cases []rtCase) {
	t.Helper()
	type outcome struct {
		Status  int
		Service string
	}
	for _, tc := range cases {
		want := outcome{http.StatusOK, tc.want}
		if tc.want == "" {
			want = outcome{http.StatusNotFound, ""} // from nginx itself
		}
		r := c.Get(t, tc.host, tc.path)
		if assert.Equal(t, want, outcome{r.Status, r.Served()}, "GET http://%s%s: %s", tc.host, tc.path, r) && r.Echo != nil {
			// nginx passes the request URI on unchanged.
			assert.Equal(t, tc.path, r.Echo.Path, "GET http://%s%s: the path the backend saw", tc.host, tc.path)
		}
	}
}

// rtServices starts one echo server for each name and creates a Service of
// that name in namespace with it as the only endpoint.
func rtServices(t *testing.T, namespace string, names ...string) {
	t.Helper()
	for _, name := range names {
		createService(t, namespace, name, startBackends(t, name, 1))
	}
}

// rtBackend is a backend to port 80 of service.
func rtBackend(service string) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
		Name: service, Port: networkingv1.ServiceBackendPort{Number: servicePort},
	}}
}

// rtRule is the rule of an ingress(...) for host, for Ingresses with
// several rules.
func rtRule(host string, routes ...route) networkingv1.IngressRule {
	return ingress("", "", host, routes...).Spec.Rules[0]
}

// rtCreateNewer creates ing with a creationTimestamp later than older's.
// Timestamps have one-second resolution and equal ones are ordered by
// namespace/name, so it first waits for the clock (the API server's, on
// this machine) to pass older's second.
func rtCreateNewer(t *testing.T, older *networkingv1.Ingress, ing *networkingv1.Ingress) *networkingv1.Ingress {
	t.Helper()
	return rtCreateAfter(t, older.CreationTimestamp, func() *networkingv1.Ingress { return createIngress(t, ing) })
}

// rtCreateAfter runs create once the clock is past the second of ts and
// checks that what it created is newer than ts.
func rtCreateAfter(t *testing.T, ts metav1.Time, create func() *networkingv1.Ingress) *networkingv1.Ingress {
	t.Helper()
	framework.Eventually(t, func() bool { return time.Now().Truncate(time.Second).After(ts.Time) },
		"the clock passes %s", ts.UTC().Format(time.RFC3339))
	out := create()
	require.True(t, out.CreationTimestamp.After(ts.Time), "Ingress %s/%s created at %s, want after %s",
		out.Namespace, out.Name, out.CreationTimestamp.UTC().Format(time.RFC3339), ts.UTC().Format(time.RFC3339))
	return out
}

// rtName is a name unique to this run, for cluster-scoped objects.
func rtName(prefix string) string {
	return fmt.Sprintf("%s-%s", prefix, randomHex(4))
}
