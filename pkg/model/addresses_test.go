package model_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/portico-ingress/portico/pkg/model"
)

// TestAddressPolicy: every class of address that reaches the controller's
// own Pod is refused in each of its forms, with and without
// AllowLoopbackBackends; ordinary cluster and test addresses are not.
func TestAddressPolicy(t *testing.T) {
	own := []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fd00::5"), netip.MustParseAddr("::ffff:10.0.0.6")}
	strict := model.AddressPolicy{Own: own}
	dev := model.AddressPolicy{Own: own, AllowLoopback: true, Ports: []uint16{80, 443, 10246, 10254, 10255}}

	tests := []struct {
		addr string
		port uint16
		// strict and dev are "" when the address may be a backend, else
		// the start of the reason.
		strict, dev string
	}{
		// Loopback, IPv4 and IPv6, mapped, IPv4-compatible and NAT64.
		{"127.0.0.1", 8080, "loopback", ""},
		{"127.255.255.254", 8080, "loopback", ""},
		{"127.0.0.2", 8080, "loopback", ""},
		{"::1", 8080, "loopback", ""},
		{"::ffff:127.0.0.1", 8080, "loopback", ""},
		{"::ffff:7f00:1", 8080, "loopback", ""},
		{"::127.0.0.1", 8080, "loopback", ""},
		{"64:ff9b::7f00:1", 8080, "loopback", ""},
		// Loopback on the controller's and nginx's ports, even in dev.
		{"127.0.0.1", 10254, "loopback", "a port of the controller"},
		{"127.0.0.1", 10255, "loopback", "a port of the controller"},
		{"127.0.0.2", 10246, "loopback", "a port of the controller"},
		{"127.0.0.1", 80, "loopback", "a port of the controller"},
		{"127.3.2.1", 443, "loopback", "a port of the controller"},
		{"::1", 10255, "loopback", "a port of the controller"},
		{"::ffff:127.0.0.1", 10254, "loopback", "a port of the controller"},
		// Unspecified: 0.0.0.0/8 and ::, in every form.
		{"0.0.0.0", 8080, "unspecified", "unspecified"},
		{"0.1.2.3", 8080, "unspecified", "unspecified"},
		{"::", 8080, "unspecified", "unspecified"},
		{"::ffff:0.0.0.0", 8080, "unspecified", "unspecified"},
		{"::0.0.0.2", 8080, "unspecified", "unspecified"},
		// Link-local, cloud metadata first.
		{"169.254.169.254", 80, "link-local", "link-local"},
		{"169.254.0.1", 8080, "link-local", "link-local"},
		{"::ffff:169.254.169.254", 80, "link-local", "link-local"},
		{"::ffff:a9fe:a9fe", 80, "link-local", "link-local"},
		{"fe80::1", 8080, "link-local", "link-local"},
		{"fe80::1%eth0", 8080, "link-local", "link-local"},
		{"febf:ffff::1", 8080, "link-local", "link-local"},
		// Multicast and broadcast.
		{"224.0.0.1", 8080, "multicast", "multicast"},
		{"239.255.255.250", 8080, "multicast", "multicast"},
		{"ff02::1", 8080, "multicast", "multicast"},
		{"::ffff:224.0.0.1", 8080, "multicast", "multicast"},
		{"255.255.255.255", 8080, "broadcast", "broadcast"},
		// The Pod's own addresses, on any port, in every form.
		{"10.0.0.5", 8080, "an address of the controller's own Pod", "an address of the controller's own Pod"},
		{"10.0.0.5", 443, "an address of the controller's own Pod", "an address of the controller's own Pod"},
		{"::ffff:10.0.0.5", 8080, "an address of the controller's own Pod", "an address of the controller's own Pod"},
		{"::10.0.0.5", 8080, "an address of the controller's own Pod", "an address of the controller's own Pod"},
		{"fd00::5", 8080, "an address of the controller's own Pod", "an address of the controller's own Pod"},
		{"10.0.0.6", 8080, "an address of the controller's own Pod", "an address of the controller's own Pod"},
		// Backends.
		{"10.0.0.7", 8080, "", ""},
		{"10.244.1.17", 80, "", ""},
		{"172.16.0.1", 443, "", ""},
		{"192.168.1.1", 8080, "", ""},
		{"198.18.0.10", 8080, "", ""},
		{"198.19.255.1", 10254, "", ""},
		{"203.0.113.9", 443, "", ""},
		{"2001:db8::1", 8080, "", ""},
		{"fd00::6", 8080, "", ""},
		{"::ffff:198.18.0.10", 8080, "", ""},
		{"64:ff9b::cb00:7109", 443, "", ""},
	}
	for _, tt := range tests {
		addr := netip.MustParseAddr(tt.addr)
		for _, p := range []struct {
			name   string
			policy model.AddressPolicy
			want   string
		}{{"strict", strict, tt.strict}, {"allow-loopback", dev, tt.dev}} {
			got := p.policy.Refusal(addr, tt.port)
			if p.want == "" {
				assert.Empty(t, got, "%s: %s port %d must be allowed", p.name, tt.addr, tt.port)
			} else {
				assert.Contains(t, got, p.want, "%s: %s port %d", p.name, tt.addr, tt.port)
			}
		}
	}
	assert.NotEmpty(t, strict.Refusal(netip.Addr{}, 80), "the zero Addr is no address")
}

// TestRefreshEndpointsRefuses: the reload-free path applies the same
// policy as Build, and says when its refusals differ from the findings of
// the config it refreshes (a build is then due).
func TestRefreshEndpointsRefuses(t *testing.T) {
	snap := loadSnapshot(t, "testdata/backends-refused.yaml")
	opts := testOptions()
	opts.OwnAddresses = []netip.Addr{netip.MustParseAddr("10.0.0.5")}
	cfg, _ := model.Build(snap, opts)

	same, stale := model.RefreshEndpoints(cfg, snap, opts)
	assert.Equal(t, cfg.Dynamic(), same)
	assert.False(t, stale, "the same objects refuse the same addresses")

	// tenant-b's slice turns to loopback and the Pod's own address.
	next := *snap
	next.EndpointSlices = nil
	for _, es := range snap.EndpointSlices {
		if es.Name == "web-1" {
			es = es.DeepCopy()
			es.Endpoints[0].Addresses = []string{"198.18.1.1", "127.0.0.1", "10.0.0.5", "::ffff:127.0.0.1"}
		}
		next.EndpointSlices = append(next.EndpointSlices, es)
	}
	d, stale := model.RefreshEndpoints(cfg, &next, opts)
	assert.Equal(t, []string{"198.18.1.1:8080"}, d.Backends["tenant-b.web.80"])
	assert.True(t, stale, "new refusals need a build for their finding")
	assert.Equal(t, cfg.Dynamic().Backends["tenant-a.mixed.80"], d.Backends["tenant-a.mixed.80"])
}
