// Package webhookcert provides the serving certificate of the admission
// webhook: either made and rotated by the controller itself (Manager, kept
// in a Secret shared by every replica, with the CA injected into the
// ValidatingWebhookConfiguration), or read from files that cert-manager
// keeps up to date (FileSource). Key material stays in memory and in the
// Secret; this package writes no files and logs only names, dates and
// fingerprints.
package webhookcert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/portico-ingress/portico/pkg/certs"
)

// Defaults for the zero values of Options.
const (
	// DefaultCAValidity is the CA's lifetime: five years.
	DefaultCAValidity = 5 * 365 * 24 * time.Hour
	// DefaultServingValidity is the serving certificate's lifetime: a year.
	DefaultServingValidity = 365 * 24 * time.Hour
	// DefaultCheckInterval is how often Run checks the Secret.
	DefaultCheckInterval = time.Hour
)

// Options configures a Manager.
type Options struct {
	// Client talks to the API server; it needs get/create/update on the
	// Secret and get/update on the ValidatingWebhookConfiguration.
	Client kubernetes.Interface
	// Namespace and SecretName name the kubernetes.io/tls Secret that holds
	// the pair and the CA, shared by every replica.
	Namespace, SecretName string
	// WebhookName is the ValidatingWebhookConfiguration whose every
	// webhook's clientConfig.caBundle is kept equal to the CA bundle; ""
	// leaves webhook configurations alone.
	WebhookName string
	// DNSNames and IPAddresses are the serving certificate's SANs (the
	// webhook Service's names); at least one is needed.
	DNSNames    []string
	IPAddresses []net.IP
	// CAValidity is the CA's lifetime (DefaultCAValidity when 0).
	CAValidity time.Duration
	// ServingValidity is the serving certificate's lifetime
	// (DefaultServingValidity when 0); at most CAValidity.
	ServingValidity time.Duration
	// CheckInterval is how often Run checks the Secret
	// (DefaultCheckInterval when 0); under a third of ServingValidity.
	CheckInterval time.Duration
	// Now is the clock certificates are judged by (time.Now when nil).
	Now func() time.Time
	// Logger receives what the Manager does and why (discarded when nil).
	Logger *slog.Logger
}

// Manager keeps the webhook's serving certificate, its CA and the webhook
// configuration's caBundle right, and serves the latest pair.
type Manager struct {
	o   Options
	log *slog.Logger

	// mu makes passes of Ensure one at a time, so that one replica never
	// races itself on the Secret.
	mu sync.Mutex
	// cert is the pair served now; nil until the first pass read one.
	cert atomic.Pointer[tls.Certificate]

	errMu   sync.Mutex
	lastErr error // the last pass's error, for Ready before any pair exists
}

// New checks o, fills in defaults and returns a Manager that has no
// certificate until Ensure or Run made a pass.
func New(o Options) (*Manager, error) {
	if o.Client == nil {
		return nil, errors.New("webhookcert: Client is required")
	}
	if o.Namespace == "" || o.SecretName == "" {
		return nil, errors.New("webhookcert: Namespace and SecretName are required")
	}
	if len(o.DNSNames) == 0 && len(o.IPAddresses) == 0 {
		return nil, errors.New("webhookcert: at least one DNS name or IP address is required")
	}
	if slices.Contains(o.DNSNames, "") {
		return nil, errors.New("webhookcert: empty DNS name")
	}
	for _, ip := range o.IPAddresses {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			return nil, fmt.Errorf("webhookcert: invalid IP address %v", ip)
		}
	}
	if o.CAValidity < 0 || o.ServingValidity < 0 || o.CheckInterval < 0 {
		return nil, errors.New("webhookcert: durations must not be negative")
	}
	if o.CAValidity == 0 {
		o.CAValidity = DefaultCAValidity
	}
	if o.ServingValidity == 0 {
		o.ServingValidity = DefaultServingValidity
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = DefaultCheckInterval
	}
	if o.ServingValidity > o.CAValidity {
		return nil, fmt.Errorf("webhookcert: ServingValidity %s is longer than CAValidity %s", o.ServingValidity, o.CAValidity)
	}
	// A check must fall inside the renewal window (the last third), or a
	// certificate could expire between two checks.
	if o.CheckInterval >= o.ServingValidity/3 {
		return nil, fmt.Errorf("webhookcert: CheckInterval %s must be under a third of ServingValidity %s", o.CheckInterval, o.ServingValidity)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Copies: the caller's slices must not change what we compare against.
	o.DNSNames = slices.Clone(o.DNSNames)
	o.IPAddresses = slices.Clone(o.IPAddresses)
	return &Manager{o: o, log: log.With("secret", o.Namespace+"/"+o.SecretName)}, nil
}

