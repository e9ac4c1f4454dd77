package verdict

import (
	"fmt"
	"slices"
	"strings"

	"github.com/portico-ingress/portico/pkg/annotations"
)

// adviceRule says what to do about ingress-nginx annotations Portico does
// not implement. Rules never claim that a key is unsupported: adviceFor is
// only asked about keys the parser reported unknown, and it names other
// keys (siblings of the group, a replacement) only when Fields() has them,
// so the advice stays true as annotation groups are added.
type adviceRule struct {
	// keys are annotation names without the prefix; a trailing "*" matches a prefix.
	keys []string
	// feature names what the keys do, for "Portico does not implement FEATURE yet (planned)".
	feature string
	// planned says Portico means to implement the feature.
	planned bool
	// meanwhile says what happens while the feature is missing; it is left
	// out once Portico supports some annotation of the rule (a partial
	// implementation changes what happens).
	meanwhile string
	// hint is what to do instead; always shown.
	hint string
	// instead and insteadValue name a replacement annotation, used only while it is supported.
	instead, insteadValue string
}

var adviceRules = []adviceRule{
	// configuration-snippet and server-snippet are implemented (behind an operator flag).
	{keys: []string{"auth-snippet", "stream-snippet"},
		hint: "this snippet is not supported; configuration-snippet and server-snippet are, where the operator allows them " +
			"(ask the operator), and an annotation Portico supports is better still"},
	{keys: []string{"cors-*"},
		hint: "this CORS option is not implemented; enable-cors and the cors-allow-*, cors-expose-headers and cors-max-age options are"},
	// canary and affinity are implemented: only keys outside the families reach these rules.
	{keys: []string{"canary-*"},
		hint: "this canary option is not implemented; canary, canary-weight, canary-weight-total, canary-by-header, " +
			"canary-by-header-value, canary-by-header-pattern and canary-by-cookie are"},
	{keys: []string{"affinity-*", "session-cookie-*"},
		hint: "this session-affinity option is not implemented; affinity, affinity-mode and session-cookie-name, -path, -domain, " +
			"-max-age, -expires, -secure, -samesite and -change-on-failure are"},
	{keys: []string{"upstream-hash-by-*"},
		hint: "hash subsets are not implemented; upstream-hash-by alone gives consistent hashing"},
	{keys: []string{"satisfy"},
		hint: "not implemented: when basic and external authentication are both set, both must pass"},
	{keys: []string{"auth-keepalive-*"},
		hint: "this external-authentication option is not implemented; auth-url, auth-method, auth-signin, auth-signin-redirect-param, " +
			"auth-response-headers, auth-request-redirect, auth-proxy-set-headers, auth-always-set-cookie, auth-cache-key, " +
			"auth-cache-duration and auth-keepalive, -requests, -timeout and -share-vars are"},
	{keys: []string{"global-auth-*"},
		hint: "global-auth-* are keys of the controller's options ConfigMap, never annotations (docs/configmap.md): " +
			"no Ingress may change the authentication of others; an Ingress may only opt out, with enable-global-auth: \"false\""},
	{keys: []string{"auth-tls-*"},
		hint: "this client-certificate option is not implemented; auth-tls-secret, -verify-client, -verify-depth and -pass-certificate-to-upstream are"},
	{keys: []string{"proxy-ssl-*"},
		hint: "this backend TLS option is not implemented; proxy-ssl-secret, -verify, -name and -server-name are"},
	{keys: []string{"proxy-buffers-number", "proxy-busy-buffers-size", "proxy-max-temp-file-size", "proxy-cookie-domain",
		"proxy-cookie-path", "proxy-redirect-from", "proxy-redirect-to", "connection-proxy-header"},
		feature: "this proxy setting", planned: true},
	{keys: []string{"limit-rate", "limit-rate-after"}, feature: "bandwidth limits", planned: true},
	{keys: []string{"enable-rewrite-log"}, feature: "the rewrite log", planned: true},
	{keys: []string{"mirror-*"}, feature: "request mirroring", planned: true},
	{keys: []string{"global-rate-limit*"},
		hint: "not planned: Portico has no shared rate-limit store", instead: "limit-rps"},
	{keys: []string{"enable-opentelemetry", "opentelemetry-*", "enable-opentracing", "opentracing-*"},
		hint: "not implemented: Portico exports no spans (Debian ships no nginx OpenTelemetry module); it passes a valid W3C traceparent on, or generates one, for every request without it (docs/tracing.md)"},
	{keys: []string{"ssl-passthrough"},
		hint: "not planned: Portico terminates TLS; pass TLS through with a TCP (L4) load balancer instead"},
	{keys: []string{"ssl-ciphers", "ssl-prefer-server-ciphers"},
		hint: "per-Ingress TLS settings are not implemented; the ConfigMap keys ssl-ciphers and ssl-protocols set them for every host"},
	{keys: []string{"http2-push-preload"},
		hint: "not planned: nginx no longer supports HTTP/2 server push; remove it"},
	{keys: []string{"secure-backends"},
		hint: "removed from ingress-nginx long ago", instead: "backend-protocol", insteadValue: "HTTPS"},
	{keys: []string{"grpc-backend"},
		hint: "removed from ingress-nginx long ago", instead: "backend-protocol", insteadValue: "GRPC"},
	{keys: []string{"influxdb-*", "add-base-url", "base-url-scheme"},
		hint: "removed from ingress-nginx; remove it"},
}

