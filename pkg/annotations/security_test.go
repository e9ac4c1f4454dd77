package annotations

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestUnsupportedSecurityAnnotations: an unknown key that asks for a
// security control is UnsupportedSecurity (the Ingress is not served); a
// supported key, an off switch and any other unknown key are not.
func TestUnsupportedSecurityAnnotations(t *testing.T) {
	const pre = DefaultPrefix + "/"
	cases := []struct {
		key, value string
		want       ProblemKind // "" is no problem
	}{
		// The ModSecurity keys Portico implements are supported; an
		// unknown one of that family is not.
		{"modsecurity-rules-file", "/etc/shadow", UnsupportedSecurity},
		// The external-auth keys of issue 13 are implemented; auth-snippet
		// and a key ingress-nginx never had are not.
		{"auth-cache-key", "$remote_user", Invalid},
		{"auth-cache-key", "$cookie_session", ""},
		{"auth-keepalive", "10", ""},
		{"auth-proxy-set-headers", "auth-headers", ""},
		{"auth-snippet", "proxy_set_header X-A b;", UnsupportedSecurity},
		{"auth-keepalive-connections", "10", UnsupportedSecurity},
		{"auth-tls-match-cn", "CN=a", UnsupportedSecurity},
		{"auth-urll", "http://typo.example.com", UnsupportedSecurity},
		{"satisfy", "any", UnsupportedSecurity},
		{"global-auth-url", "http://a.example.com", UnsupportedSecurity},
		{"limit-rate", "100", UnsupportedSecurity},
		{"global-rate-limit", "10", UnsupportedSecurity},
		{"proxy-ssl-verify-depth", "2", UnsupportedSecurity},
		{"ssl-ciphers", "HIGH", UnsupportedSecurity},
		{"allowed-source-range", "10.0.0.0/8", UnsupportedSecurity},
		{"enable-rewrite-log", "true", Unknown},
		{"enable-global-auth", "false", ""},
		{"mirror-target", "http://m.example.com", Unknown},
		{"auth-url", "http://auth.example.com/check", ""},
		{"limit-rps", "5", ""},
		{"proxy-ssl-verify", "on", ""},
		{"denylist-source-range", "10.0.0.0/8", ""},
	}
	p := NewParser("")
	for _, c := range cases {
		t.Run(c.key+"="+c.value, func(t *testing.T) {
			_, probs := p.Parse(map[string]string{pre + c.key: c.value})
			var got ProblemKind
			if len(probs) > 0 {
				got = probs[0].Kind
			}
			assert.Equal(t, c.want, got, "problems: %v", probs)
		})
	}
}
