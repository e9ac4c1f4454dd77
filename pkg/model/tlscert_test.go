package model_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// pair is a TLS Secret's data.
type pair struct{ cert, key []byte }

// newPair makes a self-signed pair for host valid until notAfter.
func newPair(t *testing.T, host string, notAfter time.Time) pair {
	t.Helper()
	c, k, err := certs.SelfSignedBetween([]string{host}, notAfter.Add(-365*24*time.Hour), notAfter)
	require.NoError(t, err)
	return pair{c, k}
}

// tlsSnapshot is one Ingress per namespace serving host "<ns>.example.com"
// with the TLS Secret "<ns>/tls" holding data (nil: no Secret).
func tlsSnapshot(secrets map[string]*corev1.Secret) *snapshot.Snapshot {
	snap := &snapshot.Snapshot{}
	class := "portico"
	prefix := networkingv1.PathTypePrefix
	for _, ns := range []string{"a", "b"} {
		host := ns + ".example.com"
		snap.Ingresses = append(snap.Ingresses, &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", UID: types.UID("ing-" + ns)},
			Spec: networkingv1.IngressSpec{
				IngressClassName: &class,
				TLS:              []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: "tls"}},
				Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
						Service: &networkingv1.IngressServiceBackend{Name: "app", Port: networkingv1.ServiceBackendPort{Number: 80}}}}},
				}}}},
			},
		})
		snap.Services = append(snap.Services, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}})
		if s := secrets[ns]; s != nil {
			snap.Secrets = append(snap.Secrets, s)
		}
	}
	return snap
}

func tlsSecret(ns, uid string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tls", UID: types.UID(uid)},
		Type: corev1.SecretTypeTLS, Data: data}
}

func pairData(p pair) map[string][]byte {
	return map[string][]byte{corev1.TLSCertKey: p.cert, corev1.TLSPrivateKeyKey: p.key}
}

// servedCert returns the certificate PEM of the file host's server presents,
// "default" for the default certificate.
func servedCert(t *testing.T, cfg *model.Config, host string) string {
	t.Helper()
	srv := findServer(cfg, host)
	require.NotNil(t, srv, host)
	require.NotNil(t, srv.TLS, host)
	if srv.TLS.CertificatePath == cfg.Global.DefaultCertificate {
		return "default"
	}
	for _, c := range cfg.Certificates {
		if c.Path == srv.TLS.CertificatePath {
			return string(c.PEM[:bytes.Index(c.PEM, []byte("-----END CERTIFICATE-----"))])
		}
	}
	t.Fatalf("%s: certificate file %s is not in the config", host, srv.TLS.CertificatePath)
	return ""
}

func certOf(p pair) string {
	return string(p.cert[:bytes.Index(p.cert, []byte("-----END CERTIFICATE-----"))])
}

