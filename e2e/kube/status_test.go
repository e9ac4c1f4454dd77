//go:build linux

package kube

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/e2e/framework"
)

// Documentation addresses (RFC 5737, RFC 2606): they only ever appear in
// Ingress status; nothing is sent to them.
const (
	statusIP       = "203.0.113.10"
	statusHostname = "lb.example.com"
)

// otherIngressClass belongs to another controller; Portico must leave its
// Ingresses alone.
const (
	otherIngressClass    = "e2e-other"
	otherControllerClass = "example.com/other-ingress-controller"
)

// ensureOtherIngressClass creates the IngressClass of another controller
// unless it exists (cluster-scoped and shared, never deleted).
func ensureOtherIngressClass(t testing.TB) {
	t.Helper()
	requireEnv(t)
	ctx, cancel := apiContext()
	defer cancel()
	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: otherIngressClass},
		Spec:       networkingv1.IngressClassSpec{Controller: otherControllerClass},
	}
	_, err := env.client.NetworkingV1().IngressClasses().Create(ctx, ic, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err, "creating IngressClass %s", otherIngressClass)
	}
}

// loadBalancerStatus reads status.loadBalancer.ingress of an Ingress.
func loadBalancerStatus(t testing.TB, namespace, name string) []networkingv1.IngressLoadBalancerIngress {
	t.Helper()
	lb, err := tryLoadBalancerStatus(namespace, name)
	require.NoError(t, err, "reading Ingress %s/%s", namespace, name)
	return lb
}

