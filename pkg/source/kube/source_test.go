package kube

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/portico-ingress/portico/pkg/snapshot"
)

func ingress(ns, name, secret string) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if secret != "" {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}, SecretName: secret}}
	}
	return ing
}

func secret(ns, name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS}
}

// TestSourceSnapshotsAndTriggers uses client-go's fake clientset: it checks
// the wiring (which events trigger a sync, which Secrets reach the model);
// the end-to-end suite covers the real API server.
func TestSourceSnapshotsAndTriggers(t *testing.T) {
	client := fake.NewClientset(
		ingress("app", "web", "web-tls"),
		&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "private",
			Annotations: map[string]string{"nginx.ingress.kubernetes.io/auth-secret": "htpasswd",
				"nginx.ingress.kubernetes.io/custom-headers": "headers"}}},
		&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "oauth",
			Annotations: map[string]string{"nginx.ingress.kubernetes.io/auth-url": "http://198.18.0.20/auth",
				"nginx.ingress.kubernetes.io/auth-proxy-set-headers": "auth-headers"}}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "headers"}, Data: map[string]string{"X-A": "1"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "auth-headers"}, Data: map[string]string{"X-B": "1"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "auth-headers"}, Data: map[string]string{"X-C": "1"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "unrelated-cm"}},
		secret("app", "htpasswd"),
		secret("app", "web-tls"),
		secret("app", "unrelated"),
		secret("ops", "default-cert"),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "portico"}, Data: map[string]string{"a": "b"}},
	)
	src, err := New(Options{Client: client, ConfigMap: "ops/portico", ExtraSecrets: []string{"ops/default-cert"}})
	require.NoError(t, err)

	_, err = src.Snapshot()
	require.ErrorIs(t, err, snapshot.ErrNotSynced)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var changes atomic.Int32
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, func() { changes.Add(1) }) }()
	require.Eventually(t, func() bool { return changes.Load() > 0 }, 10*time.Second, 10*time.Millisecond)

	snap, err := src.Snapshot()
	require.NoError(t, err)
	require.Len(t, snap.Ingresses, 3)
	var names []string
	for _, s := range snap.Secrets {
		names = append(names, s.Namespace+"/"+s.Name)
	}
	assert.ElementsMatch(t, []string{"app/web-tls", "app/htpasswd", "ops/default-cert"}, names, "only referenced Secrets reach the model")
	var cms []string
	for _, cm := range snap.ConfigMaps {
		cms = append(cms, cm.Namespace+"/"+cm.Name)
	}
	assert.ElementsMatch(t, []string{"ops/portico", "app/headers", "app/auth-headers"}, cms,
		"the options ConfigMap and the custom-headers and auth-proxy-set-headers ConfigMaps of the Ingresses' own namespace only")

	// An unrelated Secret changing does not trigger a sync; a referenced one does.
	settle := func() int32 {
		var last int32 = -1
		require.Eventually(t, func() bool {
			n := changes.Load()
			stable := n == last
			last = n
			return stable
		}, 5*time.Second, 100*time.Millisecond)
		return last
	}
	before := settle()
	_, err = client.CoreV1().Secrets("app").Update(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "unrelated", ResourceVersion: "2"}}, metav1.UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, before, settle(), "unrelated Secret must not trigger")

	_, err = client.CoreV1().Secrets("app").Update(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web-tls", ResourceVersion: "3"}}, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return changes.Load() > before }, 5*time.Second, 10*time.Millisecond)

	// The other namespace's ConfigMap of that name does not trigger; the
	// auth-proxy-set-headers ConfigMap of the Ingress's namespace does.
	before = settle()
	_, err = client.CoreV1().ConfigMaps("other").Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "auth-headers", ResourceVersion: "4"},
		Data: map[string]string{"X-C": "2"}}, metav1.UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, before, settle(), "another namespace's ConfigMap must not trigger")
	_, err = client.CoreV1().ConfigMaps("app").Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "auth-headers", ResourceVersion: "5"},
		Data: map[string]string{"X-B": "2"}}, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return changes.Load() > before }, 5*time.Second, 10*time.Millisecond)

	cancel()
	require.NoError(t, <-done)
}

func TestOptionsValidation(t *testing.T) {
	_, err := New(Options{Client: fake.NewClientset(), ConfigMap: "no-namespace"})
	assert.ErrorContains(t, err, "NAMESPACE/NAME")
	_, err = New(Options{Client: fake.NewClientset(), ExtraSecrets: []string{"/x"}})
	assert.Error(t, err)
}
