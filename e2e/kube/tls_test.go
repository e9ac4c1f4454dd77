//go:build linux

package kube

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// tlsDefaultCertName is the common name of the self-signed certificate the
// controller makes at start for TLS hosts without a usable Secret.
const tlsDefaultCertName = "portico-default.invalid"

// TestTLSSecretsFromTheAPI serves two hosts with certificates from
// kubernetes.io/tls Secrets: SNI picks each host's certificate, plain HTTP
// is redirected, unknown names get the default certificate, a rotated
// Secret is served without restart, a Secret created after its Ingress is
// picked up, and key material stays in the 0600 certificate files.
func TestTLSSecretsFromTheAPI(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	eps := startBackends(t, "secure", 1)
	createService(t, ns, "secure", eps)
	c := startController(t, ns)

	const hostA, hostB, hostC = "a.tls.example", "b.tls.example", "c.tls.example"
	certA, certB := framework.NewKeyPair(t, hostA), framework.NewKeyPair(t, hostB)
	tlsCreateSecret(t, ns, "cert-a", certA)
	tlsCreateSecret(t, ns, "cert-b", certB)
	// cert-c does not exist yet.
	createIngress(t, tlsIngress(ns, "tls", "secure", map[string]string{hostA: "cert-a", hostB: "cert-b", hostC: "cert-c"}, hostA, hostB, hostC))
	createIngress(t, ingress(ns, "plain", "plain.tls.example", route{path: "/", service: "secure"}))

	// Live once the configuration has both certificates and every server.
	_, ev := lbWaitConfig(t, c, 0, func(conf string) bool {
		return lbContainsAll(conf, tlsCertFile(ns, "cert-a"), tlsCertFile(ns, "cert-b"),
			lbServerName(hostA), lbServerName(hostB), lbServerName(hostC), lbServerName("plain.tls.example"))
	}, "both Ingresses and both certificates")

	t.Run("SNI selects the certificate", func(t *testing.T) {
		a, b := c.MustPeerCertificate(t, hostA), c.MustPeerCertificate(t, hostB)
		assert.Equal(t, []string{hostA}, a.DNSNames)
		assert.Equal(t, []string{hostB}, b.DNSNames)
		assert.True(t, a.Equal(certA.Leaf), "a.tls.example presents cert-a")
		assert.True(t, b.Equal(certB.Leaf), "b.tls.example presents cert-b")
	})
	t.Run("HTTPS reaches the backend with a verified certificate", func(t *testing.T) {
		for _, kp := range []struct {
			host string
			kp   framework.KeyPair
		}{{hostA, certA}, {hostB, certB}} {
			roots := x509.NewCertPool()
			roots.AddCert(kp.kp.Leaf)
			r, err := framework.DoGet(c.HTTPSClient(kp.host, roots), "https", kp.host, "/secure?q=1")
			require.NoError(t, err, "GET https://%s/secure?q=1", kp.host)
			assert.Equal(t, http.StatusOK, r.Status, "%s", r)
			require.Equal(t, "secure", r.Served(), "%s", r)
			assert.Equal(t, "/secure?q=1", r.Echo.Path)
			assert.Equal(t, kp.host, r.Echo.Host)
			assert.Equal(t, "https", r.Echo.Headers["X-Forwarded-Proto"])
		}
	})
	t.Run("plain HTTP to a TLS host is redirected", func(t *testing.T) {
		for _, host := range []string{hostA, hostB, hostC} {
			r := c.Get(t, host, "/some/path?x=1&y=2")
			assert.Equal(t, http.StatusPermanentRedirect, r.Status, "%s", r)
			assert.Equal(t, fmt.Sprintf("https://%s:%d/some/path?x=1&y=2", host, c.HTTPSPort), r.Header.Get("Location"))
			assert.Empty(t, r.Served(), "%s", r)
		}
		r := c.Get(t, "plain.tls.example", "/")
		assert.Equal(t, http.StatusOK, r.Status, "a host without TLS is not redirected: %s", r)
		assert.Equal(t, "secure", r.Served(), "%s", r)
	})
	t.Run("unknown SNI gets the default certificate", func(t *testing.T) {
		for _, sni := range []string{"unknown.tls.example", "plain.tls.example", ""} {
			cert := c.MustPeerCertificate(t, sni)
			assert.Equal(t, tlsDefaultCertName, cert.Subject.CommonName, "SNI %q", sni)
		}
	})
	t.Run("missing Secret serves the default certificate", func(t *testing.T) {
		assert.Equal(t, tlsDefaultCertName, c.MustPeerCertificate(t, hostC).Subject.CommonName)
		r, err := framework.DoGet(c.HTTPSClient(hostC, nil), "https", hostC, "/x")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, r.Status, "the host still serves over HTTPS: %s", r)
		assert.Equal(t, "secure", r.Served(), "%s", r)
		lbWaitEvent(t, ns, "Ingress", "tls", corev1.EventTypeWarning, "SecretNotFound", "cert-c")
	})
	t.Run("certificate files are private", func(t *testing.T) {
		entries := tlsCertFiles(t, c)
		// The default certificate and the two valid Secrets.
		assert.Len(t, entries, 3, "certificate files: %v", entries)
	})

	t.Run("rotation", func(t *testing.T) {
		rotated := framework.NewKeyPair(t, hostA, "www."+hostA)
		before := tlsCertPath(t, lbDebugConfig(t, c), ns, "cert-a")
		tlsUpdateSecret(t, ns, "cert-a", rotated)
		_, ev = lbWaitConfig(t, c, ev.Generation, func(conf string) bool {
			return strings.Contains(conf, tlsCertFile(ns, "cert-a")) && !strings.Contains(conf, before)
		}, "a new certificate file for cert-a")
		assert.True(t, c.MustPeerCertificate(t, hostA).Equal(rotated.Leaf), "a.tls.example presents the rotated certificate")
		assert.Equal(t, []string{hostA, "www." + hostA}, c.MustPeerCertificate(t, hostA).DNSNames)
		assert.True(t, c.MustPeerCertificate(t, hostB).Equal(certB.Leaf), "b.tls.example is unaffected")
		// The file of the old certificate goes once the new config is live.
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			entries, err := os.ReadDir(filepath.Join(c.ConfigDir, "certs"))
			require.NoError(ct, err)
			assert.Len(ct, entries, 3, "old certificate files are removed: %v", entries)
		}, framework.RouteTimeout, framework.PollInterval)
	})
	t.Run("Secret created after the Ingress", func(t *testing.T) {
		certC := framework.NewKeyPair(t, hostC)
		tlsCreateSecret(t, ns, "cert-c", certC)
		lbWaitConfig(t, c, ev.Generation, func(conf string) bool {
			return strings.Contains(conf, tlsCertFile(ns, "cert-c"))
		}, "the certificate file of cert-c")
		cert := c.MustPeerCertificate(t, hostC)
		assert.True(t, cert.Equal(certC.Leaf), "c.tls.example presents cert-c (got CN %q)", cert.Subject.CommonName)
		assert.Len(t, tlsCertFiles(t, c), 4, "default, a, b and c")
	})

	t.Run("no key material outside the certificate files", func(t *testing.T) {
		tlsNoKeyMaterial(t, c, ns)
	})
}

