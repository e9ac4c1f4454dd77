package annotations

import (
	"errors"
	"strconv"
)

// ClientCert is mutual TLS: clients must present a certificate signed by a
// CA from a Secret (ingress-nginx's auth-tls family).
type ClientCert struct {
	// Secret names the Secret with ca.crt ("name" or "namespace/name" of the same namespace).
	Secret string `json:"secret,omitempty"`
	// Verify is on, off, optional or optional_no_ca.
	Verify string `json:"verify,omitempty"`
	// Depth is the verification depth, when set.
	Depth int `json:"depth,omitempty"`
	// PassToUpstream sends the client certificate (URL-encoded PEM) in the ssl-client-cert header.
	PassToUpstream bool `json:"passToUpstream,omitempty"`
}

func clientCertFields() []Field {
	return inGroup("client-certificates", []Field{
		{Key: "auth-tls-secret", Default: "", Allowed: "a Secret with ca.crt in the Ingress's namespace", Risk: RiskMedium,
			Doc: "require client certificates signed by this CA on the Ingress's TLS hosts",
			apply: func(v string, s *Set) error {
				if err := checkObjectRef(v, "Secret"); err != nil {
					return err
				}
				s.ClientCert.Secret = v
				return nil
			}},
		{Key: "auth-tls-verify-client", Default: "on", Allowed: "on, off, optional, optional_no_ca", Risk: RiskMedium,
			Doc: "how strictly client certificates are checked",
			apply: func(v string, s *Set) error {
				switch v {
				case "on", "off", "optional", "optional_no_ca":
					s.ClientCert.Verify = v
					return nil
				}
				return errors.New("is not on, off, optional or optional_no_ca")
			}},
		{Key: "auth-tls-verify-depth", Default: "1", Allowed: "1 to 10", Risk: RiskLow,
			Doc: "how many intermediate certificates may sit between client and CA",
			apply: func(v string, s *Set) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 10 {
					return errors.New("is not a number from 1 to 10")
				}
				s.ClientCert.Depth = n
				return nil
			}},
		{Key: "auth-tls-pass-certificate-to-upstream", Default: "false", Allowed: "true, false", Risk: RiskLow,
			Doc: "send the client certificate to the backend in ssl-client-cert",
			apply: func(v string, s *Set) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("is not true or false")
				}
				s.ClientCert.PassToUpstream = b
				return nil
			}},
	})
}
