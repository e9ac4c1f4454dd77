package model

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/portico-ingress/portico/pkg/excerpt"
)

// AddressPolicy decides which addresses may be backends (issue 10): none
// may be the controller's own Pod. A backend on loopback, on an unspecified
// address (Linux connects 0.0.0.0 to the local host) or on one of the
// Pod's addresses reaches the debug and status servers, nginx's own
// listeners and its 503 server; a link-local one reaches the cloud's
// metadata service (169.254.169.254) with the Pod's identity. Whoever may
// create a Service or an EndpointSlice in one namespace must not be able
// to publish those through an Ingress.
type AddressPolicy struct {
	// Own are the Pod's own addresses (its interfaces, POD_IP, POD_IPS).
	Own []netip.Addr
	// AllowLoopback lets loopback addresses be backends, except on Ports:
	// for development and the local test suites, whose backends run on
	// 127.0.0.1. Everything else still applies.
	AllowLoopback bool
	// Ports are the controller's and nginx's own ports, refused on loopback
	// even with AllowLoopback.
	Ports []uint16
}

// Refusal reasons, as findings print them.
const (
	refusedLoopback    = "loopback"
	refusedUnspecified = "unspecified address"
	refusedLinkLocal   = "link-local (cloud metadata lives there)"
	refusedMulticast   = "multicast"
	refusedBroadcast   = "broadcast"
	refusedOwn         = "an address of the controller's own Pod"
	refusedOwnPort     = "a port of the controller or nginx on loopback"
	refusedInvalid     = "not an IP address"
)

// Refusal returns why addr:port may not be a backend, or "" when it may.
// IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d,
// IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d) are judged by that
// IPv4 address too: the kernel or a translator may deliver them there.
func (p AddressPolicy) Refusal(addr netip.Addr, port uint16) string {
	if !addr.IsValid() {
		return refusedInvalid
	}
	a := addr.WithZone("").Unmap()
	if why := p.refusal(a, port); why != "" {
		return why
	}
	if v4, ok := embeddedIPv4(a); ok {
		return p.refusal(v4, port)
	}
	return ""
}

// refusal judges one address form, unmapped and without a zone.
func (p AddressPolicy) refusal(a netip.Addr, port uint16) string {
	switch {
	case a.IsUnspecified() || a.Is4() && a.As4()[0] == 0:
		// 0.0.0.0/8 is "this network"; Linux connects 0.0.0.0 to itself.
		return refusedUnspecified
	case a.IsLoopback():
		if !p.AllowLoopback {
			return refusedLoopback
		}
		if slices.Contains(p.Ports, port) {
			return refusedOwnPort
		}
		return ""
	case a.IsLinkLocalUnicast():
		return refusedLinkLocal
	case a.IsMulticast():
		return refusedMulticast
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return refusedBroadcast
	}
	for _, own := range p.Own {
		if own.WithZone("").Unmap() == a {
			return refusedOwn
		}
	}
	return ""
}

// nat64 is the well-known NAT64 prefix (RFC 6052), 64:ff9b::/96.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// embeddedIPv4 returns the IPv4 address an IPv6 address carries in its last
// 32 bits when it is IPv4-compatible (::/96) or NAT64 (64:ff9b::/96).
// IPv4-mapped addresses are unmapped before.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	if a.IsUnspecified() || a.IsLoopback() {
		return netip.Addr{}, false // "::" and "::1" are themselves, not 0.0.0.0 and 0.0.0.1
	}
	b := a.As16()
	compatible := [12]byte(b[:12]) == [12]byte{}
	if !compatible && !nat64.Contains(a) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(b[12:])), true
}

// addressPolicy is the policy of opts, with nginx's ports from g (after
// the ConfigMap) added to the controller's.
func addressPolicy(opts *Options, g *Global) AddressPolicy {
	p := AddressPolicy{Own: opts.OwnAddresses, AllowLoopback: opts.AllowLoopbackBackends}
	if !p.AllowLoopback {
		return p // every loopback port is refused; no list needed
	}
	for _, port := range append([]int{g.HTTPPort, g.HTTPSPort, g.InternalPort}, opts.ControllerPorts...) {
		if port > 0 && port <= 65535 {
			p.Ports = append(p.Ports, uint16(port))
		}
	}
	return p
}

// refusedAddress is a backend address the policy refused, as "ip:port (why)".
func refusedAddress(ap netip.AddrPort, why string) string {
	return ap.String() + " (" + why + ")"
}

// maxListed is how many refused addresses a finding names.
const maxListed = 3

