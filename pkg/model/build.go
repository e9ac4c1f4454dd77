package model

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/excerpt"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// Build translates a snapshot into a Config. It never fails: whatever it
// cannot use it skips and reports as a Finding, so one bad Ingress never
// takes the others down. The same snapshot and options always give the same
// Config and the same findings, in the same order.
func Build(snap *snapshot.Snapshot, opts Options) (*Config, []Finding) {
	if snap == nil {
		snap = &snapshot.Snapshot{}
	}
	if opts.KeyPairs == nil {
		// A cache for this build alone, where checkKeyPairs puts what it
		// checks in parallel.
		opts.KeyPairs = NewKeyPairCache()
	}
	build := opts.KeyPairs.begin()
	defer opts.KeyPairs.end(build)
	if opts.Units != nil {
		return buildUnits(snap, opts, build)
	}
	return prelude(snap, opts, build).whole()
}

// whole builds the config from b, as prelude made it, adding every one of
// our Ingresses (b.ingresses).
func (b *builder) whole() (*Config, []Finding) {
	ingresses := b.ingresses
	accepted := make(map[string]*networkingv1.Ingress, len(ingresses))
	served := make([]ObjectRef, 0, len(ingresses))
	b.addIngresses(ingresses, func(i int, use *networkingv1.Ingress) {
		ing := ingresses[i]
		accepted[key(ing.Namespace, ing.Name)] = use
		served = append(served, ingressRef(ing))
	})
	b.addWWWRedirects()
	b.setFallbacks(b.globalFallback())
	b.dropShadowedAliases()
	cfg := b.config()
	assignRoutes(cfg)
	cfg.Ingresses = served
	cfg.Accepted = accepted
	cfg.Owners = b.contested
	cfg.ConfigMap = b.configMapApplied
	cfg.ConfigMapValues = b.configMapValues
	cfg.RecheckAt = b.clock.until
	return cfg, b.findings
}

// prelude makes the builder every build starts from: the indexes, the
// ConfigMap's options and the default certificate (with their findings),
// and our Ingresses, oldest first, their key pairs checked.
func prelude(snap *snapshot.Snapshot, opts Options, build uint64) *builder {
	b := configuredBuilder(snap, opts, build, newIndex(snap), nil)
	b.ingresses = b.sortedIngresses(snap.Ingresses)
	b.checkKeyPairs(b.ingresses)
	return b
}

// configuredBuilder makes a build's builder on an index made already, with
// the ConfigMap's options, the address policy and the default certificate
// applied, before any Ingress is added.
func configuredBuilder(snap *snapshot.Snapshot, opts Options, build uint64, idx index, parser *annotations.Parser) *builder {
	b := newBuilderOn(snap, opts, idx, parser)
	b.keyPairBuild = build
	b.applyConfigMap(snap.ConfigMaps)
	b.addrs = addressPolicy(b.opts, b.global)
	b.defaultCertificate()
	return b
}

// builder holds the indexes and partial results of one Build call. Indexes
// are built once so every lookup is a map access: rebuild cost stays linear
// in the number of objects.
type builder struct {
	// opts and global are shared with the builders of units, read-only
	// once the ConfigMap is applied.
	opts    *Options
	global  *Global
	parser  *annotations.Parser
	index   // read-only, shared with the unit builders too
	classes classSelector
	addrs   AddressPolicy // which backend addresses are refused (addresses.go)
	// resolved are the snapshot's DNS answers (snapshot.Resolved), read-only.
	resolved map[string][]netip.Addr

	servers       map[string]*serverBuilder
	defaultServer *serverBuilder
	upstreams     map[string]*Upstream
	limitZones    map[string]LimitZone
	limitExempts  map[string]LimitExempt
	originMaps    map[string]OriginMap
	authFiles     map[string]SecretFile
	aliasOwner    map[string]string
	certificates  map[string]Certificate
	certBySecret  map[string]certResult
	keyPairBuild  uint64 // this build's number in opts.KeyPairs
	// clock is the span of Options.Now in which what b chose holds
	// (tlscert.go); usedLast says b looked into Options.LastCertificates.
	clock    timeBounds
	usedLast bool
	// defaultPair is the --default-ssl-certificate pair served, nil for
	// the self-signed one; read-only, shared with the unit builders.
	defaultPair  *defaultPair
	wwwRedirects []wwwRedirect
	findings     []Finding
	// taken counts the routes and default backends Ingresses have added,
	// so that one whose every path was left out is reported NotServed.
	taken int
	// owners are the hosts' owners (owners.go), set by addIngresses;
	// stickyOwners says they depend on Options.LastOwners.
	owners       map[string]string
	contested    map[string]string
	stickyOwners bool
	// claimants are the Ingresses the owners come from, in build order.
	claimants []*networkingv1.Ingress
	// ingresses are our Ingresses, oldest first, their key pairs checked:
	// what whole adds (set by prelude, or by buildUnits when it cannot
	// build by units).
	ingresses []*networkingv1.Ingress
	// limits are Options.Limits with the defaults filled in.
	limits Limits
	// configMapApplied is the options ConfigMap version applied (Config.ConfigMap).
	configMapApplied *corev1.ConfigMap
	// configMapValues are the values in effect, by key (Config.ConfigMapValues).
	configMapValues map[string]string

	// deps, when set, records the objects read (a unit's build, units.go).
	deps *depLog
	// tags, in a unit's build (deps set), are the phase and Ingress of
	// every finding, in step with findings, for the unit's findings to be
	// put in build order.
	tags []findingTag
	// phase and current say what the build is at, for tags: the main loop
	// (phaseIngresses) or the canaries, and the index of the Ingress.
	phase   int
	current int
}