// TestTLSInvalidKeyPair gives an Ingress a Secret whose key does not match
// its certificate: the Ingress gets an InvalidCertificate Warning, the host
// serves the default certificate, and the key is quoted nowhere.
func TestTLSInvalidKeyPair(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ensureIngressClass(t)
	eps := startBackends(t, "web", 1)
	createService(t, ns, "web", eps)
	c := startController(t, ns)

	const host, good = "mismatch.tls.example", "good.tls.example"
	cert, other := framework.NewKeyPair(t, host), framework.NewKeyPair(t, host)
	bad := framework.KeyPair{CertPEM: cert.CertPEM, KeyPEM: other.KeyPEM, Leaf: cert.Leaf}
	tlsCreateSecret(t, ns, "bad", bad)
	goodKP := framework.NewKeyPair(t, good)
	tlsCreateSecret(t, ns, "good", goodKP)
	createIngress(t, tlsIngress(ns, "mismatch", "web", map[string]string{host: "bad", good: "good"}, host, good))

	// The valid Secret of the same Ingress is served: one bad Secret does
	// not take the others down.
	_, ev := lbWaitConfig(t, c, 0, func(conf string) bool {
		return lbContainsAll(conf, tlsCertFile(ns, "good"), lbServerName(host), lbServerName(good))
	}, "both hosts and the good certificate")
	assert.NotContains(t, lbDebugConfig(t, c), tlsCertFile(ns, "bad"), "no certificate file for the bad Secret")
	gotGood, err := c.PeerCertificate(good)
	require.NoError(t, err)
	assert.True(t, gotGood.Equal(goodKP.Leaf), "good.tls.example presents its certificate (got CN %q)", gotGood.Subject.CommonName)
	got, err := c.PeerCertificate(host)
	require.NoError(t, err)
	assert.Equal(t, tlsDefaultCertName, got.Subject.CommonName, "an invalid Secret falls back to the default certificate")
	r, err := framework.DoGet(c.HTTPSClient(host, nil), "https", host, "/")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, r.Status, "the host still serves over HTTPS: %s", r)
	assert.Equal(t, "web", r.Served(), "%s", r)

	warning := lbWaitEvent(t, ns, "Ingress", "mismatch", corev1.EventTypeWarning, "InvalidCertificate", ns+"/bad")
	t.Logf("Event: %s %s: %s", warning.Type, warning.Reason, warning.Message)
	assert.NotContains(t, warning.Message, "PRIVATE KEY")
	assert.Equal(t, "Ingress", warning.InvolvedObject.Kind)
	assert.Equal(t, ns, warning.InvolvedObject.Namespace)

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Contains(ct, c.Logs.String(), "TLS Secret "+ns+"/bad", "the bad Secret is logged")
	}, framework.RouteTimeout, framework.PollInterval)
	tlsNoKeyMaterial(t, c, ns)
	// Not even a piece of the base64 body of either key.
	logs := c.Logs.String()
	for _, kp := range []framework.KeyPair{bad, goodKP} {
		body := strings.Split(string(kp.KeyPEM), "\n")[1]
		assert.NotContains(t, logs, body[:32], "a piece of a private key is in the controller logs")
		assert.NotContains(t, lbDebugConfig(t, c), body[:32])
	}
	assert.Len(t, tlsCertFiles(t, c), 2, "the default certificate and the good Secret only")

	// Fixed: the Secret gets a matching key and is served.
	tlsUpdateSecret(t, ns, "bad", cert)
	lbWaitConfig(t, c, ev.Generation, func(conf string) bool {
		return strings.Contains(conf, tlsCertFile(ns, "bad"))
	}, "a certificate file for the fixed Secret")
	got, err = c.PeerCertificate(host)
	require.NoError(t, err)
	assert.True(t, got.Equal(cert.Leaf), "mismatch.tls.example presents its certificate once the key matches (got CN %q)", got.Subject.CommonName)
}

