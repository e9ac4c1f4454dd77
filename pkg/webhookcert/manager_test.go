package webhookcert

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/portico-ingress/portico/pkg/certs"
)

func TestNewRejectsBadOptions(t *testing.T) {
	e := newEnv(t, false)
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no client", func(o *Options) { o.Client = nil }, "Client is required"},
		{"no namespace", func(o *Options) { o.Namespace = "" }, "Namespace and SecretName"},
		{"no secret", func(o *Options) { o.SecretName = "" }, "Namespace and SecretName"},
		{"no names", func(o *Options) { o.DNSNames, o.IPAddresses = nil, nil }, "at least one DNS name or IP"},
		{"empty name", func(o *Options) { o.DNSNames = []string{""} }, "empty DNS name"},
		{"bad IP", func(o *Options) { o.IPAddresses = []net.IP{{1, 2}} }, "invalid IP"},
		{"negative", func(o *Options) { o.CAValidity = -time.Hour }, "negative"},
		{"serving outlives CA", func(o *Options) { o.ServingValidity = 6 * year }, "longer than CAValidity"},
		{"interval misses the window", func(o *Options) { o.ServingValidity, o.CheckInterval = 24*time.Hour, 8*time.Hour }, "under a third"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(e.options(tt.change))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	m := e.manager(func(o *Options) { o.CAValidity, o.ServingValidity, o.CheckInterval, o.Now = 0, 0, 0, nil })
	assert.Equal(t, DefaultCAValidity, m.o.CAValidity)
	assert.Equal(t, DefaultServingValidity, m.o.ServingValidity)
	assert.Equal(t, DefaultCheckInterval, m.o.CheckInterval)
}

func TestFirstEnsureCreatesSecretAndPatchesEveryWebhook(t *testing.T) {
	e := newEnv(t, false)
	m := e.manager()

	_, err := m.GetCertificate(nil)
	require.EqualError(t, err, "no serving certificate yet")
	require.Error(t, m.Ready())

	e.ensure(m)
	require.NoError(t, m.Ready())

	s := e.secret()
	assert.Equal(t, corev1.SecretTypeTLS, s.Type)
	for _, k := range []string{"tls.crt", "tls.key", "ca.crt", "ca.key"} {
		assert.NotEmpty(t, s.Data[k], k)
	}
	assert.NotContains(t, s.Data, "ca-previous.crt")

	caCert, err := parseCert(s.Data["ca.crt"])
	require.NoError(t, err)
	assert.True(t, caCert.IsCA)
	assert.NotZero(t, caCert.KeyUsage&x509.KeyUsageCertSign)
	assert.Equal(t, "portico-admission-ca", caCert.Subject.CommonName)
	assert.WithinDuration(t, e.t0.Add(DefaultCAValidity), caCert.NotAfter, time.Second)

	leaf, err := parseCert(s.Data["tls.crt"])
	require.NoError(t, err)
	assert.Equal(t, testDNSNames, leaf.DNSNames)
	require.Len(t, leaf.IPAddresses, 1)
	assert.Equal(t, "10.96.0.42", leaf.IPAddresses[0].String())
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, leaf.ExtKeyUsage)
	assert.WithinDuration(t, e.t0.Add(DefaultServingValidity), leaf.NotAfter, time.Second)
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	require.True(t, ok, "serving key is ECDSA")
	assert.Equal(t, elliptic.P256(), pub.Curve)
	assert.NotEqual(t, leaf.SerialNumber, caCert.SerialNumber)

	assert.Equal(t, leaf.Raw, served(t, m.GetCertificate), "serves what the Secret holds")
	for i, b := range e.bundles() {
		assert.Equal(t, s.Data["ca.crt"], b, "webhook %d caBundle", i)
	}
	assert.Equal(t, 1, e.count("update", "validatingwebhookconfigurations"), "both webhooks in one write")

	for _, name := range testDNSNames {
		assert.NoError(t, handshake(t, m.GetCertificate, e.bundle(), name, e.clock.Now()), name)
	}
	assert.Error(t, handshake(t, m.GetCertificate, e.bundle(), "other.portico.svc", e.clock.Now()), "a name not in the SANs")
}

