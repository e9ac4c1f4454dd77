package admission

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ServerOptions configure the webhook's HTTPS server.
type ServerOptions struct {
	// Address is where it listens, e.g. ":8443".
	Address string
	// GetCertificate returns the serving certificate (pkg/webhookcert).
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// ClientCAs, when set, makes the server require a client certificate
	// signed by one of them: the API server's, configured in its
	// AdmissionConfiguration.
	ClientCAs *x509.CertPool
	// Log is the logger for the server's own errors.
	Log *slog.Logger
}

// TLSConfig is the webhook's TLS: 1.2 at least, certificates from
// GetCertificate, client certificates required when ClientCAs is set.
func (o ServerOptions) TLSConfig() *tls.Config {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: o.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	if o.ClientCAs != nil {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = o.ClientCAs
	}
	return cfg
}

// Serve serves h on o.Address over TLS until ctx is done, then shuts the
// server down (reviews in flight get 5 s to finish).
func Serve(ctx context.Context, o ServerOptions, h http.Handler) error {
	if o.GetCertificate == nil {
		return errors.New("admission server: no certificate source")
	}
	mux := http.NewServeMux()
	mux.Handle(Path, h)
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{
		Handler:           mux,
		TLSConfig:         o.TLSConfig(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	ln, err := net.Listen("tcp", o.Address)
	if err != nil {
		return fmt.Errorf("admission server: %w", err)
	}
	log.Info("admission webhook listening", "address", ln.Addr().String(), "path", Path, "clientCertificates", o.ClientCAs != nil)
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-done:
		return fmt.Errorf("admission server: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("admission server shutdown: %w", err)
	}
	return nil
}
