package model

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/portico-ingress/portico/pkg/pcre"
)

// pathPattern allowlists the characters a path may hold. It leaves out
// everything nginx's tokenizer or variable expansion treats specially
// (quotes, backslash, braces, ";", "$", "#", whitespace), so a path is inert
// even before it is quoted.
var pathPattern = regexp.MustCompile(`^/[A-Za-z0-9\-._~/%!&()*+,=:@]*$`)

const maxPathLength = 2048

func validatePath(p string) error {
	switch {
	case p == "":
		return errors.New("path is empty; use \"/\" to match everything")
	case !strings.HasPrefix(p, "/"):
		return errors.New("path must start with \"/\"")
	case len(p) > maxPathLength:
		return fmt.Errorf("path is longer than %d characters", maxPathLength)
	case !pathPattern.MatchString(p):
		return errors.New("path may only contain letters, digits and - . _ ~ / % ! & ( ) * + , = : @")
	}
	return nil
}

// validateHost accepts what the API server accepts for spec.rules[].host:
// a lowercase DNS subdomain, optionally with a single leading "*." label.
func validateHost(h string) error {
	var errs []string
	if strings.HasPrefix(h, "*.") {
		errs = validation.IsWildcardDNS1123Subdomain(h)
	} else {
		errs = validation.IsDNS1123Subdomain(h)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// regexPathPattern checks a use-regex path and returns the PCRE pattern
// nginx runs for it, printed from its parse tree (pkg/pcre): the user's
// text never reaches nginx.conf, named groups (which would set nginx
// variables) and exponential shapes are refused. The pattern is for a
// caseless context, as ingress-nginx's regex locations are ("~*").
func regexPathPattern(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", errors.New("regex path must start with \"/\"")
	}
	pat, err := pcre.Parse(p, pcre.Options{CaseInsensitive: true})
	if err != nil {
		return "", err
	}
	return pat.PCRE(), nil
}
