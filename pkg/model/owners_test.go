package model_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// ownershipIngress is an Ingress of namespace ns created at created with
// a rule for each host.
func ownershipIngress(ns, name, created string, hosts ...string) string {
	rules := ""
	for _, h := range hosts {
		rules += fmt.Sprintf(`
  - host: %s
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}`, h)
	}
	return fmt.Sprintf(`---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: %s, namespace: %s, creationTimestamp: %q}
spec:
  ingressClassName: portico
  rules:%s
`, name, ns, created, rules)
}

// TestHostOwnershipSticks: an old Ingress edited to name another
// namespace's host does not take it over while the owner still claims it
// (the owners of the last build are an input); it does once the owner's
// Ingress is gone. Without the last owners (a restarted controller) the
// oldest claim wins: admission (refusing such an edit) closes that window.
func TestHostOwnershipSticks(t *testing.T) {
	build := func(t *testing.T, yaml string, last *model.Config) (*model.Config, []model.Finding) {
		t.Helper()
		snap, err := fixture.Parse([]byte(yaml))
		require.NoError(t, err)
		opts := testOptions()
		if last != nil {
			opts.LastOwners, opts.LastAccepted = last.Owners, last.Accepted
		}
		opts.Units = model.NewUnitCache()
		cfg, all := model.Build(snap, opts)
		var findings []model.Finding // only ownership's: the Services do not exist
		for _, f := range all {
			if f.Reason == model.ReasonHostNotOwned {
				findings = append(findings, f)
			}
		}
		return cfg, findings
	}
	victim := ownershipIngress("victim", "shop", "2025-01-01T00:00:00Z", "shop.example.com")
	oldAttacker := ownershipIngress("attacker", "old", "2020-01-01T00:00:00Z", "attacker.example.com")
	edited := ownershipIngress("attacker", "old", "2020-01-01T00:00:00Z", "attacker.example.com", "shop.example.com")

	first, findings := build(t, victim+oldAttacker, nil)
	require.Empty(t, findings)
	assert.Empty(t, first.Owners, "no host is contested")

	cfg, findings := build(t, victim+edited, first)
	require.Len(t, findings, 1)
	assert.Equal(t, model.ReasonHostNotOwned, findings[0].Reason)
	assert.Equal(t, "Ingress attacker/old", findings[0].Object.String())
	assert.Equal(t, map[string]string{"shop.example.com": "victim"}, cfg.Owners, "the host stays with its namespace")

	again, findings := build(t, victim+edited, cfg)
	require.Len(t, findings, 1, "and keeps it, build after build")
	assert.Equal(t, "Ingress attacker/old", findings[0].Object.String())
	assert.Equal(t, cfg.Owners, again.Owners)

	_, findings = build(t, victim+edited, nil)
	require.Len(t, findings, 1)
	assert.Equal(t, "Ingress victim/shop", findings[0].Object.String(), "without the last build the oldest claim wins")

	cfg, findings = build(t, edited, again)
	require.Empty(t, findings)
	assert.Empty(t, cfg.Owners, "a host whose owner no longer claims it goes to the oldest claim")
}