// ---- helpers -------------------------------------------------------------------

// tlsSecret is a kubernetes.io/tls Secret holding kp.
func tlsSecret(namespace, name string, kp framework.KeyPair) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: kp.CertPEM, corev1.TLSPrivateKeyKey: kp.KeyPEM},
	}
}

// tlsCreateSecret creates the TLS Secret namespace/name.
func tlsCreateSecret(t testing.TB, namespace, name string, kp framework.KeyPair) {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	_, err := env.client.CoreV1().Secrets(namespace).Create(ctx, tlsSecret(namespace, name, kp), metav1.CreateOptions{})
	require.NoError(t, err, "creating Secret %s/%s", namespace, name)
}

// tlsUpdateSecret replaces the key pair of the TLS Secret namespace/name.
func tlsUpdateSecret(t testing.TB, namespace, name string, kp framework.KeyPair) {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	_, err := env.client.CoreV1().Secrets(namespace).Update(ctx, tlsSecret(namespace, name, kp), metav1.UpdateOptions{})
	require.NoError(t, err, "updating Secret %s/%s", namespace, name)
}

// tlsIngress is an Ingress routing / of each host to service, with one
// spec.tls entry per host naming its Secret.
func tlsIngress(namespace, name, service string, secretByHost map[string]string, hosts ...string) *networkingv1.Ingress {
	ing := ingress(namespace, name, hosts[0], route{path: "/", service: service})
	for _, h := range hosts[1:] {
		rule := *ing.Spec.Rules[0].DeepCopy()
		rule.Host = h
		ing.Spec.Rules = append(ing.Spec.Rules, rule)
	}
	for _, h := range hosts {
		ing.Spec.TLS = append(ing.Spec.TLS, networkingv1.IngressTLS{Hosts: []string{h}, SecretName: secretByHost[h]})
	}
	return ing
}

