package annotations

import (
	"errors"

	"k8s.io/apimachinery/pkg/util/validation"
)

// ProxySSL is how nginx checks and authenticates to HTTPS and GRPCS
// backends (ingress-nginx's proxy-ssl family).
type ProxySSL struct {
	// Secret names the Secret with ca.crt and optionally tls.crt and tls.key ("name" or "namespace/name" of the same namespace).
	Secret string `json:"secret,omitempty"`
	// Verify is "on" or "off" when set.
	Verify string `json:"verify,omitempty"`
	// Name is the name the backend certificate is checked against and sent as SNI.
	Name string `json:"name,omitempty"`
	// ServerName is "on" or "off" when set: whether SNI is sent.
	ServerName string `json:"serverName,omitempty"`
}

func onOffValue(v string) (string, error) {
	switch v {
	case "on", "off":
		return v, nil
	}
	return "", errors.New("is not on or off")
}

func proxySSLFields() []Field {
	return inGroup("backend-tls", []Field{
		{Key: "proxy-ssl-secret", Default: "", Allowed: "a Secret with ca.crt (and optionally tls.crt, tls.key) in the Ingress's namespace", Risk: RiskMedium,
			Doc: "CA that HTTPS/GRPCS backends are checked against, and the client certificate nginx presents to them",
			apply: func(v string, s *Set) error {
				if err := checkObjectRef(v, "Secret"); err != nil {
					return err
				}
				s.ProxySSL.Secret = v
				return nil
			}},
		{Key: "proxy-ssl-verify", Default: "off", Allowed: "on, off", Risk: RiskMedium,
			Doc: "check the backend's certificate against the CA of proxy-ssl-secret",
			apply: func(v string, s *Set) error {
				o, err := onOffValue(v)
				s.ProxySSL.Verify = o
				return err
			}},
		{Key: "proxy-ssl-name", Default: "(the upstream name)", Allowed: "a DNS name", Risk: RiskLow,
			Doc: "name the backend certificate must match, also sent as SNI",
			apply: func(v string, s *Set) error {
				if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
					return errors.New("is not a DNS name")
				}
				s.ProxySSL.Name = v
				return nil
			}},
		{Key: "proxy-ssl-server-name", Default: "off", Allowed: "on, off", Risk: RiskLow,
			Doc: "send the name (proxy-ssl-name) as SNI to the backend",
			apply: func(v string, s *Set) error {
				o, err := onOffValue(v)
				s.ProxySSL.ServerName = o
				return err
			}},
	})
}
