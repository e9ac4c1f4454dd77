package model

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/excerpt"
)

// statusUnavailable is what nginx answers for a backend it cannot reach:
// a missing Service, an unknown port, or no ready endpoints.
const statusUnavailable = 503

// backend resolves an Ingress backend to an action; clusterIP proxies to
// the Service's cluster IP (service-upstream). Problems become findings
// and a 503, never an error: the rest of the Ingress still serves.
func (b *builder) backend(namespace string, be networkingv1.IngressBackend, clusterIP bool, about ObjectRef) Action {
	if be.Resource != nil {
		b.ignored(about, ReasonInvalidBackend, "resource backends (%s %s) are not supported; use a Service backend",
			excerpt.Of(be.Resource.Kind), excerpt.Of(be.Resource.Name))
		return Action{Return: statusUnavailable}
	}
	if be.Service == nil {
		b.ignored(about, ReasonInvalidBackend, "backend names no Service")
		return Action{Return: statusUnavailable}
	}
	return b.serviceBackend(namespace, be.Service.Name, be.Service.Port, clusterIP, about)
}

func (b *builder) serviceBackend(namespace, name string, port networkingv1.ServiceBackendPort, clusterIP bool, about ObjectRef) Action {
	portText := port.Name
	if port.Number != 0 {
		portText = strconv.Itoa(int(port.Number))
	}
	display := namespace + "/" + name + ":" + portText
	svc, ok := b.service(key(namespace, name))
	if !ok {
		b.servedBut(about, ReasonServiceNotFound, "Service %s/%s not found; requests get 503 until it exists",
			namespace, excerpt.Of(name))
		return Action{Return: statusUnavailable, Service: display}
	}
	sp, found := servicePort(svc, port)
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return b.externalName(svc, sp, found, port, display, about)
	}
	if !found {
		b.servedBut(about, ReasonPortNotFound, "Service %s/%s has no port %s; requests get 503",
			namespace, name, excerpt.Of(portText))
		return Action{Return: statusUnavailable, Service: display}
	}
	portNumber := strconv.Itoa(int(sp.Port))
	display = namespace + "/" + name + ":" + portNumber
	upstream := namespace + "." + name + "." + portNumber
	if clusterIP {
		if !hasClusterIP(svc) {
			why := "is headless (clusterIP: None)"
			if svc.Spec.ClusterIP == "" {
				why = "has no spec.clusterIP (the API server assigns one; a manifest may leave it out)"
			}
			b.servedBut(about, ReasonIneffectiveAnnotation, "service-upstream: Service %s/%s %s; its endpoints are used",
				namespace, name, why)
			clusterIP = false
		} else {
			upstream += ".cluster-ip"
		}
	}
	proxyPass := "http://" + upstream
	if b.lua() {
		proxyPass = luaPass(false)
	}
	if u, ok := b.upstreams[upstream]; ok {
		b.warnRefused(about, u)
		return Action{Upstream: u.Name, Pass: "proxy_pass", ProxyPass: proxyPass, Service: display}
	}
	var endpoints, refused []string
	if clusterIP {
		endpoints, refused = b.clusterIPEndpoints(svc, uint16(sp.Port))
	} else {
		endpoints, refused = b.readyEndpoints(namespace, name, sp.Name)
	}
	u := &Upstream{Name: upstream, Endpoints: endpoints, Namespace: namespace, Service: name, PortName: sp.Name,
		ClusterIP: clusterIP, Refused: refused}
	b.warnRefused(about, u)
	// The Lua balancer answers 503 itself while a pool is empty, so the
	// location stays the same when endpoints come and go: no reload.
	if len(endpoints) == 0 && !b.lua() {
		return Action{Return: statusUnavailable, Service: display}
	}
	b.upstreams[upstream] = u
	return Action{Upstream: upstream, Pass: "proxy_pass", ProxyPass: proxyPass, Service: display}
}

