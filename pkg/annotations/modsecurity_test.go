package annotations

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestParseModSecurity: the snippet allowlist takes engine switches and
// rule removals only; anything that names a file, adds a rule or could
// leave the modsecurity_rules string is refused, as are transaction IDs
// that are not allowlisted variables or plain tokens.
func TestParseModSecurity(t *testing.T) {
	k := func(name string) string { return DefaultPrefix + "/" + name }
	cases := []struct {
		name    string
		key     string
		value   string
		ok      bool
		snippet []string
	}{
		{"engine on", "modsecurity-snippet", "SecRuleEngine On", true, []string{"SecRuleEngine On"}},
		{"removals and a comment", "modsecurity-snippet", "# tune\nSecRuleRemoveById 920350 941100-941199\n\nSecRuleRemoveByTag attack-xss",
			true, []string{"SecRuleRemoveById 920350 941100-941199", "SecRuleRemoveByTag attack-xss"}},
		{"body access", "modsecurity-snippet", "SecRequestBodyAccess Off\nSecResponseBodyAccess On", true, []string{"SecRequestBodyAccess Off", "SecResponseBodyAccess On"}},
		{"include", "modsecurity-snippet", "Include /etc/shadow", false, nil},
		{"a rule reading a file", "modsecurity-snippet", `SecRule ARGS "@pmFromFile /etc/passwd" "id:1,deny"`, false, nil},
		{"an action", "modsecurity-snippet", `SecAction "id:1,pass,setvar:tx.x=1"`, false, nil},
		{"audit log path", "modsecurity-snippet", "SecAuditLog /tmp/leak", false, nil},
		{"engine then nginx syntax", "modsecurity-snippet", "SecRuleEngine On\";\n}\nssl_engine foobar;#", false, nil},
		{"engine value", "modsecurity-snippet", "SecRuleEngine Maybe", false, nil},
		{"tag with a space", "modsecurity-snippet", "SecRuleRemoveByTag a b", false, nil},
		{"only comments", "modsecurity-snippet", "# nothing", false, nil},
		// Every directive that reads, fetches or writes a file or a URL.
		{"include lower case", "modsecurity-snippet", "include /etc/shadow", false, nil},
		{"include after a setting", "modsecurity-snippet", "SecRuleEngine Off\nInclude /etc/nginx/modsecurity.conf", false, nil},
		{"remote rules", "modsecurity-snippet", "SecRemoteRules key https://198.18.0.1/rules.conf", false, nil},
		{"debug log", "modsecurity-snippet", "SecDebugLog /tmp/debug.log", false, nil},
		{"audit storage dir", "modsecurity-snippet", "SecAuditLogStorageDir /tmp", false, nil},
		{"audit engine", "modsecurity-snippet", "SecAuditEngine On", false, nil},
		{"data dir", "modsecurity-snippet", "SecDataDir /var/lib/portico", false, nil},
		{"upload dir", "modsecurity-snippet", "SecUploadDir /tmp", false, nil},
		{"geo db", "modsecurity-snippet", "SecGeoLookupDb /etc/shadow", false, nil},
		{"unicode map file", "modsecurity-snippet", "SecUnicodeMapFile /etc/shadow 20127", false, nil},
		{"ip match from file", "modsecurity-snippet", `SecRule REMOTE_ADDR "@ipMatchFromFile /etc/shadow" "id:2,deny"`, false, nil},
		{"rule update action", "modsecurity-snippet", `SecRuleUpdateActionById 942100 "pass"`, false, nil},
		{"rule update target", "modsecurity-snippet", "SecRuleUpdateTargetById 942100 !ARGS:id", false, nil},
		{"carriage return inside a line", "modsecurity-snippet", "SecRuleEngine On\rInclude /etc/shadow", false, nil},
		{"trailing comment", "modsecurity-snippet", "SecRuleEngine On # and more", false, nil},
		// libmodsecurity refuses a reversed range (nginx -t fails).
		{"reversed range", "modsecurity-snippet", "SecRuleRemoveById 942100 5-3", false, nil},
		{"one-rule range", "modsecurity-snippet", "SecRuleRemoveById 3-3", true, []string{"SecRuleRemoveById 3-3"}},
		{"disabled", "enable-modsecurity", "false", true, nil},
		{"variable", "modsecurity-transaction-id", "$request_id", true, nil},
		{"token", "modsecurity-transaction-id", "shop-1.a_b", true, nil},
		{"client header", "modsecurity-transaction-id", "$http_x_request_id", false, nil},
		{"syntax", "modsecurity-transaction-id", "a;b", false, nil},
		{"bool", "enable-modsecurity", "yes", false, nil},
	}
	p := NewParser("")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set, problems := p.Parse(map[string]string{k(c.key): c.value})
			if c.ok {
				assert.Empty(t, problems)
			} else {
				assert.Equal(t, []string{"InvalidAnnotation " + k(c.key)}, problemKeys(t, problems))
			}
			assert.Equal(t, c.snippet, set.ModSecurity.Snippet)
		})
	}
}

