package webhookcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// Keys of the Secret's data. tls.crt and tls.key are what a kubernetes.io/tls
// Secret must hold; the CA lives beside them so that every replica can sign.
const (
	keyServingCert = "tls.crt"
	keyServingKey  = "tls.key"
	keyCACert      = "ca.crt"
	keyCAKey       = "ca.key"
	keyPreviousCA  = "ca-previous.crt"
)

// caCommonName names the CA so that an operator reading the caBundle sees
// whose it is.
const caCommonName = "portico-admission-ca"

// backdate is how far before "now" a new certificate becomes valid: API
// servers whose clocks run a little behind must not see it as not yet valid.
const backdate = 5 * time.Minute

// ca is a parsed signing certificate with its key.
type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// material is the content of the Secret, parsed. Only its certificates are
// ever logged, and only as names, dates and fingerprints.
type material struct {
	ca       ca
	previous *x509.Certificate // nil when there is none
	serving  *x509.Certificate
	// certPEM and keyPEM are the serving pair as stored, so that what is
	// served is byte for byte what the Secret holds.
	certPEM, keyPEM []byte
}

// data encodes m for the Secret; an expired previous CA is dropped because
// no API server may trust it any longer.
func (m *material) data(now time.Time) (map[string][]byte, error) {
	caKey, err := encodeKey(m.ca.key)
	if err != nil {
		return nil, fmt.Errorf("encoding CA key: %w", err)
	}
	d := map[string][]byte{
		keyServingCert: m.certPEM,
		keyServingKey:  m.keyPEM,
		keyCACert:      encodeCert(m.ca.cert),
		keyCAKey:       caKey,
	}
	if m.previous != nil && now.Before(m.previous.NotAfter) {
		d[keyPreviousCA] = encodeCert(m.previous)
	}
	return d, nil
}

// bundle is the caBundle for the webhooks: the current CA, then the
// previous one while it is still valid, so that a serving certificate it
// signed (still served by a replica, or not yet renewed) stays trusted.
func (m *material) bundle(now time.Time) []byte {
	b := encodeCert(m.ca.cert)
	if m.previous != nil && now.Before(m.previous.NotAfter) {
		b = append(b, encodeCert(m.previous)...)
	}
	return b
}

// newCA makes a self-signed CA valid from now for validity.
func newCA(now time.Time, validity time.Duration) (ca, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return ca{}, fmt.Errorf("generating CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return ca{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caCommonName, Organization: []string{"Portico"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true, // it signs serving certificates only, never another CA
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return ca{}, fmt.Errorf("creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return ca{}, fmt.Errorf("parsing new CA certificate: %w", err)
	}
	return ca{cert: cert, key: key}, nil
}

// issue makes a serving certificate for the names, signed by c, valid from
// now for validity but never past c's own end (a chain is only as good as
// its shortest link). It returns the certificate and the PEM pair.
func (c ca) issue(now time.Time, validity time.Duration, dnsNames []string, ips []net.IP) (*x509.Certificate, []byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generating serving key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, nil, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(c.cert.NotAfter) {
		notAfter = c.cert.NotAfter
	}
	cn := "portico-admission"
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Portico"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dnsNames,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("creating serving certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parsing new serving certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("encoding serving key: %w", err)
	}
	return cert, encodeCert(cert), keyPEM, nil
}

// newSerial returns a random 127-bit serial number, as RFC 5280 asks
// (positive, at most 20 octets, unpredictable).
func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return serial, nil
}

func encodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseCert reads the one certificate of a PEM file. Errors name what is
// wrong, never the bytes.
func parseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no CERTIFICATE block")
	}
	return x509.ParseCertificate(block.Bytes)
}

// parseKey reads a PKCS#8, SEC 1 or PKCS#1 private key. Errors never
// carry the bytes: a key must not end up in a log.
func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, errors.New("key cannot sign")
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS#8, EC or PKCS#1 private key")
}

// parseCA reads ca.crt and ca.key and checks that they are a CA and its key.
func parseCA(d map[string][]byte) (ca, error) {
	cert, err := parseCert(d[keyCACert])
	if err != nil {
		return ca{}, fmt.Errorf("%s: %w", keyCACert, err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return ca{}, fmt.Errorf("%s is not a CA certificate", keyCACert)
	}
	key, err := parseKey(d[keyCAKey])
	if err != nil {
		return ca{}, fmt.Errorf("%s: %w", keyCAKey, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return ca{}, fmt.Errorf("%s does not belong to %s", keyCAKey, keyCACert)
	}
	return ca{cert: cert, key: key}, nil
}

// parseServing reads tls.crt and tls.key as a pair.
func parseServing(d map[string][]byte) (*tls.Certificate, error) {
	pair, err := pairFromPEM(d[keyServingCert], d[keyServingKey])
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", keyServingCert, keyServingKey, err)
	}
	return pair, nil
}

// pairFromPEM is tls.X509KeyPair with errors of our own: the standard
// library's can quote PEM block types, and the log must never look as if it
// held a key. The chain is every CERTIFICATE block of certPEM; Leaf is set.
func pairFromPEM(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	leaf, err := parseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, errors.New("the key does not belong to the certificate")
	}
	var chain [][]byte
	for rest := certPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			chain = append(chain, block.Bytes)
		}
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}

// sameNames reports whether c is for exactly these DNS names and IPs, in
// any order.
func sameNames(c *x509.Certificate, dnsNames []string, ips []net.IP) bool {
	return slices.Equal(sortedCopy(c.DNSNames), sortedCopy(dnsNames)) &&
		slices.Equal(ipStrings(c.IPAddresses), ipStrings(ips))
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return slices.Compact(c)
}

// ipStrings normalises IPs: x509 parses IPv4 as 4 bytes, net.ParseIP
// returns 16, and both must compare equal.
func ipStrings(ips []net.IP) []string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return sortedCopy(s)
}

// signedBy reports whether c verifies as a server certificate against
// root at now.
func signedBy(c, root *x509.Certificate, now time.Time) bool {
	if root == nil {
		return false
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	_, err := c.Verify(x509.VerifyOptions{
		Roots:       pool,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err == nil
}

// lessThanAThirdLeft reports whether c is in its renewal window, measured
// against its own lifetime so that a certificate made with other options
// (or capped by its CA) is judged by what it is.
func lessThanAThirdLeft(c *x509.Certificate, now time.Time) bool {
	lifetime := c.NotAfter.Sub(c.NotBefore)
	return c.NotAfter.Sub(now) < lifetime/3
}