// index holds the snapshot's objects other than Ingresses by
// "namespace/name" (EndpointSlices by their Service's).
type index struct {
	services   map[string]*corev1.Service
	slices     map[string][]*discoveryv1.EndpointSlice
	secrets    map[string]*corev1.Secret
	configMaps map[string]*corev1.ConfigMap
}

func newIndex(snap *snapshot.Snapshot) index {
	idx := index{
		services:   make(map[string]*corev1.Service, len(snap.Services)),
		slices:     slicesByService(snap.EndpointSlices),
		secrets:    make(map[string]*corev1.Secret, len(snap.Secrets)),
		configMaps: make(map[string]*corev1.ConfigMap, len(snap.ConfigMaps)),
	}
	for _, svc := range snap.Services {
		idx.services[key(svc.Namespace, svc.Name)] = svc
	}
	for _, s := range snap.Secrets {
		idx.secrets[key(s.Namespace, s.Name)] = s
	}
	for _, cm := range snap.ConfigMaps {
		idx.configMaps[key(cm.Namespace, cm.Name)] = cm
	}
	return idx
}

// slicesByService groups EndpointSlices by their Service's "namespace/name".
func slicesByService(list []*discoveryv1.EndpointSlice) map[string][]*discoveryv1.EndpointSlice {
	out := make(map[string][]*discoveryv1.EndpointSlice, len(list))
	for _, es := range list {
		if svc := es.Labels[discoveryv1.LabelServiceName]; svc != "" {
			k := key(es.Namespace, svc)
			out[k] = append(out[k], es)
		}
	}
	return out
}

// newBuilderOn makes the builder of one build on an index made already,
// which the builder only reads (units.go reuses it between builds), with
// parser, or a new one for opts when nil (a parser is read-only; making
// one costs more than a review's whole build, so reviews share theirs).
func newBuilderOn(snap *snapshot.Snapshot, opts Options, idx index, parser *annotations.Parser) *builder {
	global := opts.Global
	if parser == nil {
		parser = annotations.NewParser(opts.AnnotationPrefix)
	}
	base := &builder{
		opts:    &opts,
		global:  &global,
		parser:  parser,
		index:   idx,
		classes: newClassSelector(snap.IngressClasses, opts),
		limits:  opts.Limits.withDefaults(),
		// Not part of idx, which is reused while the objects are the same.
		resolved: snap.Resolved,
	}
	return base.child()
}

func key(namespace, name string) string { return namespace + "/" + name }

// sortedIngresses returns our Ingresses oldest first: on every conflict the
// oldest claim wins, as the Kubernetes docs and other controllers do.
func (b *builder) sortedIngresses(all []*networkingv1.Ingress) []*networkingv1.Ingress {
	ours := make([]*networkingv1.Ingress, 0, len(all))
	for _, ing := range all {
		if b.classes.ours(ing) {
			ours = append(ours, ing)
		}
	}
	slices.SortFunc(ours, olderFirst)
	return ours
}

// olderFirst orders Ingresses by creation, then namespace and name.
func olderFirst(a, c *networkingv1.Ingress) int {
	if d := a.CreationTimestamp.Compare(c.CreationTimestamp.Time); d != 0 {
		return d
	}
	return cmp.Or(cmp.Compare(a.Namespace, c.Namespace), cmp.Compare(a.Name, c.Name))
}