func TestReplicaReusesTheSecret(t *testing.T) {
	e := newEnv(t, false)
	first := e.manager()
	e.ensure(first)
	writes := e.count("update", "validatingwebhookconfigurations")

	replica := e.manager()
	e.ensure(replica)
	assert.Equal(t, served(t, first.GetCertificate), served(t, replica.GetCertificate))
	assert.Equal(t, writes, e.count("update", "validatingwebhookconfigurations"), "caBundle already right: no patch")
	assert.Zero(t, e.count("update", "secrets"), "Secret already right: no write")

	// Both pass again later: still nothing written.
	e.at(time.Hour)
	e.ensure(first)
	e.ensure(replica)
	assert.Zero(t, e.count("update", "secrets"))
	assert.Equal(t, writes, e.count("update", "validatingwebhookconfigurations"))
}

func TestReplicasRacingToCreateUseOneSecret(t *testing.T) {
	e := newEnv(t, false)
	first := e.manager()
	e.ensure(first)
	// The replica read before first created: its create gets AlreadyExists.
	e.failOnce("get", "secrets", apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, testSecret))
	replica := e.manager()
	e.ensure(replica)
	assert.Equal(t, 2, e.count("create", "secrets"))
	assert.Equal(t, served(t, first.GetCertificate), served(t, replica.GetCertificate))
}

func TestUpdateConflictRereadsAndRetries(t *testing.T) {
	e := newEnv(t, false)
	m := e.manager()
	e.ensure(m)
	before := served(t, m.GetCertificate)

	e.at(300 * 24 * time.Hour)
	e.failOnce("update", "secrets", apierrors.NewConflict(schema.GroupResource{Resource: "secrets"}, testSecret, nil))
	e.ensure(m)
	assert.Equal(t, 2, e.count("update", "secrets"), "one conflict, one write")
	assert.NotEqual(t, before, served(t, m.GetCertificate))
	assert.Equal(t, e.secret().Data["tls.crt"], encodeCert(mustLeaf(t, m)))
}

func TestServingRenewal(t *testing.T) {
	tests := []struct {
		name    string
		at      time.Duration
		renewed bool
	}{
		{"over a third left", 240 * 24 * time.Hour, false},
		{"under a third left", 250 * 24 * time.Hour, true},
		{"expired", 400 * 24 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false)
			m := e.manager()
			e.ensure(m)
			before := e.secret().Data

			e.at(tt.at)
			e.ensure(m)
			after := e.secret().Data
			assert.Equal(t, before["ca.crt"], after["ca.crt"], "CA kept")
			assert.Equal(t, before["ca.key"], after["ca.key"], "CA kept")
			assert.NotContains(t, after, "ca-previous.crt")
			assert.Equal(t, tt.renewed, string(before["tls.crt"]) != string(after["tls.crt"]))
			assert.Equal(t, after["tls.crt"], encodeCert(mustLeaf(t, m)), "serves the Secret's pair")
			assert.Equal(t, after["ca.crt"], e.bundle())
			require.NoError(t, handshake(t, m.GetCertificate, e.bundle(), testDNSNames[0], e.clock.Now()))
			if tt.renewed {
				assert.Contains(t, e.logs.String(), "under a third of its validity left: reissued")
			}
		})
	}
}

