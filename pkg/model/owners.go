package model

import (
	networkingv1 "k8s.io/api/networking/v1"
)

// Host ownership. A host belongs to one namespace: the namespace of the
// oldest Ingress with a rule for it, and once a namespace owns a host it
// keeps it while any of its Ingresses still claims it (Options.LastOwners),
// so an old Ingress edited to name another namespace's host does not take
// it over. Rules of other namespaces for the host are not served unless the
// operator lets namespaces share hosts (Options.AllowSharedHosts, as
// OpenShift's router does on request); even then only the owner's namespace
// sets what applies to the whole host (TLS, client certificates, server
// snippets, aliases, redirects of the host, canaries), and the others'
// paths cannot be taken by the owner's regexes (guest paths, server.go).

// RulesNotServed starts the message of a HostNotOwned finding whose rules
// for a host are not served at all (the host follows, quoted), so that a
// report can tell an Ingress with nothing served.
const RulesNotServed = "rules for host "

// hostOwner is the namespace that owns a host and its oldest Ingress
// claiming it ("namespace/name"), for messages.
type hostOwner struct {
	namespace string
	ingress   string
}

// hostOwners returns the owner of every host the Ingresses' rules name
// ("" for rules without a host). ingresses are in build order, oldest
// first; last are the owners of the previous build (host -> namespace).
// sticky reports that some host kept an owner that is not its oldest
// claim's namespace: the result then depends on last.
func hostOwners(ingresses []*networkingv1.Ingress, last map[string]string) (owners map[string]hostOwner, sticky bool) {
	owners = make(map[string]hostOwner, len(ingresses))
	var kept map[string]hostOwner // the last owner's oldest claim, where it still claims
	for _, ing := range ingresses {
		for i := range ing.Spec.Rules {
			h := ing.Spec.Rules[i].Host
			if _, ok := owners[h]; !ok {
				owners[h] = hostOwner{namespace: ing.Namespace, ingress: key(ing.Namespace, ing.Name)}
			}
			if prev, ok := last[h]; ok && prev == ing.Namespace && owners[h].namespace != prev {
				if _, done := kept[h]; !done {
					if kept == nil {
						kept = map[string]hostOwner{}
					}
					kept[h] = hostOwner{namespace: ing.Namespace, ingress: key(ing.Namespace, ing.Name)}
				}
			}
		}
	}
	for h, o := range kept {
		owners[h] = o
		sticky = true
	}
	return owners, sticky
}

// ownerNamespaces is owners as Config.Owners keeps them.
func ownerNamespaces(owners map[string]hostOwner) map[string]string {
	out := make(map[string]string, len(owners))
	for h, o := range owners {
		out[h] = o.namespace
	}
	return out
}

// owns reports whether namespace may set what applies to host as a whole.
// A host no rule names (a TLS section alone) has no owner yet.
func (b *builder) owns(namespace, host string) bool {
	o, ok := b.owners[host]
	return !ok || o.namespace == namespace
}

// notOwned reports a setting of a host that only its owner's namespace may
// make, ignored for an Ingress of another namespace.
func (b *builder) notOwned(ref ObjectRef, host, what string) {
	o := b.owners[host]
	b.warn(ref, ReasonHostNotOwned, "%s for host %q is ignored: namespace %s owns the host (its oldest Ingress is %s), and only its Ingresses set what applies to the whole host",
		what, displayHost(host), o.namespace, o.ingress)
}