// servedBut records a finding of severity Served: obj is served as written.
func (b *builder) servedBut(obj ObjectRef, reason, format string, args ...any) {
	b.find(Served, obj, reason, fmt.Sprintf(format, args...))
}

// ignored records a finding of severity PartlyServed: obj is served
// without what the message names.
func (b *builder) ignored(obj ObjectRef, reason, format string, args ...any) {
	b.find(PartlyServed, obj, reason, fmt.Sprintf(format, args...))
}

// notServed records a finding of severity NotServed.
func (b *builder) notServed(obj ObjectRef, reason, format string, args ...any) {
	b.find(NotServed, obj, reason, fmt.Sprintf(format, args...))
}

func (b *builder) find(severity Severity, obj ObjectRef, reason, message string) {
	b.findings = append(b.findings, Finding{Object: obj, Reason: reason, Severity: severity, Message: message})
	if b.deps != nil {
		b.tags = append(b.tags, findingTag{phase: b.phase, index: b.current})
	}
}

func ingressRef(ing *networkingv1.Ingress) ObjectRef {
	return ObjectRef{Kind: "Ingress", Namespace: ing.Namespace, Name: ing.Name, UID: string(ing.UID)}
}

func (b *builder) server(host string) *serverBuilder {
	if host == "" {
		return b.defaultServer
	}
	s, ok := b.servers[host]
	if !ok {
		s = newServerBuilder(host)
		b.servers[host] = s
	}
	return s
}

// accept checks an Ingress's annotations. Unknown keys are findings only,
// unless they ask for a security control Portico does not implement
// (annotations.UnsupportedSecurity): such an Ingress is refused like one
// with an invalid value, as serving it without the control would fail open.
// With an invalid value the Ingress is served as it was last accepted (the
// same object, by UID), or not at all if it never was: a bad edit must not
// take down routes that worked, and nothing invalid reaches nginx.conf.
func (b *builder) accept(ing *networkingv1.Ingress) (*networkingv1.Ingress, annotations.Set, bool) {
	ref := ingressRef(ing)
	if ex, ok := b.opts.Excluded[key(ing.Namespace, ing.Name)]; ok && SameVersion(ex.Ingress, ing) {
		return b.lastAccepted(ing, []refusal{{ReasonNginxRejected, "nginx -t refused the configuration lines this Ingress makes: " + ex.Message}})
	}
	if why := b.overLimit(ing); why != "" {
		return b.lastAccepted(ing, []refusal{{ReasonOverLimit, "this Ingress is too large to serve: " + why}})
	}
	set, problems := b.parse(ing, ing.Annotations)
	var refused []refusal
	for _, p := range problems {
		switch p.Kind {
		case annotations.Unknown:
			b.ignored(ref, ReasonUnknownAnnotation, "%s", p.Message)
		case annotations.Conflict:
			b.ignored(ref, ReasonConflictingAnnotation, "%s", p.Message)
		case annotations.IgnoredValue:
			b.ignored(ref, ReasonIgnoredAnnotationValue, "%s", p.Message)
		case annotations.UnsupportedSecurity:
			refused = append(refused, refusal{ReasonUnsupportedSecurityAnnotation, p.Message})
		default:
			refused = append(refused, refusal{ReasonInvalidAnnotation, p.Message})
		}
	}
	if len(refused) == 0 {
		return ing, set, true
	}
	return b.lastAccepted(ing, refused)
}

// refusal is one reason an Ingress cannot be served as written.
type refusal struct {
	reason, message string
}

// lastAccepted serves an Ingress that cannot be served as it is (the
// refusals are reported) as it was last accepted, if it was and that
// version is fine: a bad edit must not take down routes that worked.
func (b *builder) lastAccepted(ing *networkingv1.Ingress, refused []refusal) (*networkingv1.Ingress, annotations.Set, bool) {
	ref := ingressRef(ing)
	prev, ok := b.opts.LastAccepted[key(ing.Namespace, ing.Name)]
	if ok && prev.UID == ing.UID && !SameVersion(prev, ing) && b.overLimit(prev) == "" {
		if prevSet, prevProblems := b.parse(prev, prev.Annotations); !hasInvalid(prevProblems) {
			for _, r := range refused {
				b.notServed(ref, r.reason, "%s; still serving the last accepted version of this Ingress", r.message)
			}
			return prev, prevSet, true
		}
	}
	for _, r := range refused {
		b.notServed(ref, r.reason, "%s; this Ingress is not served until it is fixed", r.message)
	}
	return nil, annotations.Set{}, false
}

