package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Info is what may be shown about a served certificate: names, dates and
// fingerprints, all of which any TLS client sees in the handshake. It has
// no field for key material, so a view built from it cannot leak any.
type Info struct {
	// Subject is the subject's common name, "" when it has none.
	Subject string
	// DNSNames are the certificate's DNS subject alternative names.
	DNSNames []string
	// Issuer is the issuer's common name, "" when it has none.
	Issuer string
	// Serial is the serial number in lower-case hex.
	Serial string
	// NotBefore and NotAfter bound the certificate's validity.
	NotBefore, NotAfter time.Time
	// SHA256 is the fingerprint of the DER certificate, lower-case hex
	// pairs joined by colons (the form openssl x509 -fingerprint prints).
	SHA256 string
}

// Describe reads the first certificate of a PEM bundle (the leaf of the
// chain nginx presents). Only CERTIFICATE blocks are looked at: the bundle
// may also hold the private key, whose block is skipped without being
// decoded, so no part of it can end up in Info or in an error.
func Describe(bundle []byte) (Info, error) {
	rest := bundle
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return Info{}, errors.New("no CERTIFICATE block")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return Info{}, fmt.Errorf("parse certificate: %w", err)
		}
		sum := sha256.Sum256(cert.Raw)
		return Info{
			Subject:   cert.Subject.CommonName,
			DNSNames:  cert.DNSNames,
			Issuer:    cert.Issuer.CommonName,
			Serial:    cert.SerialNumber.Text(16),
			NotBefore: cert.NotBefore.UTC(),
			NotAfter:  cert.NotAfter.UTC(),
			SHA256:    colonHex(sum[:]),
		}, nil
	}
}

// colonHex writes b as "ab:cd:...", as openssl and browsers show fingerprints.
func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i := range b {
		parts[i] = hex.EncodeToString(b[i : i+1])
	}
	return strings.Join(parts, ":")
}
