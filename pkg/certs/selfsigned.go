// Package certs makes the self-signed fallback certificate that TLS servers
// present until an operator names a real default certificate.
package certs

import (
	"bytes"
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
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Portico"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{commonName},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding key: %w", err)
	}
	var out bytes.Buffer
	if err := pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: der}); err != nil {
		return nil, fmt.Errorf("encoding certificate: %w", err)
	}
	if err := pem.Encode(&out, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}); err != nil {
		return nil, fmt.Errorf("encoding key: %w", err)
	}
	return out.Bytes(), nil
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
