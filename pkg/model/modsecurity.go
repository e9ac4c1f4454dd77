package model

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
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

// ModSecurityWithoutCRS removes the OWASP Core Rule Set from a location
// that asked for the base rules only: the rules files are read once at http
// level (Config.ModSecurityRules), Core Rule Set included as soon as one
// location wants it, and every location inherits them. The CRS uses ids
// 900000-999999 and, for its application exclusions, 9000000-9999999
// (Debian's modsecurity-crs 3.3.4); Debian's base rules use 200000-200007,
// so the removal cannot touch them. libmodsecurity keeps removals per
// rules set (per location), so another location's Core Rule Set stays.
const ModSecurityWithoutCRS = "SecRuleRemoveById 900000-999999 9000000-9999999"

// LocationModSecurity is the render-ready ModSecurity policy of a location,
// or of the http level (Config.ModSecurityRules).
type LocationModSecurity struct {
	// Snippet are the settings of modsecurity-snippet (SecRuleEngine,
	// Sec*BodyAccess), or "". They go first: libmodsecurity keeps the first
	// value a setting gets, so after the base rules they would do nothing.
	Snippet string `json:"snippet,omitempty"`
	// RulesFiles are loaded in order (operator paths, never user input);
	// only at http level: a location reads no rules file of its own, so
	// that nginx parses each file once whatever the number of locations.
	RulesFiles []string `json:"rulesFiles,omitempty"`
	// Rules are modsecurity_rules strings loaded after RulesFiles: the audit
	// log turned off (modSecurityAuditOff), the Core
	// Rule Set's Include (an operator path), then modsecurity-snippet's
	// SecRuleRemoveBy* lines, which act on the rules loaded before them.
	Rules []string `json:"rules,omitempty"`
	// TransactionID is modsecurity_transaction_id's value, or "".
	TransactionID string `json:"transactionID,omitempty"`
	// CoreRules says the location runs the OWASP Core Rule Set: the http
	// level then loads it (once), and the location does not remove it.
	CoreRules bool `json:"coreRules,omitempty"`
}

// modSecurityOptions are the ConfigMap keys of ModSecurity, with
// ingress-nginx's names. A bad value keeps the live ConfigMap's; with none
// to keep, the global WAF fails closed (Global.ModSecurityBroken) rather
// than fall back to "off" or to rules other than the operator's.
func modSecurityOptions() []GlobalOption {
	return []GlobalOption{
		{Key: "enable-modsecurity", Default: "false", Doc: "run ModSecurity, with Debian's recommended base rules (SecRuleEngine DetectionOnly), on the paths of every Ingress; " +
			"an Ingress's enable-modsecurity: \"false\" turns it off for its own paths, as in ingress-nginx. Without the nginx module or the rules on the host " +
			"(or with a bad value and no accepted one to keep) the Ingresses it covers are not served (ModSecurityUnavailable)",
			apply: boolean(func(g *Global, b bool) { g.ModSecurityAll = b }), KeepLast: true,
			failClosed: func(g *Global, why string) { g.ModSecurityAll, g.ModSecurityBroken = true, why }},
		{Key: "enable-owasp-modsecurity-crs", Default: "false", Doc: "with enable-modsecurity, also load the OWASP Core Rule Set (Debian's modsecurity-crs) for every Ingress; " +
			"an Ingress's enable-owasp-core-rules adds it to its own paths only",
			apply: boolean(func(g *Global, b bool) { g.ModSecurityAllCRS = b }), KeepLast: true,
			failClosed: func(g *Global, why string) { g.ModSecurityBroken = why }},
		{Key: "modsecurity-snippet", Default: "(none)", Doc: "with enable-modsecurity, ModSecurity lines for every Ingress, from the modsecurity-snippet annotation's allowlist " +
			"(SecRuleEngine, SecRuleRemoveById, SecRuleRemoveByTag, SecRequestBodyAccess, SecResponseBodyAccess, and Include of ingress-nginx's " +
			annotations.IngressNginxModSecurityConf + " or " + annotations.IngressNginxCRSConf + ", read as the base rules and the Core Rule Set; no other Include or file). " +
			"Unlike ingress-nginx it adds to the base rules instead of replacing them; an Ingress's own modsecurity-snippet settings win on its paths",
			apply: applyModSecuritySnippet, KeepLast: true,
			failClosed: func(g *Global, why string) { g.ModSecurityBroken = why }},
	}
}

