// Package certs makes the self-signed fallback certificate that TLS servers
// present until an operator names a real default certificate.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"time"
)

// SelfSigned returns a PEM file (certificate, then PKCS#8 key) for a
// throwaway ECDSA P-256 certificate valid from now for the given duration.
// The common name follows ingress-nginx's "Kubernetes Ingress Controller
// Fake Certificate" idea: clients must see it is not a real certificate.
func SelfSigned(commonName string, validFor time.Duration) ([]byte, error) {
	certPEM, keyPEM, err := SelfSignedFor([]string{commonName}, validFor)
	if err != nil {
		return nil, err
	}
	return append(certPEM, keyPEM...), nil
}

// SelfSignedFor returns a self-signed ECDSA P-256 server certificate for
// hosts (the first is the common name) valid from now for validFor, and its
// PKCS#8 key, each in PEM.
func SelfSignedFor(hosts []string, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	now := time.Now()
	return SelfSignedBetween(hosts, now.Add(-time.Hour), now.Add(validFor))
}

// SelfSignedBetween is SelfSignedFor with the validity given as two
// instants, which may both be past: tests make expired certificates with it.
func SelfSignedBetween(hosts []string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("generating serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0], Organization: []string{"Portico"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              hosts,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// DefaultCommonName is the subject of the self-signed fallback certificate.
const DefaultCommonName = "portico-default.invalid"

// Usable reports whether path holds a certificate and matching key in PEM
// that stays valid for at least minValidity. Reading is best effort: any
// problem means "not usable" and the caller makes a new one.
func Usable(path string, minValidity time.Duration) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	pair, err := tls.X509KeyPair(data, data)
	if err != nil || pair.Leaf == nil {
		return false
	}
	return time.Now().Add(minValidity).Before(pair.Leaf.NotAfter)
}
