package annotations

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/portico-ingress/portico/pkg/ngxvar"
)

// Routing holds redirects and how nginx speaks to the backend.
type Routing struct {
	// SSLRedirect is "true" or "false" when the annotation is set, "" otherwise.
	SSLRedirect string `json:"sslRedirect,omitempty"`
	// ForceSSLRedirect redirects plain HTTP to HTTPS even for hosts without TLS here.
	ForceSSLRedirect bool `json:"forceSSLRedirect,omitempty"`
	// PermanentRedirect is the URL every request is redirected to.
	PermanentRedirect string `json:"permanentRedirect,omitempty"`
	// PermanentRedirectCode is the status for PermanentRedirect (301 by default).
	PermanentRedirectCode int `json:"permanentRedirectCode,omitempty"`
	// TemporalRedirect is the URL every request is redirected to with 302.
	TemporalRedirect string `json:"temporalRedirect,omitempty"`
	// AppRoot is where a request for "/" is redirected.
	AppRoot string `json:"appRoot,omitempty"`
	// BackendProtocol is HTTP, HTTPS, GRPC or GRPCS.
	BackendProtocol string `json:"backendProtocol,omitempty"`
	// FromToWWWRedirect answers the www. (or bare) twin of each host with a 308 to the host.
	FromToWWWRedirect bool `json:"fromToWWWRedirect,omitempty"`
}

// appRootPath allowlists a plain absolute path.
var appRootPath = regexp.MustCompile(`^/[A-Za-z0-9\-._~/%!&'()*+,=:@]*$`)

func boolValue(set func(*Routing, bool)) func(string, *Set) error {
	return func(v string, s *Set) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("is not true or false")
		}
		set(&s.Routing, b)
		return nil
	}
}

func routingFields() []Field {
	return inGroup("routing", []Field{
		{Key: "ssl-redirect", Default: "true", Allowed: "true, false", Risk: RiskLow,
			Doc:   "redirect plain HTTP to HTTPS (308) when the host has TLS",
			apply: boolValue(func(r *Routing, b bool) { r.SSLRedirect = strconv.FormatBool(b) })},
		{Key: "force-ssl-redirect", Default: "false", Allowed: "true, false", Risk: RiskLow,
			Doc:   "redirect plain HTTP to HTTPS (308) even when TLS ends before nginx",
			apply: boolValue(func(r *Routing, b bool) { r.ForceSSLRedirect = b })},
		{Key: "from-to-www-redirect", Default: "false", Allowed: "true, false", Risk: RiskLow,
			Doc:   "redirect www.HOST to HOST (or HOST to www.HOST when the rule names www.HOST) with 308",
			apply: boolValue(func(r *Routing, b bool) { r.FromToWWWRedirect = b })},
		{Key: "permanent-redirect", Default: "", Allowed: "absolute http(s) URL; nginx variables of the allowlist, $scheme and $host also before the path", Risk: RiskMedium,
			Doc: "redirect every request to this URL",
			apply: func(v string, s *Set) error {
				u, err := ngxvar.ParseURL(v, ngxvar.Redirect)
				if err != nil {
					return err
				}
				s.Routing.PermanentRedirect = u.String()
				return nil
			}},
		{Key: "permanent-redirect-code", Default: "301", Allowed: "300 to 308", Risk: RiskLow,
			Doc: "status code for permanent-redirect",
			apply: func(v string, s *Set) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 300 || n > 308 {
					return errors.New("is not a redirect status from 300 to 308")
				}
				s.Routing.PermanentRedirectCode = n
				return nil
			}},
		{Key: "temporal-redirect", Default: "", Allowed: "absolute http(s) URL; nginx variables of the allowlist, $scheme and $host also before the path", Risk: RiskMedium,
			Doc: "redirect every request to this URL with 302",
			apply: func(v string, s *Set) error {
				u, err := ngxvar.ParseURL(v, ngxvar.Redirect)
				if err != nil {
					return err
				}
				s.Routing.TemporalRedirect = u.String()
				return nil
			}},
		{Key: "app-root", Default: "", Allowed: "absolute path", Risk: RiskLow,
			Doc: "redirect requests for / to this path (302)",
			apply: func(v string, s *Set) error {
				if len(v) > 1024 || !appRootPath.MatchString(v) || v == "/" {
					return errors.New("is not an absolute path other than / (letters, digits and - . _ ~ / % ! & ' ( ) * + , = : @)")
				}
				s.Routing.AppRoot = v
				return nil
			}},
		{Key: "backend-protocol", Default: "HTTP", Allowed: "HTTP, HTTPS, GRPC, GRPCS", Risk: RiskLow,
			Doc: "protocol nginx speaks to the backend",
			apply: func(v string, s *Set) error {
				switch p := strings.ToUpper(v); p {
				case "HTTP", "HTTPS", "GRPC", "GRPCS":
					s.Routing.BackendProtocol = p
					return nil
				}
				return errors.New("is not HTTP, HTTPS, GRPC or GRPCS")
			}},
	})
}
