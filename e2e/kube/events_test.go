//go:build linux

package kube

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/portico-ingress/portico/e2e/framework"
)

// eventTimeout bounds a change until its Event is stored: Events are sent
// asynchronously by client-go's broadcaster after the sync.
const eventTimeout = 20 * time.Second

// eventsAbout lists the Events in namespace whose involvedObject is name,
// with reason unless reason is "".
func eventsAbout(namespace, name, reason string) ([]corev1.Event, error) {
	set := fields.Set{"involvedObject.name": name}
	if reason != "" {
		set["reason"] = reason
	}
	ctx, cancel := apiContext()
	defer cancel()
	list, err := env.client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: set.AsSelector().String()})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// waitEvent waits until an Event about namespace/name with reason exists
// for which match returns true, and returns it.
func waitEvent(t testing.TB, namespace, name, reason string, match func(corev1.Event) bool) corev1.Event {
	t.Helper()
	var found corev1.Event
	var seen []string
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		events, err := eventsAbout(namespace, name, reason)
		require.NoError(ct, err)
		seen = seen[:0]
		for _, ev := range events {
			seen = append(seen, describeEvent(ev))
			if match == nil || match(ev) {
				found = ev
				return
			}
		}
		assert.Fail(ct, "no matching Event yet")
	}, eventTimeout, framework.PollInterval, "Event %s on %s/%s (seen: %v)", reason, namespace, name, seen)
	return found
}

func describeEvent(ev corev1.Event) string {
	return fmt.Sprintf("%s %s %s/%s count=%d %q", ev.Type, ev.Reason, ev.InvolvedObject.Kind, ev.InvolvedObject.Name, ev.Count, ev.Message)
}

// TestEventsReloadOnPod: every reload is a RELOAD Event on the controller's
// Pod. POD_NAME names a Pod that does not exist (there is no kubelet here):
// the API server stores Events about any object, so they are still there.
func TestEventsReloadOnPod(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	web := startBackends(t, "web", 1)
	createService(t, ns, "web", web)
	c := startController(t, ns)
	pod := c.opts.PodName

	ctx, cancel := apiContext()
	_, err := env.client.CoreV1().Pods(deployNamespace).Get(ctx, pod, metav1.GetOptions{})
	cancel()
	require.True(t, apierrors.IsNotFound(err), "Pod %s/%s must not exist: %v", deployNamespace, pod, err)

	before := c.Generation(t)
	createIngress(t, ingress(ns, "web", "reload-event.example", route{path: "/", service: "web"}))
	c.WaitServed(t, "reload-event.example", "/", "web")
	ev := c.WaitReload(t, before)
	require.Equal(t, "success", ev.Result)
	gen := ev.Generation
	want := fmt.Sprintf("generation %d ", gen)

	listed := time.Now()
	got := waitEvent(t, deployNamespace, pod, "RELOAD", func(e corev1.Event) bool {
		return strings.Contains(e.Message+" ", want)
	})
	t.Logf("reload of generation %d listed in /debug/reloads until its Event was stored: %s; Event: %s", gen, time.Since(listed).Round(time.Millisecond), describeEvent(got))
	assert.Equal(t, corev1.EventTypeNormal, got.Type)
	assert.Equal(t, "Pod", got.InvolvedObject.Kind)
	assert.Equal(t, "v1", got.InvolvedObject.APIVersion)
	assert.Equal(t, deployNamespace, got.InvolvedObject.Namespace)
	assert.Equal(t, pod, got.InvolvedObject.Name)
	assert.Equal(t, c.opts.PodUID, string(got.InvolvedObject.UID))
	assert.Equal(t, "portico-controller", got.Source.Component)
	assert.Contains(t, got.Message, "succeeded")
	assert.Contains(t, got.Message, "reload-event.example", "the message says what changed")

	// The first configuration (made live at start) has its Event too.
	reloads := c.Reloads(t)
	require.NotEmpty(t, reloads)
	first := fmt.Sprintf("generation %d ", reloads[len(reloads)-1].Generation)
	waitEvent(t, deployNamespace, pod, "RELOAD", func(e corev1.Event) bool {
		return strings.Contains(e.Message+" ", first)
	})
}

