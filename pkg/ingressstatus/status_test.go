package ingressstatus

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

func TestOptionsValidation(t *testing.T) {
	_, err := New(Options{PublishService: "nonamespace"})
	assert.ErrorContains(t, err, "NAMESPACE/NAME")
	_, err = New(Options{PublishAddresses: []string{"bad_host!"}})
	assert.ErrorContains(t, err, "IP address or a DNS name")
	u, err := New(Options{PublishAddresses: []string{"203.0.113.7", "lb.example.com"}})
	require.NoError(t, err)
	assert.True(t, u.Enabled())
}

func TestServiceAddresses(t *testing.T) {
	lb := &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.5"},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.1"}}}}}
	assert.Equal(t, []networkingv1.IngressLoadBalancerIngress{{IP: "203.0.113.1"}}, serviceAddresses(lb))
	ext := &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.5", ExternalIPs: []string{"203.0.113.2"}}}
	assert.Equal(t, []networkingv1.IngressLoadBalancerIngress{{IP: "203.0.113.2"}}, serviceAddresses(ext))
	cluster := &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.5"}}
	assert.Equal(t, []networkingv1.IngressLoadBalancerIngress{{IP: "10.96.0.5"}}, serviceAddresses(cluster))
	headless := &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}}
	assert.Empty(t, serviceAddresses(headless))
}

// TestRunWritesAndClearsStatus checks the write logic with client-go's fake
// clientset; the end-to-end suite checks it against a real API server.
func TestRunWritesAndClearsStatus(t *testing.T) {
	ours := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web"}}
	theirs := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "other"}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "portico", Name: "portico"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.9"}}
	client := fake.NewClientset(ours, theirs, svc)
	u, err := New(Options{Client: client, PublishService: "portico/portico", Interval: time.Hour})
	require.NoError(t, err)
	u.Observe(&snapshot.Snapshot{Ingresses: []*networkingv1.Ingress{ours, theirs}},
		&model.Config{Ingresses: []model.ObjectRef{{Kind: "Ingress", Namespace: "app", Name: "web"}}})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); u.Run(ctx) }()
	status := func(name string) []networkingv1.IngressLoadBalancerIngress {
		got, err := client.NetworkingV1().Ingresses("app").Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err)
		return got.Status.LoadBalancer.Ingress
	}
	require.Eventually(t, func() bool { return len(status("web")) == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, "10.96.0.9", status("web")[0].IP)
	assert.Empty(t, status("other"), "only Ingresses we serve get status")

	clearCtx, clearCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer clearCancel()
	u.Clear(clearCtx)
	assert.Empty(t, status("web"), "Clear empties the status")
	u.Observe(&snapshot.Snapshot{Ingresses: []*networkingv1.Ingress{ours}},
		&model.Config{Ingresses: []model.ObjectRef{{Kind: "Ingress", Namespace: "app", Name: "web"}}})
	cancel()
	<-done
	assert.Empty(t, status("web"), "after Clear, Run writes no status again")
}
