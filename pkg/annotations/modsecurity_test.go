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
