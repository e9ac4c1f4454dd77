//go:build linux

package kube

import (
	"net/http"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDefaultBackendSpec checks spec.defaultBackend: it serves the
// unmatched paths of its own Ingress's hosts, and the oldest Ingress's
// serves requests for unknown hosts (the newer one gets a Conflict Event);
// a host of an Ingress without one answers 404 for unmatched paths.
func TestDefaultBackendSpec(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	rtServices(t, ns, "app", "fallback-old", "fallback-new")
	c := startController(t, ns)

	// The older one sorts last by name, so only its age can make it win.
	olderIng := ingress(ns, "zz-older", "older.example", route{path: "/app", service: "app"})
	olderIng.Spec.DefaultBackend = rtPtr(rtBackend("fallback-old"))
	older := createIngress(t, olderIng)
	plain := ingress(ns, "plain", "plain.example", route{path: "/app", service: "app"})
	plain.Spec.Rules = append(plain.Spec.Rules, rtRule("", route{path: "/nohost", service: "app"}))
	createIngress(t, plain)
	c.WaitServed(t, "unknown.example", "/", "fallback-old")

	newerIng := ingress(ns, "aa-newer", "newer.example", route{path: "/app", service: "app"})
	newerIng.Spec.DefaultBackend = rtPtr(rtBackend("fallback-new"))
	rtCreateNewer(t, older, newerIng)
	c.WaitServed(t, "newer.example", "/other", "fallback-new")

	rtCheck(t, c, []rtCase{
		{"older.example", "/app", "app"},
		{"older.example", "/app/x", "app"},
		{"older.example", "/", "fallback-old"},
		{"older.example", "/other/x?y=1", "fallback-old"},
		{"older.example", "/apps", "fallback-old"},
		{"newer.example", "/app", "app"},
		{"newer.example", "/", "fallback-new"},
		{"newer.example", "/other", "fallback-new"},
		// An Ingress without defaultBackend: nothing for its unmatched paths.
		{"plain.example", "/app", "app"},
		{"plain.example", "/other", ""},
		{"plain.example", "/", ""},
		// Unknown hosts: the rules without host first, then the oldest
		// Ingress's defaultBackend.
		{"unknown.example", "/nohost/x", "app"},
		{"unknown.example", "/", "fallback-old"},
		{"unknown.example", "/app", "fallback-old"},
		{"127.0.0.1", "/x", "fallback-old"},
	})
	rtWaitEvent(t, ns, "aa-newer", "Conflict", "zz-older")

	// The older one goes: the newer one's defaultBackend takes unknown hosts,
	// older.example among them now.
	deleteIngress(t, ns, "zz-older")
	c.WaitServed(t, "unknown.example", "/", "fallback-new")
	rtCheck(t, c, []rtCase{
		{"older.example", "/app", "fallback-new"},
		{"newer.example", "/other", "fallback-new"},
		{"unknown.example", "/nohost", "app"},
		{"plain.example", "/other", ""},
	})

	// The last defaultBackend goes: 404 everywhere nothing matches.
	deleteIngress(t, ns, "aa-newer")
	c.WaitStatus(t, "unknown.example", "/", http.StatusNotFound, "")
	rtCheck(t, c, []rtCase{
		{"newer.example", "/other", ""},
		{"unknown.example", "/nohost", "app"},
		{"plain.example", "/app", "app"},
	})
}

// TestDefaultBackendService checks --default-backend-service, in each of
// its forms, with a Service of the test's namespace: it answers what no
// rule matches as long as no Ingress has a defaultBackend for it.
func TestDefaultBackendService(t *testing.T) {
	t.Parallel()
	for _, form := range []struct{ name, suffix string }{
		{"name", ""},
		{"port-number", ":80"},
		{"port-name", ":http"},
	} {
		t.Run(form.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			ensureIngressClass(t)
			rtServices(t, ns, "app", "global", "fallback")
			c := startController(t, ns, "--default-backend-service", ns+"/global"+form.suffix)

			createIngress(t, ingress(ns, "web", "flag.example", route{path: "/app", service: "app"}))
			c.WaitServed(t, "flag.example", "/app", "app")
			rtCheck(t, c, []rtCase{
				{"flag.example", "/app/x", "app"},
				{"flag.example", "/", "global"},
				{"flag.example", "/other", "global"},
				{"unknown.example", "/", "global"},
				{"unknown.example", "/app", "global"},
			})
			if form.suffix != "" {
				return
			}

			// An Ingress with only a defaultBackend takes the unknown hosts;
			// flag.example's unmatched paths stay with the flag's Service.
			createIngress(t, &networkingv1.Ingress{
				ObjectMeta: metav1.ObjectMeta{Name: "catch-all", Namespace: ns},
				Spec: networkingv1.IngressSpec{
					IngressClassName: rtPtr(ingressClass),
					DefaultBackend:   rtPtr(rtBackend("fallback")),
				},
			})
			c.WaitServed(t, "unknown.example", "/", "fallback")
			rtCheck(t, c, []rtCase{
				{"unknown.example", "/app", "fallback"},
				{"flag.example", "/other", "global"},
				{"flag.example", "/app", "app"},
			})

			deleteIngress(t, ns, "catch-all")
			c.WaitServed(t, "unknown.example", "/", "global")
		})
	}
}

// TestDefaultBackendNone checks that without any default backend nginx
// itself answers 404 for what no rule matches, also when
// --default-backend-service names a Service that does not exist.
func TestDefaultBackendNone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args func(ns string) []string
	}{
		{"no-flag", func(string) []string { return nil }},
		{"missing-service", func(ns string) []string { return []string{"--default-backend-service", ns + "/missing"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			ensureIngressClass(t)
			rtServices(t, ns, "app")
			c := startController(t, ns, tc.args(ns)...)

			createIngress(t, ingress(ns, "web", "none.example", route{path: "/app", service: "app"}))
			c.WaitServed(t, "none.example", "/app", "app")
			rtCheck(t, c, []rtCase{
				{"none.example", "/", ""},
				{"none.example", "/other", ""},
				{"none.example", "/apps", ""},
				{"unknown.example", "/", ""},
				{"unknown.example", "/app", ""},
				{"127.0.0.1", "/", ""},
			})
		})
	}
}
