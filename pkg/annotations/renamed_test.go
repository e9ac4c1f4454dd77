package annotations

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRenamedKeys: both spellings of a renamed annotation are read; when
// both are set the current name wins, and a different value under the old
// name is a Conflict problem.
func TestRenamedKeys(t *testing.T) {
	const pre = DefaultPrefix + "/"
	cases := []struct {
		name      string
		anns      map[string]string
		allow     []string
		deny      []string
		exempt    []string
		conflicts []string
	}{
		{name: "current allow", anns: map[string]string{pre + "allowlist-source-range": "10.0.0.0/8"}, allow: []string{"10.0.0.0/8"}},
		{name: "old allow", anns: map[string]string{pre + "whitelist-source-range": "10.0.0.0/8"}, allow: []string{"10.0.0.0/8"}},
		{name: "both allow, same", anns: map[string]string{
			pre + "allowlist-source-range": "10.0.0.0/8", pre + "whitelist-source-range": " 10.0.0.0/8 "}, allow: []string{"10.0.0.0/8"}},
		{name: "both allow, different: current wins", anns: map[string]string{
			pre + "allowlist-source-range": "10.0.0.0/8", pre + "whitelist-source-range": "0.0.0.0/0"},
			allow: []string{"10.0.0.0/8"}, conflicts: []string{pre + "whitelist-source-range"}},
		{name: "both allow, old invalid: current wins", anns: map[string]string{
			pre + "allowlist-source-range": "192.0.2.1", pre + "whitelist-source-range": "x; allow all"},
			allow: []string{"192.0.2.1/32"}, conflicts: []string{pre + "whitelist-source-range"}},
		{name: "old deny", anns: map[string]string{pre + "blacklist-source-range": "192.0.2.0/24"}, deny: []string{"192.0.2.0/24"}},
		{name: "both deny, different", anns: map[string]string{
			pre + "denylist-source-range": "192.0.2.0/24", pre + "blacklist-source-range": "198.51.100.0/24"},
			deny: []string{"192.0.2.0/24"}, conflicts: []string{pre + "blacklist-source-range"}},
		{name: "old limit exempt", anns: map[string]string{pre + "limit-whitelist": "10.0.0.1"}, exempt: []string{"10.0.0.1/32"}},
		{name: "current limit exempt", anns: map[string]string{pre + "limit-allowlist": "10.0.0.1"}, exempt: []string{"10.0.0.1/32"}},
		{name: "both limit exempt, different", anns: map[string]string{
			pre + "limit-allowlist": "10.0.0.1", pre + "limit-whitelist": "0.0.0.0/0"},
			exempt: []string{"10.0.0.1/32"}, conflicts: []string{pre + "limit-whitelist"}},
	}
	p := NewParser("")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set, probs := p.Parse(c.anns)
			assert.Equal(t, c.allow, set.Access.Allow)
			assert.Equal(t, c.deny, set.Access.Deny)
			assert.Equal(t, c.exempt, set.Access.LimitWhitelist)
			var conflicts []string
			for _, pr := range probs {
				if assert.Equal(t, Conflict, pr.Kind, "problem %v", pr) {
					conflicts = append(conflicts, pr.Key)
				}
			}
			assert.Equal(t, c.conflicts, conflicts)
		})
	}
}