// listRefused names the first few refused addresses and counts the others.
func listRefused(refused []string) string {
	if len(refused) <= maxListed {
		return strings.Join(refused, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(refused[:maxListed], ", "), len(refused)-maxListed)
}

// warnRefused reports the refused addresses of a pool to the Ingress
// that uses it. Every use reports it, so that a unit's build finds what a
// whole build finds.
func (b *builder) warnRefused(about ObjectRef, u *Upstream) {
	if len(u.Refused) == 0 {
		return
	}
	source := "EndpointSlices of Service " + u.Namespace + "/" + u.Service
	fix := "remove them from the EndpointSlices"
	switch {
	case u.ExternalName != "":
		source = fmt.Sprintf("ExternalName Service %s/%s (%s)", u.Namespace, u.Service, excerpt.Of(u.ExternalName))
		fix = "point externalName at the real backend"
	case u.ClusterIP:
		source = "cluster IPs of Service " + u.Namespace + "/" + u.Service + " (service-upstream)"
		fix = "give the Service a cluster IP of the cluster's Service range"
	}
	rest := "no other address is left, so requests get 503"
	if n := len(u.Endpoints); n > 0 {
		rest = fmt.Sprintf("its other %d address(es) keep serving", n)
	}
	b.servedBut(about, ReasonBackendAddressRefused,
		"%s: backend address(es) refused: %s; no backend may be the controller's own Pod (loopback, unspecified, "+
			"link-local, multicast or the Pod's addresses): %s; %s",
		source, listRefused(u.Refused), fix, rest)
}

// externalNameUsable checks an externalName before it is resolved: an IP
// address, or a DNS name that is neither localhost (which resolvers answer
// with loopback without asking DNS, RFC 6761) nor an IPv4 address in a
// form only some parsers read as one ("127.1", "2130706433", "0x7f.1").
func (b *builder) externalNameUsable(svc *corev1.Service, host string, about ObjectRef) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true // judged with its port, as an answer is
	}
	if err := validateHost(host); err != nil || strings.HasPrefix(host, "*") {
		b.servedBut(about, ReasonInvalidBackend, "ExternalName Service %s/%s has an invalid externalName; requests get 503",
			svc.Namespace, svc.Name)
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		b.servedBut(about, ReasonBackendAddressRefused, "ExternalName Service %s/%s: externalName %q is loopback, and no backend may be "+
			"the controller's own Pod; point externalName at the real backend; requests get 503", svc.Namespace, svc.Name, excerpt.Of(host))
		return false
	}
	last := host[strings.LastIndex(host, ".")+1:]
	if strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x") {
		b.servedBut(about, ReasonInvalidBackend, "ExternalName Service %s/%s: externalName %q is neither a DNS name (no top-level "+
			"domain is numeric) nor an IP address in dotted decimal; requests get 503", svc.Namespace, svc.Name, excerpt.Of(host))
		return false
	}
	if len(b.global.Resolvers) == 0 {
		b.servedBut(about, ReasonInvalidBackend, "ExternalName Service %s/%s needs a DNS resolver; set --resolver",
			svc.Namespace, svc.Name)
	}
	return true
}

// externalEndpoints are the endpoints of an ExternalName pool: the address
// host is, or the addresses it resolved to, with port; the AddressPolicy
// refuses some, returned apart.
func (b *builder) externalEndpoints(host string, port uint16) (out, refused []string) {
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		addrs = b.answers(host)
	}
	var e endpointSet
	for _, a := range addrs {
		e.add(b.addrs, a.WithZone(""), port)
	}
	return e.sorted()
}

// endpointSet collects a pool's endpoints as "ip:port", and apart those
// the AddressPolicy refuses, with why.
type endpointSet struct{ out, refused []string }

func (e *endpointSet) add(policy AddressPolicy, addr netip.Addr, port uint16) {
	ap := netip.AddrPortFrom(addr, port)
	if why := policy.Refusal(addr, port); why != "" {
		e.refused = append(e.refused, refusedAddress(ap, why))
		return
	}
	e.out = append(e.out, ap.String())
}

// sorted returns both lists sorted and without duplicates.
func (e *endpointSet) sorted() (out, refused []string) {
	slices.Sort(e.out)
	slices.Sort(e.refused)
	return slices.Compact(e.out), slices.Compact(e.refused)
}

// poolEndpoints reads a pool's endpoints again: from its EndpointSlices,
// or for an ExternalName Service from its address or answers.
func (b *builder) poolEndpoints(u *Upstream) (endpoints, refused []string) {
	if u.ExternalName != "" {
		return b.externalEndpoints(u.ExternalName, u.ExternalPort)
	}
	if u.ClusterIP {
		// A Service change builds the model again; EndpointSlices do not
		// change a cluster IP.
		return u.Endpoints, u.Refused
	}
	return b.readyEndpoints(u.Namespace, u.Service, u.PortName)
}

// ExternalNames returns the DNS names the config's ExternalName pools need
// resolved, sorted: what the controller's resolver must keep answering.
func (c *Config) ExternalNames() []string {
	var out []string
	for i := range c.Upstreams {
		n := c.Upstreams[i].ExternalName
		if _, err := netip.ParseAddr(n); n != "" && err != nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
