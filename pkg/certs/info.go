package certs

import "crypto/x509"

// Info is the public data of a served certificate that ingress-nginx's
// nginx_ingress_controller_ssl_certificate_info series labels. It holds no
// key material. Its text comes from the certificate, which whoever made it
// chose: it is for labels, which Prometheus escapes, and never for nginx.conf.
type Info struct {
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

// InfoOf returns c's Info; parse the certificate once, when its Secret is
// loaded, not at every scrape.
func InfoOf(c *x509.Certificate) Info {
	info := Info{
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
func (i Info) Identifier() string {
	if i.SerialNumber == "" {
		return ""
	}
	return i.IssuerSerialNumber + "-" + i.SerialNumber
}