// TestCARotation follows a CA through its rotation. What holds: right after
// the rotation the bundle has both CAs and the serving certificate is still
// the one the old CA signed, so an API server that has only the old bundle
// (its view of the webhook configuration lags) still completes the
// handshake; the next serving renewal is signed by the new CA, which every
// API server has trusted for months by then, and a client holding only the
// old bundle is rejected from then on; once the old CA expires it leaves
// the bundle.
func TestCARotation(t *testing.T) {
	e := newEnv(t, false)
	m := e.manager()
	e.ensure(m)
	oldCA := e.secret().Data["ca.crt"]
	oldBundle := e.bundle()
	oldCACert, err := parseCert(oldCA)
	require.NoError(t, err)

	// Three years on the CA is fine and the serving certificate is renewed
	// under it, valid until 4y.
	e.at(3 * year)
	e.ensure(m)
	assert.Equal(t, oldCA, e.secret().Data["ca.crt"])
	servingBefore := served(t, m.GetCertificate)

	// 3.4y: under a third of the CA's five years left.
	e.at(3*year + 146*24*time.Hour)
	e.ensure(m)
	d := e.secret().Data
	assert.NotEqual(t, oldCA, d["ca.crt"], "CA rotated")
	assert.Equal(t, oldCA, d["ca-previous.crt"], "old CA kept as ca-previous.crt")
	cas := pemCerts(t, e.bundle())
	require.Len(t, cas, 2, "bundle has the new and the old CA")
	assert.Equal(t, d["ca.crt"], encodeCert(cas[0]), "new CA first")
	assert.Equal(t, oldCACert.Raw, cas[1].Raw)
	assert.Equal(t, servingBefore, served(t, m.GetCertificate), "serving certificate kept for now")
	assert.NoError(t, handshake(t, m.GetCertificate, oldBundle, testDNSNames[0], e.clock.Now()), "old bundle still works")
	assert.NoError(t, handshake(t, m.GetCertificate, e.bundle(), testDNSNames[0], e.clock.Now()))

	// A replica starting now agrees and does not rotate again.
	replica := e.manager()
	e.ensure(replica)
	assert.Equal(t, d, e.secret().Data)
	assert.Equal(t, servingBefore, served(t, replica.GetCertificate))

	// 3.75y: the serving certificate is due and comes from the new CA.
	e.at(3*year + 270*24*time.Hour)
	e.ensure(m)
	d2 := e.secret().Data
	assert.Equal(t, d["ca.crt"], d2["ca.crt"])
	assert.NotEqual(t, servingBefore, served(t, m.GetCertificate))
	newCACert, err := parseCert(d2["ca.crt"])
	require.NoError(t, err)
	assert.True(t, signedBy(mustLeaf(t, m), newCACert, e.clock.Now()))
	assert.Len(t, pemCerts(t, e.bundle()), 2, "old CA stays until it expires")
	assert.NoError(t, handshake(t, m.GetCertificate, e.bundle(), testDNSNames[0], e.clock.Now()))
	assert.Error(t, handshake(t, m.GetCertificate, oldBundle, testDNSNames[0], e.clock.Now()), "old bundle alone no longer trusts the server")

	// After the old CA expired: it leaves the bundle and the Secret.
	e.at(5*year + 24*time.Hour)
	e.ensure(m)
	assert.NotContains(t, e.secret().Data, "ca-previous.crt")
	assert.Len(t, pemCerts(t, e.bundle()), 1)
	assert.NoError(t, handshake(t, m.GetCertificate, e.bundle(), testDNSNames[0], e.clock.Now()))
}

func TestExpiredCAIsReplacedWithoutPrevious(t *testing.T) {
	e := newEnv(t, false)
	m := e.manager()
	e.ensure(m)
	e.at(6 * year)
	e.ensure(m)
	assert.NotContains(t, e.secret().Data, "ca-previous.crt", "an expired CA is trusted by no one")
	assert.Len(t, pemCerts(t, e.bundle()), 1)
	require.NoError(t, handshake(t, m.GetCertificate, e.bundle(), testDNSNames[0], e.clock.Now()))
}

