package controller

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// latestFindings keeps the findings of the last build.
type latestFindings struct {
	mu   sync.Mutex
	last []model.Finding
}

func (l *latestFindings) Findings(f []model.Finding) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = f
}

func (l *latestFindings) reasons() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, f := range l.last {
		out = append(out, f.Reason)
	}
	return out
}

const tlsIngress = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: a}
spec:
  ingressClassName: portico
  tls: [{hosts: [a.example.com], secretName: a-tls}]
  rules:
  - host: a.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}
---
apiVersion: v1
kind: Service
metadata: {name: app}
spec: {ports: [{port: 80}]}
`

// setTLS sets the source's snapshot to tlsIngress with Secret a-tls
// holding cert and key.
func (f *fakeSource) setTLS(t *testing.T, cert, key []byte) {
	t.Helper()
	snap, err := fixture.Parse([]byte(tlsIngress))
	require.NoError(t, err)
	snap.Secrets = append(snap.Secrets, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "a-tls"},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: cert, corev1.TLSPrivateKeyKey: key}})
	f.mu.Lock()
	f.snap = snap
	f.mu.Unlock()
}

// certFile returns the certificate file of Secret a-tls among the files written.
func (f *fakeNginx) certFile(t *testing.T) (path string, content []byte) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, file := range f.files {
		if bytes.Contains([]byte(file.Path), []byte("default_a-tls-")) {
			assert.Equal(t, 0o600, int(file.Mode), "key files are 0600")
			return file.Path, file.Content
		}
	}
	t.Fatal("no certificate file for Secret a-tls was written")
	return "", nil
}

// TestSyncKeepsLastAcceptedKeyPair: the controller hands the live config's
// certificates back to the model, so a Secret updated with a key that does
// not match keeps its pair live, with the finding; a good update then goes
// live.
func TestSyncKeepsLastAcceptedKeyPair(t *testing.T) {
	src, ngx, rec, found := &fakeSource{}, &fakeNginx{}, &events{}, &latestFindings{}
	started := 0
	c := newTestController(t, src, ngx, rec, &started)
	c.opts.Findings = found
	ctx := context.Background()

	goodCert, goodKey, err := certs.SelfSignedFor([]string{"a.example.com"}, 24*time.Hour)
	require.NoError(t, err)
	_, otherKey, err := certs.SelfSignedFor([]string{"a.example.com"}, 24*time.Hour)
	require.NoError(t, err)
	newCert, newKey, err := certs.SelfSignedFor([]string{"a.example.com"}, 48*time.Hour)
	require.NoError(t, err)

	src.setTLS(t, goodCert, goodKey)
	require.NoError(t, c.Sync(ctx))
	livePath, liveContent := ngx.certFile(t)
	assert.True(t, bytes.HasPrefix(liveContent, goodCert[:64]))
	assert.Empty(t, found.reasons())

	src.setTLS(t, goodCert, otherKey)
	require.NoError(t, c.Sync(ctx))
	assert.Equal(t, []string{model.ReasonInvalidSecretKeptLastGood}, found.reasons())
	assert.Len(t, rec.list(), 1, "the live config stays as it is: no reload")
	assert.Contains(t, string(c.LiveConfig()), livePath)

	src.setTLS(t, newCert, newKey)
	require.NoError(t, c.Sync(ctx))
	assert.Empty(t, found.reasons())
	path, content := ngx.certFile(t)
	assert.NotEqual(t, livePath, path)
	assert.True(t, bytes.HasPrefix(content, newCert[:64]))
	assert.Contains(t, string(c.LiveConfig()), path)
}

// TestCertificateWarningWithoutChange: with no object changing, the
// controller builds again when a certificate enters its warning window
// (Config.RecheckAt), and the finding appears. The controller's clock is
// set 300 ms before the certificate's warning instant, which then comes
// after the first build with nothing else triggering a sync.
func TestCertificateWarningWithoutChange(t *testing.T) {
	src, ngx, rec, found := &fakeSource{}, &fakeNginx{}, &events{}, &latestFindings{}
	started := 0
	notAfter := time.Now().Add(30 * 24 * time.Hour)
	cert, key, err := certs.SelfSignedBetween([]string{"a.example.com"}, time.Now().Add(-time.Hour), notAfter)
	require.NoError(t, err)
	src.setTLS(t, cert, key)
	c := newTestController(t, src, ngx, rec, &started)
	c.opts.Findings = found
	c.opts.Model.CertificateExpiryWarning = 14 * 24 * time.Hour
	// X.509 keeps whole seconds: the instant is the parsed NotAfter's.
	block, _ := pem.Decode(cert)
	leaf, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	skew := time.Until(leaf.NotAfter.Add(-14*24*time.Hour)) - 300*time.Millisecond
	c.now = func() time.Time { return time.Now().Add(skew) }

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	require.Eventually(t, func() bool { return c.Ready() == nil }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		r := found.reasons()
		return len(r) == 1 && r[0] == model.ReasonCertificateExpiresSoon
	}, 10*time.Second, 20*time.Millisecond, "the warning comes by itself: %v", found.reasons())
}
