//go:build linux

package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/certs"
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
	certA, certB := tlsNewKeyPair(t, hostA), tlsNewKeyPair(t, hostB)
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

	peer := func(t *testing.T, sni string) *x509.Certificate {
		t.Helper()
		cert, err := tlsPeerCertificate(c, sni)
		require.NoError(t, err, "TLS handshake with SNI %q", sni)
		return cert
	}

	t.Run("SNI selects the certificate", func(t *testing.T) {
		a, b := peer(t, hostA), peer(t, hostB)
		assert.Equal(t, []string{hostA}, a.DNSNames)
		assert.Equal(t, []string{hostB}, b.DNSNames)
		assert.True(t, a.Equal(certA.leaf), "a.tls.example presents cert-a")
		assert.True(t, b.Equal(certB.leaf), "b.tls.example presents cert-b")
	})
	t.Run("HTTPS reaches the backend with a verified certificate", func(t *testing.T) {
		for _, kp := range []struct {
			host string
			kp   tlsKeyPair
		}{{hostA, certA}, {hostB, certB}} {
			roots := x509.NewCertPool()
			roots.AddCert(kp.kp.leaf)
			r, err := doGet(tlsHTTPSClient(c, kp.host, roots), "https", kp.host, "/secure?q=1")
			require.NoError(t, err, "GET https://%s/secure?q=1", kp.host)
			assert.Equal(t, http.StatusOK, r.status, "%s", r)
			require.Equal(t, "secure", r.served(), "%s", r)
			assert.Equal(t, "/secure?q=1", r.echo.Path)
			assert.Equal(t, kp.host, r.echo.Host)
			assert.Equal(t, "https", r.echo.Headers["X-Forwarded-Proto"])
		}
	})
	t.Run("plain HTTP to a TLS host is redirected", func(t *testing.T) {
		for _, host := range []string{hostA, hostB, hostC} {
			r := c.get(t, host, "/some/path?x=1&y=2")
			assert.Equal(t, http.StatusPermanentRedirect, r.status, "%s", r)
			assert.Equal(t, fmt.Sprintf("https://%s:%d/some/path?x=1&y=2", host, c.httpsPort), r.header.Get("Location"))
			assert.Empty(t, r.served(), "%s", r)
		}
		r := c.get(t, "plain.tls.example", "/")
		assert.Equal(t, http.StatusOK, r.status, "a host without TLS is not redirected: %s", r)
		assert.Equal(t, "secure", r.served(), "%s", r)
	})
	t.Run("unknown SNI gets the default certificate", func(t *testing.T) {
		for _, sni := range []string{"unknown.tls.example", "plain.tls.example", ""} {
			cert := peer(t, sni)
			assert.Equal(t, tlsDefaultCertName, cert.Subject.CommonName, "SNI %q", sni)
		}
	})
	t.Run("missing Secret serves the default certificate", func(t *testing.T) {
		assert.Equal(t, tlsDefaultCertName, peer(t, hostC).Subject.CommonName)
		r, err := doGet(tlsHTTPSClient(c, hostC, nil), "https", hostC, "/x")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, r.status, "the host still serves over HTTPS: %s", r)
		assert.Equal(t, "secure", r.served(), "%s", r)
		lbWaitEvent(t, ns, "Ingress", "tls", corev1.EventTypeWarning, "SecretNotFound", "cert-c")
	})
	t.Run("certificate files are private", func(t *testing.T) {
		entries := tlsCertFiles(t, c)
		// The default certificate and the two valid Secrets.
		assert.Len(t, entries, 3, "certificate files: %v", entries)
	})

	t.Run("rotation", func(t *testing.T) {
		rotated := tlsNewKeyPair(t, hostA, "www."+hostA)
		before := tlsCertPath(t, lbDebugConfig(t, c), ns, "cert-a")
		tlsUpdateSecret(t, ns, "cert-a", rotated)
		_, ev = lbWaitConfig(t, c, ev.Generation, func(conf string) bool {
			return strings.Contains(conf, tlsCertFile(ns, "cert-a")) && !strings.Contains(conf, before)
		}, "a new certificate file for cert-a")
		assert.True(t, peer(t, hostA).Equal(rotated.leaf), "a.tls.example presents the rotated certificate")
		assert.Equal(t, []string{hostA, "www." + hostA}, peer(t, hostA).DNSNames)
		assert.True(t, peer(t, hostB).Equal(certB.leaf), "b.tls.example is unaffected")
		// The file of the old certificate goes once the new config is live.
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			entries, err := os.ReadDir(filepath.Join(c.configDir, "certs"))
			require.NoError(ct, err)
			assert.Len(ct, entries, 3, "old certificate files are removed: %v", entries)
		}, routeTimeout, pollInterval)
	})
	t.Run("Secret created after the Ingress", func(t *testing.T) {
		certC := tlsNewKeyPair(t, hostC)
		tlsCreateSecret(t, ns, "cert-c", certC)
		lbWaitConfig(t, c, ev.Generation, func(conf string) bool {
			return strings.Contains(conf, tlsCertFile(ns, "cert-c"))
		}, "the certificate file of cert-c")
		cert := peer(t, hostC)
		assert.True(t, cert.Equal(certC.leaf), "c.tls.example presents cert-c (got CN %q)", cert.Subject.CommonName)
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
	cert, other := tlsNewKeyPair(t, host), tlsNewKeyPair(t, host)
	bad := tlsKeyPair{certPEM: cert.certPEM, keyPEM: other.keyPEM, leaf: cert.leaf}
	tlsCreateSecret(t, ns, "bad", bad)
	goodKP := tlsNewKeyPair(t, good)
	tlsCreateSecret(t, ns, "good", goodKP)
	createIngress(t, tlsIngress(ns, "mismatch", "web", map[string]string{host: "bad", good: "good"}, host, good))

	// The valid Secret of the same Ingress is served: one bad Secret does
	// not take the others down.
	_, ev := lbWaitConfig(t, c, 0, func(conf string) bool {
		return lbContainsAll(conf, tlsCertFile(ns, "good"), lbServerName(host), lbServerName(good))
	}, "both hosts and the good certificate")
	assert.NotContains(t, lbDebugConfig(t, c), tlsCertFile(ns, "bad"), "no certificate file for the bad Secret")
	gotGood, err := tlsPeerCertificate(c, good)
	require.NoError(t, err)
	assert.True(t, gotGood.Equal(goodKP.leaf), "good.tls.example presents its certificate (got CN %q)", gotGood.Subject.CommonName)
	got, err := tlsPeerCertificate(c, host)
	require.NoError(t, err)
	assert.Equal(t, tlsDefaultCertName, got.Subject.CommonName, "an invalid Secret falls back to the default certificate")
	r, err := doGet(tlsHTTPSClient(c, host, nil), "https", host, "/")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, r.status, "the host still serves over HTTPS: %s", r)
	assert.Equal(t, "web", r.served(), "%s", r)

	warning := lbWaitEvent(t, ns, "Ingress", "mismatch", corev1.EventTypeWarning, "InvalidCertificate", ns+"/bad")
	t.Logf("Event: %s %s: %s", warning.Type, warning.Reason, warning.Message)
	assert.NotContains(t, warning.Message, "PRIVATE KEY")
	assert.Equal(t, "Ingress", warning.InvolvedObject.Kind)
	assert.Equal(t, ns, warning.InvolvedObject.Namespace)

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Contains(ct, c.logs.String(), "TLS Secret "+ns+"/bad", "the bad Secret is logged")
	}, routeTimeout, pollInterval)
	tlsNoKeyMaterial(t, c, ns)
	// Not even a piece of the base64 body of either key.
	logs := c.logs.String()
	for _, kp := range []tlsKeyPair{bad, goodKP} {
		body := strings.Split(string(kp.keyPEM), "\n")[1]
		assert.NotContains(t, logs, body[:32], "a piece of a private key is in the controller logs")
		assert.NotContains(t, lbDebugConfig(t, c), body[:32])
	}
	assert.Len(t, tlsCertFiles(t, c), 2, "the default certificate and the good Secret only")

	// Fixed: the Secret gets a matching key and is served.
	tlsUpdateSecret(t, ns, "bad", cert)
	lbWaitConfig(t, c, ev.Generation, func(conf string) bool {
		return strings.Contains(conf, tlsCertFile(ns, "bad"))
	}, "a certificate file for the fixed Secret")
	got, err = tlsPeerCertificate(c, host)
	require.NoError(t, err)
	assert.True(t, got.Equal(cert.leaf), "mismatch.tls.example presents its certificate once the key matches (got CN %q)", got.Subject.CommonName)
}

