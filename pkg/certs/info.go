package certs

import "crypto/x509"

// Identity is the public data of a served certificate that ingress-nginx's
// nginx_ingress_controller_ssl_certificate_info series labels. It holds no
// key material. Its text comes from the certificate, which whoever made it
// chose: it is for labels, which Prometheus escapes, and never for nginx.conf.
type Identity struct {
	// IssuerCommonName is the issuer's CN.
	IssuerCommonName string
	// IssuerOrganization is the issuer's first O, "" if it has none.
	IssuerOrganization string
	// IssuerSerialNumber is the serialNumber attribute of the issuer's
	// name (not the issuer certificate's serial), usually "".
	IssuerSerialNumber string
	// SerialNumber is the certificate's serial number in decimal.
	SerialNumber string
	// PublicKeyAlgorithm is the key's algorithm as Go names it (RSA,
	// ECDSA, Ed25519), as ingress-nginx prints it.
	PublicKeyAlgorithm string
}

// IdentityOf returns c's Identity; parse the certificate once, when its Secret is
// loaded, not at every scrape.
func IdentityOf(c *x509.Certificate) Identity {
	info := Identity{
		IssuerCommonName:   c.Issuer.CommonName,
		IssuerSerialNumber: c.Issuer.SerialNumber,
		PublicKeyAlgorithm: c.PublicKeyAlgorithm.String(),
	}
	if len(c.Issuer.Organization) > 0 {
		info.IssuerOrganization = c.Issuer.Organization[0]
	}
	if c.SerialNumber != nil {
		info.SerialNumber = c.SerialNumber.String()
	}
	return info
}

// Identifier is ingress-nginx's identifier label (SSLCert.Identifier): the
// issuer name's serialNumber, a dash, and the serial number; "" when
// there is no serial number.
func (i Identity) Identifier() string {
	if i.SerialNumber == "" {
		return ""
	}
	return i.IssuerSerialNumber + "-" + i.SerialNumber
}
