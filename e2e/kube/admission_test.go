//go:build linux

package kube

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/yaml"

	"github.com/portico-ingress/portico/e2e/framework"
)

// webhookName is deploy/webhook.yaml's ValidatingWebhookConfiguration,
// which the suite otherwise only dry-runs: this test stores it, pointed at
// one controller, so deploy/rbac.yaml's rules for it are tested too.
const webhookName = "portico-admission"

// TestAdmissionWebhook runs the validating webhook through the real
// kube-apiserver and kubectl: deploy/webhook.yaml's configuration,
// reaching the controller by URL (the suite has no Service network), with
// the certificate the controller made for itself and patched in, and
// --admission-client-ca: the API server presents the client certificate
// its AdmissionConfiguration names (startControlPlane), as
// docs/admission.md sets it up.
func TestAdmissionWebhook(t *testing.T) {
	requireEnv(t)
	ensureIngressClass(t)
	kubectl := filepath.Join(env.kubeBinaries, "kubectl")
	require.FileExists(t, kubectl, "hack/build-kube.sh builds kubectl")
	ns := newNamespace(t)
	createService(t, ns, "web", nil)
	port := env.Ports.MustFree(t)
	vwc := storeWebhookConfiguration(t, ns, fmt.Sprintf("https://127.0.0.1:%d/validate", port))

	c := startController(t, ns, "--admission-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--admission-cert-names", "127.0.0.1", "--configmap", ns+"/portico",
		"--admission-client-ca", env.webhookClientCA)
	bundle := waitCABundle(t, vwc.Name)

	apply := func(t *testing.T, manifest string) (string, error) {
		t.Helper()
		cmd := exec.Command(kubectl, "--kubeconfig", env.adminKubeconfig, "apply", "-f", "-")
		cmd.Stdin = strings.NewReader(manifest)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	ingressYAML := func(name, host string, annotations map[string]string, service string) string {
		var ann strings.Builder
		for k, v := range annotations {
			raw, _ := json.Marshal(v)
			fmt.Fprintf(&ann, "    %s: %s\n", k, raw)
		}
		a := ""
		if ann.Len() > 0 {
			a = "  annotations:\n" + ann.String()
		}
		return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: %s
  namespace: %s
%sspec:
  ingressClassName: portico
  rules:
  - host: %s
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: %s, port: {number: 80}}}}
`, name, ns, a, host, service)
	}

	t.Run("a good Ingress is admitted", func(t *testing.T) {
		out, err := apply(t, ingressYAML("good", "good."+ns+".example.com", nil, "web"))
		require.NoError(t, err, out)
		assert.Contains(t, out, "ingress.networking.k8s.io/good created")
		assert.NotContains(t, out, "Warning")
	})

	t.Run("a bad Ingress is refused with the reason in kubectl's output", func(t *testing.T) {
		out, err := apply(t, ingressYAML("bad", "bad."+ns+".example.com",
			map[string]string{"nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/33"}, "web"))
		require.Error(t, err, out)
		assert.Contains(t, out, `Error from server (Forbidden)`)
		assert.Contains(t, out, `admission webhook "ingresses.admission.portico.dev" denied the request: portico: Ingress `+ns+`/bad is not served`)
		assert.Contains(t, out, "nginx.ingress.kubernetes.io/whitelist-source-range")
		assertNoIngress(t, ns, "bad")
	})

	t.Run("warnings show", func(t *testing.T) {
		out, err := apply(t, ingressYAML("early", "early."+ns+".example.com",
			map[string]string{"nginx.ingress.kubernetes.io/enable-magic": "true"}, "not-yet"))
		require.NoError(t, err, out)
		assert.Contains(t, out, "ingress.networking.k8s.io/early created")
		assert.Contains(t, out, "Warning: annotation nginx.ingress.kubernetes.io/enable-magic is ignored")
		assert.Contains(t, out, "Warning: ServiceNotFound")
	})

	t.Run("a path another Ingress owns is refused", func(t *testing.T) {
		host := "owned." + ns + ".example.com"
		out, err := apply(t, ingressYAML("owner", host, nil, "web"))
		require.NoError(t, err, out)
		// The controller judges against the snapshot of its last sync:
		// wait until it has read the owner.
		waitDebugIngress(t, c, ns, "owner")
		out, err = apply(t, ingressYAML("thief", host, nil, "web"))
		require.Error(t, err, out)
		assert.Contains(t, out, "denied the request")
		assert.Contains(t, out, "Conflict")
		assertNoIngress(t, ns, "thief")
	})

	t.Run("the options ConfigMap is reviewed", func(t *testing.T) {
		cm := func(v string) string {
			return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico, namespace: %s}\ndata: {proxy-read-timeout: %q}\n", ns, v)
		}
		out, err := apply(t, cm("soon"))
		require.Error(t, err, out)
		assert.Contains(t, out, `admission webhook "configmaps.admission.portico.dev" denied the request: portico: ConfigMap `+ns+`/portico is refused`)
		out, err = apply(t, cm("120"))
		require.NoError(t, err, out)
		// Another ConfigMap never reaches the webhook (deploy/'s match condition).
		out, err = apply(t, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: %s}\ndata: {proxy-read-timeout: soon}\n", ns))
		require.NoError(t, err, out)
	})

	t.Run("the CVE-2025-1974 payload sent straight to the webhook is refused and leaves no trace", func(t *testing.T) {
		marker := "portico-nightmare-" + rand.String(8)
		// The earlier subtests' changes must be live first, so that what
		// follows can only be the review's doing.
		var before map[string]string
		var reloads float64
		pollNil(t, 30*time.Second, "the controller settles", func() error {
			before, reloads = treeState(t, c.ConfigDir, c.RuntimeDir), c.MetricSum(t, "portico_reloads_total", nil)
			time.Sleep(2 * time.Second)
			if !maps.Equal(before, treeState(t, c.ConfigDir, c.RuntimeDir)) || reloads != c.MetricSum(t, "portico_reloads_total", nil) {
				return errors.New("still writing files or reloading")
			}
			return nil
		})
		// IngressNightmare's shape: an Ingress whose auth-url closes the
		// location and loads a shared object with ssl_engine, in an
		// AdmissionReview from anyone who can reach the port.
		payload := ingressYAML("nightmare", marker+".example.com", map[string]string{
			"nginx.ingress.kubernetes.io/auth-url": "http://example.com/#;\n}\n}\n}\nssl_engine /proc/1/fd/" + marker + ";\n#",
		}, "web")
		var obj map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(payload), &obj))
		raw, err := json.Marshal(obj)
		require.NoError(t, err)
		review := admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{
				UID:       "nightmare",
				Kind:      metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
				Namespace: ns, Name: "nightmare", Operation: admissionv1.Create,
				Object: runtime.RawExtension{Raw: raw},
			},
		}
		body, err := json.Marshal(review)
		require.NoError(t, err)
		pool := x509.NewCertPool()
		require.True(t, pool.AppendCertsFromPEM(bundle))
		post := func(certs ...tls.Certificate) (*http.Response, error) {
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, Certificates: certs}}}
			return client.Post(fmt.Sprintf("https://127.0.0.1:%d/validate", port), "application/json", bytes.NewReader(body))
		}
		// Without the API server's client certificate the port completes
		// no handshake: the payload is not even read.
		if resp, err := post(); err == nil {
			resp.Body.Close()
			t.Fatalf("a review without a client certificate was answered %d", resp.StatusCode)
		}
		// With it (an attacker who stole it, or the API server), the
		// payload is judged and refused.
		apiserver, err := tls.LoadX509KeyPair(env.webhookClientCA, env.webhookClientKey)
		require.NoError(t, err)
		resp, err := post(apiserver)
		require.NoError(t, err)
		answer, err := io.ReadAll(resp.Body)
		require.NoError(t, resp.Body.Close())
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(answer))
		var out admissionv1.AdmissionReview
		require.NoError(t, json.Unmarshal(answer, &out))
		require.NotNil(t, out.Response)
		assert.Equal(t, "nightmare", string(out.Response.UID))
		assert.False(t, out.Response.Allowed)
		assert.Contains(t, out.Response.Result.Message, "annotation nginx.ingress.kubernetes.io/auth-url")

		// Nothing ran and nothing was written: the files of the config and
		// runtime directories are as they were (names, sizes, contents),
		// none holds the payload, no reload happened, and the log names
		// the review without its content.
		time.Sleep(time.Second)
		assert.Equal(t, before, treeState(t, c.ConfigDir, c.RuntimeDir), "the review changed files")
		assert.Equal(t, reloads, c.MetricSum(t, "portico_reloads_total", nil), "the review caused a reload")
		assert.NotContains(t, c.Logs.String(), marker, "the payload reached the log")
		assert.Contains(t, c.Logs.String(), "admission review")
	})

	t.Run("with the controller down the failure policy applies", func(t *testing.T) {
		c.Stop(t)
		out, err := apply(t, ingressYAML("while-down", "down."+ns+".example.com", nil, "web"))
		require.Error(t, err, "failurePolicy Fail: no answer, no write: %s", out)
		assert.Contains(t, out, `failed calling webhook "ingresses.admission.portico.dev"`)
		assertNoIngress(t, ns, "while-down")

		setFailurePolicy(t, vwc.Name, admissionregistrationv1.Ignore)
		out, err = apply(t, ingressYAML("while-down", "down."+ns+".example.com", nil, "web"))
		require.NoError(t, err, "failurePolicy Ignore: written unchecked: %s", out)
	})
}

// storeWebhookConfiguration stores deploy/webhook.yaml's configuration,
// its webhooks reaching url and only namespace, and deletes it in
// t.Cleanup.
func storeWebhookConfiguration(t *testing.T, namespace, url string) *admissionregistrationv1.ValidatingWebhookConfiguration {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(env.repoRoot, "deploy", "webhook.yaml"))
	require.NoError(t, err)
	objs, err := framework.DecodeYAML(raw)
	require.NoError(t, err)
	var vwc *admissionregistrationv1.ValidatingWebhookConfiguration
	for _, o := range objs {
		if v, ok := o.(*admissionregistrationv1.ValidatingWebhookConfiguration); ok {
			vwc = v
		}
	}
	require.NotNil(t, vwc, "deploy/webhook.yaml holds no ValidatingWebhookConfiguration")
	require.Equal(t, webhookName, vwc.Name)
	require.Len(t, vwc.Webhooks, 2)
	only := &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": namespace}}
	for i := range vwc.Webhooks {
		w := &vwc.Webhooks[i]
		require.Empty(t, w.ClientConfig.CABundle, "deploy/ leaves the caBundle to the controller")
		w.ClientConfig.Service, w.ClientConfig.URL = nil, &url
		w.NamespaceSelector = only
	}
	// The options ConfigMap is NAMESPACE/portico here: deploy/'s match
	// condition on the name is kept as it is.
	ctx, cancel := apiContext()
	defer cancel()
	out, err := env.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{})
	require.NoError(t, err, "only one test may store %s at a time", webhookName)
	t.Cleanup(func() {
		ctx, cancel := apiContext()
		defer cancel()
		err := env.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, webhookName, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting %s: %v", webhookName, err)
		}
		// The next run makes a new certificate for itself.
		_ = env.client.CoreV1().Secrets(deployNamespace).Delete(ctx, "portico-admission", metav1.DeleteOptions{})
	})
	return out
}

// waitCABundle waits until the controller has patched its CA into every
// webhook of the configuration, and returns it.
func waitCABundle(t *testing.T, name string) []byte {
	t.Helper()
	var bundle []byte
	pollNil(t, 30*time.Second, "the controller patches the caBundle", func() error {
		ctx, cancel := apiContext()
		defer cancel()
		vwc, err := env.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, w := range vwc.Webhooks {
			if len(w.ClientConfig.CABundle) == 0 {
				return fmt.Errorf("webhook %s has no caBundle yet", w.Name)
			}
		}
		bundle = vwc.Webhooks[0].ClientConfig.CABundle
		return nil
	})
	return bundle
}

// setFailurePolicy sets every webhook's failurePolicy.
func setFailurePolicy(t *testing.T, name string, p admissionregistrationv1.FailurePolicyType) {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	vwc, err := env.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	for i := range vwc.Webhooks {
		vwc.Webhooks[i].FailurePolicy = &p
	}
	_, err = env.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, vwc, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// assertNoIngress checks that a refused Ingress was not stored.
func assertNoIngress(t *testing.T, namespace, name string) {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	_, err := env.client.NetworkingV1().Ingresses(namespace).Get(ctx, name, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "Ingress %s/%s was stored: %v", namespace, name, err)
}

// waitDebugIngress waits until the controller's /debug/ingresses lists
// the Ingress: its last sync read it.
func waitDebugIngress(t *testing.T, c *controller, namespace, name string) {
	t.Helper()
	pollNil(t, 30*time.Second, "the controller reads "+namespace+"/"+name, func() error {
		resp, err := c.StatusClient.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/ingresses", c.DebugPort))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if !bytes.Contains(body, []byte(`"`+name+`"`)) || !bytes.Contains(body, []byte(`"`+namespace+`"`)) {
			return fmt.Errorf("not in /debug/ingresses yet")
		}
		return nil
	})
}

// treeState describes every file under the directories: path, mode, size
// and a digest of its content (sockets and other special files by mode).
func treeState(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			desc := fmt.Sprintf("%v %d", info.Mode(), info.Size())
			if info.Mode().IsRegular() {
				raw, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				sum := sha256.Sum256(raw)
				desc += " " + hex.EncodeToString(sum[:8])
			}
			out[path] = desc
			return nil
		})
		require.NoError(t, err)
	}
	return out
}

// pollNil is framework.Poll with the test failing on its error.
func pollNil(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	require.NoError(t, framework.Poll(timeout, framework.PollInterval, nil, f), what)
}