func tryLoadBalancerStatus(namespace, name string) ([]networkingv1.IngressLoadBalancerIngress, error) {
	ctx, cancel := apiContext()
	defer cancel()
	ing, err := env.client.NetworkingV1().Ingresses(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return ing.Status.LoadBalancer.Ingress, nil
}

// describeLoadBalancer renders status addresses sorted, e.g. "203.0.113.10,lb.example.com"
// (IPs and host names alike; ports are not used by Portico and are flagged).
func describeLoadBalancer(lb []networkingv1.IngressLoadBalancerIngress) string {
	parts := make([]string, 0, len(lb))
	for _, a := range lb {
		s := a.IP
		if a.Hostname != "" {
			if s != "" {
				s += "/"
			}
			s += a.Hostname
		}
		if len(a.Ports) > 0 {
			s += "(ports)"
		}
		parts = append(parts, s)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// waitLoadBalancerStatus waits until the Ingress's status lists exactly
// want (in any order; describeLoadBalancer's form).
func waitLoadBalancerStatus(t testing.TB, namespace, name string, timeout time.Duration, want ...string) {
	t.Helper()
	slices.Sort(want)
	wantText := strings.Join(want, ",")
	var last string
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		lb, err := tryLoadBalancerStatus(namespace, name)
		require.NoError(ct, err)
		last = describeLoadBalancer(lb)
		assert.Equal(ct, wantText, last, "status.loadBalancer.ingress of Ingress %s/%s", namespace, name)
	}, timeout, framework.PollInterval, "Ingress %s/%s: status %q, want %q", namespace, name, last, wantText)
}

// TestIngressStatusPublishStatusAddress: with --publish-status-address the
// controller writes those addresses (an IP and a host name) into the status
// of the Ingresses of its class, and leaves an Ingress of another class
// alone. Without --update-status-on-shutdown the status outlives the
// controller.
func TestIngressStatusPublishStatusAddress(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	ensureOtherIngressClass(t)
	web := startBackends(t, "web", 1)
	createService(t, ns, "web", web)
	c := startController(t, ns, "--publish-status-address", statusIP+","+statusHostname)

	// The other class's Ingress goes first: once ours has its status, the
	// controller has seen both.
	foreign := ingress(ns, "foreign", "foreign.status.example", route{path: "/", service: "web"})
	class := otherIngressClass
	foreign.Spec.IngressClassName = &class
	createIngress(t, foreign)
	created := time.Now()
	createIngress(t, ingress(ns, "ours", "ours.status.example", route{path: "/", service: "web"}))
	c.WaitServed(t, "ours.status.example", "/", "web")
	waitLoadBalancerStatus(t, ns, "ours", framework.RouteTimeout, statusIP, statusHostname)
	t.Logf("Ingress created until its status was written: %s", time.Since(created).Round(time.Millisecond))

	// The written status has the IP in ip and the name in hostname.
	lb := loadBalancerStatus(t, ns, "ours")
	assert.ElementsMatch(t, []networkingv1.IngressLoadBalancerIngress{{IP: statusIP}, {Hostname: statusHostname}}, lb)

	// The other class: not served, no status.
	r := c.Get(t, "foreign.status.example", "/")
	assert.Equal(t, http.StatusNotFound, r.Status, "an Ingress of class %s must not be served: %s", otherIngressClass, r)
	assert.Empty(t, loadBalancerStatus(t, ns, "foreign"), "an Ingress of class %s must get no status from Portico", otherIngressClass)

	// A second Ingress of ours gets the status too.
	createIngress(t, ingress(ns, "ours-too", "ours-too.status.example", route{path: "/", service: "web"}))
	waitLoadBalancerStatus(t, ns, "ours-too", framework.RouteTimeout, statusIP, statusHostname)
	assert.Empty(t, loadBalancerStatus(t, ns, "foreign"))

	// Without --update-status-on-shutdown a stop leaves the status in place.
	c.Stop(t)
	assert.ElementsMatch(t, []networkingv1.IngressLoadBalancerIngress{{IP: statusIP}, {Hostname: statusHostname}}, loadBalancerStatus(t, ns, "ours"),
		"without --update-status-on-shutdown the status stays after the controller stopped")
}

// TestIngressStatusPublishService: with --publish-service portico/portico
// (deploy/'s Service, type LoadBalancer; this API server has no load
// balancer controller, so it only has a ClusterIP) the status gets the
// Service's ClusterIP.
func TestIngressStatusPublishService(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	ctx, cancel := apiContext()
	svc, err := env.client.CoreV1().Services(deployNamespace).Get(ctx, "portico", metav1.GetOptions{})
	cancel()
	require.NoError(t, err, "deploy/'s Service %s/portico", deployNamespace)
	require.Empty(t, svc.Status.LoadBalancer.Ingress, "this API server has no load balancer controller")
	require.Empty(t, svc.Spec.ExternalIPs)
	clusterIP := svc.Spec.ClusterIP
	require.NotEmpty(t, clusterIP)
	t.Logf("Service %s/portico: type %s, ClusterIP %s", deployNamespace, svc.Spec.Type, clusterIP)

	web := startBackends(t, "web", 1)
	createService(t, ns, "web", web)
	c := startController(t, ns, "--publish-service", deployNamespace+"/portico")
	created := time.Now()
	createIngress(t, ingress(ns, "web", "service.status.example", route{path: "/", service: "web"}))
	c.WaitServed(t, "service.status.example", "/", "web")
	waitLoadBalancerStatus(t, ns, "web", framework.RouteTimeout, clusterIP)
	t.Logf("Ingress created until its status had the ClusterIP: %s", time.Since(created).Round(time.Millisecond))
	assert.Equal(t, []networkingv1.IngressLoadBalancerIngress{{IP: clusterIP}}, loadBalancerStatus(t, ns, "web"))
}

// TestIngressStatusClearedOnShutdown: with --update-status-on-shutdown a
// controller that stops (SIGTERM) empties the status it wrote before it
// exits, on every Ingress it serves (a few dozen, as a small cluster has).
func TestIngressStatusClearedOnShutdown(t *testing.T) {
	t.Parallel()
	const count = 40
	ns := newNamespace(t)
	ensureIngressClass(t)
	web := startBackends(t, "web", 1)
	createService(t, ns, "web", web)
	c := startController(t, ns, "--publish-status-address", statusIP, "--update-status-on-shutdown")
	names := make([]string, count)
	for i := range names {
		names[i] = fmt.Sprintf("ing-%02d", i)
		createIngress(t, ingress(ns, names[i], names[i]+".shutdown.example", route{path: "/", service: "web"}))
	}
	c.WaitServed(t, names[0]+".shutdown.example", "/", "web")
	c.WaitServed(t, names[count-1]+".shutdown.example", "/", "web")
	for _, name := range names {
		waitLoadBalancerStatus(t, ns, name, framework.RouteTimeout, statusIP)
	}

	stopping := time.Now()
	c.Stop(t)
	t.Logf("controller stopped in %s", time.Since(stopping).Round(time.Millisecond))
	require.False(t, c.Process.Alive())
	// The process is gone: whatever it was going to write is written.
	var kept []string
	for _, name := range names {
		if lb := loadBalancerStatus(t, ns, name); len(lb) > 0 {
			kept = append(kept, name+"="+describeLoadBalancer(lb))
		}
	}
	t.Logf("status cleared on %d of %d Ingresses when the controller had exited", count-len(kept), count)
	assert.Empty(t, kept, "with --update-status-on-shutdown every Ingress status must be cleared by the time the controller has exited")
	if t.Failed() {
		t.Logf("controller logs:\n%s", c.Logs.String())
	}
}
