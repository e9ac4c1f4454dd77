package kube

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/e2e/framework"
)

// deployNamespace is where deploy/ puts the controller, its ServiceAccount,
// Role, Lease and published Service.
const deployNamespace = "portico"

// applyDeploy creates every object in deploy/ on the API server, the way
// `kubectl apply -f deploy/` would, so the manifests are validated for real,
// and writes a kubeconfig for the portico ServiceAccount: controllers in
// this suite run with its token, so a missing RBAC rule fails the tests.
//
// The admission webhook's configuration (deploy/webhook.yaml) is sent as a
// server-side dry run only: the API server validates it, CEL match
// condition included, but does not store it. No webhook serves in this
// suite, and a stored configuration with failurePolicy Fail would refuse
// every Ingress write of every test.
func (e *environment) applyDeploy() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := framework.ApplyDir(ctx, e.client, filepath.Join(e.repoRoot, "deploy"), nil,
		framework.DryRunIf(framework.IsWebhookConfiguration)); err != nil {
		return err
	}
	seconds := int64(3 * 60 * 60)
	tr, err := e.client.CoreV1().ServiceAccounts(deployNamespace).CreateToken(ctx, "portico",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}},
		metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for the portico ServiceAccount: %w", err)
	}
	e.porticoKubeconfig = filepath.Join(e.dir, "portico.kubeconfig")
	return framework.WriteKubeconfig(e.porticoKubeconfig, e.apiURL, e.caPEM,
		"system:serviceaccount:portico:portico", tr.Status.Token, deployNamespace)
}
