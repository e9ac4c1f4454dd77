package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/resolve"
)

// ownAddresses are the addresses of the controller's own Pod, which no
// backend may have (model.AddressPolicy): every interface address (in a
// Pod, exactly the Pod's network namespace; with hostNetwork, the node's),
// and POD_IP and POD_IPS (status.podIP and status.podIPs from the downward
// API), which say the same when the interfaces cannot be read.
func ownAddresses(getenv func(string) string, interfaces func() ([]net.Addr, error)) ([]netip.Addr, error) {
	var out []netip.Addr
	addrs, err := interfaces()
	if err != nil {
		return nil, fmt.Errorf("reading the Pod's own addresses: %w", err)
	}
	for _, a := range addrs {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		}
		if addr, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, addr.Unmap())
		}
	}
	for _, name := range []string{"POD_IP", "POD_IPS"} {
		for _, v := range strings.Split(getenv(name), ",") {
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			addr, err := netip.ParseAddr(v)
			if err != nil {
				return nil, fmt.Errorf("%s %q: not an IP address: %w", name, v, err)
			}
			out = append(out, addr.WithZone("").Unmap())
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

// controllerPorts are the ports of the status and debug servers, which no
// loopback backend may have even with --allow-loopback-backends.
func controllerPorts(addresses ...string) []int {
	var out []int
	for _, a := range addresses {
		if a == "" {
			continue
		}
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			continue // the server's own listen reports a bad address
		}
		if n, err := strconv.Atoi(port); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// setAddressPolicy fills in what the model needs to refuse backends that
// are the controller's own Pod.
func setAddressPolicy(opts *model.Options, f controllerFlags, getenv func(string) string) error {
	own, err := ownAddresses(getenv, net.InterfaceAddrs)
	if err != nil {
		return err
	}
	opts.OwnAddresses = own
	opts.ControllerPorts = controllerPorts(f.statusAddress, f.debugAddress)
	return nil
}

// resolverArg checks one --resolver value, an IP address with or without a
// port ("10.0.0.10", "10.0.0.10:5353", "[fd00::a]:53", "fd00::a"), and
// formats it for nginx's resolver directive: IPv6 in brackets, the port
// only when given.
func resolverArg(v string) (string, error) {
	if ap, err := netip.ParseAddrPort(v); err == nil && ap.Addr().Zone() == "" && ap.Port() != 0 {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String(), nil
	}
	addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(v, "["), "]"))
	if err != nil || addr.Zone() != "" {
		return "", fmt.Errorf("--resolver %q: must be an IP address, or IP:PORT", v)
	}
	if addr = addr.Unmap(); addr.Is6() {
		return "[" + addr.String() + "]", nil
	}
	return addr.String(), nil
}

// resolverServers reads back the servers resolverArg formatted, with port
// 53 where none is given, for the controller's own resolver.
func resolverServers(list []string) ([]netip.AddrPort, error) {
	out := make([]netip.AddrPort, 0, len(list))
	for _, v := range list {
		if ap, err := netip.ParseAddrPort(v); err == nil {
			out = append(out, ap)
			continue
		}
		addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(v, "["), "]"))
		if err != nil {
			return nil, fmt.Errorf("resolver %q: %w", v, err)
		}
		out = append(out, netip.AddrPortFrom(addr, 53))
	}
	return out, nil
}

// newResolver is the controller's resolver for ExternalName Services, on
// the --resolver servers.
func newResolver(f controllerFlags, opts model.Options, log *slog.Logger) (*resolve.Resolver, error) {
	if f.externalEvery < time.Second {
		return nil, fmt.Errorf("--external-name-interval %s: must be at least 1s", f.externalEvery)
	}
	servers, err := resolverServers(opts.Global.Resolvers)
	if err != nil {
		return nil, err
	}
	return resolve.New(resolve.Options{Servers: servers, Interval: f.externalEvery,
		Logger: log.With("component", "resolve")}), nil
}