// TestBadSecretUpdateKeepsLastAcceptedPair walks one Secret through good,
// bad in every way, good again, deleted and made again, each build taking
// the last one's certificates back as the controller does (from the live
// config). The other namespace's Secret, of the same name, stays as it is
// throughout: a tenant's bad Secret affects only its own hosts.
func TestBadSecretUpdateKeepsLastAcceptedPair(t *testing.T) {
	far := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	first, second, other := newPair(t, "a.example.com", far), newPair(t, "a.example.com", far), newPair(t, "b.example.com", far)
	steps := []struct {
		name string
		// a is the data of Secret a/tls (nil: deleted); uid its UID.
		a   map[string][]byte
		uid string
		// want is the certificate a.example.com presents.
		want string
		// reasons are the findings, on Ingress a/web.
		reasons []string
		message string
	}{
		{name: "good", a: pairData(first), uid: "s1", want: certOf(first)},
		{name: "key does not match", a: map[string][]byte{corev1.TLSCertKey: first.cert, corev1.TLSPrivateKeyKey: second.key}, uid: "s1",
			want: certOf(first), reasons: []string{model.ReasonInvalidSecretKeptLastGood}, message: "private key does not match public key; still serving its last accepted certificate (valid until 2030-01-01T00:00:00Z) for a.example.com"},
		{name: "garbage PEM", a: map[string][]byte{corev1.TLSCertKey: []byte("garbage"), corev1.TLSPrivateKeyKey: []byte("more garbage")}, uid: "s1",
			want: certOf(first), reasons: []string{model.ReasonInvalidSecretKeptLastGood}, message: "still serving its last accepted certificate"},
		{name: "no tls.key", a: map[string][]byte{corev1.TLSCertKey: first.cert}, uid: "s1",
			want: certOf(first), reasons: []string{model.ReasonInvalidSecretKeptLastGood}, message: `must hold "tls.crt" and "tls.key"`},
		{name: "good again, another pair", a: pairData(second), uid: "s1", want: certOf(second)},
		{name: "bad again keeps the newer pair", a: map[string][]byte{corev1.TLSCertKey: second.cert, corev1.TLSPrivateKeyKey: first.key}, uid: "s1",
			want: certOf(second), reasons: []string{model.ReasonInvalidSecretKeptLastGood}},
		{name: "deleted", uid: "s1", want: "default", reasons: []string{model.ReasonSecretNotFound}},
		{name: "made again, bad: never good", a: map[string][]byte{corev1.TLSCertKey: first.cert, corev1.TLSPrivateKeyKey: second.key}, uid: "s2",
			want: "default", reasons: []string{model.ReasonInvalidCertificate}},
		{name: "good", a: pairData(first), uid: "s2", want: certOf(first)},
	}
	otherSecret := tlsSecret("b", "o1", pairData(other))
	var last []model.Certificate
	for i, step := range steps {
		t.Run(fmt.Sprintf("%d %s", i, step.name), func(t *testing.T) {
			secrets := map[string]*corev1.Secret{"b": otherSecret}
			if step.a != nil {
				secrets["a"] = tlsSecret("a", step.uid, step.a)
			}
			opts := testOptions()
			opts.LastCertificates = last
			cfg, findings := model.Build(tlsSnapshot(secrets), opts)
			assert.Equal(t, step.want, servedCert(t, cfg, "a.example.com"))
			assert.Equal(t, certOf(other), servedCert(t, cfg, "b.example.com"), "the other namespace's host is untouched")
			var reasons []string
			for _, f := range findings {
				assert.Equal(t, "Ingress a/web", f.Object.String(), "findings only on the Secret's own Ingress: %v", f)
				assert.NotContains(t, f.Message, "PRIVATE KEY", "no key material in findings")
				reasons = append(reasons, f.Reason)
				if f.Reason == model.ReasonInvalidSecretKeptLastGood {
					assert.Equal(t, model.PartlyServed, f.Severity)
				}
			}
			assert.Equal(t, step.reasons, reasons, "findings: %v", findings)
			if step.message != "" && assert.NotEmpty(t, findings) {
				assert.Contains(t, findings[0].Message, step.message)
			}
			last = cfg.Certificates // what goes live
		})
	}
}

// TestLastPairIsPerNamespaceAndUID: a bad Secret never takes a pair of
// another namespace's Secret of the same name, nor one of an earlier
// object under its name.
func TestLastPairIsPerNamespaceAndUID(t *testing.T) {
	far := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	other := newPair(t, "b.example.com", far)
	secrets := map[string]*corev1.Secret{"b": tlsSecret("b", "o1", pairData(other))}
	cfg, _ := model.Build(tlsSnapshot(secrets), testOptions())

	secrets["a"] = tlsSecret("a", "s1", map[string][]byte{corev1.TLSCertKey: []byte("garbage"), corev1.TLSPrivateKeyKey: []byte("garbage")})
	opts := testOptions()
	opts.LastCertificates = cfg.Certificates
	next, findings := model.Build(tlsSnapshot(secrets), opts)
	assert.Equal(t, "default", servedCert(t, next, "a.example.com"), "b's pair is not a's")
	require.Len(t, findings, 1)
	assert.Equal(t, model.ReasonInvalidCertificate, findings[0].Reason)

	// Secret a/tls was good as object s1; s2 under the same name is another.
	mine := newPair(t, "a.example.com", far)
	secrets["a"] = tlsSecret("a", "s1", pairData(mine))
	good, _ := model.Build(tlsSnapshot(secrets), opts)
	secrets["a"] = tlsSecret("a", "s2", map[string][]byte{corev1.TLSCertKey: []byte("garbage"), corev1.TLSPrivateKeyKey: []byte("garbage")})
	opts.LastCertificates = good.Certificates
	again, _ := model.Build(tlsSnapshot(secrets), opts)
	assert.Equal(t, "default", servedCert(t, again, "a.example.com"), "a new object does not inherit the old one's pair")
}

