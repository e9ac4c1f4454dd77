package annotations

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/portico-ingress/portico/pkg/excerpt"
)

// Headers changes what nginx tells the backend and what it logs.
type Headers struct {
	// UpstreamVhost replaces the Host header sent to the backend.
	UpstreamVhost string `json:"upstreamVhost,omitempty"`
	// XForwardedPrefix is sent as X-Forwarded-Prefix.
	XForwardedPrefix string `json:"xForwardedPrefix,omitempty"`
	// AccessLog is "false" to turn the access log off for the Ingress.
	AccessLog string `json:"accessLog,omitempty"`
	// ServerAliases are extra host names served like the Ingress's hosts.
	ServerAliases []string `json:"serverAliases,omitempty"`
}

// hostPort allowlists a DNS name with an optional port.
var hostPort = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$`)

// prefixPath allowlists a URL path prefix.
var prefixPath = regexp.MustCompile(`^/[A-Za-z0-9\-._~/%!&'()*+,=:@]*$`)

func headersFields() []Field {
	f := func(key, def, allowed, doc string, risk Risk, apply func(string, *Set) error) Field {
		return Field{Key: key, Group: "headers", Scope: ScopeLocation, Risk: risk, Default: def, Allowed: allowed, Doc: doc, apply: apply}
	}
	return []Field{
		f("upstream-vhost", "(the request's Host)", "a DNS name, optionally with :port", "Host header sent to the backend", RiskLow,
			func(v string, s *Set) error {
				if len(v) > 260 || !hostPort.MatchString(strings.ToLower(v)) {
					return errors.New("is not a DNS name with an optional :port")
				}
				s.Headers.UpstreamVhost = strings.ToLower(v)
				return nil
			}),
		f("x-forwarded-prefix", "", "an absolute path", "X-Forwarded-Prefix header sent to the backend", RiskLow,
			func(v string, s *Set) error {
				if len(v) > 1024 || !prefixPath.MatchString(v) {
					return errors.New("is not an absolute path")
				}
				s.Headers.XForwardedPrefix = v
				return nil
			}),
		f("enable-access-log", "true", "true, false", "log the Ingress's requests in the access log", RiskLow,
			func(v string, s *Set) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("is not true or false")
				}
				s.Headers.AccessLog = strconv.FormatBool(b)
				return nil
			}),
		f("server-alias", "", "comma-separated DNS names", "more host names served by the Ingress's hosts", RiskMedium,
			func(v string, s *Set) error {
				var out []string
				for _, h := range strings.Split(v, ",") {
					h = strings.TrimSpace(strings.ToLower(h))
					if h == "" {
						continue
					}
					if errs := validation.IsDNS1123Subdomain(h); len(errs) > 0 {
						return errors.New("has a name that is not a DNS name: " + strconv.Quote(excerpt.Of(h)))
					}
					out = append(out, h)
				}
				if len(out) == 0 {
					return errors.New("lists no name")
				}
				s.Headers.ServerAliases = out
				return nil
			}),
	}
}
