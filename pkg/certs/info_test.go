package certs_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/portico-ingress/portico/pkg/certs"
)

// TestIdentityOf reads the labels ingress-nginx's ssl_certificate_info has,
// with its identifier: the issuer name's serialNumber, "-", the serial.
func TestIdentityOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		cert x509.Certificate
		want certs.Identity
		id   string
	}{
		{
			name: "public CA",
			cert: x509.Certificate{
				Issuer:             pkix.Name{CommonName: "R11", Organization: []string{"Let's Encrypt", "second"}},
				SerialNumber:       big.NewInt(123456789),
				PublicKeyAlgorithm: x509.RSA,
			},
			want: certs.Identity{IssuerCommonName: "R11", IssuerOrganization: "Let's Encrypt", SerialNumber: "123456789", PublicKeyAlgorithm: "RSA"},
			id:   "-123456789",
		},
		{
			name: "issuer name with a serialNumber",
			cert: x509.Certificate{
				Issuer:             pkix.Name{CommonName: "corp CA", SerialNumber: "42"},
				SerialNumber:       big.NewInt(7),
				PublicKeyAlgorithm: x509.Ed25519,
			},
			want: certs.Identity{IssuerCommonName: "corp CA", IssuerSerialNumber: "42", SerialNumber: "7", PublicKeyAlgorithm: "Ed25519"},
			id:   "42-7",
		},
		{
			name: "no serial",
			cert: x509.Certificate{PublicKeyAlgorithm: x509.ECDSA},
			want: certs.Identity{PublicKeyAlgorithm: "ECDSA"},
			id:   "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := certs.IdentityOf(&tc.cert)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.id, got.Identifier())
		})
	}
}
