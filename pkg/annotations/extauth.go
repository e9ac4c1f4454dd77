package annotations

import (
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/portico-ingress/portico/pkg/excerpt"
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

// authURLValue allowlists absolute http(s) URLs with no "$" (which nginx
// would expand: the root of CVE-2025-24514), quotes, braces, ";" or spaces.
var authURLValue = regexp.MustCompile(`^https?://[A-Za-z0-9\-._~:/?#\[\]@!&'()*+,=%]+$`)

// headerName allowlists HTTP header names.
var headerName = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

func absoluteURL(v string) error {
	if len(v) > 2048 || !authURLValue.MatchString(v) {
		return errors.New("is not an absolute http(s) URL without $, quotes, braces, ; or spaces")
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return errors.New("is not an absolute http(s) URL with a host")
	}
	return nil
}

func extAuthFields() []Field {
	return inGroup("external-auth", []Field{
		{Key: "auth-url", Default: "", Allowed: "absolute http(s) URL", Risk: RiskMedium,
			Doc: "ask this service about every request: 2xx passes, 401/403 refuse",
			apply: func(v string, s *Set) error {
				if err := absoluteURL(v); err != nil {
					return err
				}
				s.ExternalAuth.URL = v
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
		{Key: "auth-signin", Default: "", Allowed: "absolute http(s) URL", Risk: RiskMedium,
			Doc: "where a 401 redirects (with ?rd= the original URL)",
			apply: func(v string, s *Set) error {
				if err := absoluteURL(v); err != nil {
					return err
				}
				s.ExternalAuth.SignIn = v
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
