//go:build linux

package kube

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/portico-ingress/portico/e2e/framework"
)

// The options ConfigMaps of these tests live in deploy/'s namespace, where
// deploy/rbac.yaml's Role lets the ServiceAccount list and watch
// ConfigMaps: the controllers run as that ServiceAccount, so the tests
// also prove that RBAC suffices for --configmap.

// TestConfigMapProxyBodySize sets proxy-body-size from the options
// ConfigMap: 1k refuses a 4 KiB body with 413 and lets a small one through;
// changing it to 1m reloads nginx and lets the 4 KiB body through.
func TestConfigMapProxyBodySize(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	eps := startBackends(t, "upload", 1)
	createService(t, ns, "upload", eps)
	cm := lbCreateConfigMap(t, map[string]string{"proxy-body-size": "1k"})
	c := startController(t, ns, "--configmap", deployNamespace+"/"+cm)

	const host = "upload.example"
	createIngress(t, ingress(ns, "upload", host, route{path: "/", service: "upload"}))
	_, ev := lbWaitConfig(t, c, 0, func(conf string) bool {
		return strings.Contains(conf, lbServerName(host)) && strings.Contains(conf, `client_max_body_size "1k";`)
	}, "the Ingress and client_max_body_size 1k")

	big, small := bytes.Repeat([]byte("x"), 4<<10), bytes.Repeat([]byte("y"), 100)
	r, err := lbPost(c, host, "/upload", big)
	require.NoError(t, err)
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.Status, "4 KiB body over a 1k limit: %s", r)
	assert.Empty(t, r.Served(), "nginx refuses the body itself: %s", r)
	r, err = lbPost(c, host, "/upload", small)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, r.Status, "100 byte body under a 1k limit: %s", r)
	if assert.Equal(t, "upload", r.Served(), "%s", r) {
		assert.Equal(t, http.MethodPost, r.Echo.Method)
	}
	lbNoConfigMapWarnings(t, cm)

	// 1k -> 1m: a reload, and the big body passes.
	lbUpdateConfigMap(t, cm, map[string]string{"proxy-body-size": "1m"})
	_, ev = lbWaitConfig(t, c, ev.Generation, func(conf string) bool {
		return strings.Contains(conf, `client_max_body_size "1m";`)
	}, "client_max_body_size 1m")
	t.Logf("ConfigMap change: reload generation %d in %.0fms", ev.Generation, ev.DurationMS)
	r, err = lbPost(c, host, "/upload", big)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, r.Status, "4 KiB body under a 1m limit: %s", r)
	assert.Equal(t, "upload", r.Served(), "%s", r)

	// 1m -> 2k, then the key removed: back to the 1m default.
	lbUpdateConfigMap(t, cm, map[string]string{"proxy-body-size": "2k"})
	_, ev = lbWaitConfig(t, c, ev.Generation, func(conf string) bool {
		return strings.Contains(conf, `client_max_body_size "2k";`)
	}, "client_max_body_size 2k")
	r, err = lbPost(c, host, "/upload", big)
	require.NoError(t, err)
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.Status, "4 KiB body over a 2k limit: %s", r)
	lbUpdateConfigMap(t, cm, map[string]string{})
	lbWaitConfig(t, c, ev.Generation, func(conf string) bool {
		return strings.Contains(conf, `client_max_body_size "1m";`)
	}, "the default client_max_body_size 1m once the key is gone")
	r, err = lbPost(c, host, "/upload", big)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, r.Status, "4 KiB body under the default 1m limit: %s", r)
}