// tlsCertFile is the start of the name of the certificate file the
// controller writes for the Secret namespace/name (a content hash follows).
func tlsCertFile(namespace, name string) string {
	return "/certs/" + namespace + "_" + name + "-"
}

// tlsCertPath finds the path of the certificate file of a Secret in a
// rendered nginx.conf.
func tlsCertPath(t testing.TB, conf, namespace, name string) string {
	t.Helper()
	m := regexp.MustCompile(`"([^"]*` + regexp.QuoteMeta(tlsCertFile(namespace, name)) + `[0-9a-f]+\.pem)"`).FindStringSubmatch(conf)
	require.NotNil(t, m, "no certificate file of Secret %s/%s in the live configuration", namespace, name)
	return m[1]
}

// tlsCertFiles lists the certificate files of the controller and checks
// that each is readable by its owner only.
func tlsCertFiles(t testing.TB, c *controller) []string {
	t.Helper()
	dir := filepath.Join(c.ConfigDir, "certs")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	var names []string
	for _, e := range entries {
		info, err := e.Info()
		require.NoError(t, err)
		assert.True(t, info.Mode().IsRegular(), "%s is a regular file", e.Name())
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "mode of %s", filepath.Join(dir, e.Name()))
		names = append(names, e.Name())
	}
	return names
}

// tlsNoKeyMaterial checks that no private key shows outside the
// certificate files: not in /debug/config, /debug/reloads, nginx.conf, the
// controller's logs, nor the Events of the namespace.
func tlsNoKeyMaterial(t testing.TB, c *controller, namespace string) {
	t.Helper()
	assert.NotContains(t, lbDebugConfig(t, c), "PRIVATE KEY", "/debug/config")
	assert.NotContains(t, string(c.MustStatusGet(t, "/debug/reloads")), "PRIVATE KEY", "/debug/reloads")
	conf, err := os.ReadFile(filepath.Join(c.ConfigDir, "nginx.conf"))
	require.NoError(t, err)
	assert.NotContains(t, string(conf), "PRIVATE KEY", "nginx.conf")
	assert.NotContains(t, c.Logs.String(), "PRIVATE KEY", "controller logs")
	ctx, cancel := apiContext()
	defer cancel()
	events, err := env.client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, ev := range events.Items {
		assert.NotContains(t, ev.Message, "PRIVATE KEY", "Event %s %s", ev.Reason, ev.Name)
	}
	// The key is in the certificate files, where nginx reads it.
	for _, name := range tlsCertFiles(t, c) {
		b, err := os.ReadFile(filepath.Join(c.ConfigDir, "certs", name))
		require.NoError(t, err)
		assert.Contains(t, string(b), "PRIVATE KEY", "%s holds the certificate and its key", name)
	}
}
