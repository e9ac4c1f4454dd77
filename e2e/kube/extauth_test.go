//go:build linux

package kube

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAuthProxySetHeadersFollowsConfigMap: the ConfigMap an Ingress names
// in auth-proxy-set-headers is watched through the real API server with
// the deploy/ RBAC: its entries reach the auth location, an edit re-renders
// it, and deleting it fails the Ingress closed (no auth location is left
// that would ask without the headers).
func TestAuthProxySetHeadersFollowsConfigMap(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	eps := startBackends(t, "app", 1)
	createService(t, ns, "app", eps)
	c := startController(t, ns)

	ctx, cancel := apiContext()
	defer cancel()
	cms := env.client.CoreV1().ConfigMaps(ns)
	_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "auth-headers"},
		Data: map[string]string{"X-Tenant": "shop-v1"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	const host = "authheaders.example"
	ing := ingress(ns, "app", host, route{path: "/", service: "app"})
	ing.Annotations = map[string]string{
		"nginx.ingress.kubernetes.io/auth-url":               "http://198.18.0.20:4180/verify",
		"nginx.ingress.kubernetes.io/auth-proxy-set-headers": "auth-headers",
	}
	createIngress(t, ing)
	_, ev := lbWaitConfig(t, c, 0, func(conf string) bool {
		return strings.Contains(conf, `proxy_set_header "X-Tenant" "shop-v1";`)
	}, "the ConfigMap's header in the auth location")

	cur, err := cms.Get(ctx, "auth-headers", metav1.GetOptions{})
	require.NoError(t, err)
	cur.Data = map[string]string{"X-Tenant": "shop-v2"}
	_, err = cms.Update(ctx, cur, metav1.UpdateOptions{})
	require.NoError(t, err)
	_, ev = lbWaitConfig(t, c, ev.Generation, func(conf string) bool {
		return strings.Contains(conf, `proxy_set_header "X-Tenant" "shop-v2";`) && !strings.Contains(conf, "shop-v1")
	}, "the edited header")

	require.NoError(t, cms.Delete(ctx, "auth-headers", metav1.DeleteOptions{}))
	lbWaitConfig(t, c, ev.Generation, func(conf string) bool {
		return strings.Contains(conf, lbServerName(host)) && !strings.Contains(conf, "X-Tenant") && !strings.Contains(conf, "_portico_auth_")
	}, "no auth location once the ConfigMap is gone (the paths answer 503)")
}