// hasInvalid reports whether problems keep an Ingress from being served:
// an invalid value or an unsupported security annotation.
func hasInvalid(problems []annotations.Problem) bool {
	for _, p := range problems {
		if p.Kind == annotations.Invalid || p.Kind == annotations.UnsupportedSecurity {
			return true
		}
	}
	return false
}

func (b *builder) addIngress(ing *networkingv1.Ingress, policy locationPolicy) {
	ref := ingressRef(ing)
	source := key(ing.Namespace, ing.Name)
	b.addTLS(ing, ref)
	hosts, owned := b.addRules(ing, ref, source, policy)
	b.requireClientCerts(ref, owned, policy)
	b.addHostSettings(ing, ref, source, hosts, policy)
	b.addDefaultBackends(ing, ref, source, owned, policy)
}

// addRules adds the paths of an Ingress's rules. It returns the hosts the
// Ingress serves paths on, and of those the ones its namespace owns, where
// it also sets what applies to the whole host.
func (b *builder) addRules(ing *networkingv1.Ingress, ref ObjectRef, source string, policy locationPolicy) (hosts, owned []string) {
	for _, rule := range ing.Spec.Rules {
		if rule.Host != "" {
			if err := validateHost(rule.Host); err != nil {
				b.ignored(ref, ReasonInvalidHost, "rule host %q skipped: %v", excerpt.Of(rule.Host), err)
				continue
			}
		}
		guest := !b.owns(ing.Namespace, rule.Host)
		if guest && !b.guestAllowed(ing, ref, rule.Host, policy) {
			continue
		}
		srv := b.server(rule.Host)
		hosts = append(hosts, rule.Host)
		if !guest {
			owned = append(owned, rule.Host)
		}
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			b.addPath(srv, ing, ref, source, p, policy, guest)
		}
	}
	return hosts, owned
}

// requireClientCerts gives the owned hosts the Ingress's auth-tls settings.
func (b *builder) requireClientCerts(ref ObjectRef, owned []string, policy locationPolicy) {
	cc := policy.clientCert
	if cc == nil {
		return
	}
	for _, h := range owned {
		srv := b.server(h)
		switch {
		case srv.clientCert == nil:
			srv.clientCert = cc
		case srv.clientCert.CAFile != cc.CAFile || srv.clientCert.Verify != cc.Verify || srv.clientCert.Depth != cc.Depth:
			b.ignored(ref, ReasonConflict, "auth-tls settings for host %q are ignored: the older Ingress %s already sets them",
				displayHost(h), srv.clientCert.Source)
		}
		switch {
		case srv.tls != nil || h == "":
		case cc.Verify == "on":
			// The locations still require a verified certificate, which
			// plain HTTP never has: the control fails closed.
			b.notServed(ref, ReasonIneffectiveAnnotation, "auth-tls-secret on host %q cannot be honoured without spec.tls for that host: "+
				"its requests get 403 until spec.tls names it", h)
		default:
			b.ignored(ref, ReasonIneffectiveAnnotation, "auth-tls-secret on host %q has no effect without spec.tls for that host", h)
		}
	}
}

// addHostSettings adds what the Ingress sets for its hosts besides paths:
// the auth endpoint, error locations, aliases, redirects, app-root, and
// last the server-snippet.
func (b *builder) addHostSettings(ing *networkingv1.Ingress, ref ObjectRef, source string, hosts []string, policy locationPolicy) {
	if ep := policy.authEndpoint; ep != nil {
		for _, h := range hosts {
			putIn(&b.server(h).authEndpoints, ep.Path, *ep)
		}
	}
	for _, h := range hosts {
		b.server(h).addErrorLocations(policy.errorLocations)
	}
	for _, alias := range policy.headers.ServerAliases {
		for _, h := range hosts {
			switch {
			case h == "":
			case !b.owns(ing.Namespace, h):
				b.notOwned(ref, h, "server-alias")
			default:
				b.addAlias(b.server(h), alias, source, ref)
			}
		}
	}
	if policy.wwwRedirect {
		for _, h := range hosts {
			if !b.owns(ing.Namespace, h) {
				b.notOwned(ref, h, "from-to-www-redirect")
				continue
			}
			b.wantWWWRedirect(h, source, ref)
		}
	}
	if root := policy.appRoot; root != "" {
		for _, h := range hosts {
			if !b.owns(ing.Namespace, h) {
				b.notOwned(ref, h, "app-root")
				continue
			}
			srv := b.server(h)
			if k := (locKey{modifier: "=", path: "/"}); srv.snippetLocs[k] {
				b.ignored(ref, ReasonConflict, "app-root on host %q is ignored: the host's server-snippet (Ingress %s) defines location = /",
					displayHost(h), srv.snippetSource)
				continue
			}
			srv.addAppRoot(source, root, policy)
		}
	}
	// Last, so that the snippet's locations meet every location the
	// Ingress itself gives its hosts.
	if len(policy.serverSnippet) > 0 {
		for _, h := range hosts {
			switch {
			case h == "":
			case !b.owns(ing.Namespace, h):
				b.notOwned(ref, h, "server-snippet")
			default:
				b.addServerSnippet(b.server(h), ref, source, policy.serverSnippet)
			}
		}
	}
}

