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
	return inGroup("cors", []Field{
		{Key: "enable-cors", Default: "false", Allowed: "true, false", Risk: RiskLow,
			Doc: "answer CORS preflight requests and add CORS headers",
			apply: func(v string, s *Set) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("is not true or false")
				}
				s.CORS.Enabled = b
				return nil
			}},
		{Key: "cors-allow-origin", Default: "*", Allowed: "*, or comma-separated origins like https://app.example.com:8443", Risk: RiskLow,
			Doc: "origins allowed to call",
			apply: func(v string, s *Set) error {
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
			}},
		{Key: "cors-allow-methods", Default: DefaultCORSMethods, Allowed: "comma-separated upper-case methods", Risk: RiskLow,
			Doc: "methods allowed in preflight answers",
			apply: func(v string, s *Set) error {
				if !methodsValue.MatchString(v) {
					return errors.New("is not a comma-separated list of upper-case methods")
				}
				s.CORS.AllowMethods = v
				return nil
			}},
		{Key: "cors-allow-headers", Default: DefaultCORSHeaders, Allowed: "* or comma-separated header names", Risk: RiskLow,
			Doc: "request headers allowed in preflight answers",
			apply: func(v string, s *Set) error {
				if !headersValue.MatchString(v) {
					return errors.New("is not * or a comma-separated list of header names")
				}
				s.CORS.AllowHeaders = v
				return nil
			}},
		{Key: "cors-expose-headers", Default: "", Allowed: "* or comma-separated header names", Risk: RiskLow,
			Doc: "response headers scripts may read",
			apply: func(v string, s *Set) error {
				if !headersValue.MatchString(v) {
					return errors.New("is not * or a comma-separated list of header names")
				}
				s.CORS.ExposeHeaders = v
				return nil
			}},
		{Key: "cors-allow-credentials", Default: "true", Allowed: "true, false", Risk: RiskLow,
			Doc: "allow cookies and credentials",
			apply: func(v string, s *Set) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("is not true or false")
				}
				s.CORS.AllowCredentials = strconv.FormatBool(b)
				return nil
			}},
		{Key: "cors-max-age", Default: DefaultCORSMaxAge, Allowed: "whole seconds", Risk: RiskLow,
			Doc: "how long browsers may cache a preflight answer",
			apply: func(v string, s *Set) error {
				if !secondsValue.MatchString(v) {
					return errors.New("is not a whole number of seconds")
				}
				s.CORS.MaxAge = v
				return nil
			}},
	})
}
