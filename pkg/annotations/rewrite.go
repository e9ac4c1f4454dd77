package annotations

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Rewrite is ingress-nginx's use-regex and rewrite-target.
type Rewrite struct {
	// UseRegex treats the Ingress's Prefix and ImplementationSpecific paths as regular expressions.
	UseRegex bool `json:"useRegex,omitempty"`
	// Target replaces the matched path; $1..$9 refer to the path's capture groups.
	// An absolute URL (http:// or https://) makes the path redirect there.
	Target string `json:"target,omitempty"`
}

// IsRedirect reports whether rewrite-target is an absolute URL: ingress-nginx
// (and nginx's rewrite) then answers with a redirect instead of proxying.
func (r Rewrite) IsRedirect() bool {
	return strings.HasPrefix(r.Target, "http://") || strings.HasPrefix(r.Target, "https://")
}

// rewriteTarget allowlists a path with $1..$9 captures and nothing nginx
// would expand or split on: other "$", quotes, braces, ";" and spaces.
var rewriteTarget = regexp.MustCompile(`^/([A-Za-z0-9\-._~/%!&'()*+,=:@?]|\$[1-9])*$`)

// rewriteURL splits an absolute rewrite-target: scheme, host, optional
// port, then a path checked as rewriteTarget. The host and port are fixed
// text; no "$" may stand before the path, so no capture (that is, no
// client) can choose where the redirect points.
var rewriteURL = regexp.MustCompile(`^https?://([a-z0-9.-]+)(:[0-9]{1,5})?(/.*)?$`)

func rewriteFields() []Field {
	return inGroup("rewrite", []Field{
		{Key: "use-regex", Default: "false", Allowed: "true, false", Risk: RiskMedium,
			Doc: "treat the paths as case-insensitive regular expressions; every path of the host becomes one",
			apply: func(v string, s *Set) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("is not true or false")
				}
				s.Rewrite.UseRegex = b
				return nil
			}},
		{Key: "rewrite-target", Default: "", Allowed: "an absolute path, or an http(s) URL with a fixed host; $1 to $9 insert the path's capture groups (in the URL's path and query only)", Risk: RiskMedium,
			Doc: "rewrite the request path before proxying (implies use-regex; an Exact path stays exact, unlike ingress-nginx); an absolute URL answers a 302 redirect to it instead, as ingress-nginx does",
			apply: func(v string, s *Set) error {
				if len(v) > 1024 {
					return errors.New("is longer than 1024 bytes")
				}
				if strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
					if err := checkRewriteURL(v); err != nil {
						return err
					}
					s.Rewrite.Target = v
					return nil
				}
				if !rewriteTarget.MatchString(v) {
					return errors.New("is not an absolute path made of URL characters and $1..$9")
				}
				if hasDotSegment(v) {
					// Rewritten to /../x, a location nginx answers itself
					// would serve a file from outside its html directory.
					return errors.New("has a . or .. path segment")
				}
				s.Rewrite.Target = v
				return nil
			}},
	})
}

// checkRewriteURL accepts http(s)://HOST[:PORT][/PATH]: HOST a DNS name
// (or IPv4 address), PORT 1-65535, PATH as a path rewrite-target.
func checkRewriteURL(v string) error {
	m := rewriteURL.FindStringSubmatch(v)
	if m == nil {
		return errors.New("is not an http(s) URL whose host is a lowercase DNS name, with $1..$9 only in its path")
	}
	if errs := validation.IsDNS1123Subdomain(m[1]); len(errs) > 0 {
		return errors.New("has an invalid host: " + strings.Join(errs, "; "))
	}
	if m[2] != "" {
		if port, err := strconv.Atoi(m[2][1:]); err != nil || port < 1 || port > 65535 {
			return errors.New("has a port outside 1-65535")
		}
	}
	if m[3] != "" && !rewriteTarget.MatchString(m[3]) {
		return errors.New("has a path that is not made of URL characters and $1..$9")
	}
	return nil
}

// hasDotSegment reports a "." or ".." segment, even percent-encoded.
func hasDotSegment(p string) bool {
	lower := strings.ToLower(p)
	lower = strings.ReplaceAll(lower, "%2e", ".")
	lower = strings.ReplaceAll(lower, "%2f", "/")
	for _, seg := range strings.Split(lower, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