// addDefaultBackends adds spec.defaultBackend, for the owned hosts and the
// default server, and the default-backend annotation, for the owned hosts.
func (b *builder) addDefaultBackends(ing *networkingv1.Ingress, ref ObjectRef, source string, owned []string, policy locationPolicy) {
	if ing.Spec.DefaultBackend != nil {
		action := b.balanced(b.backend(ing.Namespace, *ing.Spec.DefaultBackend, policy.balance.ServiceUpstream, ref), policy)
		for _, h := range owned {
			srv := b.server(h)
			if srv.fallback == nil {
				srv.fallback = &fallback{action: action, source: source, vars: locationVars(ing, ing.Spec.DefaultBackend), policy: policy}
				b.taken++
			}
		}
		switch {
		case !b.owns(ing.Namespace, ""):
			b.notOwned(ref, "", "spec.defaultBackend")
		case b.defaultServer.fallback == nil:
			b.defaultServer.fallback = &fallback{action: action, source: source, vars: locationVars(ing, ing.Spec.DefaultBackend), policy: policy}
			b.taken++
			if ep := policy.authEndpoint; ep != nil {
				putIn(&b.defaultServer.authEndpoints, ep.Path, *ep)
			}
			b.defaultServer.addErrorLocations(policy.errorLocations)
		case b.defaultServer.fallback.source != source:
			b.ignored(ref, ReasonConflict,
				"spec.defaultBackend is not used for requests that match no host: the older Ingress %s already provides the default backend",
				b.defaultServer.fallback.source)
		}
	}
	if db := policy.defaultBackend; db != nil {
		// Only named hosts: a host-less rule is the default server, where
		// a fallback would answer for every unknown host.
		for _, h := range owned {
			if srv := b.server(h); h != "" && srv.fallback == nil {
				srv.fallback = &fallback{action: b.balanced(*db, policy), source: source, vars: locationVars(ing, nil), policy: policy}
			}
		}
	}
}

// guestAllowed reports whether an Ingress may serve paths on a host another
// namespace owns, and reports why not when it may not: only when the
// operator lets namespaces share hosts, without regex paths (they would be
// tried before the owner's paths) and without client certificates (a
// setting of the whole host, which the Ingress cannot have there: failing
// closed beats serving its paths unchecked).
func (b *builder) guestAllowed(ing *networkingv1.Ingress, ref ObjectRef, host string, policy locationPolicy) bool {
	owner := b.owners[host]
	switch {
	case !b.opts.AllowSharedHosts:
		b.ignored(ref, ReasonHostNotOwned, "rules for host %q are not served: namespace %s owns the host (its oldest Ingress is %s); "+
			"use another host, or an operator can let namespaces share hosts with --allow-shared-hosts",
			displayHost(host), owner, b.ownerIngress(host))
	case policy.regex:
		b.ignored(ref, ReasonHostNotOwned, "regex paths (use-regex, rewrite-target) for host %q are not served: namespace %s owns the host, "+
			"and on a shared host only the owner's Ingresses may use regex paths", displayHost(host), owner)
	case policy.clientCert != nil:
		b.ignored(ref, ReasonHostNotOwned, "paths for host %q are not served: auth-tls-secret needs client certificates on the whole host, "+
			"which only its owner namespace %s sets", displayHost(host), owner)
	default:
		return true
	}
	return false
}

