//go:build linux

package kube

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/testutil/dnstest"
)

// createExternalName creates an ExternalName Service for name.
func createExternalName(t testing.TB, namespace, service, name string) {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: service, Namespace: namespace},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: name},
	}
	_, err := env.client.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{})
	require.NoError(t, err, "creating ExternalName Service %s/%s -> %s", namespace, service, name)
}

// onPort makes every path of ing's first rule use port on its Service:
// an ExternalName Service has no endpoints to map port 80 to a backend's.
func onPort(ing *networkingv1.Ingress, ports map[string]int) *networkingv1.Ingress {
	for i := range ing.Spec.Rules[0].HTTP.Paths {
		be := ing.Spec.Rules[0].HTTP.Paths[i].Backend.Service
		be.Port.Number = int32(ports[ing.Spec.Rules[0].HTTP.Paths[i].Path])
	}
	return ing
}

// TestExternalNameCannotReachTheController is issue 10's attack on the
// real API server: a tenant points ExternalName Services at 127.0.0.1 (the
// controller's status and debug ports, and nginx's own HTTP port) and at a
// name whose DNS answer turns to 127.0.0.1 after it served (DNS
// rebinding), and publishes them through an Ingress. The Ingress gets
// BackendAddressRefused Events, its requests get 503 and nothing of the
// controller's servers; another tenant's ExternalName keeps serving from
// its backend. The suite's DNS server runs in the test process on a free
// port, which --resolver takes as IP:PORT. No --allow-loopback-backends.
func TestExternalNameCannotReachTheController(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	good := startBackends(t, "good", 1)
	rebound := startBackends(t, "rebound", 1)
	dns := dnstest.Start(t)
	dns.Set("good.e2e.test", good[0].IP)
	dns.Set("rebind.e2e.test", rebound[0].IP)

	// Tenant a's Services and tenant b's. The controller watches one
	// namespace, so the tenants share it; they share nothing else.
	createExternalName(t, ns, "loopback", "127.0.0.1")
	createExternalName(t, ns, "rebind", "rebind.e2e.test")
	createExternalName(t, ns, "good", "good.e2e.test")
	c := startControllerWith(t, controllerOptions{Namespace: ns, Resolver: dns.Addr().String(),
		Args: []string{"--external-name-interval", "1s"}})

	const hostA, hostB = "tenant-a.e2e.test", "tenant-b.e2e.test"
	createIngress(t, onPort(ingress(ns, "tenant-a", hostA,
		route{path: "/healthz", pathType: networkingv1.PathTypeExact, service: "loopback"},
		route{path: "/debug/config", pathType: networkingv1.PathTypeExact, service: "loopback"},
		route{path: "/nginx", service: "loopback"},
		route{path: "/rebind", service: "rebind"},
	), map[string]int{"/healthz": c.StatusPort, "/debug/config": c.DebugPort, "/nginx": c.HTTPPort, "/rebind": backendPort}))
	createIngress(t, onPort(ingress(ns, "tenant-b", hostB, route{path: "/", service: "good"}),
		map[string]int{"/": backendPort}))

	// Resolved by the controller, served by nginx from the checked answers.
	c.WaitServed(t, hostB, "/", "good")
	r := c.WaitServed(t, hostA, "/rebind", "rebound")
	require.NotNil(t, r.Echo)
	assert.Equal(t, rebound[0].Addr(), r.Echo.Endpoint)

	// The controller's own servers and nginx's listener stay out of reach.
	for _, path := range []string{"/healthz", "/debug/config", "/nginx"} {
		r := c.Get(t, hostA, path)
		assert.Equal(t, http.StatusServiceUnavailable, r.Status, "GET %s%s: %s", hostA, path, r)
		assert.NotContains(t, r.Body, "generation", "GET %s%s", hostA, path)
		assert.NotEqual(t, "ok", strings.TrimSpace(r.Body), "GET %s%s", hostA, path)
	}
	ev := waitEvent(t, ns, "tenant-a", model.ReasonBackendAddressRefused, func(ev corev1.Event) bool {
		return strings.Contains(ev.Message, "127.0.0.1:"+strconv.Itoa(c.StatusPort)+" (loopback)")
	})
	assert.Equal(t, corev1.EventTypeWarning, ev.Type)
	assert.Contains(t, ev.Message, "ExternalName Service "+ns+"/loopback")

	// DNS rebinding: the name that served now answers 127.0.0.1. The next
	// lookup (--external-name-interval 1s) sees it, and it is refused.
	dns.Set("rebind.e2e.test", "127.0.0.1")
	c.WaitStatus(t, hostA, "/rebind", http.StatusServiceUnavailable, "")
	waitEvent(t, ns, "tenant-a", model.ReasonBackendAddressRefused, func(ev corev1.Event) bool {
		return strings.Contains(ev.Message, "rebind.e2e.test") && strings.Contains(ev.Message, "127.0.0.1:8080 (loopback)")
	})

	// Tenant b never noticed, and got no finding.
	r = c.Get(t, hostB, "/")
	assert.Equal(t, "good", r.Served(), "%s", r)
	events, err := eventsAbout(ns, "tenant-b", model.ReasonBackendAddressRefused)
	require.NoError(t, err)
	assert.Empty(t, events)
	assert.Positive(t, dns.Queries(), "the controller asked the suite's DNS server")
}
