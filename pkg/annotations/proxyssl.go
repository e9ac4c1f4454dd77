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
	f := func(key, def, allowed, doc string, risk Risk, apply func(string, *Set) error) Field {
		return Field{Key: key, Group: "backend-tls", Scope: ScopeLocation, Risk: risk, Default: def, Allowed: allowed, Doc: doc, apply: apply}
	}
	return []Field{
		f("proxy-ssl-secret", "", "a Secret with ca.crt (and optionally tls.crt, tls.key) in the Ingress's namespace",
			"CA that HTTPS/GRPCS backends are checked against, and the client certificate nginx presents to them", RiskMedium,
			func(v string, s *Set) error {
				if err := checkObjectRef(v, "Secret"); err != nil {
					return err
				}
				s.ProxySSL.Secret = v
				return nil
			}),
		f("proxy-ssl-verify", "off", "on, off", "check the backend's certificate against the CA of proxy-ssl-secret", RiskMedium,
			func(v string, s *Set) error {
				o, err := onOffValue(v)
				s.ProxySSL.Verify = o
				return err
			}),
		f("proxy-ssl-name", "(the upstream name)", "a DNS name", "name the backend certificate must match, also sent as SNI", RiskLow,
			func(v string, s *Set) error {
				if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
					return errors.New("is not a DNS name")
				}
				s.ProxySSL.Name = v
				return nil
			}),
		f("proxy-ssl-server-name", "off", "on, off", "send the name (proxy-ssl-name) as SNI to the backend", RiskLow,
			func(v string, s *Set) error {
				o, err := onOffValue(v)
				s.ProxySSL.ServerName = o
				return err
			}),
	}
}