// TestConfigMapInvalidValues starts with an options ConfigMap holding a bad
// value and an unknown key: each is a Warning Event on the ConfigMap, the
// controller serves with the default, and fixing the value reloads nginx.
func TestConfigMapInvalidValues(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	eps := startBackends(t, "web", 1)
	createService(t, ns, "web", eps)
	cm := lbCreateConfigMap(t, map[string]string{
		"proxy-read-timeout":    "soon",
		"proxy-body-sise":       "8m", // a typo: unknown key
		"proxy-connect-timeout": "7",
	})
	c := startController(t, ns, "--configmap", deployNamespace+"/"+cm)

	const host = "web.example"
	createIngress(t, ingress(ns, "web", host, route{path: "/", service: "web"}))
	c.WaitServed(t, host, "/", "web")
	conf, ev := lbWaitConfig(t, c, 0, func(conf string) bool { return strings.Contains(conf, lbServerName(host)) }, "the Ingress")
	assert.Contains(t, conf, `proxy_read_timeout "60s";`, "the bad value keeps the default")
	assert.Contains(t, conf, `proxy_connect_timeout "7s";`, "a good value next to a bad one applies")
	assert.Contains(t, conf, `client_max_body_size "1m";`, "an unknown key changes nothing")

	bad := lbWaitEvent(t, deployNamespace, "ConfigMap", cm, corev1.EventTypeWarning, "InvalidOption", "proxy-read-timeout", "soon")
	t.Logf("Event: %s", bad.Message)
	unknown := lbWaitEvent(t, deployNamespace, "ConfigMap", cm, corev1.EventTypeWarning, "UnknownOption", "proxy-body-sise")
	t.Logf("Event: %s", unknown.Message)
	for _, w := range []corev1.Event{bad, unknown} {
		assert.Equal(t, deployNamespace, w.InvolvedObject.Namespace)
		assert.NotEmpty(t, w.InvolvedObject.UID, "the Event refers to the ConfigMap by UID too")
	}

	// Traffic flows.
	for range 5 {
		r := c.Get(t, host, "/")
		assert.Equal(t, http.StatusOK, r.Status, "%s", r)
		assert.Equal(t, "web", r.Served(), "%s", r)
	}

	// Fixed: the new value is live.
	lbUpdateConfigMap(t, cm, map[string]string{"proxy-read-timeout": "120", "proxy-connect-timeout": "7"})
	lbWaitConfig(t, c, ev.Generation, func(conf string) bool {
		return strings.Contains(conf, `proxy_read_timeout "120s";`)
	}, "proxy_read_timeout 120s")
	r := c.Get(t, host, "/")
	assert.Equal(t, http.StatusOK, r.Status, "%s", r)
	assert.Equal(t, "web", r.Served(), "%s", r)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Contains(ct, c.Logs.String(), "resolved: proxy-read-timeout", "the fixed value is logged as resolved")
	}, framework.RouteTimeout, framework.PollInterval)
}

// lbCreateConfigMap creates an options ConfigMap with a unique name in
// deploy/'s namespace and deletes it in t.Cleanup. It returns the name.
func lbCreateConfigMap(t testing.TB, data map[string]string) string {
	t.Helper()
	requireEnv(t)
	name := "e2e-options-" + rand.String(6)
	ctx, cancel := apiContext()
	defer cancel()
	_, err := env.client.CoreV1().ConfigMaps(deployNamespace).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: deployNamespace},
		Data:       data,
	}, metav1.CreateOptions{})
	require.NoError(t, err, "creating ConfigMap %s/%s", deployNamespace, name)
	t.Cleanup(func() {
		ctx, cancel := apiContext()
		defer cancel()
		err := env.client.CoreV1().ConfigMaps(deployNamespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting ConfigMap %s/%s: %v", deployNamespace, name, err)
		}
	})
	return name
}

// lbUpdateConfigMap replaces the data of the options ConfigMap name.
func lbUpdateConfigMap(t testing.TB, name string, data map[string]string) {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	cur, err := env.client.CoreV1().ConfigMaps(deployNamespace).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	cur.Data = data
	_, err = env.client.CoreV1().ConfigMaps(deployNamespace).Update(ctx, cur, metav1.UpdateOptions{})
	require.NoError(t, err, "updating ConfigMap %s/%s", deployNamespace, name)
}

// lbNoConfigMapWarnings checks that a valid ConfigMap got no Warning Event.
func lbNoConfigMapWarnings(t testing.TB, name string) {
	t.Helper()
	for _, ev := range lbEvents(t, deployNamespace, "ConfigMap", name) {
		assert.NotEqual(t, corev1.EventTypeWarning, ev.Type, "unexpected Warning on ConfigMap %s: %s %s", name, ev.Reason, ev.Message)
	}
}