// applyModSecuritySnippet checks the ConfigMap's modsecurity-snippet with
// the annotation's allowlist: the operator writes it, but a file read or a
// log written through it would reach every namespace's traffic.
func applyModSecuritySnippet(g *Global, v string) error {
	lines, coreRules, err := annotations.CheckModSecuritySnippet(v)
	if err != nil {
		return err
	}
	// Applied after enable-owasp-modsecurity-crs (keys go in order): an
	// Include of ingress-nginx's Core Rule Set file loads it, as there.
	g.ModSecuritySnippet = lines
	g.ModSecurityAllCRS = g.ModSecurityAllCRS || coreRules
	return nil
}

// modSecurityAll settles the ConfigMap's ModSecurity keys once they are
// applied: the http-level rules every covered location inherits, or why
// they cannot be honoured (a finding on the ConfigMap).
func (b *builder) modSecurityAll(ref ObjectRef) {
	g := b.global
	if !g.ModSecurityAll {
		g.ModSecurityBroken = "" // a bad companion key of a switch that is off protects nothing
		return
	}
	if g.ModSecurityBroken == "" {
		g.ModSecurityBroken = modSecurityMissing(g, g.ModSecurityAllCRS)
	}
	if g.ModSecurityBroken != "" {
		b.notServed(ref, ReasonModSecurityUnavailable, "enable-modsecurity is on but cannot be honoured (%s); the paths of every Ingress without "+
			"enable-modsecurity: \"false\" answer 503 rather than go unchecked", g.ModSecurityBroken)
		return
	}
	g.ModSecurityHTTP = modSecurityRuleSet(g, g.ModSecurityAllCRS)
}

// modSecurityRuleSet is the http level's rules: the ConfigMap's
// modsecurity-snippet settings when its enable-modsecurity is on (they go
// first, see LocationModSecurity.Snippet), the base rules, the audit log
// off, the Core Rule Set when crs, then the snippet's removals.
func modSecurityRuleSet(g *Global, crs bool) *LocationModSecurity {
	var settings, removals string
	if g.ModSecurityAll {
		settings, removals = splitModSecuritySnippet(g.ModSecuritySnippet)
	}
	h := &LocationModSecurity{Snippet: settings, RulesFiles: []string{g.ModSecurityConf}, Rules: []string{modSecurityAuditOff}, CoreRules: crs}
	if crs {
		// Debian's owasp-crs.load uses IncludeOptional, which libmodsecurity
		// 3 does not know: load its two parts instead.
		h.RulesFiles = append(h.RulesFiles, g.OWASPCRSSetup)
		h.Rules = append(h.Rules, "Include "+g.OWASPCRSRules)
	}
	if removals != "" {
		h.Rules = append(h.Rules, removals)
	}
	return h
}

// modSecurityRefused keeps the WAF closed when nginx -t refused the lines
// of the ConfigMap cm and its defaults apply instead (there is no other
// version to keep): the default enable-modsecurity "false" would serve
// every Ingress without the WAF cm asks for (a rules file gone since the
// start, say). A cm that does not turn it on (or spells the switch wrong,
// which fails closed as well) changes nothing here.
func (b *builder) modSecurityRefused(ref ObjectRef, cm *corev1.ConfigMap) {
	v, ok := cm.Data["enable-modsecurity"]
	if on, err := strconv.ParseBool(strings.TrimSpace(v)); !ok || (err == nil && !on) {
		return
	}
	b.global.ModSecurityAll = true
	b.global.ModSecurityBroken = "nginx -t refused the configuration lines of the options ConfigMap"
	b.modSecurityAll(ref)
}

// modSecurityMissing says what of ModSecurity this host lacks (the
// controller clears the paths of missing files at start), or "".
func modSecurityMissing(g *Global, crs bool) string {
	switch {
	case g.ModSecurityModule == "":
		return "nginx has no ModSecurity module; install libnginx-mod-http-modsecurity"
	case g.ModSecurityConf == "":
		return "the ModSecurity base rules file is missing; install libnginx-mod-http-modsecurity"
	case crs && (g.OWASPCRSSetup == "" || g.OWASPCRSRules == ""):
		return "the OWASP Core Rule Set is missing; install modsecurity-crs"
	}
	return ""
}

// splitModSecuritySnippet separates a snippet's settings, which must load
// before the rules (libmodsecurity keeps the first value a setting gets),
// from its SecRuleRemoveBy* lines, which go after them; each joined by
// newlines, "" for none.
func splitModSecuritySnippet(lines []string) (settings, removals string) {
	var s, r []string
	for _, line := range lines {
		if strings.HasPrefix(line, "SecRuleRemoveBy") {
			r = append(r, line)
		} else {
			s = append(s, line)
		}
	}
	return strings.Join(s, "\n"), strings.Join(r, "\n")
}

