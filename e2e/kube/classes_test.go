//go:build linux

package kube

// IngressClass selection. IngressClasses are cluster-scoped, so these tests
// do not run in parallel with the others (and the DefaultIngressClass
// admission plugin of the API server, which fills in the class of new
// Ingresses while a default class exists, never sees another test's
// Ingresses). Each test has a controller class and a --ingress-class name
// of its own, and IngressClasses named for it alone.
//
// A negative check ("this Ingress is ignored") is only meaningful once the
// controller has seen the Ingress. The tests create the ignored objects
// first and then a served one; informers deliver the events of one kind in
// the order the API server wrote them, so once the served Ingress (and the
// IngressClass it needs) is live, the ignored ones were in the same or an
// earlier configuration.

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestClassByName checks spec.ingressClassName: an IngressClass of our
// controller is served; another controller's class, a class nobody
// defined and the suite's own "portico" class (another controller here)
// are not; the --ingress-class name is served while no IngressClass of that
// name exists, and not while one of another controller does.
func TestClassByName(t *testing.T) {
	ns, k, ours, other, c := rtClassSetup(t, true)

	// Ignored first, then the served ones (see the file comment).
	rtCreateClassIngress(t, ns, "other-class", "other-class.example", &other, "")
	rtCreateClassIngress(t, ns, "suite-class", "suite-class.example", rtPtr(ingressClass), "")
	missing := rtName("e2e-missing")
	rtCreateClassIngress(t, ns, "missing-class", "missing-class.example", &missing, "")
	rtCreateClassIngress(t, ns, "flag-name", "flag-name.example", &k.flagName, "")
	rtCreateClassIngress(t, ns, "by-name", "by-name.example", &ours, "")
	c.WaitServed(t, "by-name.example", "/", "app")
	c.WaitServed(t, "flag-name.example", "/", "app")
	rtCheck(t, c, []rtCase{
		{"by-name.example", "/x", "app"},
		{"other-class.example", "/", ""},
		{"suite-class.example", "/", ""},
		{"missing-class.example", "/", ""},
	})

	// Moving an Ingress to our class serves it.
	updateIngress(t, ns, "other-class", func(ing *networkingv1.Ingress) { ing.Spec.IngressClassName = &ours })
	c.WaitServed(t, "other-class.example", "/", "app")

	// An IngressClass named like --ingress-class but of another controller
	// wins over the flag; deleting it gives the name back.
	rtCreateIngressClassNamed(t, k.flagName, "example.com/impostor-"+randomHex(4), false)
	c.WaitStatus(t, "flag-name.example", "/", http.StatusNotFound, "")
	rtDeleteIngressClass(t, k.flagName)
	c.WaitServed(t, "flag-name.example", "/", "app")

	// An IngressClass appearing for a class name makes its Ingresses ours.
	rtCreateIngressClassNamed(t, missing, k.controller, false)
	c.WaitServed(t, "missing-class.example", "/", "app")
	rtCheck(t, c, []rtCase{{"by-name.example", "/", "app"}, {"suite-class.example", "/", ""}})

	// Our IngressClass goes away: its Ingresses are no longer ours.
	rtDeleteIngressClass(t, ours)
	c.WaitStatus(t, "by-name.example", "/", http.StatusNotFound, "")
	c.WaitStatus(t, "other-class.example", "/", http.StatusNotFound, "")
	rtCheck(t, c, []rtCase{{"missing-class.example", "/", "app"}, {"flag-name.example", "/", "app"}})
}

// TestClassLegacyAnnotation checks the kubernetes.io/ingress.class
// annotation: it is served when it names an IngressClass of ours or the
// --ingress-class name, and ignored when it names another controller's
// class or a name that is neither.
func TestClassLegacyAnnotation(t *testing.T) {
	ns, k, ours, other, c := rtClassSetup(t, true)

	rtCreateClassIngress(t, ns, "legacy-other", "legacy-other.example", nil, other)
	rtCreateClassIngress(t, ns, "legacy-suite", "legacy-suite.example", nil, ingressClass)
	rtCreateClassIngress(t, ns, "legacy-nginx", "legacy-nginx.example", nil, "nginx")
	rtCreateClassIngress(t, ns, "legacy-flag", "legacy-flag.example", nil, k.flagName)
	created := rtCreateClassIngress(t, ns, "legacy-ours", "legacy-ours.example", nil, ours)
	require.Nil(t, created.Spec.IngressClassName, "the API server must leave spec.ingressClassName unset")
	c.WaitServed(t, "legacy-ours.example", "/", "app")
	c.WaitServed(t, "legacy-flag.example", "/", "app")
	rtCheck(t, c, []rtCase{
		{"legacy-ours.example", "/x", "app"},
		{"legacy-other.example", "/", ""},
		{"legacy-suite.example", "/", ""},
		{"legacy-nginx.example", "/", ""},
	})

	// Changing the annotation moves the Ingress in and out.
	rtSetLegacyClass(t, ns, "legacy-ours", other)
	c.WaitStatus(t, "legacy-ours.example", "/", http.StatusNotFound, "")
	rtSetLegacyClass(t, ns, "legacy-other", ours)
	c.WaitServed(t, "legacy-other.example", "/", "app")
}

