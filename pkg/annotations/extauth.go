package annotations

import (
	"errors"
	"fmt"
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
	// SignInRedirectParam names the query parameter of SignIn that carries
	// the original URL, when not "rd".
	SignInRedirectParam string `json:"signInRedirectParam,omitempty"`
	// CacheKey turns on caching of auth answers: the user's part of the
	// key, in ngxvar's rendering (allowlisted variables and literals).
	CacheKey string `json:"cacheKey,omitempty"`
	// CacheDuration are proxy_cache_valid arguments, each "[code ...] time"
	// with single spaces; empty means DefaultCacheDuration.
	CacheDuration []string `json:"cacheDuration,omitempty"`
	// ProxySetHeaders names a ConfigMap of the Ingress's namespace whose
	// entries are sent to the auth service as request headers.
	ProxySetHeaders string `json:"proxySetHeaders,omitempty"`
	// RequestRedirect is the X-Auth-Request-Redirect value, in ngxvar's
	// rendering, when not the request URI.
	RequestRedirect string `json:"requestRedirect,omitempty"`
	// AlwaysSetCookie passes the auth answer's Set-Cookie on every
	// response, errors included, not only on 2xx and 3xx.
	AlwaysSetCookie bool `json:"alwaysSetCookie,omitempty"`
	// Keepalive is how many idle connections to the auth service each
	// worker keeps (0: a new connection per check).
	Keepalive int `json:"keepalive,omitempty"`
	// KeepaliveRequests is how many checks one connection carries (0: the default).
	KeepaliveRequests int `json:"keepaliveRequests,omitempty"`
	// KeepaliveTimeout is how many seconds an idle connection stays open (0: the default).
	KeepaliveTimeout int `json:"keepaliveTimeout,omitempty"`
	// KeepaliveShareVars is ingress-nginx's switch for its Lua subrequest;
	// nginx's auth_request always shares the request's variables.
	KeepaliveShareVars bool `json:"keepaliveShareVars,omitempty"`
}

// Defaults of the auth-cache and auth-keepalive keys (ingress-nginx's).
const (
	// DefaultCacheDuration is auth-cache-duration's default.
	DefaultCacheDuration = "200 202 401 5m"
	// DefaultKeepaliveRequests is auth-keepalive-requests' default.
	DefaultKeepaliveRequests = 1000
	// DefaultKeepaliveTimeout is auth-keepalive-timeout's default, in seconds.
	DefaultKeepaliveTimeout = 60
	// DefaultSignInRedirectParam is auth-signin-redirect-param's default.
	DefaultSignInRedirectParam = "rd"
)