func (b *builder) addPath(srv *serverBuilder, ing *networkingv1.Ingress, ref ObjectRef, source string, p networkingv1.HTTPIngressPath, policy locationPolicy, guest bool) {
	claim, ok := b.claimOf(srv, ref, p, policy)
	if !ok {
		return
	}
	if owner, taken := srv.claims[claim]; taken {
		if owner == source {
			b.ignored(ref, ReasonConflict, "path %q on host %q is listed twice; the second is ignored", claim.path, displayHost(srv.name))
		} else {
			b.ignored(ref, ReasonConflict, "path %q (%s) on host %q is ignored: the older Ingress %s already routes it",
				claim.path, matchName(claim.exact), displayHost(srv.name), owner)
		}
		return
	}
	if k, clash := srv.snippetClash(claim); clash {
		b.ignored(ref, ReasonConflict, "path %q (%s) on host %q is ignored: the host's server-snippet (Ingress %s) defines location %s",
			claim.path, matchName(claim.exact), displayHost(srv.name), srv.snippetSource, locationName(k))
		return
	}
	if claim.regex {
		if srv.regexPaths >= b.limits.RegexPathsPerHost {
			b.ignored(ref, ReasonOverLimit, "regex path %q on host %q is not served: the host has %d regex paths already, the most a host may have (--max-regex-paths-per-host)",
				excerpt.Of(claim.path), displayHost(srv.name), srv.regexPaths)
			return
		}
		srv.regexPaths++
	}
	srv.claims[claim] = source
	action := b.backend(ing.Namespace, p.Backend, policy.balance.ServiceUpstream, ref)
	if db := policy.defaultBackend; db != nil {
		switch {
		case unavailable(action):
			action = *db
		case b.lua() && action.Upstream != "" && db.Upstream != "":
			// The Lua balancer switches to the default backend while the
			// Service has no ready endpoints, without a reload.
			action.Fallback = db.Upstream
		}
	}
	action = b.balanced(action, policy)
	if af := action.Affinity; af != nil && af.Path == "" {
		scoped := *af
		scoped.Path = "/"
		if !claim.regex {
			scoped.Path = claim.path
		}
		action.Affinity = &scoped
	}
	vars := locationVars(ing, &p.Backend)
	vars.Path = claim.path
	srv.addRule(claim, source, vars, action, policy, guest)
	b.taken++
}

// claimOf checks an Ingress path and returns the rule it claims on a host:
// the normalized path and how it matches. Problems become findings.
func (b *builder) claimOf(srv *serverBuilder, ref ObjectRef, p networkingv1.HTTPIngressPath, policy locationPolicy) (ruleKey, bool) {
	pathType := networkingv1.PathTypeImplementationSpecific
	if p.PathType != nil {
		pathType = *p.PathType
	}
	if pathType != networkingv1.PathTypeExact && pathType != networkingv1.PathTypePrefix &&
		pathType != networkingv1.PathTypeImplementationSpecific {
		b.ignored(ref, ReasonInvalidPath, "path %q skipped: pathType %q is not Exact, Prefix or ImplementationSpecific",
			excerpt.Of(p.Path), excerpt.Of(string(pathType)))
		return ruleKey{}, false
	}
	path := p.Path
	if path == "" && pathType != networkingv1.PathTypeExact {
		path = "/" // the API server defaults an empty ImplementationSpecific path to "/"
	}
	exact := pathType == networkingv1.PathTypeExact
	regex := policy.regex && !exact
	var pattern string
	var err error
	if regex {
		pattern, err = regexPathPattern(path)
	} else {
		err = validatePath(path)
	}
	if err == nil && !regex && strings.HasPrefix(path, authLocationPrefix) {
		// "= path" would duplicate an auth location of the host (the
		// global one has a fixed name): nginx -t would refuse the config.
		err = fmt.Errorf("paths starting with %s are Portico's internal auth locations", authLocationPrefix)
	}
	if err != nil {
		b.ignored(ref, ReasonInvalidPath, "path %q on host %q skipped: %v", excerpt.Of(p.Path), displayHost(srv.name), err)
		return ruleKey{}, false
	}
	if !exact && !regex {
		// Prefix matching is per path element, so a trailing slash changes nothing.
		if trimmed := strings.TrimRight(path, "/"); trimmed != "" {
			path = trimmed
		} else {
			path = "/"
		}
	}
	return ruleKey{exact: exact, regex: regex, path: path, pattern: pattern}, true
}

func matchName(exact bool) string {
	if exact {
		return "Exact"
	}
	return "Prefix"
}

func displayHost(h string) string {
	if h == "" {
		return "*"
	}
	return h
}

