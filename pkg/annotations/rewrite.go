package annotations

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
)

// Rewrite is ingress-nginx's use-regex and rewrite-target.
type Rewrite struct {
	// UseRegex treats the Ingress's Prefix and ImplementationSpecific paths as regular expressions.
	UseRegex bool `json:"useRegex,omitempty"`
	// Target replaces the matched path; $1..$9 refer to the path's capture groups.
	Target string `json:"target,omitempty"`
}

// rewriteTarget allowlists a path with $1..$9 captures and nothing nginx
// would expand or split on: other "$", quotes, braces, ";" and spaces.
var rewriteTarget = regexp.MustCompile(`^/([A-Za-z0-9\-._~/%!&'()*+,=:@?]|\$[1-9])*$`)

func rewriteFields() []Field {
	f := func(key, def, allowed, doc string, risk Risk, apply func(string, *Set) error) Field {
		return Field{Key: key, Group: "rewrite", Scope: ScopeLocation, Risk: risk, Default: def, Allowed: allowed, Doc: doc, apply: apply}
	}
	return []Field{
		f("use-regex", "false", "true, false",
			"treat the paths as case-insensitive regular expressions; every path of the host becomes one", RiskMedium,
			func(v string, s *Set) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("is not true or false")
				}
				s.Rewrite.UseRegex = b
				return nil
			}),
		f("rewrite-target", "", "an absolute path; $1 to $9 insert the path's capture groups",
			"rewrite the request path before proxying (implies use-regex)", RiskMedium,
			func(v string, s *Set) error {
				if len(v) > 1024 || !rewriteTarget.MatchString(v) {
					return errors.New("is not an absolute path made of URL characters and $1..$9")
				}
				if hasDotSegment(v) {
					// Rewritten to /../x, a location nginx answers itself
					// would serve a file from outside its html directory.
					return errors.New("has a . or .. path segment")
				}
				s.Rewrite.Target = v
				return nil
			}),
	}
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
