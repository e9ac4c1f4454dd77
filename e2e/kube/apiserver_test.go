//go:build linux

package kube

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/e2e/framework"
)

// startControlPlane starts etcd and kube-apiserver on loopback and keeps
// the admin's URL, CA, token and client for the tests.
func (e *environment) startControlPlane() error {
	admissionConfig, err := e.webhookClientCertificate()
	if err != nil {
		return err
	}
	cp, err := e.StartControlPlane(framework.ControlPlaneConfig{
		Dir:       e.dir,
		APIServer: filepath.Join(e.kubeBinaries, "kube-apiserver"),
		Name:      "e2e/kube",
		Args:      []string{"--admission-control-config-file=" + admissionConfig},
	})
	e.controlPlane = cp
	if err != nil {
		return err
	}
	e.apiURL, e.caPEM, e.adminToken = cp.URL, cp.CAPEM, cp.AdminToken
	e.config, e.client = cp.Config, cp.Client
	e.adminKubeconfig = filepath.Join(e.dir, "admin.kubeconfig")
	return framework.WriteKubeconfig(e.adminKubeconfig, e.apiURL, e.caPEM, "admin", e.adminToken, "")
}

// webhookClientCertificate makes the client certificate the API server
// presents to admission webhooks (its AdmissionConfiguration, as
// docs/admission.md tells operators to write it), so that a webhook
// started with --admission-client-ca=env.webhookClientCA is tested with
// what a real API server sends. It returns the AdmissionConfiguration
// file. The certificate is its own CA.
func (e *environment) webhookClientCertificate() (string, error) {
	certPEM, keyPEM, err := framework.ClientCertificate("kube-apiserver-webhook-client", nil)
	if err != nil {
		return "", err
	}
	e.webhookClientCA = filepath.Join(e.dir, "webhook-client.crt")
	keyFile := filepath.Join(e.dir, "webhook-client.key")
	kubeconfig := filepath.Join(e.dir, "webhook-client.kubeconfig")
	config := filepath.Join(e.dir, "admission-config.yaml")
	files := []struct {
		path    string
		content string
		mode    os.FileMode
	}{
		{e.webhookClientCA, string(certPEM), 0o644},
		{keyFile, string(keyPEM), 0o600},
		// "*": the certificate goes to every webhook; the suite's only
		// webhook is Portico's, reached by URL on a port each test picks.
		{kubeconfig, fmt.Sprintf("apiVersion: v1\nkind: Config\nusers:\n- name: \"*\"\n  user:\n    client-certificate: %s\n    client-key: %s\n",
			e.webhookClientCA, keyFile), 0o600},
		{config, fmt.Sprintf("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n"+
			"- name: ValidatingAdmissionWebhook\n  configuration:\n    apiVersion: apiserver.config.k8s.io/v1\n"+
			"    kind: WebhookAdmissionConfiguration\n    kubeConfigFile: %s\n", kubeconfig), 0o600},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, []byte(f.content), f.mode); err != nil {
			return "", err
		}
	}
	e.webhookClientKey = keyFile
	return config, nil
}

func randomHex(n int) string { return framework.RandomHex(n) }

// serviceAccountToken creates (if needed) the ServiceAccount namespace/name
// and returns a token for it from the TokenRequest API.
func serviceAccountToken(t testing.TB, namespace, name string) string {
	t.Helper()
	requireEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	_, err := env.client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err, "creating ServiceAccount %s/%s", namespace, name)
	}
	seconds := int64(2 * 60 * 60) // longer than the suite runs
	tr, err := env.client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}},
		metav1.CreateOptions{})
	require.NoError(t, err, "TokenRequest for %s/%s", namespace, name)
	require.NotEmpty(t, tr.Status.Token)
	return tr.Status.Token
}

// serviceAccountKubeconfig creates the ServiceAccount namespace/name and
// writes a kubeconfig that authenticates as it with a TokenRequest token,
// so a controller runs with the permissions RBAC gives that account, not as
// admin. It returns the kubeconfig's path.
func serviceAccountKubeconfig(t testing.TB, namespace, name string) string {
	t.Helper()
	token := serviceAccountToken(t, namespace, name)
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	user := "system:serviceaccount:" + namespace + ":" + name
	require.NoError(t, framework.WriteKubeconfig(path, env.apiURL, env.caPEM, user, token, namespace))
	return path
}

// stopAPIServer kills kube-apiserver, as a crash or a lost node would, and
// leaves etcd running; restartAPIServer brings it back with the same port,
// certificates and tokens. Only a test that does not run in parallel may
// call them: every other test needs the API server.
func (e *environment) stopAPIServer() error { return e.controlPlane.KillAPIServer() }

// restartAPIServer starts the killed kube-apiserver again and waits until
// it is ready; if it still runs, it does nothing.
func (e *environment) restartAPIServer() error { return e.controlPlane.RestartAPIServer() }
