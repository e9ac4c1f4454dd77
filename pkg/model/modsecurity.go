package model

import (
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
)

// ReasonModSecurityUnavailable: an Ingress asks for ModSecurity but nginx
// has no ModSecurity module; its paths answer 503 rather than go unchecked.
const ReasonModSecurityUnavailable = "ModSecurityUnavailable"

// Debian's paths of the ModSecurity module, its recommended base rules and
// the OWASP Core Rule Set (libnginx-mod-http-modsecurity, modsecurity-crs).
const (
	DebianModSecurityModule = "/usr/share/nginx/modules/ngx_http_modsecurity_module.so"
	DebianModSecurityConf   = "/etc/nginx/modsecurity.conf"
	DebianOWASPCRSSetup     = "/etc/modsecurity/crs/crs-setup.conf"
	DebianOWASPCRSRules     = "/usr/share/modsecurity-crs/rules/*.conf"
)

// modSecurityAuditOff comes right after the base rules file, which turns
// the audit log on: Debian's base rules write every 4xx/5xx request,
// Authorization headers and bodies included, to a file on disk, and
// secrets must not land in files. (Measured: placed before the base file
// it did not hold; placed after, the audit log stays untouched.)
const modSecurityAuditOff = "SecAuditEngine Off"

// LocationModSecurity is the render-ready ModSecurity policy of a location.
type LocationModSecurity struct {
	// Snippet are the settings of modsecurity-snippet (SecRuleEngine,
	// Sec*BodyAccess), or "". They go first: libmodsecurity keeps the first
	// value a setting gets, so after the base rules they would do nothing.
	Snippet string `json:"snippet,omitempty"`
	// RulesFiles are loaded in order (operator paths, never user input).
	RulesFiles []string `json:"rulesFiles"`
	// Rules are modsecurity_rules strings loaded after RulesFiles: the audit
	// log turned off (modSecurityAuditOff), the Core
	// Rule Set's Include (an operator path), then modsecurity-snippet's
	// SecRuleRemoveBy* lines, which act on the rules loaded before them.
	Rules []string `json:"rules,omitempty"`
	// TransactionID is modsecurity_transaction_id's value, or "".
	TransactionID string `json:"transactionID,omitempty"`
}

// modSecurity makes a location's ModSecurity policy. It reports deny when
// the Ingress asks for ModSecurity and it cannot be honoured (no module,
// or a modsecurity-snippet where snippets are not allowed): a WAF must
// never disappear silently, so the paths answer 503 instead.
func (b *builder) modSecurity(ing *networkingv1.Ingress, m annotations.ModSecurity) (out *LocationModSecurity, deny bool) {
	if !m.Enabled {
		if m.OWASPCoreRules || m.TransactionID != "" || len(m.Snippet) > 0 {
			b.ignored(ingressRef(ing), ReasonIneffectiveAnnotation,
				"ModSecurity annotations are ignored without enable-modsecurity: \"true\"")
		}
		return nil, false
	}
	if b.global.ModSecurityModule == "" {
		b.notServed(ingressRef(ing), ReasonModSecurityUnavailable,
			"enable-modsecurity: nginx has no ModSecurity module (install libnginx-mod-http-modsecurity); the Ingress's paths answer 503 "+
				"rather than go unchecked")
		return nil, true
	}
	if len(m.Snippet) > 0 && !b.snippetsAllowed(ing) {
		b.notServed(ingressRef(ing), ReasonSnippetNotAllowed,
			"modsecurity-snippet: the operator has not allowed snippets for namespace %s (--allow-snippet-annotations, --snippet-namespaces); "+
				"the Ingress's paths answer 503 rather than run without its rules", ing.Namespace)
		return nil, true
	}
	out = &LocationModSecurity{RulesFiles: []string{b.global.ModSecurityConf}, Rules: []string{modSecurityAuditOff}, TransactionID: m.TransactionID}
	if m.OWASPCoreRules {
		// Debian's owasp-crs.load uses IncludeOptional, which libmodsecurity
		// 3 does not know: load its two parts instead.
		out.RulesFiles = append(out.RulesFiles, b.global.OWASPCRSSetup)
		out.Rules = append(out.Rules, "Include "+b.global.OWASPCRSRules)
	}
	var settings, removals []string
	for _, line := range m.Snippet {
		if strings.HasPrefix(line, "SecRuleRemoveBy") {
			removals = append(removals, line)
		} else {
			settings = append(settings, line)
		}
	}
	out.Snippet = strings.Join(settings, "\n")
	if len(removals) > 0 {
		out.Rules = append(out.Rules, strings.Join(removals, "\n"))
	}
	return out, false
}

// modSecurityToLoad is the ModSecurity module cfg must load: set only when
// one of its locations runs ModSecurity, so that configs without it stay
// as they were (and nginx -t as fast).
func modSecurityToLoad(cfg *Config) string {
	for _, l := range cfg.DefaultServer.Locations {
		if l.ModSecurity != nil {
			return cfg.Global.ModSecurityModule
		}
	}
	for i := range cfg.Servers {
		for _, l := range cfg.Servers[i].Locations {
			if l.ModSecurity != nil {
				return cfg.Global.ModSecurityModule
			}
		}
	}
	return ""
}