// addIngresses is a build's main loop: the Ingresses accepted and added in
// order, the canaries after the others. served gets the place of each
// Ingress served and the version served.
func (b *builder) addIngresses(ingresses []*networkingv1.Ingress, served func(i int, use *networkingv1.Ingress)) {
	b.owners, b.contested, b.stickyOwners = hostOwners(ingresses, b.opts)
	b.claimants = ingresses
	var canaries []canaryIngress
	for i, ing := range ingresses {
		b.phase, b.current = phaseIngresses, i
		use, set, ok := b.accept(ing)
		if !ok {
			continue
		}
		served(i, use)
		if set.Canary.Enabled {
			canaries = append(canaries, canaryIngress{ing: use, set: set, policy: b.policy(use, set), index: i})
			continue
		}
		start, taken := len(b.findings), b.taken
		b.addIngress(use, b.policy(use, set))
		b.notServedIfNothingTaken(use, start, taken)
	}
	b.addCanaries(canaries)
}

// notServedIfNothingTaken makes the PartlyServed findings about an Ingress
// since findings[start] NotServed when it wants routes (paths or a default
// backend) and none was taken: a report must not call an Ingress whose
// every path was left out "served with warnings".
func (b *builder) notServedIfNothingTaken(ing *networkingv1.Ingress, start, taken int) {
	if b.taken != taken || !wantsRoutes(ing) {
		return
	}
	for i := start; i < len(b.findings); i++ {
		f := &b.findings[i]
		if f.Severity == PartlyServed && f.Object.Kind == "Ingress" && f.Object.Namespace == ing.Namespace && f.Object.Name == ing.Name {
			f.Severity = NotServed
		}
	}
}

// wantsRoutes reports whether an Ingress names any path or a default
// backend (an Ingress of TLS sections alone routes nothing).
func wantsRoutes(ing *networkingv1.Ingress) bool {
	if ing.Spec.DefaultBackend != nil {
		return true
	}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP != nil && len(rule.HTTP.Paths) > 0 {
			return true
		}
	}
	return false
}

// setFallbacks gives defaultFallback to every server, the default server too, that has
// no fallback yet.
func (b *builder) setFallbacks(defaultFallback *fallback) {
	for _, srv := range b.servers {
		if srv.fallback == nil {
			srv.fallback = defaultFallback
		}
	}
	if b.defaultServer != nil && b.defaultServer.fallback == nil {
		b.defaultServer.fallback = defaultFallback
	}
}

// globalFallback is what answers where no rule matches and no Ingress
// says otherwise: --default-backend-service, or 404.
func (b *builder) globalFallback() *fallback {
	if spec := b.opts.DefaultBackendService; spec != "" {
		if action, ok := b.defaultBackendService(spec); ok {
			return &fallback{action: action}
		}
	}
	return &fallback{action: Action{Return: 404}}
}

// addAlias gives a server one more name, unless another server already
// answers to it (its own host or an older alias), which keeps its claim.
func (b *builder) addAlias(srv *serverBuilder, alias, source string, ref ObjectRef) {
	if alias == srv.name {
		return
	}
	if b.aliasOwner == nil {
		b.aliasOwner = map[string]string{}
	}
	if owner, taken := b.aliasOwner[alias]; taken && owner != srv.name {
		b.ignored(ref, ReasonConflict, "server-alias %q is ignored: host %q already has it", alias, owner)
		return
	}
	b.aliasOwner[alias] = srv.name
	putIn(&srv.aliases, alias, source)
}

// dropShadowedAliases removes aliases that are also a rule's host: the
// host's own server wins, whichever Ingress is older.
func (b *builder) dropShadowedAliases() {
	for _, srv := range b.serverList() {
		aliases := make([]string, 0, len(srv.aliases))
		for a := range srv.aliases {
			aliases = append(aliases, a)
		}
		slices.Sort(aliases)
		for _, alias := range aliases {
			source := srv.aliases[alias]
			if _, isHost := b.servers[alias]; isHost {
				ns, name, _ := strings.Cut(source, "/")
				b.ignored(ObjectRef{Kind: "Ingress", Namespace: ns, Name: name}, ReasonConflict,
					"server-alias %q is ignored: an Ingress rule names that host", alias)
				delete(srv.aliases, alias)
			}
		}
	}
}

// listenArg formats an nginx listen address; IPv6 addresses need brackets.
func listenArg(addr string, port int) string {
	if addr == "" {
		return strconv.Itoa(port)
	}
	return net.JoinHostPort(addr, strconv.Itoa(port))
}