// TestClassDefaultIngressClass checks Ingresses without a class: ignored
// while no IngressClass of ours is the default (another controller's
// default does not count), served once ours gets the is-default-class
// annotation, ignored again when it loses it.
func TestClassDefaultIngressClass(t *testing.T) {
	ns, k, ours, other, c := rtClassSetup(t, false)

	// No class at all, created while no IngressClass is the default (else
	// the API server's admission would fill in spec.ingressClassName).
	created := rtCreateClassIngress(t, ns, "no-class", "no-class.example", nil, "")
	require.Nil(t, created.Spec.IngressClassName,
		"spec.ingressClassName was filled in: some IngressClass in the cluster is the default")
	late := rtName("e2e-late")
	rtCreateClassIngress(t, ns, "late-class", "late-class.example", &late, "")
	rtCreateClassIngress(t, ns, "by-name", "by-name.example", &ours, "")
	c.WaitServed(t, "by-name.example", "/", "app")
	rtCheck(t, c, []rtCase{{"no-class.example", "/", ""}, {"late-class.example", "/", ""}})

	// Another controller's default class changes nothing for us. The
	// IngressClass created after it is the sign the controller has seen it.
	rtSetDefaultClass(t, other, true)
	rtCreateIngressClassNamed(t, late, k.controller, false)
	c.WaitServed(t, "late-class.example", "/", "app")
	rtCheck(t, c, []rtCase{{"no-class.example", "/", ""}})

	// Our class becomes the default: the Ingress without class is ours.
	rtSetDefaultClass(t, other, false)
	rtSetDefaultClass(t, ours, true)
	c.WaitServed(t, "no-class.example", "/", "app")
	rtCheck(t, c, []rtCase{{"by-name.example", "/", "app"}, {"late-class.example", "/", "app"}})

	// And stops being it.
	rtSetDefaultClass(t, ours, false)
	c.WaitStatus(t, "no-class.example", "/", http.StatusNotFound, "")
	rtCheck(t, c, []rtCase{{"by-name.example", "/", "app"}})
}

// TestClassWatchWithoutClass checks --watch-ingress-without-class: an
// Ingress that names no class is served, one that names a class still
// only when the class is ours.
func TestClassWatchWithoutClass(t *testing.T) {
	ns := newNamespace(t)
	k := rtNewClasses(t)
	other := rtCreateIngressClass(t, "e2e-other", "example.com/other-"+randomHex(4), false)
	rtServices(t, ns, "app")
	c := startController(t, ns, append(k.args(), "--watch-ingress-without-class")...)

	rtCreateClassIngress(t, ns, "other-class", "other-class.example", &other, "")
	rtCreateClassIngress(t, ns, "legacy-other", "legacy-other.example", nil, other)
	rtCreateClassIngress(t, ns, "legacy-nginx", "legacy-nginx.example", nil, "nginx")
	rtCreateClassIngress(t, ns, "suite-class", "suite-class.example", rtPtr(ingressClass), "")
	rtCreateClassIngress(t, ns, "flag-name", "flag-name.example", &k.flagName, "")
	created := rtCreateClassIngress(t, ns, "no-class", "no-class.example", nil, "")
	require.Nil(t, created.Spec.IngressClassName,
		"spec.ingressClassName was filled in: some IngressClass in the cluster is the default")
	c.WaitServed(t, "no-class.example", "/", "app")
	c.WaitServed(t, "flag-name.example", "/", "app")
	rtCheck(t, c, []rtCase{
		{"no-class.example", "/x", "app"},
		{"other-class.example", "/", ""},
		{"legacy-other.example", "/", ""},
		{"legacy-nginx.example", "/", ""},
		{"suite-class.example", "/", ""},
	})
}

const rtLegacyClassAnnotation = "kubernetes.io/ingress.class"
const rtDefaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"

// rtClasses are the class names of one test's controller.
type rtClasses struct {
	controller string // --controller-class
	flagName   string // --ingress-class
}

// rtClassSetup makes a namespace with Service "app", IngressClasses of ours
// ("e2e-ours") and of another controller ("e2e-other"), the suite's own
// class when suiteClass, and a controller for the namespace with k's flags.
func rtClassSetup(t *testing.T, suiteClass bool) (ns string, k rtClasses, ours, other string, c *controller) {
	t.Helper()
	ns = newNamespace(t)
	k = rtNewClasses(t)
	ours = rtCreateIngressClass(t, "e2e-ours", k.controller, false)
	other = rtCreateIngressClass(t, "e2e-other", "example.com/other-"+randomHex(4), false)
	if suiteClass {
		ensureIngressClass(t)
	}
	rtServices(t, ns, "app")
	return ns, k, ours, other, startController(t, ns, k.args()...)
}

