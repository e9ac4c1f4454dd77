package verdict

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAdviceFor(t *testing.T) {
	set := func(keys ...string) map[string]bool {
		m := map[string]bool{}
		for _, k := range keys {
			m[k] = true
		}
		return m
	}
	tests := []struct {
		key       string
		supported map[string]bool
		contains  []string
		excludes  []string
	}{
		{key: "auth-snippet", contains: []string{"not supported", "ask the operator"}},
		{key: "stream-snippet", contains: []string{"ask the operator"}},
		{key: "canary-by-query", contains: []string{"canary option is not implemented", "canary-weight"}, excludes: []string{"planned"}},
		{key: "session-cookie-conditional-samesite-none", contains: []string{"session-affinity option is not implemented", "-samesite"},
			excludes: []string{"planned"}},
		{key: "affinity-canary-behavior", contains: []string{"session-affinity option", "affinity-mode"}},
		{key: "auth-keepalive-connections", contains: []string{"external-authentication option is not implemented", "auth-url", "auth-keepalive"}},
		{key: "auth-tls-match-cn", contains: []string{"client-certificate option is not implemented"}},
		{key: "proxy-ssl-ciphers", contains: []string{"backend TLS option is not implemented"}},
		{key: "cors-allow-private-network", contains: []string{"CORS option is not implemented", "enable-cors"}},
		{key: "satisfy", contains: []string{"both must pass"}},
		{key: "global-auth-url", contains: []string{"options ConfigMap, never annotations", "enable-global-auth"}},
		{key: "upstream-hash-by-subset", contains: []string{"upstream-hash-by alone"}},
		{key: "secure-backends", supported: set("backend-protocol"), contains: []string{`use backend-protocol: "HTTPS" instead`}},
		{key: "secure-backends", excludes: []string{"backend-protocol"}},
		{key: "grpc-backend", supported: set("backend-protocol"), contains: []string{`use backend-protocol: "GRPC" instead`}},
		{key: "global-rate-limit-window", supported: set("limit-rps"), contains: []string{"use limit-rps instead"}},
		{key: "global-rate-limit", excludes: []string{"limit-rps"}},
		{key: "ssl-passthrough", contains: []string{"not planned"}},
		{key: "made-up", contains: []string{"check the spelling"}},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			got := adviceFor(tc.key, tc.supported)
			assert.NotEmpty(t, got)
			assert.Equal(t, strings.ToUpper(got[:1]), got[:1], "advice starts with a capital: %s", got)
			for _, s := range tc.contains {
				assert.Contains(t, strings.ToLower(got), strings.ToLower(s))
			}
			for _, s := range tc.excludes {
				assert.NotContains(t, strings.ToLower(got), strings.ToLower(s))
			}
		})
	}
}

// TestAdviceNamesNoSupportedKey keeps the advice true: no exact key in the
// table is an annotation Portico implements (advice is only for the others).
func TestAdviceNamesNoSupportedKey(t *testing.T) {
	supported := SupportedKeys()
	for _, r := range adviceRules {
		for _, k := range r.keys {
			if !strings.HasSuffix(k, "*") {
				assert.False(t, supported[k], "advice rule for %s, which Portico implements", k)
			}
		}
	}
}

// TestAdviceRules keeps the table usable: every key belongs to one rule, and
// every rule says something.
func TestAdviceRules(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range adviceRules {
		assert.True(t, r.hint != "" || r.planned, "%v: no advice", r.keys)
		assert.True(t, r.meanwhile == "" || r.planned, "%v: meanwhile is for planned features", r.keys)
		assert.Equal(t, r.planned, r.feature != "", "%v: planned rules name their feature, others do not", r.keys)
		for _, k := range r.keys {
			assert.False(t, seen[k], "%s is in two rules", k)
			seen[k] = true
			assert.Regexp(t, `^[a-z0-9-]+\*?$`, k)
		}
	}
}
