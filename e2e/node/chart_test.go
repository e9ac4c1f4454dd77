//go:build linux

package node

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/e2e/framework"
)

// TestHelmChartInstall installs charts/portico with helm into the cluster,
// beside deploy/, with an IngressClass of its own: its Pod routes the
// Ingresses of that class, and deploy/'s Pods do not. Then it uninstalls.
func TestHelmChartInstall(t *testing.T) {
	requireEnv(t)
	helm := framework.HelmBinary(t)
	deployPods := ensurePortico(t)

	const (
		release   = "portico-helm"
		namespace = "portico-helm"
		class     = "portico-helm"
		host      = "helm.shop.example.test"
	)
	repo, tag, _ := strings.Cut(imageName(), ":")
	kubeconfig := filepath.Join(env.node.dir, "admin.kubeconfig")
	installed := time.Now()
	_, err := framework.Helm(t, helm, "install", release, filepath.Join(env.repoRoot, "charts", "portico"),
		"--kubeconfig", kubeconfig, "--namespace", namespace, "--create-namespace",
		"--set", "controller.image.image="+repo,
		"--set", "controller.image.tag="+tag,
		"--set", "controller.image.pullPolicy=Never",
		"--set", "controller.replicaCount=1",
		"--set", "controller.ingressClass="+class,
		"--set", "controller.ingressClassResource.name="+class,
		"--set", "controller.ingressClassResource.controllerValue=portico.dev/helm",
		// No kube-proxy here: the API server cannot reach the webhook's
		// Service, and the chart's ValidatingWebhookConfiguration
		// (failurePolicy Fail) would refuse every Ingress write of the
		// suite. e2e/chart checks the webhook's objects.
		"--set", "admission.enabled=false",
	)
	require.NoError(t, err)
	t.Cleanup(func() {
		if _, err := framework.Helm(t, helm, "uninstall", release, "--kubeconfig", kubeconfig, "--namespace", namespace, "--wait", "--timeout", "2m"); err != nil {
			t.Errorf("helm uninstall: %v", err)
		}
	})
	waitRolledOut(t, namespace, release+"-controller")
	t.Logf("timing: helm install → the chart's Pod Ready: %s", time.Since(installed).Round(time.Millisecond))

	ingressOfClass(t, shopNamespace, "helm-shop", host, "echo", class)
	t.Cleanup(func() {
		_ = env.node.client().NetworkingV1().Ingresses(shopNamespace).Delete(ctx(t), "helm-shop", metav1.DeleteOptions{})
	})
	pods := readyPods(t, namespace, "app.kubernetes.io/instance="+release)
	require.Len(t, pods, 1, "the chart's Deployment has one replica")
	framework.EventuallyWithin(t, time.Minute, func() bool {
		resp, err := podGet(pods[0].Status.PodIP, 80, host, "/")
		return err == nil && resp.Status == http.StatusOK && resp.Served() == "echo"
	}, "the chart's Pod never routed %s", host)
	// deploy/'s Pods serve class portico only.
	for _, p := range deployPods {
		resp, err := podGet(p.Status.PodIP, 80, host, "/")
		require.NoError(t, err)
		assert.Equal(t, http.StatusNotFound, resp.Status, "deploy/'s Pod %s routes an Ingress of class %s: %s", p.Name, class, resp)
	}
	// And the chart's Pod does not route deploy/'s class.
	resp, err := podGet(pods[0].Status.PodIP, 80, shopHost, "/")
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, resp.Status, "the chart's Pod routes an Ingress of class %s: %s", porticoClass, resp)
}
