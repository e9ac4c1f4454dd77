package model

import (
	networkingv1 "k8s.io/api/networking/v1"
)

// Host ownership. A host belongs to one namespace: the namespace of the
// oldest Ingress with a rule for it, and once a namespace owns a host it
// keeps it while any of its Ingresses still claims it, so an old Ingress
// edited to name another namespace's host does not take it over. Rules of
// other namespaces for the host are not served unless the operator lets
// namespaces share hosts (Options.AllowSharedHosts, as OpenShift's router
// does on request); even then only the owner's namespace sets what applies
// to the whole host (TLS, client certificates, server snippets, aliases,
// redirects of the host, canaries), and the others' paths cannot be taken
// by the owner's regexes (guest paths, server.go).
//
// What a build remembers for the next (Config.Owners, passed back as
// Options.LastOwners) is the owner of every contested host, one that
// Ingresses of several namespaces claim: only there can the owner differ
// from the oldest claim. A host that becomes contested takes its previous
// owner from the Ingress versions the last build served
// (Options.LastAccepted). Keeping the owner of every host instead would
// cost a map of every host on every build, a tenth of the time of a
// build after a one-Ingress change at 10,000 Ingresses.

// hostOwners returns the namespace that owns every host the Ingresses'
// rules name ("" for rules without a host) and, apart, the contested
// hosts' owners. ingresses are in build order, oldest first. sticky
// reports that some host kept an owner that is not its oldest claim's
// namespace: the result then depends on the last build.
func hostOwners(ingresses []*networkingv1.Ingress, opts *Options) (owners, contested map[string]string, sticky bool) {
	owners = make(map[string]string, len(ingresses))
	for _, ing := range ingresses {
		for i := range ing.Spec.Rules {
			h := ing.Spec.Rules[i].Host
			first, ok := owners[h]
			switch {
			case !ok:
				owners[h] = ing.Namespace
			case first != ing.Namespace:
				if contested == nil {
					contested = map[string]string{}
				}
				contested[h] = first
			}
		}
	}
	for h, first := range contested {
		prev, ok := opts.LastOwners[h]
		if !ok {
			prev, ok = previousOwner(h, ingresses, opts.LastAccepted)
		}
		if ok && prev != first && claims(ingresses, prev, h) {
			owners[h], contested[h] = prev, prev
			sticky = true
		}
	}
	return owners, contested, sticky
}

// previousOwner is the namespace of the oldest Ingress version the last
// build served that claims host, for a host that was not contested then.
func previousOwner(host string, ingresses []*networkingv1.Ingress, served map[string]*networkingv1.Ingress) (string, bool) {
	for _, ing := range ingresses {
		if prev, ok := served[key(ing.Namespace, ing.Name)]; ok && claimsHost(prev, host) {
			return prev.Namespace, true
		}
	}
	return "", false
}

// claims reports whether an Ingress of namespace claims host.
func claims(ingresses []*networkingv1.Ingress, namespace, host string) bool {
	for _, ing := range ingresses {
		if ing.Namespace == namespace && claimsHost(ing, host) {
			return true
		}
	}
	return false
}

func claimsHost(ing *networkingv1.Ingress, host string) bool {
	for i := range ing.Spec.Rules {
		if ing.Spec.Rules[i].Host == host {
			return true
		}
	}
	return false
}

// ownerIngress names the owner's oldest Ingress claiming host, for
// messages: found by a scan, since messages are rare and the map above is
// built on every build.
func (b *builder) ownerIngress(host string) string {
	ns := b.owners[host]
	for _, ing := range b.claimants {
		if ing.Namespace == ns && claimsHost(ing, host) {
			return key(ing.Namespace, ing.Name)
		}
	}
	return ns
}

// owns reports whether namespace may set what applies to host as a whole.
// A host no rule names (a TLS section alone) has no owner yet.
func (b *builder) owns(namespace, host string) bool {
	o, ok := b.owners[host]
	return !ok || o == namespace
}

// notOwned reports a setting of a host that only its owner's namespace may
// make, ignored for an Ingress of another namespace.
func (b *builder) notOwned(ref ObjectRef, host, what string) {
	b.ignored(ref, ReasonHostNotOwned, "%s for host %q is ignored: namespace %s owns the host (its oldest Ingress is %s), and only its Ingresses set what applies to the whole host",
		what, displayHost(host), b.owners[host], b.ownerIngress(host))
}
