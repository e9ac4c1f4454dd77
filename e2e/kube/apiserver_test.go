//go:build linux

package kube

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/portico-ingress/portico/e2e/framework"
)

// startEtcd starts etcd on two free loopback ports and waits until /health
// says it is healthy.
func (e *environment) startEtcd() error {
	clientPort, err := e.Ports.Free()
	if err != nil {
		return err
	}
	peerPort, err := e.Ports.Free()
	if err != nil {
		return err
	}
	e.etcdURL = "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	cmd := exec.Command("etcd",
		"--name", "e2e",
		"--data-dir", filepath.Join(e.dir, "etcd"),
		"--listen-client-urls", e.etcdURL,
		"--advertise-client-urls", e.etcdURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "e2e="+peerURL,
		"--logger", "zap",
		"--log-level", "warn",
	)
	if e.etcd, err = e.Children.Start("etcd", cmd); err != nil {
		return err
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DialContext: framework.GuardedDial}}
	err = framework.Poll(etcdReadyTimeout, 50*time.Millisecond, e.etcd, func() error {
		resp, err := client.Get(e.etcdURL + "/health")
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"health":"true"`) {
			return fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("etcd not healthy: %w\netcd output:\n%s", err, e.etcd.LogTail(40))
	}
	return nil
}

// startAPIServer writes the API server's keys, certificate and token file,
// starts it against etcd, waits for /readyz and for the default namespace,
// and builds the admin client.
func (e *environment) startAPIServer() error {
	pki := filepath.Join(e.dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	// The service-account issuer's throwaway signing key.
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	saDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return err
	}
	saKeyFile := filepath.Join(pki, "sa.key")
	if err := os.WriteFile(saKeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: saDER}), 0o600); err != nil {
		return err
	}
	// A self-signed serving certificate for 127.0.0.1; being its own CA,
	// clients verify the server with it instead of skipping verification.
	certPEM, keyPEM, err := framework.ServingCertificate("portico-e2e-apiserver",
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	e.caPEM = certPEM
	certFile, keyFile := filepath.Join(pki, "apiserver.crt"), filepath.Join(pki, "apiserver.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	e.adminToken = randomHex(24)
	tokenFile := filepath.Join(pki, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(e.adminToken+",admin,admin-uid,system:masters\n"), 0o600); err != nil {
		return err
	}

	port, err := e.Ports.Free()
	if err != nil {
		return err
	}
	e.apiURL = "https://127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(e.apiserverBinary,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--advertise-address=127.0.0.1",
		"--etcd-servers="+e.etcdURL,
		"--token-auth-file="+tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+saKeyFile,
		"--service-account-signing-key-file="+saKeyFile,
		// Cluster IPs are only allocated, never sent traffic.
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=true",
		// The "kubernetes" Service's endpoint reconciler refuses a loopback
		// advertise address; nothing here needs that Service's endpoints.
		"--endpoint-reconciler-type=none",
		"--cert-dir="+filepath.Join(e.dir, "certs"),
		"--tls-cert-file="+certFile,
		"--tls-private-key-file="+keyFile,
		// Not needed by the tests, and each costs startup time or CPU.
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--enable-logs-handler=false",
	)
	started := time.Now()
	if e.apiserver, err = e.Children.Start("kube-apiserver", cmd); err != nil {
		return err
	}
	e.config = &rest.Config{
		Host:            e.apiURL,
		BearerToken:     e.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: e.caPEM},
		QPS:             100,
		Burst:           200,
		Timeout:         30 * time.Second,
		UserAgent:       "portico-e2e",
		Dial:            framework.GuardedDial,
	}
	httpClient, err := rest.HTTPClientFor(e.config)
	if err != nil {
		return err
	}
	err = framework.Poll(apiReadyTimeout, 100*time.Millisecond, e.apiserver, func() error {
		resp, err := httpClient.Get(e.apiURL + "/readyz")
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %d: %s", resp.StatusCode, lastLines(string(body), 5))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kube-apiserver not ready: %w\nkube-apiserver output:\n%s", err, e.apiserver.LogTail(60))
	}
	fmt.Fprintf(os.Stderr, "e2e/kube: kube-apiserver ready in %s on %s\n", time.Since(started).Round(time.Millisecond), e.apiURL)

	if e.client, err = kubernetes.NewForConfig(e.config); err != nil {
		return err
	}
	// The API server creates the default namespace in a post-start hook.
	err = framework.Poll(30*time.Second, 100*time.Millisecond, e.apiserver, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := e.client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("namespace default: %w", err)
	}
	e.adminKubeconfig = filepath.Join(e.dir, "admin.kubeconfig")
	if err := writeKubeconfig(e.adminKubeconfig, e.apiURL, e.caPEM, "admin", e.adminToken, ""); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "e2e/kube: kube-apiserver and default namespace ready in %s\n", time.Since(started).Round(time.Millisecond))
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

// writeKubeconfig writes a kubeconfig for one bearer-token user of the
// suite's API server; namespace ("" for none) becomes the context's default.
// Written by hand: the format is small and stable, and client-go's
// clientcmd then reads it exactly as the controller does.
func writeKubeconfig(path, server string, caPEM []byte, user, token, namespace string) error {
	ns := ""
	if namespace != "" {
		ns = "\n    namespace: " + strconv.Quote(namespace)
	}
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: e2e
  context:
    cluster: e2e
    user: %s%s
current-context: e2e
`, strconv.Quote(server), base64.StdEncoding.EncodeToString(caPEM), strconv.Quote(user), strconv.Quote(token), strconv.Quote(user), ns)
	return os.WriteFile(path, []byte(content), 0o600)
}

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
	require.NoError(t, writeKubeconfig(path, env.apiURL, env.caPEM, user, token, namespace))
	return path
}

// stopAPIServer kills kube-apiserver, as a crash or a lost node would, and
// leaves etcd running; restartAPIServer brings it back. (SIGTERM would not
// do: the API server stops listening at once but then keeps the open
// watch connections until its 60s shutdown timeout.) Only a test that does
// not run in parallel may call them: every other test needs the API server.
func (e *environment) stopAPIServer() error {
	return e.apiserver.Kill()
}

// restartAPIServer starts kube-apiserver again with the flags it was first
// started with: the same port, certificates, token file, service-account
// key and etcd, so every client and token of the suite keeps working. It
// waits for /readyz and for the default namespace to be readable. If the
// API server still runs, it does nothing.
func (e *environment) restartAPIServer() error {
	old := e.apiserver
	if old.Alive() {
		return nil
	}
	cmd := exec.Command(old.Cmd.Path, old.Cmd.Args[1:]...)
	started := time.Now()
	c, err := e.Children.Start("kube-apiserver", cmd)
	if err != nil {
		return err
	}
	e.apiserver = c
	httpClient, err := rest.HTTPClientFor(e.config)
	if err != nil {
		return err
	}
	err = framework.Poll(apiReadyTimeout, 100*time.Millisecond, c, func() error {
		resp, err := httpClient.Get(e.apiURL + "/readyz")
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %d: %s", resp.StatusCode, lastLines(string(body), 5))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("restarted kube-apiserver not ready: %w\nkube-apiserver output:\n%s", err, c.LogTail(60))
	}
	err = framework.Poll(30*time.Second, 100*time.Millisecond, c, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := e.client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("restarted kube-apiserver: namespace default: %w", err)
	}
	fmt.Fprintf(os.Stderr, "e2e/kube: kube-apiserver restarted and ready in %s on %s\n", time.Since(started).Round(time.Millisecond), e.apiURL)
	return nil
}