// TestModSecurityEnableWrittenOut: only enable-modsecurity: "false"
// written out marks the Ingress Disabled (it then opts out of the
// ConfigMap's enable-modsecurity); no annotation leaves both unset.
func TestModSecurityEnableWrittenOut(t *testing.T) {
	k := DefaultPrefix + "/enable-modsecurity"
	cases := []struct {
		name              string
		anns              map[string]string
		enabled, disabled bool
	}{
		{"absent", map[string]string{}, false, false},
		{"true", map[string]string{k: "true"}, true, false},
		{"false", map[string]string{k: "false"}, false, true},
		{"invalid", map[string]string{k: "off"}, false, false},
	}
	p := NewParser("")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set, _ := p.Parse(c.anns)
			assert.Equal(t, c.enabled, set.ModSecurity.Enabled)
			assert.Equal(t, c.disabled, set.ModSecurity.Disabled)
		})
	}
}

// TestModSecuritySnippetIngressNginxIncludes: an Include of exactly one of
// the two rules files of ingress-nginx's image is read as a name (the
// base rules, always loaded; the Core Rule Set, switched on), never as a
// file; any other Include, or a path spelt otherwise, is refused.
func TestModSecuritySnippetIngressNginxIncludes(t *testing.T) {
	cases := []struct {
		name      string
		value     string
		ok        bool
		lines     []string
		coreRules bool
	}{
		{"docs example", "Include " + IngressNginxCRSConf + "\nSecRuleEngine On\nSecRequestBodyAccess On", true,
			[]string{"SecRuleEngine On", "SecRequestBodyAccess On"}, true},
		{"base rules only", "Include " + IngressNginxModSecurityConf, true, nil, false},
		{"both, spaced", "Include   " + IngressNginxModSecurityConf + "\n\tInclude " + IngressNginxCRSConf + " ", true, nil, true},
		{"a plugin", "Include /etc/nginx/owasp-modsecurity-crs/plugins/nextcloud-rule-exclusions-before.conf", false, nil, false},
		{"lower case", "include " + IngressNginxCRSConf, false, nil, false},
		{"dot dot", "Include /etc/nginx/modsecurity/../modsecurity/modsecurity.conf", false, nil, false},
		{"suffix", "Include " + IngressNginxModSecurityConf + ".bak", false, nil, false},
		{"glob", "Include /etc/nginx/owasp-modsecurity-crs/*.conf", false, nil, false},
		{"two files on a line", "Include " + IngressNginxCRSConf + " /etc/shadow", false, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lines, coreRules, err := CheckModSecuritySnippet(c.value)
			if !c.ok {
				assert.Error(t, err)
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, c.lines, lines)
			assert.Equal(t, c.coreRules, coreRules)
		})
	}
	// In the annotation, the Core Rule Set's Include wins over
	// enable-owasp-core-rules: "false", as ingress-nginx loads it then too.
	set, problems := NewParser("").Parse(map[string]string{
		DefaultPrefix + "/enable-owasp-core-rules": "false",
		DefaultPrefix + "/modsecurity-snippet":     "Include " + IngressNginxCRSConf,
	})
	assert.Empty(t, problems)
	assert.True(t, set.ModSecurity.OWASPCoreRules)
}