// hasClusterIP reports whether svc has a cluster IP to proxy to.
func hasClusterIP(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

// clusterIPEndpoints are the Service's cluster IPs (both families of a
// dual-stack Service) with the Service port, checked by the AddressPolicy
// like any endpoint: a cluster IP is chosen by whoever writes the Service.
func (b *builder) clusterIPEndpoints(svc *corev1.Service, port uint16) (out, refused []string) {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 {
		ips = []string{svc.Spec.ClusterIP}
	}
	var e endpointSet
	for _, ip := range ips {
		addr, err := netip.ParseAddr(ip)
		if err != nil || addr.Zone() != "" {
			continue
		}
		e.add(b.addrs, addr, port)
	}
	return e.sorted()
}

// servicePort finds the Service port an Ingress backend names, by number or by name.
func servicePort(svc *corev1.Service, port networkingv1.ServiceBackendPort) (corev1.ServicePort, bool) {
	for _, sp := range svc.Spec.Ports {
		if port.Number != 0 && sp.Port == port.Number {
			return sp, true
		}
		if port.Number == 0 && port.Name != "" && sp.Name == port.Name {
			return sp, true
		}
	}
	return corev1.ServicePort{}, false
}

// externalName makes an ExternalName Service a pool like any other: its
// endpoints are the address externalName is, or the addresses the
// controller resolved it to (snapshot.Resolved), each checked by the
// AddressPolicy. nginx never resolves the name itself, so an answer that
// changes to 127.0.0.1 later (DNS rebinding) is checked like the first.
// With the Lua balancer new answers are pushed without a reload; a name
// without a usable answer gets 503 until it has one.
func (b *builder) externalName(svc *corev1.Service, sp corev1.ServicePort, found bool, port networkingv1.ServiceBackendPort, display string, about ObjectRef) Action {
	host := strings.ToLower(strings.TrimSuffix(svc.Spec.ExternalName, "."))
	number := port.Number
	if found {
		number = sp.Port
	}
	if number <= 0 || number > 65535 {
		b.servedBut(about, ReasonPortNotFound, "ExternalName Service %s/%s has no port %q; refer to the port by number",
			svc.Namespace, svc.Name, excerpt.Of(port.Name))
		return Action{Return: statusUnavailable, Service: display}
	}
	display = fmt.Sprintf("%s/%s:%d", svc.Namespace, svc.Name, number)
	upstream := fmt.Sprintf("%s.%s.%d", svc.Namespace, svc.Name, number)
	proxyPass := "http://" + upstream
	if b.lua() {
		proxyPass = luaPass(false)
	}
	// Checked on every use, pool built or not: each Ingress gets the
	// findings, whichever unit builds it (units.go).
	if !b.externalNameUsable(svc, host, about) {
		return Action{Return: statusUnavailable, Service: display}
	}
	u, ok := b.upstreams[upstream]
	if !ok {
		endpoints, refused := b.externalEndpoints(host, uint16(number))
		u = &Upstream{Name: upstream, Endpoints: endpoints, Namespace: svc.Namespace, Service: svc.Name,
			ExternalName: host, ExternalPort: uint16(number), Refused: refused}
		// Kept even without endpoints, with either balancer: Config.ExternalNames
		// reads the pools, and a name without an answer must still be resolved.
		b.upstreams[upstream] = u
	}
	b.warnRefused(about, u)
	if len(u.Endpoints) == 0 && !b.lua() {
		// nginx has no empty upstream block (the template prints none):
		// 503 until the name has a usable answer, which reloads.
		return Action{Return: statusUnavailable, Service: display}
	}
	return Action{Upstream: upstream, ExternalHost: host, Pass: "proxy_pass", ProxyPass: proxyPass, Service: display}
}

// readyEndpoints collects the ready, non-terminating addresses of a Service
// port from all its EndpointSlices, sorted and without duplicates (a Pod can
// briefly appear in two slices while they are rebalanced). Addresses the
// AddressPolicy refuses are left out and returned apart.
func (b *builder) readyEndpoints(namespace, service, portName string) (out, refused []string) {
	var e endpointSet
	for _, es := range b.endpointSlices(key(namespace, service)) {
		if es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6 {
			continue // FQDN slices are not addresses nginx can balance over
		}
		port, ok := slicePort(es, portName)
		if !ok {
			continue
		}
		for _, ep := range es.Endpoints {
			if !endpointServes(ep) {
				continue
			}
			for _, a := range ep.Addresses {
				addr, err := netip.ParseAddr(a)
				if err != nil || addr.Zone() != "" {
					continue
				}
				e.add(b.addrs, addr, port)
			}
		}
	}
	return e.sorted()
}

// endpointServes: ready nil means ready (API contract); a terminating
// endpoint may still report ready while it drains, and gets no new requests.
func endpointServes(ep discoveryv1.Endpoint) bool {
	if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
		return false
	}
	return ep.Conditions.Terminating == nil || !*ep.Conditions.Terminating
}

func slicePort(es *discoveryv1.EndpointSlice, name string) (uint16, bool) {
	for _, p := range es.Ports {
		pn := ""
		if p.Name != nil {
			pn = *p.Name
		}
		if pn != name || p.Port == nil || *p.Port <= 0 || *p.Port > 65535 {
			continue
		}
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			continue
		}
		return uint16(*p.Port), true
	}
	return 0, false
}

// defaultBackendService resolves --default-backend-service ("ns/name" or "ns/name:port").
func (b *builder) defaultBackendService(spec string) (Action, bool) {
	nsName, portText, hasPort := strings.Cut(spec, ":")
	namespace, name, ok := strings.Cut(nsName, "/")
	about := ObjectRef{Kind: "Service", Namespace: namespace, Name: name}
	if !ok || namespace == "" || name == "" {
		b.ignored(ObjectRef{Kind: "Flag", Name: "default-backend-service"}, ReasonInvalidOption,
			"--default-backend-service %q must be NAMESPACE/NAME or NAMESPACE/NAME:PORT", excerpt.Of(spec))
		return Action{}, false
	}
	var port networkingv1.ServiceBackendPort
	switch n, err := strconv.Atoi(portText); {
	case !hasPort:
		svc, ok := b.service(key(namespace, name))
		if !ok || len(svc.Spec.Ports) == 0 {
			b.servedBut(about, ReasonServiceNotFound, "default backend Service %s has no ports or does not exist; unmatched requests get 404", nsName)
			return Action{}, false
		}
		port.Number = svc.Spec.Ports[0].Port
	case err == nil:
		port.Number = int32(n)
	default:
		port.Name = portText
	}
	return b.serviceBackend(namespace, name, port, false, about), true
}
