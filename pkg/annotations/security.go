package annotations

import (
	"strconv"
	"strings"
)

// securityRule names ingress-nginx annotations that ask for a security
// control: authentication, client networks, rate limits, TLS verification,
// a WAF. When Portico does not implement such a key, ignoring it would serve
// the Ingress without the control its owner asked for, so the key is an
// UnsupportedSecurity problem and the Ingress is not served (controls fail
// closed). Other unknown keys stay Unknown: reported and ignored.
type securityRule struct {
	// pattern is a key without the prefix; a trailing "*" matches a prefix.
	pattern string
	// control names what would be lost, for the message.
	control string
	// offIsHarmless: the key switches a control on, so a false value asks
	// for nothing and ignoring it weakens nothing.
	offIsHarmless bool
}

// securityRules is checked only for keys no Field declares: a supported
// key is never refused here. Patterns are broad on purpose: a misspelt
// auth key ("auth-urll") is an Ingress without its authentication.
var securityRules = []securityRule{
	{pattern: "auth-*", control: "authentication"},
	{pattern: "global-auth-*", control: "authentication"},
	{pattern: "satisfy", control: "authentication (basic and external auth combined)"},
	{pattern: "enable-modsecurity", control: "the ModSecurity WAF", offIsHarmless: true},
	{pattern: "enable-owasp-core-rules", control: "the ModSecurity WAF", offIsHarmless: true},
	{pattern: "modsecurity-*", control: "the ModSecurity WAF"},
	{pattern: "*-source-range", control: "a client network allow/deny list"},
	{pattern: "limit-*", control: "a rate or bandwidth limit"},
	{pattern: "global-rate-limit*", control: "a rate limit"},
	{pattern: "proxy-ssl-*", control: "backend TLS verification"},
	{pattern: "ssl-ciphers", control: "the TLS cipher policy"},
}

// securityControl returns what ignoring an unsupported key (name without
// the prefix) with this value would lose, or "" when it loses no security
// control.
func securityControl(name, value string) string {
	for _, r := range securityRules {
		if !matchPattern(r.pattern, name) {
			continue
		}
		if r.offIsHarmless {
			if on, err := strconv.ParseBool(value); err == nil && !on {
				return ""
			}
		}
		return r.control
	}
	return ""
}

// matchPattern matches a key against "exact", "prefix*" or "*suffix".
func matchPattern(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	if s, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(name, s)
	}
	return pattern == name
}

// SecurityPatterns lists the key patterns whose unsupported keys make an
// Ingress not served, for docs and the migration report.
func SecurityPatterns() []string {
	out := make([]string, 0, len(securityRules))
	for _, r := range securityRules {
		out = append(out, r.pattern)
	}
	return out
}