func TestCorruptSecretIsReplaced(t *testing.T) {
	_, otherKey, err := certs.SelfSignedFor(testDNSNames, year)
	require.NoError(t, err)
	otherCA, err := newCA(time.Now(), year)
	require.NoError(t, err)
	_, otherCert, otherServingKey, err := otherCA.issue(time.Now(), year, testDNSNames, []net.IP{net.ParseIP("10.96.0.42")})
	require.NoError(t, err)
	tests := []struct {
		name    string
		corrupt func(d map[string][]byte)
		keepsCA bool
		why     string
		// keepsPrevious: the old ca.crt still reads, so it stays trusted.
		keepsPrevious bool
	}{
		{"serving certificate garbage", func(d map[string][]byte) { d["tls.crt"] = []byte("garbage") }, true, "serving pair unusable", false},
		{"serving key missing", func(d map[string][]byte) { delete(d, "tls.key") }, true, "serving pair unusable", false},
		{"serving key of another pair", func(d map[string][]byte) { d["tls.key"] = otherKey }, true, "does not belong to the certificate", false},
		{"serving pair from another issuer", func(d map[string][]byte) { d["tls.crt"], d["tls.key"] = otherCert, otherServingKey }, true, "does not verify against the CA", false},
		{"serving key is a certificate", func(d map[string][]byte) { d["tls.key"] = d["tls.crt"] }, true, "serving pair unusable", false},
		{"CA certificate garbage", func(d map[string][]byte) {
			d["ca.crt"] = []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
		}, false, "CA unusable", false},
		{"CA key of another CA", func(d map[string][]byte) { d["ca.key"] = otherKey }, false, "ca.key does not belong to ca.crt", true},
		{"CA is not a CA", func(d map[string][]byte) { d["ca.crt"], d["ca.key"] = d["tls.crt"], d["tls.key"] }, false, "ca.crt is not a CA", false},
		{"empty", func(d map[string][]byte) { clear(d) }, false, "CA unusable", false},
		{"previous CA garbage", func(d map[string][]byte) { d["ca-previous.crt"] = []byte("garbage") }, true, "ca-previous.crt unusable: dropped", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false)
			e.ensure(e.manager())
			before := e.secret().Data
			d := e.secret().Data
			tt.corrupt(d)
			e.putSecretData(d)

			m := e.manager()
			e.ensure(m)
			after := e.secret().Data
			assert.Equal(t, tt.keepsCA, string(before["ca.crt"]) == string(after["ca.crt"]), "CA kept")
			if tt.keepsPrevious {
				assert.Equal(t, before["ca.crt"], after["ca-previous.crt"])
				assert.Len(t, pemCerts(t, e.bundle()), 2)
			} else {
				assert.NotContains(t, after, "ca-previous.crt")
				assert.Equal(t, after["ca.crt"], e.bundle())
			}
			c, err := parseCA(after)
			require.NoError(t, err)
			pair, err := parseServing(after)
			require.NoError(t, err)
			assert.True(t, signedBy(pair.Leaf, c.cert, e.clock.Now()))
			assert.Equal(t, after["tls.crt"], encodeCert(mustLeaf(t, m)))
			assert.NoError(t, handshake(t, m.GetCertificate, e.bundle(), testDNSNames[0], e.clock.Now()))
			logs := e.logs.String()
			assert.Contains(t, logs, "level=WARN")
			assert.Contains(t, logs, tt.why)
		})
	}
}

func TestSecretOfTheWrongTypeIsAnError(t *testing.T) {
	e := newEnv(t, false)
	_, err := e.client.CoreV1().Secrets(testNamespace).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: testSecret},
		Type:       corev1.SecretTypeOpaque,
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	err = e.manager().Ensure(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `has type "Opaque", want "kubernetes.io/tls"`)
}

