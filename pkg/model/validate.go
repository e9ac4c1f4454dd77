package model

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
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

// validateRegexPath checks a use-regex path: it must compile (nginx uses
// PCRE; Go's RE2 accepts a subset, so look-arounds are refused) and hold no
// control characters. Quoting keeps it one token; location regexes do not
// expand variables.
func validateRegexPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return errors.New("regex path must start with \"/\"")
	case len(p) > 1024:
		return errors.New("regex path is longer than 1024 characters")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return errors.New("regex path contains a control character")
		}
	}
	if _, err := regexp.Compile(p); err != nil {
		return fmt.Errorf("regex path does not compile: %v", err)
	}
	// RE2 and nginx's PCRE disagree on a few escapes; refuse those rather
	// than let nginx -t reject the whole config at the next reload.
	if pcreMismatch.MatchString(p) {
		return errors.New(`regex path uses an escape nginx's PCRE reads differently (\x, \p, \P, or a class like \d used as a range bound)`)
	}
	return nil
}

// pcreMismatch finds \x, \p and \P escapes and a class escape used as a
// range bound ("[\d-z]"), which PCRE refuses.
var pcreMismatch = regexp.MustCompile(`\\[xpPNQEC]|\\[dDwWsShHvV]-|-\\[dDwWsShHvV]`)