// GetCertificate returns the latest serving pair (Leaf set), for
// tls.Config.GetCertificate.
func (m *Manager) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := m.cert.Load()
	if c == nil {
		return nil, errors.New("no serving certificate yet")
	}
	return c, nil
}

// Ready returns nil while a pair is loaded and not expired. A failed pass
// after that (API server unreachable, webhook configuration missing) does
// not make it fail: the pair served is still good, and readiness of the
// controller's Pod must not turn on the webhook's configuration.
func (m *Manager) Ready() error {
	c := m.cert.Load()
	if c == nil {
		m.errMu.Lock()
		err := m.lastErr
		m.errMu.Unlock()
		if err != nil {
			return fmt.Errorf("no serving certificate yet: %w", err)
		}
		return errors.New("no serving certificate yet")
	}
	if now := m.o.Now(); !now.Before(c.Leaf.NotAfter) {
		return fmt.Errorf("serving certificate expired at %s", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// Run makes a pass at once and then every CheckInterval until ctx ends. A
// failed pass is logged and tried again sooner, with a backoff doubling
// from a second up to CheckInterval; it never stops Run.
func (m *Manager) Run(ctx context.Context) error {
	first := min(time.Second, m.o.CheckInterval)
	delay := first
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		next := m.o.CheckInterval
		if err := m.Ensure(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			next = min(delay, m.o.CheckInterval)
			delay *= 2
			m.log.Error("webhook certificate check failed", "err", err, "retryIn", next)
		} else {
			delay = first
		}
		timer.Reset(next)
	}
}

// Ensure makes one pass: it reads the Secret, creates or renews what needs
// it (writing it back with optimistic concurrency, so replicas agree on
// one pair), serves the pair it holds and patches the caBundles.
func (m *Manager) Ensure(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.ensure(ctx)
	m.errMu.Lock()
	m.lastErr = err
	m.errMu.Unlock()
	return err
}

func (m *Manager) ensure(ctx context.Context) error {
	var mat *material
	var now time.Time
	// Another replica may create or update the Secret between our read
	// and our write: then read again and judge what it wrote.
	raced := func(err error) bool { return apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) }
	err := retry.OnError(retry.DefaultRetry, raced, func() error {
		var err error
		now = m.o.Now()
		mat, err = m.syncSecret(ctx, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("webhook certificate Secret %s/%s: %w", m.o.Namespace, m.o.SecretName, err)
	}
	// Serve before patching: the pair is valid whatever the webhook
	// configuration says, and a missing configuration must not keep the
	// webhook server from starting.
	if err := m.publish(mat); err != nil {
		return err
	}
	return m.patchWebhooks(ctx, mat.bundle(now))
}

// syncSecret returns the material the Secret holds once it is right,
// creating or updating it when needed.
func (m *Manager) syncSecret(ctx context.Context, now time.Time) (*material, error) {
	secrets := m.o.Client.CoreV1().Secrets(m.o.Namespace)
	sec, err := secrets.Get(ctx, m.o.SecretName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		mat, err := m.fresh(now)
		if err != nil {
			return nil, err
		}
		data, err := mat.data(now)
		if err != nil {
			return nil, err
		}
		_, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: m.o.Namespace,
				Name:      m.o.SecretName,
				Labels:    map[string]string{"app.kubernetes.io/managed-by": "portico"},
			},
			Type: corev1.SecretTypeTLS,
			Data: data,
		}, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("create: %w", err)
		}
		m.log.Info("webhook certificate Secret created", "ca", certAttrs(mat.ca.cert), "serving", certAttrs(mat.serving))
		return mat, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	if sec.Type != corev1.SecretTypeTLS {
		// A Secret's type cannot be changed by an update.
		return nil, fmt.Errorf("has type %q, want %q: delete it and the controller makes a new one", sec.Type, corev1.SecretTypeTLS)
	}
	mat, reasons, corrupt, err := m.plan(sec.Data, now)
	if err != nil {
		return nil, err
	}
	if len(reasons) == 0 {
		return mat, nil
	}
	data, err := mat.data(now)
	if err != nil {
		return nil, err
	}
	upd := sec.DeepCopy()
	upd.Data = data
	// upd keeps the resourceVersion we read: a replica that wrote since
	// makes this a Conflict, and we judge its Secret instead.
	if _, err := secrets.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	level := slog.LevelInfo
	if corrupt {
		level = slog.LevelWarn
	}
	m.log.Log(ctx, level, "webhook certificate Secret updated", "why", strings.Join(reasons, "; "),
		"ca", certAttrs(mat.ca.cert), "serving", certAttrs(mat.serving))
	return mat, nil
}

// fresh makes a new CA and a serving certificate it signs.
func (m *Manager) fresh(now time.Time) (*material, error) {
	c, err := newCA(now, m.o.CAValidity)
	if err != nil {
		return nil, err
	}
	mat := &material{ca: c}
	if err := m.issue(mat, now); err != nil {
		return nil, err
	}
	return mat, nil
}

func (m *Manager) issue(mat *material, now time.Time) error {
	cert, certPEM, keyPEM, err := mat.ca.issue(now, m.o.ServingValidity, m.o.DNSNames, m.o.IPAddresses)
	if err != nil {
		return err
	}
	mat.serving, mat.certPEM, mat.keyPEM = cert, certPEM, keyPEM
	return nil
}

// plan judges the Secret's data at now and returns the material it should
// hold, why that differs from what it holds (nothing when it does not), and
// whether the Secret was found corrupt rather than due for renewal.
func (m *Manager) plan(d map[string][]byte, now time.Time) (mat *material, reasons []string, corrupt bool, err error) {
	mat = &material{}
	c, caErr := parseCA(d)
	rotate := false
	switch {
	case caErr != nil:
		reasons = append(reasons, fmt.Sprintf("CA unusable (%v): replaced", caErr))
		corrupt, rotate = true, true
		// A CA certificate that still reads (only its key is bad) stays
		// trusted until it expires: replicas that have not read the new
		// Secret yet still serve what it signed.
		if old, err := parseCert(d[keyCACert]); err == nil && old.IsCA && now.Before(old.NotAfter) {
			mat.previous = old
		}
	case lessThanAThirdLeft(c.cert, now):
		reasons = append(reasons, fmt.Sprintf("CA expires at %s, under a third of its validity left: rotated", c.cert.NotAfter.UTC().Format(time.RFC3339)))
		rotate = true
		if now.Before(c.cert.NotAfter) {
			mat.previous = c.cert
		}
	default:
		mat.ca = c
		if p, ok := d[keyPreviousCA]; ok {
			prev, err := parseCert(p)
			switch {
			case err != nil || !prev.IsCA:
				reasons = append(reasons, keyPreviousCA+" unusable: dropped")
				corrupt = true
			case !now.Before(prev.NotAfter):
				reasons = append(reasons, fmt.Sprintf("%s expired at %s: dropped", keyPreviousCA, prev.NotAfter.UTC().Format(time.RFC3339)))
			default:
				mat.previous = prev
			}
		}
	}
	if rotate {
		if mat.ca, err = newCA(now, m.o.CAValidity); err != nil {
			return nil, nil, false, err
		}
	}

	pair, servErr := parseServing(d)
	var serving *x509.Certificate
	if servErr == nil {
		serving = pair.Leaf
	}
	why := ""
	switch {
	case caErr != nil:
		why = "CA replaced"
	case servErr != nil:
		why = fmt.Sprintf("serving pair unusable (%v)", servErr)
		corrupt = true
	case !sameNames(serving, m.o.DNSNames, m.o.IPAddresses):
		why = fmt.Sprintf("serving certificate is for %v %v, want %v %v", serving.DNSNames, serving.IPAddresses, m.o.DNSNames, m.o.IPAddresses)
	case lessThanAThirdLeft(serving, now):
		why = fmt.Sprintf("serving certificate expires at %s, under a third of its validity left", serving.NotAfter.UTC().Format(time.RFC3339))
	// Signed by the previous CA is fine: right after a rotation the
	// old serving certificate stays until its own renewal, by which time
	// every API server has long seen the new CA in its caBundle. Switching
	// at once would fail handshakes with API servers whose view of the
	// webhook configuration still lacks the new CA.
	case !signedBy(serving, mat.ca.cert, now) && !signedBy(serving, mat.previous, now):
		why = "serving certificate does not verify against the CA"
		corrupt = true
	}
	if why == "" {
		mat.serving, mat.certPEM, mat.keyPEM = serving, d[keyServingCert], d[keyServingKey]
		return mat, reasons, corrupt, nil
	}
	if err := m.issue(mat, now); err != nil {
		return nil, nil, false, err
	}
	return mat, append(reasons, why+": reissued"), corrupt, nil
}

// publish makes mat's pair the one GetCertificate returns.
func (m *Manager) publish(mat *material) error {
	pair, err := pairFromPEM(mat.certPEM, mat.keyPEM)
	if err != nil {
		return fmt.Errorf("loading serving pair: %w", err)
	}
	if old := m.cert.Load(); old == nil || !bytes.Equal(old.Certificate[0], pair.Certificate[0]) {
		m.log.Info("webhook serving certificate loaded", "serving", certAttrs(mat.serving))
	}
	m.cert.Store(pair)
	return nil
}

// patchWebhooks sets every webhook's caBundle of the configuration to
// bundle, writing only when one differs.
func (m *Manager) patchWebhooks(ctx context.Context, bundle []byte) error {
	if m.o.WebhookName == "" {
		return nil
	}
	api := m.o.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		vwc, err := api.Get(ctx, m.o.WebhookName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("ValidatingWebhookConfiguration %s not found: apply deploy/ or the chart: %w", m.o.WebhookName, err)
		}
		if err != nil {
			return fmt.Errorf("get ValidatingWebhookConfiguration %s: %w", m.o.WebhookName, err)
		}
		var patched []string
		for i := range vwc.Webhooks {
			w := &vwc.Webhooks[i]
			if !bytes.Equal(w.ClientConfig.CABundle, bundle) {
				w.ClientConfig.CABundle = bundle
				patched = append(patched, w.Name)
			}
		}
		if len(patched) == 0 {
			return nil
		}
		if _, err := api.Update(ctx, vwc, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update ValidatingWebhookConfiguration %s: %w", m.o.WebhookName, err)
		}
		m.log.Info("webhook caBundle patched", "webhookConfiguration", m.o.WebhookName, "webhooks", patched,
			"cas", bytes.Count(bundle, []byte("\n-----END ")))
		return nil
	})
}

// certAttrs is what may be logged about a certificate: names, expiry and
// fingerprint, never its PEM.
func certAttrs(c *x509.Certificate) slog.Value {
	info, err := certs.Describe(encodeCert(c))
	if err != nil {
		return slog.StringValue("unreadable")
	}
	attrs := []slog.Attr{
		slog.String("subject", info.Subject),
		slog.String("notAfter", info.NotAfter.Format(time.RFC3339)),
		slog.String("sha256", info.SHA256),
	}
	if len(c.DNSNames) > 0 {
		attrs = append(attrs, slog.Any("dnsNames", c.DNSNames))
	}
	if len(c.IPAddresses) > 0 {
		attrs = append(attrs, slog.Any("ips", ipStrings(c.IPAddresses)))
	}
	return slog.GroupValue(attrs...)
}
