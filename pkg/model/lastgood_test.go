package model_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

const lastGoodFixture = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  annotations: {nginx.ingress.kubernetes.io/proxy-read-timeout: "90"}
spec:
  ingressClassName: portico
  rules:
  - host: web.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}
---
apiVersion: v1
kind: Service
metadata: {name: app}
spec: {ports: [{port: 80}]}
`

// TestInvalidEditKeepsLastAcceptedVersion: an Ingress whose annotation turns
// invalid keeps being served as last accepted, with a finding; a different
// object under the same name (new UID) is not served from the old one.
func TestInvalidEditKeepsLastAcceptedVersion(t *testing.T) {
	snap, err := fixture.Parse([]byte(lastGoodFixture))
	require.NoError(t, err)
	snap.Ingresses[0].UID = types.UID("uid-1")
	cfg, findings := model.Build(snap, testOptions())
	require.Empty(t, findings)
	require.Contains(t, cfg.Accepted, "default/web")

	broken, err := fixture.Parse([]byte(lastGoodFixture))
	require.NoError(t, err)
	broken.Ingresses[0].UID = types.UID("uid-1")
	broken.Ingresses[0].Annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] = "90s; evil"
	broken.Ingresses[0].Spec.Rules[0].Host = "changed.example.com"

	opts := testOptions()
	opts.LastAccepted = cfg.Accepted
	next, findings := model.Build(broken, opts)
	require.Len(t, findings, 1)
	assert.Equal(t, model.ReasonInvalidAnnotation, findings[0].Reason)
	assert.Contains(t, findings[0].Message, "still serving the last accepted version")
	require.Len(t, next.Servers, 1)
	assert.Equal(t, "web.example.com", next.Servers[0].Name, "the whole last accepted version is served, not a mix")
	assert.Equal(t, "90s", next.Servers[0].Locations[0].Proxy.ReadTimeout)
	assert.Same(t, cfg.Accepted["default/web"], next.Accepted["default/web"], "the accepted version carries over")

	broken.Ingresses[0].UID = types.UID("uid-2") // deleted and created again
	_, findings = model.Build(broken, opts)
	require.Len(t, findings, 1)
	assert.Contains(t, findings[0].Message, "not served until it is fixed")
}
