//go:build linux

package kube

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/e2e/framework"
)

// TestHostMatching checks exact hosts, one-label wildcards and rules without
// a host through the API server and nginx.
func TestHostMatching(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	rtServices(t, ns, "exact", "wild", "sub", "nohost")
	c := startController(t, ns)

	ing := ingress(ns, "hosts", "exact.example", route{path: "/app", service: "exact"})
	ing.Spec.Rules = append(ing.Spec.Rules,
		rtRule("*.wild.example", route{path: "/", service: "wild"}),
		// An exact name beats the wildcard that also covers it.
		rtRule("sub.wild.example", route{path: "/", service: "sub"}),
		// No host: requests for hosts no rule names.
		rtRule("", route{path: "/nohost", service: "nohost"}),
	)
	createIngress(t, ing)
	c.WaitServed(t, "unknown.example", "/nohost", "nohost")

	port := strconv.Itoa(c.HTTPPort)
	rtCheck(t, c, []rtCase{
		{"exact.example", "/app", "exact"},
		{"exact.example", "/app/x", "exact"},
		// Host names are case-insensitive, and the port is not part of the name.
		{"EXACT.Example", "/app", "exact"},
		{"exact.example:" + port, "/app", "exact"},
		// A named host does not fall back to the rules without host.
		{"exact.example", "/nohost", ""},
		{"exact.example", "/", ""},
		// Names that merely contain the host are other hosts.
		{"xexact.example", "/app", ""},
		{"exact.example.other", "/app", ""},
		{"a.exact.example", "/app", ""},

		// "*.wild.example" covers exactly one label.
		{"a.wild.example", "/", "wild"},
		{"a.wild.example", "/x/y", "wild"},
		{"b-2.wild.example", "/", "wild"},
		{"A.WILD.example", "/", "wild"},
		{"a.wild.example:" + port, "/", "wild"},
		{"sub.wild.example", "/", "sub"},
		{"wild.example", "/", ""},
		{"a.b.wild.example", "/", ""},
		{"xwild.example", "/", ""},
		{"a.wild.example.other", "/", ""},
		// Those go to the rules without host, like any unknown host; a host
		// the wildcard covers does not.
		{"wild.example", "/nohost", "nohost"},
		{"a.b.wild.example", "/nohost", "nohost"},
		{"a.wild.example", "/nohost", "wild"},

		// Unknown hosts get the rules without host.
		{"unknown.example", "/nohost", "nohost"},
		{"unknown.example", "/nohost/a", "nohost"},
		{"unknown.example", "/", ""},
		{"unknown.example", "/app", ""},
		{"127.0.0.1", "/nohost", "nohost"},
		{"127.0.0.1:" + port, "/nohost", "nohost"},
	})
}

// TestHostSharedByIngressesMerges checks that two Ingresses for one host
// are served together, and that each keeps its paths when the other goes.
func TestHostSharedByIngressesMerges(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	rtServices(t, ns, "one", "two", "elsewhere")
	c := startController(t, ns)

	const host = "shared.example"
	createIngress(t, ingress(ns, "one", host, route{path: "/one", service: "one"}))
	c.WaitServed(t, host, "/one", "one")
	rtCheck(t, c, []rtCase{{host, "/two", ""}})

	ing := ingress(ns, "two", host,
		route{path: "/two", service: "two"},
		route{path: "/one/deeper", service: "two"},
	)
	ing.Spec.Rules = append(ing.Spec.Rules, rtRule("elsewhere.example", route{path: "/", service: "elsewhere"}))
	createIngress(t, ing)
	c.WaitServed(t, host, "/two", "two")
	rtCheck(t, c, []rtCase{
		{host, "/one", "one"},
		{host, "/one/x", "one"},
		{host, "/one/deeper/x", "two"},
		{host, "/two/x", "two"},
		{host, "/", ""},
		{"elsewhere.example", "/one", "elsewhere"},
	})

	deleteIngress(t, ns, "one")
	c.WaitStatus(t, host, "/one", http.StatusNotFound, "")
	rtCheck(t, c, []rtCase{
		{host, "/two", "two"},
		{host, "/one/deeper", "two"},
		{"elsewhere.example", "/", "elsewhere"},
	})
}

// TestHostConflictOlderIngressWins checks that when two Ingresses claim the
// same host, path and path type, the older one keeps the route (also when
// the newer one sorts first by name), the newer one gets a Conflict Event,
// and the newer one takes over once the older is deleted.
func TestHostConflictOlderIngressWins(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	rtServices(t, ns, "older", "newer")
	c := startController(t, ns)

	const host = "conflict.example"
	exact := networkingv1.PathTypeExact
	older := createIngress(t, ingress(ns, "zz-older", host,
		route{path: "/app", service: "older"},
		route{path: "/exact", pathType: exact, service: "older"},
	))
	c.WaitServed(t, host, "/app/x", "older")
	c.WaitServed(t, host, "/exact", "older")

	rtCreateNewer(t, older, ingress(ns, "aa-newer", host,
		// The same Prefix claim: a trailing slash changes nothing.
		route{path: "/app/", service: "newer"},
		route{path: "/exact", pathType: exact, service: "newer"},
		// Exact /app is another claim than Prefix /app: it is served, and
		// wins for /app itself.
		route{path: "/app", pathType: exact, service: "newer"},
		route{path: "/only-newer", service: "newer"},
	))
	c.WaitServed(t, host, "/only-newer", "newer")
	rtCheck(t, c, []rtCase{
		{host, "/app/x", "older"},
		{host, "/app/", "older"},
		{host, "/exact", "older"},
		{host, "/app", "newer"},
		{host, "/only-newer/x", "newer"},
	})
	rtWaitEvent(t, ns, "aa-newer", "Conflict", "zz-older")

	// The older Ingress goes: the newer one gets its routes.
	deleteIngress(t, ns, "zz-older")
	c.WaitServed(t, host, "/app/x", "newer")
	rtCheck(t, c, []rtCase{
		{host, "/exact", "newer"},
		{host, "/app/", "newer"},
		{host, "/app", "newer"},
	})
}

// rtWaitEvent waits for a Warning Event on the Ingress namespace/name with
// reason whose message contains every one of contains.
func rtWaitEvent(t *testing.T, namespace, name, reason string, contains ...string) {
	t.Helper()
	var seen []string
	framework.Eventually(t, func() bool {
		ctx, cancel := apiContext()
		defer cancel()
		list, err := env.client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.kind=Ingress,involvedObject.name=" + name,
		})
		if err != nil {
			return false
		}
		seen = seen[:0]
		for _, ev := range list.Items {
			seen = append(seen, fmt.Sprintf("%s %s: %s", ev.Type, ev.Reason, ev.Message))
			if ev.Type != corev1.EventTypeWarning || ev.Reason != reason {
				continue
			}
			ok := true
			for _, s := range contains {
				ok = ok && strings.Contains(ev.Message, s)
			}
			if ok {
				return true
			}
		}
		return false
	}, "a Warning Event %s on Ingress %s/%s mentioning %q (seen %q)", reason, namespace, name, contains, rtLazy(func() string { return strings.Join(seen, "; ") }))
}

// rtLazy formats as what f returns when the message is printed.
type rtLazy func() string

func (f rtLazy) String() string { return f() }