func TestChangedNamesReissue(t *testing.T) {
	tests := []struct {
		name     string
		dnsNames []string
		ips      []net.IP
		reissued bool
	}{
		{"same", testDNSNames, []net.IP{net.ParseIP("10.96.0.42")}, false},
		{"same in another order", []string{testDNSNames[1], testDNSNames[0]}, []net.IP{net.IPv4(10, 96, 0, 42).To4()}, false},
		{"name added", append([]string{"portico-admission"}, testDNSNames...), []net.IP{net.ParseIP("10.96.0.42")}, true},
		{"name removed", testDNSNames[:1], []net.IP{net.ParseIP("10.96.0.42")}, true},
		{"IP changed", testDNSNames, []net.IP{net.ParseIP("10.96.0.43")}, true},
		{"IP removed", testDNSNames, nil, true},
		{"IPs only", nil, []net.IP{net.ParseIP("10.96.0.42"), net.ParseIP("fd00::42")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false)
			e.ensure(e.manager())
			before := e.secret().Data

			m := e.manager(func(o *Options) { o.DNSNames, o.IPAddresses = tt.dnsNames, tt.ips })
			e.ensure(m)
			after := e.secret().Data
			assert.Equal(t, before["ca.crt"], after["ca.crt"], "CA kept")
			assert.Equal(t, tt.reissued, string(before["tls.crt"]) != string(after["tls.crt"]))
			leaf := mustLeaf(t, m)
			assert.True(t, sameNames(leaf, tt.dnsNames, tt.ips))
			for _, name := range tt.dnsNames {
				assert.NoError(t, handshake(t, m.GetCertificate, e.bundle(), name, e.clock.Now()), name)
			}
			for _, ip := range tt.ips {
				assert.NoError(t, handshake(t, m.GetCertificate, e.bundle(), ip.String(), e.clock.Now()), ip.String())
			}
		})
	}
}

func TestMissingWebhookConfiguration(t *testing.T) {
	e := newEnv(t, true)
	m := e.manager()
	err := m.Ensure(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ValidatingWebhookConfiguration portico-admission not found: apply deploy/ or the chart")
	assert.True(t, apierrors.IsNotFound(err), "the API's error is wrapped")
	// The pair is good whatever the configuration: it is served.
	assert.NotNil(t, mustLeaf(t, m))
	assert.NoError(t, m.Ready())
}

func TestNoWebhookNameLeavesConfigurationsAlone(t *testing.T) {
	e := newEnv(t, false)
	m := e.manager(func(o *Options) { o.WebhookName = "" })
	e.ensure(m)
	assert.Zero(t, e.count("get", "validatingwebhookconfigurations"))
	for _, b := range e.bundles() {
		assert.Empty(t, b)
	}
}

func TestWebhookPatchConflictRetries(t *testing.T) {
	e := newEnv(t, false)
	e.failOnce("update", "validatingwebhookconfigurations",
		apierrors.NewConflict(schema.GroupResource{Resource: "validatingwebhookconfigurations"}, testWebhook, nil))
	m := e.manager()
	e.ensure(m)
	assert.Equal(t, 2, e.count("update", "validatingwebhookconfigurations"))
	assert.Equal(t, e.secret().Data["ca.crt"], e.bundle())
}

func TestRunRetriesUntilTheConfigurationExists(t *testing.T) {
	e := newEnv(t, true)
	m := e.manager(func(o *Options) { o.CheckInterval = 20 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	require.Eventually(t, func() bool { return strings.Contains(e.logs.String(), "webhook certificate check failed") },
		5*time.Second, 10*time.Millisecond)
	_, err := e.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, webhookConfiguration(), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		w, err := e.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, testWebhook, metav1.GetOptions{})
		return err == nil && len(w.Webhooks[0].ClientConfig.CABundle) > 0
	}, 5*time.Second, 10*time.Millisecond)
	assert.NoError(t, m.Ready())

	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestReadyReportsWhy(t *testing.T) {
	e := newEnv(t, false)
	e.failOnce("get", "secrets", apierrors.NewServiceUnavailable("etcd is down"))
	m := e.manager()
	require.Error(t, m.Ensure(context.Background()))
	err := m.Ready()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no serving certificate yet: ")
	assert.Contains(t, err.Error(), "etcd is down")

	e.ensure(m)
	require.NoError(t, m.Ready())
	e.at(2 * year) // no pass since: the pair served has expired
	assert.ErrorContains(t, m.Ready(), "serving certificate expired at")
}

func mustLeaf(t *testing.T, m *Manager) *x509.Certificate {
	t.Helper()
	c, err := m.GetCertificate(nil)
	require.NoError(t, err)
	require.NotNil(t, c.Leaf)
	return c.Leaf
}
