package main

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOwnAddresses: the interfaces' addresses and POD_IP/POD_IPS, unmapped
// and de-duplicated; a bad POD_IPS is an error, not a silent gap.
func TestOwnAddresses(t *testing.T) {
	ifaces := func() ([]net.Addr, error) {
		return []net.Addr{
			&net.IPNet{IP: net.ParseIP("127.0.0.1"), Mask: net.CIDRMask(8, 32)},
			&net.IPNet{IP: net.ParseIP("10.244.1.7"), Mask: net.CIDRMask(24, 32)},
			&net.IPNet{IP: net.ParseIP("fd00::7"), Mask: net.CIDRMask(64, 128)},
			&net.IPAddr{IP: net.ParseIP("::ffff:10.244.1.8")},
		}, nil
	}
	env := map[string]string{"POD_IP": "10.244.1.7", "POD_IPS": "10.244.1.7, fd00::9"}
	got, err := ownAddresses(func(k string) string { return env[k] }, ifaces)
	require.NoError(t, err)
	var want []netip.Addr
	for _, s := range []string{"10.244.1.7", "10.244.1.8", "127.0.0.1", "fd00::7", "fd00::9"} {
		want = append(want, netip.MustParseAddr(s))
	}
	assert.Equal(t, want, got)

	env["POD_IPS"] = "10.244.1.7,not-an-ip"
	_, err = ownAddresses(func(k string) string { return env[k] }, ifaces)
	assert.ErrorContains(t, err, "POD_IPS")

	_, err = ownAddresses(func(string) string { return "" }, func() ([]net.Addr, error) { return nil, errors.New("no netlink") })
	assert.ErrorContains(t, err, "no netlink")
}

func TestControllerPorts(t *testing.T) {
	assert.Equal(t, []int{10254, 10255}, controllerPorts(":10254", "127.0.0.1:10255", ""))
	assert.Equal(t, []int{10254}, controllerPorts(":10254", ":10254"))
}

// TestResolverArg: --resolver takes an address with or without a port, in
// nginx's form for the resolver directive, and the controller's resolver
// reads it back with port 53 by default.
func TestResolverArg(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.10":          "10.0.0.10",
		"10.0.0.10:5353":     "10.0.0.10:5353",
		"fd00::a":            "[fd00::a]",
		"[fd00::a]":          "[fd00::a]",
		"[fd00::a]:5353":     "[fd00::a]:5353",
		"::ffff:10.0.0.10":   "10.0.0.10",
		"[::ffff:10.0.0.10]": "10.0.0.10",
	} {
		got, err := resolverArg(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, got, in)
		}
	}
	for _, bad := range []string{"", "dns.example", "10.0.0.10:0", "10.0.0.10:", "fd00::a:53x", "fe80::1%eth0", "10.0.0.10:99999"} {
		_, err := resolverArg(bad)
		assert.Error(t, err, bad)
	}
	servers, err := resolverServers([]string{"10.0.0.10", "10.0.0.11:5353", "[fd00::a]", "[fd00::b]:5353"})
	require.NoError(t, err)
	assert.Equal(t, []netip.AddrPort{netip.MustParseAddrPort("10.0.0.10:53"), netip.MustParseAddrPort("10.0.0.11:5353"),
		netip.MustParseAddrPort("[fd00::a]:53"), netip.MustParseAddrPort("[fd00::b]:5353")}, servers)
}