// hashSize keeps nginx's server name hash big enough for every host, so a
// large cluster never fails nginx -t with "could not build server_names_hash".
func hashSize(servers int) int {
	size := 1024
	for size < 2*servers {
		size *= 2
	}
	return size
}

func (b *builder) serverList() []*serverBuilder {
	list := make([]*serverBuilder, 0, len(b.servers))
	for _, s := range b.servers {
		list = append(list, s)
	}
	slices.SortFunc(list, func(a, c *serverBuilder) int { return cmp.Compare(a.name, c.name) })
	return list
}

func (b *builder) config() *Config {
	cfg := &Config{Global: *b.global}
	g := &cfg.Global
	g.HTTPListen = listenArg(g.BindAddress, g.HTTPPort)
	g.HTTPSListen = listenArg(g.BindAddress, g.HTTPSPort)
	if g.ProxyProtocol {
		g.HTTPListen += " proxy_protocol"
		g.HTTPSListen += " proxy_protocol"
	}
	g.RealIP = realIP(g)
	g.InternalListen = "unix:" + g.InternalSocket
	g.UnavailableListen = listenArg("127.0.0.2", g.InternalPort)
	g.ServerNamesHashMaxSize = hashSize(len(b.servers))
	b.collect(cfg)
	return cfg
}

// collect puts what b built into cfg: the servers and the default server
// finished, the pools, zones, maps and files sorted.
func (b *builder) collect(cfg *Config) {
	redirectPort := ""
	if b.global.HTTPSPort != 443 {
		redirectPort = fmt.Sprintf(":%d", b.global.HTTPSPort)
	}
	list := b.serverList()
	cfg.Servers = make([]Server, 0, len(list))
	for _, srv := range list {
		cfg.Servers = append(cfg.Servers, srv.finish(redirectPort, b.global.HSTS))
	}
	if b.defaultServer != nil { // a unit's builder has none (units.go)
		// The default server answers every unknown name, so it never
		// redirects by default (force-ssl-redirect still does) and always
		// presents the default certificate for unknown SNI names.
		if b.defaultServer.tls != nil {
			b.defaultServer.tls.RedirectHTTP = false
		}
		// As ingress-nginx: what no Ingress routes (scanners, unknown
		// hosts) stays out of the access log unless asked for.
		b.defaultServer.quietFallback = !b.global.AccessLogDefaultBackend
		cfg.DefaultServer = b.defaultServer.finish(redirectPort, b.global.HSTS)
		if cfg.DefaultServer.TLS == nil {
			cfg.DefaultServer.TLS = &ServerTLS{CertificatePath: b.global.DefaultCertificate}
		}
		cfg.DefaultServer.TLS.RedirectPort = ""
	}

	cfg.Upstreams = make([]Upstream, 0, len(b.upstreams))
	for _, u := range b.upstreams {
		cfg.Upstreams = append(cfg.Upstreams, *u)
	}
	slices.SortFunc(cfg.Upstreams, func(a, c Upstream) int { return cmp.Compare(a.Name, c.Name) })
	for _, z := range b.limitZones {
		cfg.LimitZones = append(cfg.LimitZones, z)
	}
	slices.SortFunc(cfg.LimitZones, func(a, c LimitZone) int { return cmp.Compare(a.Name, c.Name) })
	for _, e := range b.limitExempts {
		cfg.LimitExempts = append(cfg.LimitExempts, e)
	}
	slices.SortFunc(cfg.LimitExempts, func(a, c LimitExempt) int { return cmp.Compare(a.Geo, c.Geo) })
	for _, f := range b.authFiles {
		cfg.AuthFiles = append(cfg.AuthFiles, f)
	}
	slices.SortFunc(cfg.AuthFiles, func(a, c SecretFile) int { return cmp.Compare(a.Path, c.Path) })
	modSecurityConfig(cfg)
	authShared(cfg)
	cfg.LoadHeadersMore = headersMoreToLoad(cfg)
	for _, m := range b.originMaps {
		cfg.OriginMaps = append(cfg.OriginMaps, m)
	}
	slices.SortFunc(cfg.OriginMaps, func(a, c OriginMap) int { return cmp.Compare(a.Variable, c.Variable) })
	for _, c := range b.certificates {
		cfg.Certificates = append(cfg.Certificates, c)
	}
	slices.SortFunc(cfg.Certificates, func(a, c Certificate) int { return cmp.Compare(a.Path, c.Path) })
}
