//go:build linux

package framework

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/certs"
)

// KeyPair is a self-signed ECDSA certificate and its key, in PEM, as a
// kubernetes.io/tls Secret holds them.
type KeyPair struct {
	// CertPEM is the certificate.
	CertPEM []byte
	// KeyPEM is its PKCS#8 key.
	KeyPEM []byte
	// Leaf is the parsed certificate, to compare with what nginx presents.
	Leaf *x509.Certificate
}

// NewKeyPair makes a self-signed certificate for hosts (the first is the
// CN) the way the product makes its own, with pkg/certs. It is valid for
// 90 days, beyond the controller's default expiry warning (14 days): the
// suites' certificates cause no CertificateExpiresSoon findings unless a
// test asks for one (NewKeyPairBetween).
func NewKeyPair(t testing.TB, hosts ...string) KeyPair {
	t.Helper()
	certPEM, keyPEM, err := certs.SelfSignedFor(hosts, 90*24*time.Hour)
	require.NoError(t, err)
	block, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return KeyPair{CertPEM: certPEM, KeyPEM: keyPEM, Leaf: leaf}
}

// NewKeyPairBetween is NewKeyPair valid from notBefore to notAfter, which
// may both be past: an expired certificate, as a forgotten Secret holds.
func NewKeyPairBetween(t testing.TB, notBefore, notAfter time.Time, hosts ...string) KeyPair {
	t.Helper()
	certPEM, keyPEM, err := certs.SelfSignedBetween(hosts, notBefore, notAfter)
	require.NoError(t, err)
	block, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return KeyPair{CertPEM: certPEM, KeyPEM: keyPEM, Leaf: leaf}
}

// CA is a throwaway certificate authority that signs the client, server
// and intermediate certificates of a test.
type CA struct {
	// Cert is the CA's certificate, the issuer of what it signs.
	Cert *x509.Certificate
	// Key is the CA's signing key.
	Key *ecdsa.PrivateKey
	// PEM is Cert in PEM, as a Secret's ca.crt holds it.
	PEM string
}

// NewCA makes a self-signed root CA.
func NewCA(t testing.TB) CA {
	t.Helper()
	return newCA(t, "e2e client CA", nil)
}

// Intermediate returns a CA certificate signed by ca, usable to sign
// client certificates in turn.
func (ca CA) Intermediate(t testing.TB, cn string) CA {
	t.Helper()
	return newCA(t, cn, &ca)
}

func newCA(t testing.TB, cn string, parent *CA) CA {
	t.Helper()
	tmpl := template(cn)
	tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	der, key, err := sign(tmpl, parent)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return CA{Cert: cert, Key: key, PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// Client returns a TLS client certificate for cn signed by the CA.
func (ca CA) Client(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	tmpl := template(cn)
	tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	der, key, err := sign(tmpl, &ca)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Issue returns a certificate for the name cn signed by the CA, for usage,
// with the certificate and its key also in PEM.
func (ca CA) Issue(t testing.TB, cn string, usage x509.ExtKeyUsage) (cert tls.Certificate, certPEM, keyPEM string) {
	t.Helper()
	tmpl := template(cn)
	tmpl.DNSNames = []string{cn}
	tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{usage}
	der, key, err := sign(tmpl, &ca)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// ServingCertificate makes a self-signed server certificate for dnsNames
// and ips that is its own CA, so clients verify the server with it instead
// of skipping verification (the suites' kube-apiserver). It returns no
// testing.TB error because a suite's setup runs before any test.
func ServingCertificate(cn string, dnsNames []string, ips []net.IP) (certPEM, keyPEM []byte, err error) {
	tmpl := template(cn)
	tmpl.DNSNames, tmpl.IPAddresses = dnsNames, ips
	tmpl.NotAfter = time.Now().Add(48 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tmpl.BasicConstraintsValid, tmpl.IsCA = true, true
	der, key, err := sign(tmpl, nil)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// ClientCertificate returns a self-signed client certificate for user cn
// in groups orgs (the Kubernetes x509 authenticator reads them from CN and
// O) and its key. Being its own CA, the certificate is also the client CA
// file of whoever must accept it.
func ClientCertificate(cn string, orgs []string) (certPEM, keyPEM []byte, err error) {
	tmpl := template(cn)
	tmpl.Subject.Organization = orgs
	tmpl.NotAfter = time.Now().Add(48 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	tmpl.BasicConstraintsValid, tmpl.IsCA = true, true
	der, key, err := sign(tmpl, nil)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// template is a certificate for cn valid from an hour ago (clock skew
// between the test and nginx does not matter) for a day.
func template(cn string) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62)) // crypto/rand does not fail on Linux
	return &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
}

// sign makes a P-256 key and a certificate for it from tmpl, signed by
// parent (nil: self-signed).
func sign(tmpl *x509.Certificate, parent *CA) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	issuer, issuerKey := tmpl, key
	if parent != nil {
		issuer, issuerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, issuerKey)
	return der, key, err
}