// ---- helpers -------------------------------------------------------------------

// tlsKeyPair is a self-signed ECDSA certificate and its key, in PEM.
type tlsKeyPair struct {
	certPEM, keyPEM []byte
	leaf            *x509.Certificate
}

// tlsNewKeyPair makes a self-signed certificate for hosts (the first is the CN).
func tlsNewKeyPair(t testing.TB, hosts ...string) tlsKeyPair {
	t.Helper()
	certPEM, keyPEM, err := certs.SelfSignedFor(hosts, 24*time.Hour)
	require.NoError(t, err)
	block, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return tlsKeyPair{certPEM: certPEM, keyPEM: keyPEM, leaf: leaf}
}

// tlsSecret is a kubernetes.io/tls Secret holding kp.
func tlsSecret(namespace, name string, kp tlsKeyPair) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: kp.certPEM, corev1.TLSPrivateKeyKey: kp.keyPEM},
	}
}

// tlsCreateSecret creates the TLS Secret namespace/name.
func tlsCreateSecret(t testing.TB, namespace, name string, kp tlsKeyPair) {
	t.Helper()
	ctx, cancel := apiContext()
	defer cancel()
	_, err := env.client.CoreV1().Secrets(namespace).Create(ctx, tlsSecret(namespace, name, kp), metav1.CreateOptions{})
	require.NoError(t, err, "creating Secret %s/%s", namespace, name)
}

