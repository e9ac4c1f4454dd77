package annotations

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestTimeValues: timeouts take whole seconds or nginx time units, printed
// back canonically; an invalid plain value falls back to the default
// (IgnoredValue), one with nginx syntax is refused (Invalid).
func TestTimeValues(t *testing.T) {
	const key = DefaultPrefix + "/proxy-read-timeout"
	cases := []struct {
		value, want string
		kind        ProblemKind // "" is no problem
	}{
		{"60", "60s", ""},
		{"1800s", "1800s", ""},
		{"30m", "1800s", ""},
		{"1h30m", "5400s", ""},
		{"500ms", "500ms", ""},
		{"1s500ms", "1500ms", ""},
		{"1w", "604800s", ""},
		{"999999s", "999999s", ""},
		{"1000000s", "", IgnoredValue},
		{"1y", "", IgnoredValue},
		{"60sec", "", IgnoredValue},
		{"-1", "", IgnoredValue},
		{"1.5s", "", IgnoredValue},
		{"60 seconds", "", Invalid},
		{"60s; return 200", "", Invalid},
		{"$arg_t", "", Invalid},
	}
	p := NewParser("")
	for _, c := range cases {
		t.Run(c.value, func(t *testing.T) {
			set, probs := p.Parse(map[string]string{key: c.value})
			assert.Equal(t, c.want, set.Proxy.ReadTimeout)
			var got ProblemKind
			if len(probs) > 0 {
				got = probs[0].Kind
			}
			assert.Equal(t, c.kind, got, "problems: %v", probs)
		})
	}
	// An empty value is not plain (nothing to fall back from): refused.
	_, probs := p.Parse(map[string]string{key: ""})
	if assert.Len(t, probs, 1) {
		assert.Equal(t, Invalid, probs[0].Kind)
	}
}

// TestFallBackOnlyForNonSecurityKeys: only the proxy group and the
// auth-keepalive keys (connection reuse, no control) fall back; a security
// key with an invalid plain value is still refused.
func TestFallBackOnlyForNonSecurityKeys(t *testing.T) {
	for _, f := range Fields() {
		assert.Equal(t, f.Group == "proxy" || strings.HasPrefix(f.Key, "auth-keepalive"), f.FallBack, "FallBack of %s", f.Key)
	}
	p := NewParser("")
	for _, k := range []string{"allowlist-source-range", "limit-rps", "auth-type", "proxy-ssl-verify", "auth-tls-verify-client"} {
		_, probs := p.Parse(map[string]string{DefaultPrefix + "/" + k: "bogus"})
		if assert.Len(t, probs, 1, k) {
			assert.Equal(t, Invalid, probs[0].Kind, k)
		}
	}
}
