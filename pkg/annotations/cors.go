package annotations

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/portico-ingress/portico/pkg/excerpt"
)

// CORS is ingress-nginx's enable-cors family.
type CORS struct {
	// Enabled turns CORS headers and preflight answers on.
	Enabled bool `json:"enabled,omitempty"`
	// AllowOrigins are the allowed origins ("*" or scheme://host[:port]).
	AllowOrigins []string `json:"allowOrigins,omitempty"`
	// AllowMethods is the Access-Control-Allow-Methods value.
	AllowMethods string `json:"allowMethods,omitempty"`
	// AllowHeaders is the Access-Control-Allow-Headers value.
	AllowHeaders string `json:"allowHeaders,omitempty"`
	// ExposeHeaders is the Access-Control-Expose-Headers value.
	ExposeHeaders string `json:"exposeHeaders,omitempty"`
	// AllowCredentials is "true" or "false" when set.
	AllowCredentials string `json:"allowCredentials,omitempty"`
	// MaxAge is the preflight cache time in seconds, when set.
	MaxAge string `json:"maxAge,omitempty"`
}

// Defaults as ingress-nginx has them.
const (
	DefaultCORSMethods = "GET, PUT, POST, DELETE, PATCH, OPTIONS"
	DefaultCORSHeaders = "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization"
	DefaultCORSMaxAge  = "1728000"
)

var (
	originValue  = regexp.MustCompile(`^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$`)
	methodsValue = regexp.MustCompile(`^[A-Z]+(\s*,\s*[A-Z]+)*$`)
	headersValue = regexp.MustCompile(`^(\*|[A-Za-z0-9_-]+)(\s*,\s*[A-Za-z0-9_-]+)*$`)
)

func corsFields() []Field {
	f := func(key, def, allowed, doc string, apply func(string, *Set) error) Field {
		return Field{Key: key, Group: "cors", Scope: ScopeLocation, Risk: RiskLow, Default: def, Allowed: allowed, Doc: doc, apply: apply}
	}
	return []Field{
		f("enable-cors", "false", "true, false", "answer CORS preflight requests and add CORS headers",
			func(v string, s *Set) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("is not true or false")
				}
				s.CORS.Enabled = b
				return nil
			}),
		f("cors-allow-origin", "*", "*, or comma-separated origins like https://app.example.com:8443", "origins allowed to call",
			func(v string, s *Set) error {
				var out []string
				for _, o := range strings.Split(v, ",") {
					o = strings.TrimSpace(o)
					if o == "" {
						continue
					}
					if o != "*" && !originValue.MatchString(o) {
						return errors.New("has an origin that is not * or scheme://host[:port]: " + strconv.Quote(excerpt.Of(o)))
					}
					out = append(out, o)
				}
				if len(out) == 0 {
					return errors.New("lists no origin")
				}
				s.CORS.AllowOrigins = out
				return nil
			}),
		f("cors-allow-methods", DefaultCORSMethods, "comma-separated upper-case methods", "methods allowed in preflight answers",
			func(v string, s *Set) error {
				if !methodsValue.MatchString(v) {
					return errors.New("is not a comma-separated list of upper-case methods")
				}
				s.CORS.AllowMethods = v
				return nil
			}),
		f("cors-allow-headers", DefaultCORSHeaders, "* or comma-separated header names", "request headers allowed in preflight answers",
			func(v string, s *Set) error {
				if !headersValue.MatchString(v) {
					return errors.New("is not * or a comma-separated list of header names")
				}
				s.CORS.AllowHeaders = v
				return nil
			}),
		f("cors-expose-headers", "", "* or comma-separated header names", "response headers scripts may read",
			func(v string, s *Set) error {
				if !headersValue.MatchString(v) {
					return errors.New("is not * or a comma-separated list of header names")
				}
				s.CORS.ExposeHeaders = v
				return nil
			}),
		f("cors-allow-credentials", "true", "true, false", "allow cookies and credentials",
			func(v string, s *Set) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("is not true or false")
				}
				s.CORS.AllowCredentials = strconv.FormatBool(b)
				return nil
			}),
		f("cors-max-age", DefaultCORSMaxAge, "whole seconds", "how long browsers may cache a preflight answer",
			func(v string, s *Set) error {
				if !secondsValue.MatchString(v) {
					return errors.New("is not a whole number of seconds")
				}
				s.CORS.MaxAge = v
				return nil
			}),
	}
}