// conflictIngresses creates two Ingresses claiming the same host, path and
// path type: "a-older" first, then "b-newer". Both the creation order and
// the name break the tie the same way, so b-newer is the one that loses.
func conflictIngresses(t testing.TB, c *controller, ns, host string) {
	t.Helper()
	createIngress(t, ingress(ns, "a-older", host, route{path: "/app", service: "older"}))
	c.WaitServed(t, host, "/app", "older")
	createIngress(t, ingress(ns, "b-newer", host, route{path: "/app", service: "newer"}))
}

// TestEventsConflictWarning: two Ingresses with the same host, path and
// path type: the older one is served, and the newer one gets a Warning
// Event with reason Conflict (the older one gets none).
func TestEventsConflictWarning(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	createService(t, ns, "older", startBackends(t, "older", 1))
	createService(t, ns, "newer", startBackends(t, "newer", 1))
	c := startController(t, ns)
	const host = "conflict.example"
	conflictIngresses(t, c, ns, host)

	created := time.Now()
	ev := waitEvent(t, ns, "b-newer", "Conflict", nil)
	t.Logf("newer Ingress created until its Conflict Event was stored: %s; Event: %s", time.Since(created).Round(time.Millisecond), describeEvent(ev))
	assert.Equal(t, corev1.EventTypeWarning, ev.Type)
	assert.Equal(t, "Ingress", ev.InvolvedObject.Kind)
	assert.Equal(t, networkingv1.SchemeGroupVersion.String(), ev.InvolvedObject.APIVersion)
	assert.Equal(t, ns, ev.InvolvedObject.Namespace)
	assert.Contains(t, ev.Message, "/app")
	assert.Contains(t, ev.Message, host)
	assert.Contains(t, ev.Message, ns+"/a-older", "the message names the Ingress that keeps the path")

	// The older claim keeps serving and has no Conflict Event.
	r := c.Get(t, host, "/app")
	assert.Equal(t, "older", r.Served(), "%s", r)
	older, err := eventsAbout(ns, "a-older", "Conflict")
	require.NoError(t, err)
	assert.Empty(t, older, "the older Ingress wins the conflict and gets no Conflict Event")
}

// TestEventsServiceNotFound: an Ingress whose backend Service does not exist
// gets a Warning Event ServiceNotFound, and nginx answers 503 for it.
func TestEventsServiceNotFound(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	c := startController(t, ns)
	const host = "missing-service.example"
	created := time.Now()
	createIngress(t, ingress(ns, "dangling", host, route{path: "/", service: "missing"}))

	ev := waitEvent(t, ns, "dangling", "ServiceNotFound", nil)
	t.Logf("Ingress created until its ServiceNotFound Event was stored: %s; Event: %s", time.Since(created).Round(time.Millisecond), describeEvent(ev))
	assert.Equal(t, corev1.EventTypeWarning, ev.Type)
	assert.Equal(t, "Ingress", ev.InvolvedObject.Kind)
	assert.Contains(t, ev.Message, ns+"/missing")
	c.WaitStatus(t, host, "/", http.StatusServiceUnavailable, "")
}

