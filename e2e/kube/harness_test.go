//go:build linux

package kube

// Smoke tests of the harness itself: if one of these fails, the product
// tests of this package cannot be trusted either.

import (
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/portico-ingress/portico/e2e/framework"
)

func TestHarnessAPIServerAnswers(t *testing.T) {
	requireEnv(t)
	v, err := env.client.Discovery().ServerVersion()
	require.NoError(t, err)
	t.Logf("kube-apiserver %s at %s", v.GitVersion, env.apiURL)
	// hack/build-kube.sh stamps the version, as helm's kubeVersion check needs.
	assert.Equal(t, "1", v.Major, "%+v", v)
	assert.True(t, strings.HasPrefix(v.GitVersion, "v1."), "GitVersion %q", v.GitVersion)
	assert.NotEmpty(t, v.GoVersion)

	// The admin kubeconfig file works the way the controller will read it.
	cfg, err := clientcmd.BuildConfigFromFlags("", env.adminKubeconfig)
	require.NoError(t, err)
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ctx, cancel := apiContext()
	defer cancel()
	_, err = client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{})
	require.NoError(t, err)
}

func TestHarnessNamespace(t *testing.T) {
	ns := newNamespace(t)
	ctx, cancel := apiContext()
	defer cancel()
	got, err := env.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.NamespaceActive, got.Status.Phase)
	assert.LessOrEqual(t, len(ns), 63)
}

func TestHarnessServiceAndEndpointSlice(t *testing.T) {
	ns := newNamespace(t)
	eps := []Endpoint{{Service: "web", IP: allocAddr(t), Port: backendPort}, {Service: "web", IP: allocAddr(t), Port: backendPort}}
	svc := createService(t, ns, "web", eps)
	assert.NotEmpty(t, svc.Spec.ClusterIP, "a ClusterIP is allocated")

	ctx, cancel := apiContext()
	defer cancel()
	slices, err := env.client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
	require.NoError(t, err)
	require.Len(t, slices.Items, 1)
	var addrs []string
	for _, e := range slices.Items[0].Endpoints {
		addrs = append(addrs, e.Addresses...)
		require.NotNil(t, e.Conditions.Ready)
		assert.True(t, *e.Conditions.Ready)
	}
	assert.ElementsMatch(t, []string{eps[0].IP, eps[1].IP}, addrs)

	// Why the backends live in a network namespace: loopback is refused.
	bad := endpointSlice(ns, "loopback", []Endpoint{{IP: "127.0.0.1", Port: backendPort}})
	_, err = env.client.DiscoveryV1().EndpointSlices(ns).Create(ctx, bad, metav1.CreateOptions{})
	require.Error(t, err)
	assert.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)

	// setEndpoints replaces the list.
	setEndpoints(t, ns, "web", eps[:1])
	got, err := env.client.DiscoveryV1().EndpointSlices(ns).Get(ctx, "web-e2e", metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, got.Endpoints, 1)
	assert.Equal(t, []string{eps[0].IP}, got.Endpoints[0].Addresses)
}

func TestHarnessBackendsAnswerOverVeth(t *testing.T) {
	eps := startBackends(t, "echo", 2)
	require.Len(t, eps, 2)
	assert.NotEqual(t, eps[0].IP, eps[1].IP)
	for _, ep := range eps {
		assert.True(t, framework.IsTestHost(net.ParseIP(ep.IP)), "%s is a 198.18.0.0/15 test address", ep.IP)
		reply, err := askBackend(ep.Addr())
		require.NoError(t, err)
		assert.Equal(t, "echo", reply.Service)
		assert.Equal(t, ep.Addr(), reply.Endpoint)
		assert.Equal(t, "GET", reply.Method)
	}
	// A stopped endpoint refuses connections.
	eps[1].Stop(t)
	_, err := askBackend(eps[1].Addr())
	assert.Error(t, err)
	// The suite's dialer refuses anything but loopback and test hosts.
	assert.Error(t, framework.AllowedTarget("192.0.2.1:80"))
	assert.Error(t, framework.AllowedTarget("example.com:80"))
	assert.NoError(t, framework.AllowedTarget("127.0.0.1:80"))
	assert.NoError(t, framework.AllowedTarget("198.19.255.1:80"))
}

func TestHarnessServiceAccountRBAC(t *testing.T) {
	ns := newNamespace(t)
	path := serviceAccountKubeconfig(t, ns, "portico")
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	require.NoError(t, err)
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ctx, cancel := apiContext()
	defer cancel()

	// Authenticated as the ServiceAccount, not anonymous (anonymous would be
	// Forbidden as well, proving nothing).
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, "system:serviceaccount:"+ns+":portico", review.Status.UserInfo.Username)

	_, err = client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "listing Secrets without a Role: want Forbidden, got %v", err)
	_, err = client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "listing Namespaces: want Forbidden, got %v", err)

	// A Role that allows it makes it work: RBAC is what decides.
	_, err = env.client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "read-secrets"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = env.client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "read-secrets"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "read-secrets"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "portico", Namespace: ns}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	// The authorizer learns of the binding through its informers, a moment later.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		_, err := client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		assert.NoError(ct, err, "listing Secrets after the RoleBinding")
	}, framework.RouteTimeout, framework.PollInterval)
	_, err = client.CoreV1().Secrets(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "listing Secrets of another namespace: want Forbidden, got %v", err)
}
