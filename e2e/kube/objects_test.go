//go:build linux

package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
)

// The IngressClass the suite's controllers serve.
const (
	ingressClass    = "portico"
	controllerClass = "portico.dev/ingress-controller"
	// servicePort is the port of every test Service; it maps to backendPort.
	servicePort = 80
	// managedBy marks the EndpointSlices the suite writes (there is no
	// EndpointSlice controller here; the label says who owns them anyway).
	managedBy = "e2e.portico.dev"
)

// apiTimeout bounds one API call of a helper.
const apiTimeout = 30 * time.Second

// apiContext is a context for one API call. It does not derive from
// t.Context(), which is canceled before cleanups run.
func apiContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), apiTimeout)
}

// newNamespace creates a namespace for the test, named after it with a
// random suffix, and deletes it in t.Cleanup. (Without a namespace
// controller, deletion only marks it Terminating; its objects stay in etcd
// until teardown, invisible to controllers that watch other namespaces.)
func newNamespace(t testing.TB) string {
	t.Helper()
	requireEnv(t)
	base := strings.ToLower(t.Name())
	base = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, strings.TrimPrefix(base, "test"))
	base = strings.Trim(base, "-")
	if len(base) > 40 {
		base = strings.TrimRight(base[:40], "-")
	}
	name := "e2e-" + base + "-" + rand.String(5)
	ctx, cancel := apiContext()
	defer cancel()
	_, err := env.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err, "creating namespace %s", name)
	t.Cleanup(func() {
		ctx, cancel := apiContext()
		defer cancel()
		if err := env.client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", name, err)
		}
	})
	return name
}

// serviceObject is a ClusterIP Service without selector, port 80 "http" to
// backendPort.
func serviceObject(namespace, name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP,
			Ports: []corev1.ServicePort{{
				Name: "http", Protocol: corev1.ProtocolTCP, Port: servicePort, TargetPort: intstr.FromInt32(backendPort),
			}},
		},
	}
}

// createService creates a ClusterIP Service without selector (port 80
// "http" to backendPort) and an EndpointSlice listing eps as ready
// endpoints, the way the EndpointSlice controller would for Pods.
func createService(t testing.TB, namespace, name string, eps []Endpoint) *corev1.Service {
	t.Helper()
	requireEnv(t)
	ctx, cancel := apiContext()
	defer cancel()
	svc, err := env.client.CoreV1().Services(namespace).Create(ctx, serviceObject(namespace, name), metav1.CreateOptions{})
	require.NoError(t, err, "creating Service %s/%s", namespace, name)
	_, err = env.client.DiscoveryV1().EndpointSlices(namespace).Create(ctx, endpointSlice(namespace, name, eps), metav1.CreateOptions{})
	require.NoError(t, err, "creating EndpointSlice for %s/%s", namespace, name)
	return svc
}

// setEndpoints replaces the endpoints of a Service made by createService.
func setEndpoints(t testing.TB, namespace, name string, eps []Endpoint) {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	want := endpointSlice(namespace, name, eps)
	cur, err := env.client.DiscoveryV1().EndpointSlices(namespace).Get(ctx, want.Name, metav1.GetOptions{})
	require.NoError(t, err)
	want.ResourceVersion = cur.ResourceVersion
	_, err = env.client.DiscoveryV1().EndpointSlices(namespace).Update(ctx, want, metav1.UpdateOptions{})
	require.NoError(t, err, "updating EndpointSlice %s/%s", namespace, want.Name)
}

// endpointSlice is the one EndpointSlice of the Service name.
func endpointSlice(namespace, name string, eps []Endpoint) *discoveryv1.EndpointSlice {
	portName, port, proto := "http", int32(backendPort), corev1.ProtocolTCP
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name + "-e2e",
			Namespace: namespace,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: name,
				discoveryv1.LabelManagedBy:   managedBy,
			},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: &proto}},
		Endpoints:   []discoveryv1.Endpoint{},
	}
	for _, ep := range eps {
		ready, serving, terminating := true, true, false
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{ep.IP},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		})
	}
	return slice
}

// ensureIngressClass creates the IngressClass "portico" of the suite's
// controllers unless it exists. It is cluster-scoped and shared by all
// tests, so it is never deleted.
func ensureIngressClass(t testing.TB) {
	t.Helper()
	requireEnv(t)
	ctx, cancel := apiContext()
	defer cancel()
	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: ingressClass},
		Spec:       networkingv1.IngressClassSpec{Controller: controllerClass},
	}
	_, err := env.client.NetworkingV1().IngressClasses().Create(ctx, ic, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err, "creating IngressClass %s", ingressClass)
	}
}

// route is one path of an Ingress rule, to port 80 of service.
type route struct {
	path     string
	pathType networkingv1.PathType // "" means Prefix
	service  string
}

// ingress is an Ingress of class portico with one rule for host ("" for a
// rule without host).
func ingress(namespace, name, host string, routes ...route) *networkingv1.Ingress {
	class := ingressClass
	var paths []networkingv1.HTTPIngressPath
	for _, r := range routes {
		pt := r.pathType
		if pt == "" {
			pt = networkingv1.PathTypePrefix
		}
		paths = append(paths, networkingv1.HTTPIngressPath{
			Path:     r.path,
			PathType: &pt,
			Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: r.service, Port: networkingv1.ServiceBackendPort{Number: servicePort},
			}},
		})
	}
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			Rules: []networkingv1.IngressRule{{
				Host:             host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}},
			}},
		},
	}
}

// createIngress creates ing.
func createIngress(t testing.TB, ing *networkingv1.Ingress) *networkingv1.Ingress {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	out, err := env.client.NetworkingV1().Ingresses(ing.Namespace).Create(ctx, ing, metav1.CreateOptions{})
	require.NoError(t, err, "creating Ingress %s/%s", ing.Namespace, ing.Name)
	return out
}

// updateIngress reads the Ingress, applies change and writes it back,
// retrying on conflicts (the controller writes its status meanwhile).
func updateIngress(t testing.TB, namespace, name string, change func(*networkingv1.Ingress)) *networkingv1.Ingress {
	t.Helper()
	var out *networkingv1.Ingress
	var err error
	for range 10 {
		ctx, cancel := apiContext()
		var cur *networkingv1.Ingress
		cur, err = env.client.NetworkingV1().Ingresses(namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			change(cur)
			out, err = env.client.NetworkingV1().Ingresses(namespace).Update(ctx, cur, metav1.UpdateOptions{})
		}
		cancel()
		if !apierrors.IsConflict(err) {
			break
		}
	}
	require.NoError(t, err, "updating Ingress %s/%s", namespace, name)
	return out
}

// deleteIngress deletes the Ingress namespace/name.
func deleteIngress(t testing.TB, namespace, name string) {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	require.NoError(t, env.client.NetworkingV1().Ingresses(namespace).Delete(ctx, name, metav1.DeleteOptions{}),
		"deleting Ingress %s/%s", namespace, name)
}
