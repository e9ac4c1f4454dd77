package annotations

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/portico-ingress/portico/pkg/excerpt"
	"github.com/portico-ingress/portico/pkg/ngxvar"
)

// ExternalAuth asks another service whether a request may pass
// (ingress-nginx's auth-url family, nginx's auth_request).
type ExternalAuth struct {
	// URL is the auth service endpoint; 2xx lets the request through, 401 or 403 refuse it.
	URL string `json:"url,omitempty"`
	// Method is the method of the auth subrequest, when not GET.
	Method string `json:"method,omitempty"`
	// SignIn is where a 401 redirects, with ?rd= the original URL.
	SignIn string `json:"signIn,omitempty"`
	// ResponseHeaders are copied from the auth answer onto the proxied request.
	ResponseHeaders []string `json:"responseHeaders,omitempty"`
}

// headerName allowlists HTTP header names.
var headerName = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

func extAuthFields() []Field {
	return inGroup("external-auth", []Field{
		{Key: "auth-url", Default: "", Allowed: "absolute http(s) URL; nginx variables of the allowlist only in its path and query", Risk: RiskMedium,
			Doc: "ask this service about every request: 2xx passes, 401/403 refuse",
			apply: func(v string, s *Set) error {
				u, err := ngxvar.ParseURL(v, ngxvar.Connect)
				if err != nil {
					return err
				}
				if u.Uses("escaped_request_uri") {
					// It is defined in the request's own location, not in
					// the internal one that sends the subrequest.
					return errors.New("names $escaped_request_uri, which auth-url cannot use; X-Original-URL carries the request URL")
				}
				s.ExternalAuth.URL = u.String()
				return nil
			}},
		{Key: "auth-method", Default: "GET", Allowed: "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", Risk: RiskLow,
			Doc: "method of the auth request",
			apply: func(v string, s *Set) error {
				switch m := strings.ToUpper(v); m {
				case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
					s.ExternalAuth.Method = m
					return nil
				}
				return errors.New("is not an HTTP method")
			}},
		{Key: "auth-signin", Default: "", Allowed: "absolute http(s) URL; nginx variables of the allowlist, $scheme and $host also before the path", Risk: RiskMedium,
			Doc: "where a 401 redirects (with ?rd= the original URL unless the value has rd= itself)",
			apply: func(v string, s *Set) error {
				u, err := ngxvar.ParseURL(v, ngxvar.Redirect)
				if err != nil {
					return err
				}
				s.ExternalAuth.SignIn = u.String()
				return nil
			}},
		{Key: "auth-response-headers", Default: "", Allowed: "comma-separated header names (at most 16)", Risk: RiskLow,
			Doc: "headers copied from the auth answer to the proxied request",
			apply: func(v string, s *Set) error {
				var out []string
				for _, h := range strings.Split(v, ",") {
					h = strings.TrimSpace(h)
					if h == "" {
						continue
					}
					if !headerName.MatchString(h) {
						return errors.New("has a header name that is not letters, digits and -: " + strconv.Quote(excerpt.Of(h)))
					}
					out = append(out, h)
				}
				if len(out) == 0 || len(out) > 16 {
					return errors.New("must list 1 to 16 header names")
				}
				s.ExternalAuth.ResponseHeaders = out
				return nil
			}},
	})
}
