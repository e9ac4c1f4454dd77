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
		{Key: "rewrite-target", Default: "", Allowed: "an absolute path; $1 to $9 insert the path's capture groups", Risk: RiskMedium,
			Doc: "rewrite the request path before proxying (implies use-regex)",
			apply: func(v string, s *Set) error {
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
			}},
	})
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
