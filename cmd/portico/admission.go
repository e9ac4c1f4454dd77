package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"

	"github.com/portico-ingress/portico/pkg/admission"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/webhookcert"
)

// admissionFlags configure the validating admission webhook (docs/admission.md).
type admissionFlags struct {
	address        string
	secret         string
	webhookName    string
	service        string
	certDir        string
	clientCA       string
	certNames      []string
	allowConflicts bool
}

func (f *admissionFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.address, "admission-address", "",
		"HTTPS address of the validating admission webhook for Ingresses and the options ConfigMap, path "+admission.Path+
			` (e.g. ":8443"; "" turns it off). It judges with the model, as portico check does, and never runs nginx`)
	fs.StringVar(&f.secret, "admission-secret", "portico-admission",
		"Secret in the controller's namespace (POD_NAMESPACE) holding the webhook's self-managed CA and serving certificate")
	fs.StringVar(&f.webhookName, "admission-webhook-name", "portico-admission",
		"ValidatingWebhookConfiguration whose caBundle the controller keeps set to its CA")
	fs.StringVar(&f.service, "admission-service", "portico-admission",
		"Service of the webhook, whose DNS names the serving certificate holds")
	fs.StringVar(&f.certDir, "admission-cert-dir", "",
		"read the serving certificate from DIR/tls.crt and DIR/tls.key (e.g. a cert-manager Secret volume, re-read when it changes) instead of managing it; nothing is patched")
	fs.StringVar(&f.clientCA, "admission-client-ca", "",
		"PEM file of CAs: the webhook then requires a client certificate signed by one of them (the API server's, set in its AdmissionConfiguration)")
	fs.StringSliceVar(&f.certNames, "admission-cert-names", nil,
		"more DNS names or IP addresses for the self-managed serving certificate, for a webhook configuration that reaches it by URL")
	fs.BoolVar(&f.allowConflicts, "admission-allow-conflicts", false,
		"admit an Ingress for a host or path another Ingress already owns, with a warning, instead of refusing it (ingress-nginx admitted them; Portico still serves only the owner's)")
}

// webhook is the running webhook's parts.
type webhook struct {
	reviewer *admission.Reviewer
	tasks    []func(context.Context) error
}

// newWebhook prepares the webhook when --admission-address is set: nil
// otherwise. client is nil with --manifests, where only --admission-cert-dir
// can provide a certificate.
func newWebhook(f admissionFlags, modelOpts model.Options, client kubernetes.Interface, namespace, watchNamespace string,
	reg prometheus.Registerer, log *slog.Logger) (*webhook, error) {
	if f.address == "" {
		return nil, nil
	}
	var getCert admission.ServerOptions
	var tasks []func(context.Context) error
	switch {
	case f.certDir != "":
		src, err := webhookcert.NewFileSource(filepath.Join(f.certDir, "tls.crt"), filepath.Join(f.certDir, "tls.key"), time.Now, log)
		if err != nil {
			return nil, fmt.Errorf("--admission-cert-dir: %w", err)
		}
		getCert.GetCertificate = src.GetCertificate
	case client == nil:
		return nil, errors.New("--admission-address without a cluster (--manifests) needs --admission-cert-dir: the self-managed certificate lives in a Secret")
	case namespace == "":
		return nil, errors.New("--admission-address: POD_NAMESPACE is not set; the webhook's certificate Secret lives in the controller's namespace (set it from the downward API, or use --admission-cert-dir)")
	default:
		dns, ips := serviceNames(f.service, namespace), []net.IP(nil)
		for _, n := range f.certNames {
			if ip := net.ParseIP(n); ip != nil {
				ips = append(ips, ip)
			} else {
				dns = append(dns, n)
			}
		}
		m, err := webhookcert.New(webhookcert.Options{
			Client: client, Namespace: namespace, SecretName: f.secret, WebhookName: f.webhookName,
			DNSNames: dns, IPAddresses: ips, Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("admission certificate: %w", err)
		}
		getCert.GetCertificate = m.GetCertificate
		tasks = append(tasks, m.Run)
	}
	if f.clientCA != "" {
		raw, err := os.ReadFile(f.clientCA)
		if err != nil {
			return nil, fmt.Errorf("--admission-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(raw) {
			return nil, fmt.Errorf("--admission-client-ca %s: no PEM certificate in it", f.clientCA)
		}
		getCert.ClientCAs = pool
	}
	getCert.Address, getCert.Log = f.address, log
	reviewer := admission.NewReviewer(modelOpts, admission.Options{AllowConflicts: f.allowConflicts, Namespace: watchNamespace})
	handler := admission.NewHandler(reviewer, log, admission.NewMetrics(reg))
	tasks = append(tasks, func(ctx context.Context) error { return admission.Serve(ctx, getCert, handler) })
	return &webhook{reviewer: reviewer, tasks: tasks}, nil
}

// serviceNames are the DNS names the API server may dial the Service by.
func serviceNames(service, namespace string) []string {
	return []string{
		service,
		service + "." + namespace,
		service + "." + namespace + ".svc",
		service + "." + namespace + ".svc.cluster.local",
	}
}
