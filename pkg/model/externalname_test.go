package model_test

import (
	"maps"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
)

// externalOptions are the options of externalname-refused.expect.yaml.
func externalOptions(t *testing.T) model.Options {
	t.Helper()
	return loadExpectation(t, "testdata/externalname-refused.expect.yaml").options()
}

// TestExternalNamePools: ExternalName backends are pools whose endpoints
// are the checked answers; nginx.conf names no external host (nothing for
// nginx to resolve); the config lists every DNS name it needs resolved,
// those without a usable answer yet too, with either balancer.
func TestExternalNamePools(t *testing.T) {
	snap := loadSnapshot(t, "testdata/externalname-refused.yaml")
	for _, balancer := range []string{model.BalancerLua, model.BalancerUpstreams} {
		opts := externalOptions(t)
		opts.Global.Balancer = balancer
		cfg, _ := model.Build(snap, opts)
		assert.Equal(t, []string{"good.example.net", "loopback.example.net", "new.example.net", "rebind.example.net"},
			cfg.ExternalNames(), balancer)
		for _, s := range cfg.Servers {
			for _, l := range s.Locations {
				assert.NotContains(t, l.Action.ProxyPass, "$", "%s %s: nginx resolves nothing per request", s.Name, l.Path)
			}
		}
	}
}

// TestExternalNameProxySSLName: an HTTPS ExternalName backend is checked
// and named by SNI as its externalName when the Ingress sets no
// proxy-ssl-name, not as the pool it reaches nginx through.
func TestExternalNameProxySSLName(t *testing.T) {
	cfg, _ := model.Build(loadSnapshot(t, "testdata/externalname-refused.yaml"), externalOptions(t))
	l, ok := prefixLocation(t, cfg, "tls.example.com", "/")
	require.True(t, ok)
	require.NotNil(t, l.ProxySSL)
	assert.Equal(t, "rebind.example.net", l.ProxySSL.Name)
	assert.Equal(t, "on", l.ProxySSL.ServerName)
	assert.Equal(t, "https://portico_balancer_tls", l.Action.ProxyPass)
}

// TestExternalNameAnswersRefresh: new answers reach the balancer through
// RefreshEndpoints (no build, no reload), checked like the first: a name
// that turns to loopback (DNS rebinding) loses that address, and the change
// in refusals asks for a build for its finding.
func TestExternalNameAnswersRefresh(t *testing.T) {
	snap := loadSnapshot(t, "testdata/externalname-refused.yaml")
	opts := externalOptions(t)
	cfg, _ := model.Build(snap, opts)
	assert.Equal(t, []string{}, cfg.Dynamic().Backends["tenant-a.unresolved.80"], "no answer yet: an empty pool, 503")

	next := *snap
	next.Resolved = maps.Clone(snap.Resolved)
	next.Resolved["new.example.net"] = []netip.Addr{netip.MustParseAddr("198.18.5.7")}
	next.Resolved["good.example.net"] = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("198.18.6.2")}
	d, stale := model.RefreshEndpoints(cfg, &next, opts)
	assert.Equal(t, []string{"198.18.5.7:80"}, d.Backends["tenant-a.unresolved.80"])
	assert.Equal(t, []string{"198.18.6.2:443"}, d.Backends["tenant-b.good.443"], "the rebinding answer is dropped")
	assert.True(t, stale)

	// A build with the same answers agrees, and reports the refusal.
	rebuilt, findings := model.Build(&next, opts)
	assert.Equal(t, rebuilt.Dynamic().Backends, d.Backends)
	var refused []string
	for _, f := range findings {
		if f.Reason == model.ReasonBackendAddressRefused && f.Object.Namespace == "tenant-b" {
			refused = append(refused, f.Message)
		}
	}
	require.Len(t, refused, 1)
	assert.Contains(t, refused[0], "127.0.0.1:443 (loopback)")
	_, stale = model.RefreshEndpoints(rebuilt, &next, opts)
	assert.False(t, stale)
}
