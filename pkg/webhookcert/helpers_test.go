package webhookcert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const (
	testNamespace = "portico"
	testSecret    = "portico-admission-cert"
	testWebhook   = "portico-admission"
	year          = 365 * 24 * time.Hour
)

var testDNSNames = []string{"portico-admission.portico.svc", "portico-admission.portico.svc.cluster.local"}

// clock is a settable Now for the Manager and the TLS client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// syncBuffer is a log sink safe for Run's goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is one fake cluster, a clock, and the log every Manager writes to.
type env struct {
	t      *testing.T
	client *fake.Clientset
	clock  *clock
	t0     time.Time
	logs   *syncBuffer
	log    *slog.Logger
}

// newEnv makes a cluster holding the webhook configuration (two webhooks)
// unless withoutWebhook, and checks at the end that no log line carried
// key material or a PEM block.
func newEnv(t *testing.T, withoutWebhook bool) *env {
	t.Helper()
	var objs []runtime.Object
	if !withoutWebhook {
		objs = append(objs, webhookConfiguration())
	}
	t0 := time.Now().Truncate(time.Second)
	e := &env{t: t, client: fake.NewClientset(objs...), clock: &clock{t: t0}, t0: t0, logs: &syncBuffer{}}
	e.log = slog.New(slog.NewTextHandler(io.MultiWriter(e.logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		out := e.logs.String()
		for _, bad := range []string{"PRIVATE KEY", "CERTIFICATE-----", "BEGIN", "END "} {
			if strings.Contains(out, bad) {
				t.Errorf("log contains %q", bad)
			}
		}
	})
	return e
}

// testWriter shows the log in verbose runs.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func webhookConfiguration() *admissionv1.ValidatingWebhookConfiguration {
	hook := func(name string) admissionv1.ValidatingWebhook {
		path := "/validate"
		return admissionv1.ValidatingWebhook{
			Name: name,
			ClientConfig: admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{
				Namespace: testNamespace, Name: "portico-admission", Path: &path,
			}},
		}
	}
	return &admissionv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: testWebhook},
		Webhooks:   []admissionv1.ValidatingWebhook{hook("ingresses.portico.io"), hook("configmaps.portico.io")},
	}
}

// options are the Manager's options in e; change returns changes them.
func (e *env) options(change ...func(*Options)) Options {
	o := Options{
		Client:      e.client,
		Namespace:   testNamespace,
		SecretName:  testSecret,
		WebhookName: testWebhook,
		DNSNames:    testDNSNames,
		IPAddresses: []net.IP{net.ParseIP("10.96.0.42")},
		Now:         e.clock.Now,
		Logger:      e.log,
	}
	for _, c := range change {
		c(&o)
	}
	return o
}

func (e *env) manager(change ...func(*Options)) *Manager {
	e.t.Helper()
	m, err := New(e.options(change...))
	require.NoError(e.t, err)
	return m
}

// ensure runs a pass that must succeed.
func (e *env) ensure(m *Manager) {
	e.t.Helper()
	require.NoError(e.t, m.Ensure(context.Background()))
}

// at sets the clock to t0 plus d.
func (e *env) at(d time.Duration) { e.clock.Set(e.t0.Add(d)) }

func (e *env) secret() *corev1.Secret {
	e.t.Helper()
	s, err := e.client.CoreV1().Secrets(testNamespace).Get(context.Background(), testSecret, metav1.GetOptions{})
	require.NoError(e.t, err)
	return s
}

func (e *env) putSecretData(d map[string][]byte) {
	e.t.Helper()
	s := e.secret()
	s.Data = d
	_, err := e.client.CoreV1().Secrets(testNamespace).Update(context.Background(), s, metav1.UpdateOptions{})
	require.NoError(e.t, err)
}

// bundles returns every webhook's caBundle.
func (e *env) bundles() [][]byte {
	e.t.Helper()
	w, err := e.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(context.Background(), testWebhook, metav1.GetOptions{})
	require.NoError(e.t, err)
	var out [][]byte
	for _, h := range w.Webhooks {
		out = append(out, h.ClientConfig.CABundle)
	}
	return out
}

// bundle returns the caBundle, checking that every webhook has the same.
func (e *env) bundle() []byte {
	e.t.Helper()
	all := e.bundles()
	require.NotEmpty(e.t, all)
	for _, b := range all[1:] {
		require.Equal(e.t, all[0], b, "webhooks disagree on caBundle")
	}
	return all[0]
}

// count counts the client's actions with this verb on this resource.
func (e *env) count(verb, resource string) int {
	n := 0
	for _, a := range e.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource {
			n++
		}
	}
	return n
}

// failOnce makes the first verb on resource fail with err.
func (e *env) failOnce(verb, resource string, err error) {
	var once sync.Once
	e.client.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		handled := false
		once.Do(func() { handled = true })
		if handled {
			return true, nil, err
		}
		return false, nil, nil
	})
}

// served returns the DER of the certificate m serves.
func served(t *testing.T, get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) []byte {
	t.Helper()
	c, err := get(&tls.ClientHelloInfo{})
	require.NoError(t, err)
	require.NotNil(t, c.Leaf, "Leaf must be set")
	return c.Certificate[0]
}

// handshake runs a real TLS handshake over loopback TCP between a server
// using get and a client trusting only bundle, both at now.
func handshake(t *testing.T, get func(*tls.ClientHelloInfo) (*tls.Certificate, error), bundle []byte, serverName string, now time.Time) error {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(bundle), "bundle has no certificate")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	clock := func() time.Time { return now }
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		done <- tls.Server(conn, &tls.Config{GetCertificate: get, Time: clock}).Handshake()
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	cli := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: serverName, Time: clock})
	err = cli.Handshake()
	conn.Close()
	<-done
	return err
}

// pemCerts parses every certificate of a bundle.
func pemCerts(t *testing.T, b []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return out
		}
		c, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err)
		out = append(out, c)
	}
}
