//go:build linux

package node

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/e2e/framework"
)

var (
	// porticoBinary is cmd/portico built once for the inspect tests.
	porticoBinary     string
	porticoBinaryErr  error
	porticoBinaryOnce sync.Once
)

// builtPortico builds cmd/portico (once per test binary) and returns its path.
func builtPortico(t *testing.T) string {
	t.Helper()
	porticoBinaryOnce.Do(func() {
		porticoBinary = filepath.Join(env.node.dir, "portico-cli")
		porticoBinaryErr = framework.GoBuild(env.repoRoot, porticoBinary, "./cmd/portico")
	})
	require.NoError(t, porticoBinaryErr)
	return porticoBinary
}

// serviceAccountKubeconfig creates ServiceAccount name in namespace with
// the rules as a Role there, and writes a kubeconfig with a token of it.
func serviceAccountKubeconfig(t *testing.T, namespace, name string, rules []rbacv1.PolicyRule) string {
	t.Helper()
	c := env.node.client()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if _, err := c.CoreV1().ServiceAccounts(namespace).Create(ctx(t), sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Rules: rules}
	if _, err := c.RbacV1().Roles(namespace).Create(ctx(t), role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}}}
	if _, err := c.RbacV1().RoleBindings(namespace).Create(ctx(t), binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = env.node.client().RbacV1().RoleBindings(namespace).Delete(c, name, metav1.DeleteOptions{})
		_ = env.node.client().RbacV1().Roles(namespace).Delete(c, name, metav1.DeleteOptions{})
		_ = env.node.client().CoreV1().ServiceAccounts(namespace).Delete(c, name, metav1.DeleteOptions{})
	})
	seconds := int64(3600)
	tok, err := c.CoreV1().ServiceAccounts(namespace).CreateToken(ctx(t), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}, metav1.CreateOptions{})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	require.NoError(t, framework.WriteKubeconfig(path, env.node.cp.URL, env.node.cp.CAPEM, name, tok.Status.Token, ""))
	return path
}

// runInspect runs `portico inspect ARGS` and returns its stdout, stderr and error.
func runInspect(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, builtPortico(t), append([]string{"inspect"}, args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// TestInspectThroughPortForward runs `portico inspect --kubeconfig` from
// outside the cluster against deploy/'s Pods: through the API server's
// port-forward to the debug server, which listens on the Pod's loopback
// only, with exactly the RBAC docs/security.md names; and a tenant with
// every right in its own namespace gets nothing.
func TestInspectThroughPortForward(t *testing.T) {
	requireEnv(t)
	pods := ensurePortico(t)
	require.NotEmpty(t, pods)
	operator := serviceAccountKubeconfig(t, porticoNamespace, "portico-inspector", []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{""}, Resources: []string{"pods/portforward"}, Verbs: []string{"create"}},
	})
	endpoints := readyEndpoints(t, shopNamespace, "echo")
	require.NotEmpty(t, endpoints)

	t.Run("conf", func(t *testing.T) {
		out, errOut, err := runInspect(t, "conf", "--kubeconfig", operator, "--server", shopHost)
		require.NoError(t, err, errOut)
		assert.True(t, strings.HasPrefix(strings.TrimSpace(out), "server {"), out)
		assert.Contains(t, out, shopHost)
	})
	t.Run("reloads", func(t *testing.T) {
		out, errOut, err := runInspect(t, "reloads", "--kubeconfig", operator, "-o", "json")
		require.NoError(t, err, errOut)
		var events []struct{ Result string }
		require.NoError(t, json.Unmarshal([]byte(out), &events), out)
		require.NotEmpty(t, events)
		assert.Equal(t, "success", events[len(events)-1].Result, "the Pod's first reload")
		table, errOut, err := runInspect(t, "reloads", "--kubeconfig", operator, "--pod", pods[0].Name)
		require.NoError(t, err, errOut)
		t.Logf("portico inspect reloads --pod %s:\n%s", pods[0].Name, table)
		assert.Contains(t, table, "success")
	})
	t.Run("backends", func(t *testing.T) {
		out, errOut, err := runInspect(t, "backends", "--kubeconfig", operator)
		require.NoError(t, err, errOut)
		t.Logf("portico inspect backends:\n%s", out)
		for _, ep := range endpoints {
			assert.Contains(t, out, ep, "the echo Pods' endpoints")
		}
	})
	t.Run("certs and ingresses", func(t *testing.T) {
		// The image may be built from a main without /debug/certs and
		// /debug/ingresses: then the answer must say so, which tests that
		// path for real.
		out, errOut, err := runInspect(t, "certs", "--kubeconfig", operator, "-o", "json")
		if err != nil {
			assert.Contains(t, errOut, "older than this command")
			t.Logf("image without /debug/certs: %s", errOut)
			return
		}
		assert.True(t, json.Valid([]byte(out)), out)
		out, errOut, err = runInspect(t, "ingresses", "--kubeconfig", operator)
		require.NoError(t, err, errOut)
		t.Logf("portico inspect ingresses:\n%s", out)
		assert.Regexp(t, `(?m)^`+shopNamespace+`\s+shop\s+`+strings.ReplaceAll(shopHost, ".", `\.`)+`\s+/\s+prefix\s+shop/echo:80\s`, out)
	})
	t.Run("tenant", func(t *testing.T) {
		tenant := serviceAccountKubeconfig(t, shopNamespace, "shop-admin", []rbacv1.PolicyRule{
			{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}},
		})
		_, errOut, err := runInspect(t, "reloads", "--kubeconfig", tenant, "--pod", pods[0].Name)
		require.Error(t, err, "a tenant must not reach the controller's debug views")
		assert.Contains(t, errOut, "pods/portforward")
		t.Logf("as a tenant: %s", errOut)
		_, errOut, err = runInspect(t, "reloads", "--kubeconfig", tenant)
		require.Error(t, err)
		assert.Contains(t, errOut, "forbidden")
		t.Logf("as a tenant, without --pod: %s", errOut)
	})
}