// TestExpiredCertificateChoice: an expired certificate gives way to the
// Secret's last accepted pair while that one is valid, and is served with
// a CertificateExpired finding when there is nothing better; the choice
// and the findings follow Options.Now alone, and Config.RecheckAt says
// when they change next.
func TestExpiredCertificateChoice(t *testing.T) {
	jan, jun, dec := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	renewed, stale := newPair(t, "a.example.com", dec), newPair(t, "a.example.com", jan)
	other := tlsSecret("b", "o1", pairData(newPair(t, "b.example.com", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))))
	build := func(now time.Time, a pair, last []model.Certificate) (*model.Config, []model.Finding) {
		opts := testOptions()
		opts.Now, opts.CertificateExpiryWarning, opts.LastCertificates = now, 14*24*time.Hour, last
		return model.Build(tlsSnapshot(map[string]*corev1.Secret{"a": tlsSecret("a", "s1", pairData(a)), "b": other}), opts)
	}
	reasons := func(findings []model.Finding) []string {
		var out []string
		for _, f := range findings {
			out = append(out, f.Reason+" "+string(f.Severity))
		}
		return out
	}

	cfg, findings := build(jun, renewed, nil)
	assert.Empty(t, findings)
	assert.Equal(t, dec.Add(-14*24*time.Hour), cfg.RecheckAt, "next: the warning window of the renewed certificate")
	for _, c := range cfg.Certificates {
		if c.Secret == "a/tls" {
			assert.Equal(t, dec, c.NotAfter)
		}
	}

	// An update to an expired certificate: the last accepted one serves.
	next, findings := build(jun, stale, cfg.Certificates)
	assert.Equal(t, certOf(renewed), servedCert(t, next, "a.example.com"))
	assert.Equal(t, []string{"CertificateExpired PartlyServed"}, reasons(findings))
	assert.Contains(t, findings[0].Message, "its certificate expired at 2026-01-01T00:00:00Z; still serving its last accepted certificate (valid until 2026-12-01T00:00:00Z)")

	// Within the window of the kept one: it still serves, and is reported.
	late, findings := build(dec.Add(-time.Hour), stale, next.Certificates)
	assert.Equal(t, certOf(renewed), servedCert(t, late, "a.example.com"))
	assert.Equal(t, []string{"CertificateExpired PartlyServed", "CertificateExpiresSoon Served"}, reasons(findings))
	assert.Equal(t, dec, late.RecheckAt)

	// Both expired: nothing better, the Secret's own certificate serves, loudly.
	after, findings := build(dec.Add(time.Hour), stale, late.Certificates)
	assert.Equal(t, certOf(stale), servedCert(t, after, "a.example.com"))
	assert.Equal(t, []string{"CertificateExpired Served"}, reasons(findings))
	assert.Contains(t, findings[0].Message, "expired at 2026-01-01T00:00:00Z, and there is no valid one to serve instead")
	assert.True(t, after.RecheckAt.IsZero() || after.RecheckAt.After(dec.Add(time.Hour)))

	// Without a clock nothing is judged.
	_, findings = build(time.Time{}, stale, nil)
	assert.Empty(t, findings)
}