// SupportedKeys returns the annotation names (without prefix) Portico implements.
func SupportedKeys() map[string]bool {
	out := map[string]bool{}
	for _, f := range annotations.Fields() {
		out[f.Key] = true
	}
	return out
}

func matchKey(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	return pattern == name
}

// findRule returns the rule for an annotation name: an exact key wins over
// a prefix, a longer prefix over a shorter one.
func findRule(name string) (adviceRule, bool) {
	var best adviceRule
	bestLen, exact := -1, false
	for _, r := range adviceRules {
		for _, k := range r.keys {
			if !matchKey(k, name) {
				continue
			}
			isExact := !strings.HasSuffix(k, "*")
			if (isExact && !exact) || (isExact == exact && len(k) > bestLen) {
				best, bestLen, exact = r, len(k), isExact
			}
		}
	}
	return best, bestLen >= 0
}

// adviceFor says what to do about an annotation name (without prefix) that
// the parser reported unknown; supported are the names Portico implements.
func adviceFor(name string, supported map[string]bool) string {
	r, ok := findRule(name)
	if !ok {
		return "Portico does not implement this annotation and ignores it; check the spelling and docs/annotations.md"
	}
	var parts []string
	if r.planned {
		var siblings []string
		for s := range supported {
			for _, k := range r.keys {
				if matchKey(k, s) {
					siblings = append(siblings, s)
					break
				}
			}
		}
		slices.Sort(siblings)
		if len(siblings) > 0 {
			parts = append(parts, fmt.Sprintf("Portico does not implement this annotation yet (planned; related ones it supports: %s)",
				strings.Join(siblings, ", ")))
		} else {
			parts = append(parts, "Portico does not implement "+r.feature+" yet (planned)")
			if r.meanwhile != "" {
				parts = append(parts, r.meanwhile)
			}
		}
	}
	if r.instead != "" && supported[r.instead] {
		use := "use " + r.instead
		if r.insteadValue != "" {
			use += fmt.Sprintf(": %q", r.insteadValue)
		}
		parts = append(parts, use+" instead")
	}
	if r.hint != "" {
		parts = append(parts, r.hint)
	}
	if len(parts) == 0 {
		return "Portico does not implement this annotation and ignores it"
	}
	s := strings.Join(parts, "; ")
	return strings.ToUpper(s[:1]) + s[1:]
}