// tlsUpdateSecret replaces the key pair of the TLS Secret namespace/name.
func tlsUpdateSecret(t testing.TB, namespace, name string, kp tlsKeyPair) {
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

// tlsPeerCertificate completes a TLS handshake with nginx's HTTPS port
// sending serverName as SNI ("" sends none) and returns the certificate
// nginx presented.
func tlsPeerCertificate(c *controller, serverName string) (*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := guardedDial(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.httpsPort)))
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, &tls.Config{ServerName: serverName, InsecureSkipVerify: true}) //nolint:gosec // inspecting, not trusting
	defer func() { _ = conn.Close() }()
	if err := conn.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, fmt.Errorf("no certificate for SNI %q", serverName)
	}
	return certs[0], nil
}

// tlsHTTPSClient returns a client for nginx's HTTPS port that sends
// serverName as SNI and trusts roots (nil: verification off).
func tlsHTTPSClient(c *controller, serverName string, roots *x509.CertPool) *http.Client {
	client := newHTTPClient(c.httpsPort, false)
	client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{
		ServerName:         serverName,
		RootCAs:            roots,
		InsecureSkipVerify: roots == nil, //nolint:gosec // tests inspect self-signed certificates
	}
	return client
}

// tlsCertFiles lists the certificate files of the controller and checks
// that each is readable by its owner only.
func tlsCertFiles(t testing.TB, c *controller) []string {
	t.Helper()
	dir := filepath.Join(c.configDir, "certs")
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
	assert.NotContains(t, string(c.mustStatusGet(t, "/debug/reloads")), "PRIVATE KEY", "/debug/reloads")
	conf, err := os.ReadFile(filepath.Join(c.configDir, "nginx.conf"))
	require.NoError(t, err)
	assert.NotContains(t, string(conf), "PRIVATE KEY", "nginx.conf")
	assert.NotContains(t, c.logs.String(), "PRIVATE KEY", "controller logs")
	ctx, cancel := apiContext()
	defer cancel()
	events, err := env.client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, ev := range events.Items {
		assert.NotContains(t, ev.Message, "PRIVATE KEY", "Event %s %s", ev.Reason, ev.Name)
	}
	// The key is in the certificate files, where nginx reads it.
	for _, name := range tlsCertFiles(t, c) {
		b, err := os.ReadFile(filepath.Join(c.configDir, "certs", name))
		require.NoError(t, err)
		assert.Contains(t, string(b), "PRIVATE KEY", "%s holds the certificate and its key", name)
	}
}