// modSecurity makes a location's ModSecurity policy. It reports deny when
// ModSecurity is asked for (by the Ingress, or by the ConfigMap for every
// Ingress) and cannot be honoured (no module or rules on the host, a bad
// ConfigMap, or a modsecurity-snippet where snippets are not allowed): a
// WAF must never disappear silently, so the paths answer 503 instead.
//
// A location reads no rules file: the base rules (and the Core Rule Set,
// when some location or the ConfigMap wants it) are loaded once at http
// level (Config.ModSecurityRules, see modSecurityConfig), and the location
// only switches them on, removes the Core Rule Set when it did not ask for
// it (ModSecurityWithoutCRS) and adds its own snippet. Per-location files
// made nginx parse them once per location: 20 locations with the Core Rule
// Set took nginx -t 10 s and 357 MB (docs/benchmarks.md).
//
// With the ConfigMap's enable-modsecurity, as ingress-nginx does, an
// Ingress's enable-modsecurity: "false" turns the WAF off for its paths,
// and its other ModSecurity annotations apply without
// enable-modsecurity: "true".
func (b *builder) modSecurity(ing *networkingv1.Ingress, m annotations.ModSecurity) (out *LocationModSecurity, deny bool) {
	g := b.global
	all := g.ModSecurityAll && !m.Disabled
	if !all && !m.Enabled {
		if m.OWASPCoreRules || m.TransactionID != "" || len(m.Snippet) > 0 {
			b.ignored(ingressRef(ing), ReasonIneffectiveAnnotation,
				"ModSecurity annotations are ignored without enable-modsecurity: \"true\"")
		}
		return nil, false
	}
	why := modSecurityMissing(g, m.OWASPCoreRules)
	if all && g.ModSecurityBroken != "" {
		why = "the ConfigMap's enable-modsecurity cannot be honoured: " + g.ModSecurityBroken
	}
	if why != "" {
		b.notServed(ingressRef(ing), ReasonModSecurityUnavailable,
			"ModSecurity: %s; the Ingress's paths answer 503 rather than go unchecked", why)
		return nil, true
	}
	if len(m.Snippet) > 0 && !b.snippetsAllowed(ing) {
		b.notServed(ingressRef(ing), ReasonSnippetNotAllowed,
			"modsecurity-snippet: the operator has not allowed snippets for namespace %s (--allow-snippet-annotations, --snippet-namespaces); "+
				"the Ingress's paths answer 503 rather than run without its rules", ing.Namespace)
		return nil, true
	}
	out = &LocationModSecurity{TransactionID: m.TransactionID, CoreRules: m.OWASPCoreRules || (all && g.ModSecurityAllCRS)}
	if !out.CoreRules {
		// Always, not only when the http level has the Core Rule Set: the
		// location's text then does not depend on other Ingresses.
		out.Rules = append(out.Rules, ModSecurityWithoutCRS)
	}
	var removals string
	out.Snippet, removals = splitModSecuritySnippet(m.Snippet)
	if removals != "" {
		out.Rules = append(out.Rules, removals)
	}
	return out, false
}

// modSecurityConfig sets cfg's ModSecurity module and http-level rules
// (Config.LoadModSecurity, Config.ModSecurityRules): set only when the
// ConfigMap turns ModSecurity on or a location runs it, so that configs
// without it stay as they were (and nginx -t as fast). The rules include
// the Core Rule Set when the ConfigMap or one location asks for it; each
// rules file is thus read once per configuration.
func modSecurityConfig(cfg *Config) {
	g := &cfg.Global
	on, crs := g.ModSecurityHTTP != nil, g.ModSecurityHTTP != nil && g.ModSecurityHTTP.CoreRules
	see := func(locs []Location) {
		for _, l := range locs {
			if l.ModSecurity != nil {
				on, crs = true, crs || l.ModSecurity.CoreRules
			}
		}
	}
	see(cfg.DefaultServer.Locations)
	for i := range cfg.Servers {
		see(cfg.Servers[i].Locations)
	}
	cfg.LoadModSecurity, cfg.ModSecurityRules = "", nil
	if on {
		cfg.LoadModSecurity, cfg.ModSecurityRules = g.ModSecurityModule, modSecurityRuleSet(g, crs)
	}
}