func rtNewClasses(t *testing.T) rtClasses {
	t.Helper()
	id := randomHex(4)
	return rtClasses{controller: "portico.dev/e2e-" + id, flagName: "e2e-flag-" + id}
}

// args are the controller flags for these classes.
func (k rtClasses) args() []string {
	return []string{"--controller-class", k.controller, "--ingress-class", k.flagName}
}

// rtCreateIngressClass creates an IngressClass named prefix plus a random
// suffix for controller and returns its name; it is deleted in t.Cleanup.
func rtCreateIngressClass(t *testing.T, prefix, controller string, isDefault bool) string {
	t.Helper()
	name := rtName(prefix)
	rtCreateIngressClassNamed(t, name, controller, isDefault)
	return name
}

// rtCreateIngressClassNamed creates the IngressClass name for controller;
// it is deleted in t.Cleanup unless the test deleted it already.
func rtCreateIngressClassNamed(t *testing.T, name, controller string, isDefault bool) {
	t.Helper()
	requireEnv(t)
	ctx, cancel := apiContext()
	defer cancel()
	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{rtDefaultClassAnnotation: rtBool(isDefault)}},
		Spec:       networkingv1.IngressClassSpec{Controller: controller},
	}
	_, err := env.client.NetworkingV1().IngressClasses().Create(ctx, ic, metav1.CreateOptions{})
	require.NoError(t, err, "creating IngressClass %s", name)
	t.Cleanup(func() {
		ctx, cancel := apiContext()
		defer cancel()
		err := env.client.NetworkingV1().IngressClasses().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting IngressClass %s: %v", name, err)
		}
	})
}

// rtDeleteIngressClass deletes the IngressClass name.
func rtDeleteIngressClass(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	require.NoError(t, env.client.NetworkingV1().IngressClasses().Delete(ctx, name, metav1.DeleteOptions{}),
		"deleting IngressClass %s", name)
}

// rtSetDefaultClass sets the is-default-class annotation of an IngressClass.
func rtSetDefaultClass(t *testing.T, name string, isDefault bool) {
	t.Helper()
	var err error
	for range 10 {
		ctx, cancel := apiContext()
		var ic *networkingv1.IngressClass
		ic, err = env.client.NetworkingV1().IngressClasses().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			if ic.Annotations == nil {
				ic.Annotations = map[string]string{}
			}
			ic.Annotations[rtDefaultClassAnnotation] = rtBool(isDefault)
			_, err = env.client.NetworkingV1().IngressClasses().Update(ctx, ic, metav1.UpdateOptions{})
		}
		cancel()
		if !apierrors.IsConflict(err) {
			break
		}
	}
	require.NoError(t, err, "setting %s=%t on IngressClass %s", rtDefaultClassAnnotation, isDefault, name)
}

// rtCreateClassIngress creates an Ingress for host, path "/" to Service
// app, with spec.ingressClassName className (nil: none) and the legacy
// class annotation legacy ("": none).
func rtCreateClassIngress(t *testing.T, namespace, name, host string, className *string, legacy string) *networkingv1.Ingress {
	t.Helper()
	ing := ingress(namespace, name, host, route{path: "/", service: "app"})
	ing.Spec.IngressClassName = className
	if legacy != "" {
		ing.Annotations = map[string]string{rtLegacyClassAnnotation: legacy}
	}
	ctx, cancel := apiContext()
	defer cancel()
	out, err := rtQuietClient(t).NetworkingV1().Ingresses(namespace).Create(ctx, ing, metav1.CreateOptions{})
	require.NoError(t, err, "creating Ingress %s/%s", namespace, name)
	return out
}

// rtSetLegacyClass sets the legacy class annotation of an Ingress.
func rtSetLegacyClass(t *testing.T, namespace, name, class string) {
	t.Helper()
	client := rtQuietClient(t).NetworkingV1().Ingresses(namespace)
	var err error
	for range 10 {
		ctx, cancel := apiContext()
		var ing *networkingv1.Ingress
		ing, err = client.Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			if ing.Annotations == nil {
				ing.Annotations = map[string]string{}
			}
			ing.Annotations[rtLegacyClassAnnotation] = class
			_, err = client.Update(ctx, ing, metav1.UpdateOptions{})
		}
		cancel()
		if !apierrors.IsConflict(err) {
			break
		}
	}
	require.NoError(t, err, "setting %s=%s on Ingress %s/%s", rtLegacyClassAnnotation, class, namespace, name)
}

// rtQuietClient is the admin client without the API server's warnings:
// these tests use the deprecated legacy class annotation on purpose.
func rtQuietClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	cfg := rest.CopyConfig(env.config)
	cfg.WarningHandler = rest.NoWarnings{}
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return client
}

func rtPtr[T any](v T) *T { return &v }

func rtBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