// headerName allowlists HTTP header names.
var headerName = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// queryParam allowlists the name of a query parameter: unreserved URL
// characters, so that it needs no escaping in the sign-in URL.
var queryParam = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,64}$`)

// cacheCode is a status code proxy_cache_valid takes; cacheTime an nginx
// time, as ingress-nginx allows it (a number with a unit).
var (
	cacheCode = regexp.MustCompile(`^(any|[1-5][0-9][0-9])$`)
	cacheTime = regexp.MustCompile(`^[0-9]{1,7}(ms|s|m|h|d|w|M|y)$`)
)

// cacheKeyLiteral allowlists the literal text of auth-cache-key: it is
// part of a cache key only, but no quotes, spaces or braces are needed.
var cacheKeyLiteral = regexp.MustCompile(`^[A-Za-z0-9_.:/|@=,;+~-]*$`)

// parseCacheDuration reads auth-cache-duration: comma-separated entries,
// each status codes (or "any") followed by exactly one time, as one
// proxy_cache_valid takes them.
func parseCacheDuration(v string) ([]string, error) {
	var out []string
	for _, entry := range strings.Split(v, ",") {
		fields := strings.Fields(entry)
		if len(fields) == 0 {
			continue
		}
		if len(fields) > 16 {
			return nil, errors.New("has an entry with more than 15 status codes")
		}
		last := len(fields) - 1
		if !cacheTime.MatchString(fields[last]) {
			return nil, errors.New("has an entry that does not end with a time such as 5m: " + strconv.Quote(excerpt.Of(entry)))
		}
		for _, c := range fields[:last] {
			if !cacheCode.MatchString(c) {
				return nil, errors.New("has something other than a status code before the time: " + strconv.Quote(excerpt.Of(c)))
			}
		}
		out = append(out, strings.Join(fields, " "))
	}
	if len(out) == 0 || len(out) > 8 {
		return nil, errors.New("must have 1 to 8 entries")
	}
	return out, nil
}

// parseCount reads a positive integer up to max.
func parseCount(v string, max int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("is not a whole number from 1 to %d", max)
	}
	return n, nil
}

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
		{Key: "auth-signin-redirect-param", Default: DefaultSignInRedirectParam, Allowed: "a query parameter name: letters, digits, ., _, ~ and - (at most 64)", Risk: RiskLow,
			Doc: "the query parameter of auth-signin that carries the original URL",
			apply: func(v string, s *Set) error {
				if !queryParam.MatchString(v) {
					return errors.New("is not a query parameter name")
				}
				s.ExternalAuth.SignInRedirectParam = v
				return nil
			}},
		{Key: "auth-cache-key", Default: "", Allowed: "nginx variables of the allowlist and letters, digits and _.:/|@=,;+~- (e.g. $cookie__oauth2_proxy)", Risk: RiskMedium,
			Doc: "cache the auth answers under this key (Portico adds the Ingress and the host: no Ingress reads another's entries)",
			apply: func(v string, s *Set) error {
				parsed, err := ngxvar.Parse(v)
				if err != nil {
					return err
				}
				if len(parsed.Vars()) == 0 {
					return errors.New("names no variable: every request would share one answer")
				}
				for _, p := range parsed {
					if p.Var == "" && !cacheKeyLiteral.MatchString(p.Literal) {
						return errors.New("has a character other than letters, digits and _.:/|@=,;+~- outside its variables")
					}
					if p.Var == "escaped_request_uri" {
						// Defined in the request's own location, not in the auth one.
						return errors.New("names $escaped_request_uri, which the auth location does not have")
					}
				}
				s.ExternalAuth.CacheKey = parsed.String()
				return nil
			}},
		{Key: "auth-cache-duration", Default: DefaultCacheDuration, Allowed: "comma-separated entries of status codes (or any) and one nginx time, e.g. 200 202 10m, 401 1m", Risk: RiskLow,
			Doc: "how long cached auth answers live, by status (with auth-cache-key)",
			apply: func(v string, s *Set) error {
				d, err := parseCacheDuration(v)
				if err != nil {
					return err
				}
				s.ExternalAuth.CacheDuration = d
				return nil
			}},
		{Key: "auth-proxy-set-headers", Default: "", Allowed: "a ConfigMap in the Ingress's namespace", Risk: RiskMedium,
			Doc: "send each entry of the ConfigMap (header: value) to the auth service",
			apply: func(v string, s *Set) error {
				if err := checkObjectRef(v, "ConfigMap"); err != nil {
					return err
				}
				s.ExternalAuth.ProxySetHeaders = v
				return nil
			}},
		{Key: "auth-request-redirect", Default: "$request_uri", Allowed: "an absolute http(s) URL or a path; nginx variables of the allowlist as in auth-signin, not $escaped_request_uri", Risk: RiskLow,
			Doc: "the X-Auth-Request-Redirect header sent to the auth service",
			apply: func(v string, s *Set) error {
				parsed, err := parseRequestRedirect(v)
				if err != nil {
					return err
				}
				s.ExternalAuth.RequestRedirect = parsed
				return nil
			}},
		{Key: "auth-always-set-cookie", Default: "false", Allowed: "true or false", Risk: RiskLow,
			Doc: "pass the auth answer's Set-Cookie on every response (by default only on 2xx and 3xx)",
			apply: func(v string, s *Set) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("is not true or false")
				}
				s.ExternalAuth.AlwaysSetCookie = b
				return nil
			}},
		{Key: "auth-keepalive", Default: "0", Allowed: "0 to 1024; only where auth-url's host is an IP address (docs/annotations.md)", Risk: RiskLow, FallBack: true,
			Doc: "idle connections to the auth service each worker keeps open",
			apply: func(v string, s *Set) error {
				if v == "0" {
					s.ExternalAuth.Keepalive = 0
					return nil
				}
				n, err := parseCount(v, 1024)
				if err != nil {
					return err
				}
				s.ExternalAuth.Keepalive = n
				return nil
			}},
		{Key: "auth-keepalive-requests", Default: strconv.Itoa(DefaultKeepaliveRequests), Allowed: "1 to 1000000", Risk: RiskLow, FallBack: true,
			Doc: "auth checks one kept-alive connection carries (with auth-keepalive)",
			apply: func(v string, s *Set) error {
				n, err := parseCount(v, 1000000)
				if err != nil {
					return err
				}
				s.ExternalAuth.KeepaliveRequests = n
				return nil
			}},
		{Key: "auth-keepalive-timeout", Default: strconv.Itoa(DefaultKeepaliveTimeout), Allowed: "1 to 86400 (seconds)", Risk: RiskLow, FallBack: true,
			Doc: "seconds an idle connection to the auth service stays open (with auth-keepalive)",
			apply: func(v string, s *Set) error {
				n, err := parseCount(v, 86400)
				if err != nil {
					return err
				}
				s.ExternalAuth.KeepaliveTimeout = n
				return nil
			}},
		{Key: "auth-keepalive-share-vars", Default: "false", Allowed: "true or false", Risk: RiskLow, FallBack: true,
			Doc: "accepted for ingress-nginx's manifests; nginx's auth_request always shares the request's variables",
			apply: func(v string, s *Set) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("is not true or false")
				}
				s.ExternalAuth.KeepaliveShareVars = b
				return nil
			}},
	})
}

// parseRequestRedirect reads auth-request-redirect: an absolute URL or a
// path, with variables where a redirect may have them (the auth service
// sends the client there after sign-in). $escaped_request_uri exists only
// in the request's own location, not in the auth location that sends it.
func parseRequestRedirect(v string) (string, error) {
	parsed, err := ngxvar.Parse(v)
	if err != nil {
		return "", err
	}
	check := v
	if len(parsed) > 0 && (parsed[0].Var == "request_uri" || parsed[0].Var == "uri" ||
		(strings.HasPrefix(parsed[0].Literal, "/") && !strings.HasPrefix(parsed[0].Literal, "//"))) {
		// A path: checked as the path of a URL on a fixed host.
		check = "http://placeholder.invalid" + v
	}
	if _, err := ngxvar.ParseURL(check, ngxvar.Redirect); err != nil {
		return "", err
	}
	if parsed.Uses("escaped_request_uri") {
		return "", errors.New("names $escaped_request_uri, which the auth location does not have; $request_uri is the default")
	}
	return parsed.String(), nil
}
