package model

import (
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
)

// canaryIngress is a canary Ingress waiting for the main Ingresses to be
// placed: its rules only ever attach to locations they already made.
type canaryIngress struct {
	ing    *networkingv1.Ingress
	set    annotations.Set
	policy locationPolicy
	// index is the Ingress's place in the build's order (finding tags).
	index int
}

// addCanaries attaches each canary Ingress's backend to the locations of
// the main Ingress serving the same host and path, as ingress-nginx does.
// A canary never creates a location of its own, and never conflicts.
func (b *builder) addCanaries(canaries []canaryIngress) {
	b.phase = phaseCanaries
	defer func() { b.phase, b.current = phaseAfter, -1 }()
	for _, c := range canaries {
		b.current = c.index
		ref := ingressRef(c.ing)
		if !b.lua() {
			b.notServed(ref, ReasonIneffectiveAnnotation,
				"canary needs the Lua balancer, which this nginx lacks; the canary Ingress gets no traffic")
			continue
		}
		if err := c.set.Canary.Check(); err != nil {
			b.notServed(ref, ReasonInvalidAnnotation, "canary: %v; the canary Ingress gets no traffic", err)
			continue
		}
		start, taken := len(b.findings), b.taken
		b.addCanaryRules(c, ref)
		b.notServedIfNothingTaken(c.ing, start, taken)
	}
}

func (b *builder) addCanaryRules(c canaryIngress, ref ObjectRef) {
	for _, rule := range c.ing.Spec.Rules {
		if !b.owns(c.ing.Namespace, rule.Host) {
			// A canary takes requests of the host's main Ingress: only
			// the namespace that owns the host may split its traffic.
			b.notOwned(ref, rule.Host, "canary")
			continue
		}
		srv, ok := b.servers[rule.Host]
		if rule.Host == "" {
			srv, ok = b.defaultServer, true
		}
		if !ok || rule.HTTP == nil {
			b.ignored(ref, ReasonIneffectiveAnnotation, "canary host %q has no main Ingress; its rules get no traffic", displayHost(rule.Host))
			continue
		}
		for _, p := range rule.HTTP.Paths {
			b.addCanaryPath(srv, c, ref, p)
		}
	}
}

func (b *builder) addCanaryPath(srv *serverBuilder, c canaryIngress, ref ObjectRef, p networkingv1.HTTPIngressPath) {
	claim, ok := b.claimOf(srv, ref, p, c.policy)
	if !ok {
		return
	}
	main, served := srv.claims[claim]
	if !served {
		b.ignored(ref, ReasonIneffectiveAnnotation, "canary path %q on host %q has no main Ingress; it gets no traffic",
			claim.path, displayHost(srv.name))
		return
	}
	if ns, _, _ := strings.Cut(main, "/"); ns != c.ing.Namespace {
		// On a shared host the path may be another namespace's.
		b.ignored(ref, ReasonHostNotOwned, "canary path %q on host %q gets no traffic: its main Ingress %s is in another namespace",
			claim.path, displayHost(srv.name), main)
		return
	}
	action := b.backend(c.ing.Namespace, p.Backend, c.set.Balance.ServiceUpstream, ref)
	if action.Upstream == "" {
		b.ignored(ref, ReasonInvalidBackend, "canary path %q on host %q has no usable Service backend; it gets no traffic",
			claim.path, displayHost(srv.name))
		return
	}
	cn := c.set.Canary
	canary := &RouteCanary{Backend: action.Upstream, Source: key(c.ing.Namespace, c.ing.Name),
		Weight: cn.Weight, WeightTotal: cn.Total(), Header: cn.Header, HeaderValue: cn.HeaderValue,
		HeaderPattern: cn.HeaderPattern, Cookie: cn.Cookie}
	for _, k := range claimLocations(srv, claim) {
		if l, ok := srv.locations.get(k); ok && l.Action.Upstream != "" {
			l.Action.Canary = canary
			b.taken++
		}
	}
}

// claimLocations returns the location keys addRule made for a claim.
func claimLocations(srv *serverBuilder, claim ruleKey) []locKey {
	switch {
	case claim.regex:
		return []locKey{{modifier: "~*", path: "^" + claim.pattern}}
	case claim.exact:
		return []locKey{{modifier: "=", path: claim.path}}
	case claim.path == "/":
		return []locKey{{path: "/"}}
	}
	keys := []locKey{{path: claim.path + "/"}}
	if exact := (locKey{modifier: "=", path: claim.path}); srv.weak[exact] {
		keys = append(keys, exact)
	}
	return keys
}
