package annotations

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/portico-ingress/portico/pkg/excerpt"
	"github.com/portico-ingress/portico/pkg/ngxvar"
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

// hostLiteral and pathLiteral allowlist the literal parts of an
// upstream-vhost or x-forwarded-prefix that names nginx variables.
var (
	hostLiteral = regexp.MustCompile(`^[A-Za-z0-9.\-:]*$`)
	pathLiteral = regexp.MustCompile(`^[A-Za-z0-9\-._~/%!&'()*+,=:@]*$`)
)

// withVariables parses a header value that names allowlisted nginx
// variables (ngxvar) and returns it re-rendered from its parts; every
// literal part must match literal.
func withVariables(v string, literal *regexp.Regexp, what string) (string, error) {
	val, err := ngxvar.Parse(v)
	if err != nil {
		return "", err
	}
	for _, p := range val {
		if p.Var == "" && !literal.MatchString(p.Literal) {
			return "", errors.New("is not " + what + " made of allowed characters and nginx variables")
		}
	}
	return val.String(), nil
}

func headersFields() []Field {
	return inGroup("headers", []Field{
		{Key: "upstream-vhost", Default: "(the request's Host)", Allowed: "a DNS name, optionally with :port; or letters, digits, . - : and nginx variables of the allowlist", Risk: RiskLow,
			Doc: "Host header sent to the backend",
			apply: func(v string, s *Set) error {
				if strings.Contains(v, "$") && len(v) <= 260 {
					out, err := withVariables(v, hostLiteral, "a host")
					if err != nil {
						return err
					}
					s.Headers.UpstreamVhost = out
					return nil
				}
				if len(v) > 260 || !hostPort.MatchString(strings.ToLower(v)) {
					return errors.New("is not a DNS name with an optional :port")
				}
				s.Headers.UpstreamVhost = strings.ToLower(v)
				return nil
			}},
		{Key: "x-forwarded-prefix", Default: "", Allowed: "an absolute path; or URL path characters and nginx variables of the allowlist", Risk: RiskLow,
			Doc: "X-Forwarded-Prefix header sent to the backend",
			apply: func(v string, s *Set) error {
				if strings.Contains(v, "$") && len(v) <= 1024 {
					out, err := withVariables(v, pathLiteral, "a path")
					if err != nil {
						return err
					}
					s.Headers.XForwardedPrefix = out
					return nil
				}
				if len(v) > 1024 || !prefixPath.MatchString(v) {
					return errors.New("is not an absolute path")
				}
				s.Headers.XForwardedPrefix = v
				return nil
			}},
		{Key: "enable-access-log", Default: "true", Allowed: "true, false", Risk: RiskLow,
			Doc: "log the Ingress's requests in the access log",
			apply: func(v string, s *Set) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("is not true or false")
				}
				s.Headers.AccessLog = strconv.FormatBool(b)
				return nil
			}},
		{Key: "server-alias", Default: "", Allowed: "comma-separated DNS names", Risk: RiskMedium,
			Doc: "more host names served by the Ingress's hosts",
			apply: func(v string, s *Set) error {
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
			}},
	})
}