// TestEventsNotRepeatedEverySync: a finding that persists is not sent again
// at every sync. After the Conflict Event, several unrelated changes each
// cause a sync and a reload; the newer Ingress still has one Conflict Event
// with count 1 (client-go would aggregate repeats into count, at most into
// a second, "combined" Event).
func TestEventsNotRepeatedEverySync(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	older := startBackends(t, "older", 1)
	createService(t, ns, "older", older)
	createService(t, ns, "newer", startBackends(t, "newer", 1))
	c := startController(t, ns)
	const host = "spam.example"
	conflictIngresses(t, c, ns, host)
	waitEvent(t, ns, "b-newer", "Conflict", nil)

	// Unrelated changes: new Ingresses, an update of one of them, an
	// annotation on the losing Ingress that changes nothing it routes, and
	// an EndpointSlice change. Each is waited for, so each is its own sync.
	const changes = 6
	for i := range 3 {
		gen := c.Generation(t)
		name := fmt.Sprintf("other-%d", i)
		createIngress(t, ingress(ns, name, name+".spam.example", route{path: "/", service: "older"}))
		c.WaitReload(t, gen)
		c.WaitServed(t, name+".spam.example", "/", "older")
	}
	gen := c.Generation(t)
	updateIngress(t, ns, "other-0", func(ing *networkingv1.Ingress) {
		pt := networkingv1.PathTypeExact
		ing.Spec.Rules[0].HTTP.Paths = append(ing.Spec.Rules[0].HTTP.Paths, networkingv1.HTTPIngressPath{
			Path: "/exact", PathType: &pt,
			Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: "older", Port: networkingv1.ServiceBackendPort{Number: servicePort},
			}},
		})
	})
	c.WaitReload(t, gen)
	updateIngress(t, ns, "b-newer", func(ing *networkingv1.Ingress) {
		if ing.Annotations == nil {
			ing.Annotations = map[string]string{}
		}
		ing.Annotations["e2e.portico.dev/touched"] = "yes"
	})
	gen = c.Generation(t)
	// With the Lua balancer an EndpointSlice change is a sync that only
	// pushes endpoints; the Ingress created after it gives the reload (and
	// RELOAD Event) that marks the end of the changes.
	setEndpoints(t, ns, "older", append(older, startBackends(t, "older", 1)...))
	createIngress(t, ingress(ns, "other-last", "other-last.spam.example", route{path: "/", service: "older"}))
	last := c.WaitReload(t, gen)
	require.Equal(t, "success", last.Result)

	// Events go out in order through one broadcaster: once the RELOAD Event
	// of the last sync is stored, every Conflict Event an earlier sync
	// could have sent is stored too.
	want := fmt.Sprintf("generation %d ", last.Generation)
	waitEvent(t, deployNamespace, c.opts.PodName, "RELOAD", func(e corev1.Event) bool {
		return strings.Contains(e.Message+" ", want)
	})

	events, err := eventsAbout(ns, "b-newer", "Conflict")
	require.NoError(t, err)
	total := int32(0)
	var seen []string
	for _, ev := range events {
		total += max(ev.Count, 1)
		seen = append(seen, describeEvent(ev))
	}
	t.Logf("after %d unrelated changes (generation %d): %d Conflict Event object(s), total count %d: %v", changes, last.Generation, len(events), total, seen)
	assert.LessOrEqual(t, len(events), 2, "Conflict Event objects on the newer Ingress")
	assert.Equal(t, int32(1), total, "a persisting Conflict is sent once, not at every sync: %v", seen)
	r := c.Get(t, host, "/app")
	assert.Equal(t, "older", r.Served(), "%s", r)
}

// TestEventsLatestReloadVisibleAfterBurst: "each reload is a RELOAD Event on
// the controller's Pod" (README, "In a cluster") must hold in a busy
// cluster too: after a burst of 30 reloads the newest one is still visible
// as an Event (client-go may aggregate similar Events into a "combined"
// one with a count, but not drop them).
func TestEventsLatestReloadVisibleAfterBurst(t *testing.T) {
	t.Parallel()
	const burst = 30
	ns := newNamespace(t)
	ensureIngressClass(t)
	web := startBackends(t, "web", 1)
	createService(t, ns, "web", web)
	c := startController(t, ns)
	var last framework.ReloadEvent
	for i := range burst {
		gen := c.Generation(t)
		name := fmt.Sprintf("burst-%02d", i)
		createIngress(t, ingress(ns, name, name+".events.example", route{path: "/", service: "web"}))
		last = c.WaitReload(t, gen)
		require.Equal(t, "success", last.Result)
	}
	want := fmt.Sprintf("generation %d ", last.Generation)
	var events []corev1.Event
	found := false
	deadline := time.Now().Add(eventTimeout)
	for !found && time.Now().Before(deadline) {
		var err error
		events, err = eventsAbout(deployNamespace, c.opts.PodName, "RELOAD")
		require.NoError(t, err)
		for _, ev := range events {
			if strings.Contains(ev.Message+" ", want) {
				found = true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	total := int32(0)
	for _, ev := range events {
		total += max(ev.Count, 1)
	}
	// The first config (no Ingress yet) and the burst: generations count
	// from the run's start time, not from 1, so count them here.
	const reloads = burst + 1
	t.Logf("%d reloads (last generation %d); RELOAD Events on Pod %s/%s: %d object(s), total count %d", reloads, last.Generation, deployNamespace, c.opts.PodName, len(events), total)
	assert.True(t, found, "no RELOAD Event for the newest reload (generation %d) within %s", last.Generation, eventTimeout)
	assert.Equal(t, int32(reloads), total, "every reload counts in the RELOAD Events")
}