// TestUnitsFollowTheClock: a build that reuses units gives what a whole
// build gives as Now crosses a certificate's warning and expiry instants
// with no object changing.
func TestUnitsFollowTheClock(t *testing.T) {
	expires := time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)
	snap := tlsSnapshot(map[string]*corev1.Secret{
		"a": tlsSecret("a", "s1", pairData(newPair(t, "a.example.com", expires))),
		"b": tlsSecret("b", "o1", pairData(newPair(t, "b.example.com", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)))),
	})
	cache := model.NewUnitCache()
	for _, now := range []time.Time{
		expires.Add(-30 * 24 * time.Hour), expires.Add(-29 * 24 * time.Hour), // before the window, twice (a unit reused)
		expires.Add(-time.Hour), expires.Add(time.Hour), expires.Add(2 * time.Hour), expires.Add(-time.Hour),
	} {
		opts := testOptions()
		opts.Now, opts.CertificateExpiryWarning = now, 14*24*time.Hour
		whole, wholeFindings := model.Build(snap, opts)
		opts.Units = cache
		units, unitFindings := model.Build(snap, opts)
		require.False(t, cache.LastBuild().Whole, "built by units")
		assert.Equal(t, whole, units, "at %s", now)
		assert.Equal(t, wholeFindings, unitFindings, "at %s", now)
	}
}

// TestExpiredCertificateGivesWayToCoveringDefault: an expired certificate
// with nothing valid of its own gives way to the --default-ssl-certificate
// pair when that one is valid and made for the host (a wildcard); a
// default certificate for other names, or itself expired, is no better.
func TestExpiredCertificateGivesWayToCoveringDefault(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	far := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	stale := newPair(t, "a.example.com", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cases := []struct {
		name string
		// defaultPair is the data of portico/default-tls.
		defaultPair pair
		want        string // "default" or "stale"
		findings    []string
	}{
		{name: "wildcard default, valid", defaultPair: newPair(t, "*.example.com", far), want: "default",
			findings: []string{"Ingress a/web CertificateExpired PartlyServed"}},
		{name: "default for other names", defaultPair: newPair(t, "*.example.org", far), want: "stale",
			findings: []string{"Ingress a/web CertificateExpired Served"}},
		{name: "wildcard default, expired too", defaultPair: newPair(t, "*.example.com", now.Add(-time.Hour)), want: "stale",
			findings: []string{"Secret portico/default-tls CertificateExpired Served", "Ingress a/web CertificateExpired Served"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := tlsSnapshot(map[string]*corev1.Secret{
				"a": tlsSecret("a", "s1", pairData(stale)),
				"b": tlsSecret("b", "o1", pairData(newPair(t, "b.example.com", far))),
			})
			def := tlsSecret("portico", "d1", pairData(tc.defaultPair))
			def.Name = "default-tls"
			snap.Secrets = append(snap.Secrets, def)
			opts := testOptions()
			opts.Now, opts.DefaultSSLCertificate = now, "portico/default-tls"
			cfg, findings := model.Build(snap, opts)
			want := certOf(stale)
			if tc.want == "default" {
				want = "default"
			}
			assert.Equal(t, want, servedCert(t, cfg, "a.example.com"))
			var got []string
			for _, f := range findings {
				got = append(got, f.Object.String()+" "+f.Reason+" "+string(f.Severity))
			}
			assert.Equal(t, tc.findings, got, "%v", findings)
			if tc.want == "default" {
				assert.Contains(t, findings[0].Message, "serving the default certificate (--default-ssl-certificate portico/default-tls), which is valid for a.example.com until 2030-01-01T00:00:00Z, instead")
				for _, c := range cfg.Certificates {
					assert.NotEqual(t, "a/tls", c.Secret, "no file for a pair no server serves")
				}
			}

			// The same through cached units, as time passes.
			cache := model.NewUnitCache()
			opts.Units = cache
			for _, at := range []time.Time{now, now.Add(time.Hour), far.Add(time.Hour), now} {
				opts.Now = at
				whole, wf := model.Build(snap, withoutUnits(opts))
				units, uf := model.Build(snap, opts)
				assert.Equal(t, whole, units, "at %s", at)
				assert.Equal(t, wf, uf, "at %s", at)
			}
		})
	}
}

func withoutUnits(opts model.Options) model.Options {
	opts.Units = nil
	return opts
}
