package model

import (
	"crypto/sha256"
	"encoding/json"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/parallel"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// Incremental builds. Ingresses that share no host cannot affect each
// other's servers, so Build can translate them apart: a unit is a set of
// Ingresses connected by the hosts of their rules and TLS sections. With a
// UnitCache, a unit whose Ingresses and whose Services, EndpointSlices,
// Secrets and ConfigMaps read are the same objects (and the DNS answers it
// read the same addresses) as in an earlier build
// is not translated again; the build merges the units' servers, pools and
// routes and puts the findings in the order a whole build gives them. When
// only a few units changed, the last merge is patched instead (merge.go),
// and what the merge needs of each Ingress is read once, when it enters
// the sorted list (ingressInfo).
//
// Some features reach across hosts: rules without a host, TLS sections
// without hosts and spec.defaultBackend (the default server), server-alias and
// from-to-www-redirect (names other servers may hold). A snapshot with any
// of them is built whole, as is one whose units disagree about a shared
// entry (a pool, a file) or a route ID. The result is the same either way:
// TestUnitsEqualWhole compares both on every fixture and on changes.

// Finding phases, in the order a whole build reports them.
const (
	phaseIngresses = iota // the main loop, in Ingress order
	phaseCanaries         // canary Ingresses, in Ingress order
	phaseAfter            // the passes after (global default backend)
)

// findingTag says where in a whole build a finding would come.
type findingTag struct {
	phase, index int
}

// UnitCache holds the units of the last build, and what tells cheaply
// whether the next snapshot holds the same objects. Builds with one cache
// take turns.
type UnitCache struct {
	mu    sync.Mutex
	env   [32]byte
	units map[*networkingv1.Ingress]*cachedUnit
	// objects are the last snapshot's objects other than Ingresses, and
	// idx their index: a snapshot with the same objects reuses the index,
	// and no unit's reads need checking.
	objects *objectSets
	idx     index
	// answers are the last snapshot's DNS answers (snapshot.Resolved), a
	// map the controller replaces, never changes.
	answers map[string][]netip.Addr
	// current says the units were checked against objects and answers:
	// false from when remember records new objects (or new answers come)
	// until a build by units succeeds.
	current bool
	// ingresses are the last snapshot's Ingresses, each with the stamp of
	// the last removal it survived (sortedIngresses); sorted the ones we
	// serve, oldest first.
	ingresses map[*networkingv1.Ingress]uint64
	stamp     uint64
	sorted    []*networkingv1.Ingress
	infos     []ingressInfo // in step with sorted
	// last is the last merge, for the next to patch (merge.go).
	last *mergeState
	// owner is unitsOf's map of hosts, kept for its room.
	owner map[string]int
	// stats say how the last build went.
	stats BuildStats
}

// BuildStats says how the last Build with a UnitCache went, for logs.
type BuildStats struct {
	// Units is the number of units; Translated how many of them were
	// translated anew, the others reused.
	Units, Translated int
	// Patched says the last config was patched, not merged from every unit.
	Patched bool
	// Whole says the snapshot was built whole: a feature reaching across
	// hosts, or units that disagree.
	Whole bool
}

// LastBuild returns the stats of the last Build with this cache.
func (c *UnitCache) LastBuild() BuildStats {
	if c == nil {
		return BuildStats{Whole: true}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// NewUnitCache returns an empty cache.
func NewUnitCache() *UnitCache {
	return &UnitCache{units: map[*networkingv1.Ingress]*cachedUnit{}}
}

// Len returns the number of units held, for tests and metrics.
func (c *UnitCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.units)
}

// objectSets are a snapshot's objects other than Ingresses, by kind.
type objectSets struct {
	services   map[*corev1.Service]struct{}
	slices     map[*discoveryv1.EndpointSlice]struct{}
	secrets    map[*corev1.Secret]struct{}
	configMaps map[*corev1.ConfigMap]struct{}
	classes    map[*networkingv1.IngressClass]struct{}
}

// sameObjects reports whether snap holds the objects, Ingresses aside, of
// the last snapshot.
func (c *UnitCache) sameObjects(snap *snapshot.Snapshot) bool {
	o := c.objects
	return o != nil && sameSet(o.services, snap.Services) && sameSet(o.slices, snap.EndpointSlices) &&
		sameSet(o.secrets, snap.Secrets) && sameSet(o.configMaps, snap.ConfigMaps) && sameSet(o.classes, snap.IngressClasses)
}

// sameSet reports whether list holds exactly the set's objects (lists
// hold no duplicates).
func sameSet[T any](set map[*T]struct{}, list []*T) bool {
	if len(set) != len(list) {
		return false
	}
	for _, o := range list {
		if _, ok := set[o]; !ok {
			return false
		}
	}
	return true
}

func setOf[T any](list []*T) map[*T]struct{} {
	set := make(map[*T]struct{}, len(list))
	for _, o := range list {
		set[o] = struct{}{}
	}
	return set
}

// remember records snap's objects other than Ingresses and their index.
func (c *UnitCache) remember(snap *snapshot.Snapshot, idx index) {
	c.objects = &objectSets{
		services: setOf(snap.Services), slices: setOf(snap.EndpointSlices), secrets: setOf(snap.Secrets),
		configMaps: setOf(snap.ConfigMaps), classes: setOf(snap.IngressClasses),
	}
	c.idx, c.current = idx, false
}

// ingressInfo is what units and merges need of an Ingress, read once when
// it enters the sorted list: reading 10,000 Ingress objects again on every
// build costs milliseconds in memory stalls alone.
type ingressInfo struct {
	local bool     // unitLocal
	hosts []string // of its rules and TLS sections
	ref   ObjectRef
}

func infoOf(ing *networkingv1.Ingress, aliasKey, wwwKey string) ingressInfo {
	in := ingressInfo{local: unitLocal(ing, aliasKey, wwwKey), ref: ingressRef(ing)}
	for _, r := range ing.Spec.Rules {
		in.hosts = append(in.hosts, r.Host)
	}
	for _, t := range ing.Spec.TLS {
		in.hosts = append(in.hosts, t.Hosts...)
	}
	return in
}

// sortedIngresses is builder.sortedIngresses, with each Ingress's info,
// patched from the last snapshot's order when the snapshot differs from it
// by a few Ingresses: sorting 10,000 again costs milliseconds. sameClasses
// says that which Ingresses are ours, and their info, cannot have changed
// otherwise (same IngressClasses and settings).
func (c *UnitCache) sortedIngresses(b *builder, all []*networkingv1.Ingress, sameClasses bool) ([]*networkingv1.Ingress, []ingressInfo) {
	aliasKey, wwwKey := b.parser.Key("server-alias"), b.parser.Key("from-to-www-redirect")
	var added []*networkingv1.Ingress
	present := 0
	if sameClasses && c.ingresses != nil {
		for _, ing := range all {
			if _, ok := c.ingresses[ing]; ok {
				present++
			} else {
				added = append(added, ing)
			}
		}
	}
	removed := len(c.ingresses) - present
	// A sync after an edit changes a few Ingresses: patching the last order
	// inserts each added one with a binary search and a copy of the slice's
	// tail. A resync or a bulk apply changes many, and sorting all again is
	// simpler: at 10,000 Ingresses, one in resortEvery changed is about
	// where the copies (n/2 pointers per insertion) cost as much as the
	// n·log2(n) comparisons of creation times and names of a sort.
	const resortEvery = 8
	if !sameClasses || c.ingresses == nil || resortEvery*(len(added)+removed) > len(all) {
		c.ingresses = make(map[*networkingv1.Ingress]uint64, len(all))
		for _, ing := range all {
			c.ingresses[ing] = c.stamp
		}
		c.sorted = b.sortedIngresses(all)
		c.infos = make([]ingressInfo, len(c.sorted))
		for i, ing := range c.sorted {
			c.infos[i] = infoOf(ing, aliasKey, wwwKey)
		}
		return c.sorted, c.infos
	}
	if len(added) == 0 && removed == 0 {
		return c.sorted, c.infos
	}
	if removed > 0 {
		// Stamp the Ingresses of all and drop the others: the map then
		// holds all.
		c.stamp++
		for _, ing := range all {
			c.ingresses[ing] = c.stamp
		}
		maps.DeleteFunc(c.ingresses, func(_ *networkingv1.Ingress, stamp uint64) bool { return stamp != c.stamp })
	}
	sorted := make([]*networkingv1.Ingress, 0, len(c.sorted)+len(added))
	infos := make([]ingressInfo, 0, len(c.sorted)+len(added))
	for i, ing := range c.sorted {
		if _, ok := c.ingresses[ing]; ok || removed == 0 {
			sorted, infos = append(sorted, ing), append(infos, c.infos[i])
		}
	}
	for _, ing := range added {
		c.ingresses[ing] = c.stamp
		if b.classes.ours(ing) {
			i, _ := slices.BinarySearchFunc(sorted, ing, olderFirst)
			sorted = slices.Insert(sorted, i, ing)
			infos = slices.Insert(infos, i, infoOf(ing, aliasKey, wwwKey))
		}
	}
	c.sorted, c.infos = sorted, infos
	return sorted, infos
}

type cachedUnit struct {
	ingresses []*networkingv1.Ingress
	deps      *depLog
	// clock is the span of Options.Now the output holds for (certificate
	// expiry, tlscert.go).
	clock timeBounds
	out   *unitOutput
	// inMerge is the stamp of the last merge the unit was part of.
	inMerge uint64
}

// unitOutput is what a unit adds to the config.
type unitOutput struct {
	servers      []Server
	upstreams    []Upstream
	certificates []Certificate
	limitZones   []LimitZone
	limitExempts []LimitExempt
	originMaps   []OriginMap
	authFiles    []SecretFile
	findings     []Finding
	tags         []findingTag // index: the Ingress's place in the unit
	// served are the places in the unit of the Ingresses served, and
	// accepted the versions served (Config.Accepted), in step.
	served   []int
	accepted []*networkingv1.Ingress
	// contested are the owners of the unit's contested hosts (owners.go).
	contested map[string]string
}

// eachRoute calls fn with the ID and route of every routing location of
// the unit's servers (what assignRouteIDs recorded: the locations hold it
// all), until fn returns false; false then.
func (o *unitOutput) eachRoute(fn func(id string, r Route) bool) bool {
	for i := range o.servers {
		s := &o.servers[i]
		for j := range s.Locations {
			if l := &s.Locations[j]; l.Route != "" && !fn(l.Route, routeOf(l.Action)) {
				return false
			}
		}
		for j := range s.ErrorLocations {
			if e := &s.ErrorLocations[j]; e.Route != "" && !fn(e.Route, routeOf(e.Action)) {
				return false
			}
		}
	}
	return true
}

// buildUnits builds snap by units, reusing opts.Units; when the snapshot
// cannot be split into units, or two units disagree, it builds it whole.
func buildUnits(snap *snapshot.Snapshot, opts Options, build uint64) (*Config, []Finding) {
	cache := opts.Units
	cache.mu.Lock()
	defer cache.mu.Unlock()
	cache.stats = BuildStats{Whole: true} // until the units are merged
	idx, sameObjects, trusted := cache.indexFor(snap)
	b := configuredBuilder(snap, opts, build, idx, nil)
	// What every unit's output also depends on: the options, the global
	// settings after the ConfigMap, and the fallback of servers without a
	// "/" rule (--default-backend-service).
	fallbackBuilder := b.child()
	defaultFallback := fallbackBuilder.globalFallback()
	env, ok := unitEnv(opts, *b.global, defaultFallback)
	if !ok {
		return prelude(snap, opts, build).whole()
	}
	sameEnv := env == cache.env
	ingresses, infos := cache.sortedIngresses(b, snap.Ingresses, sameObjects && sameEnv)
	if !sameObjects {
		b.checkKeyPairs(ingresses)
	}
	if cache.owner == nil {
		cache.owner = make(map[string]int, len(ingresses))
	}
	clear(cache.owner)
	groups, ok := unitsOf(ingresses, infos, cache.owner)
	if !ok {
		// b is as prelude makes it (fallbackBuilder is a child), and the
		// Ingresses are sorted: the whole build goes on from there.
		b.ingresses = ingresses
		return b.whole()
	}

	old := cache.units
	if !sameEnv {
		old = nil
	}
	units := make([]*cachedUnit, len(groups))
	var missing []int
	for i, g := range groups {
		if cu := old[g[0]]; cu != nil && slices.Equal(cu.ingresses, g) && (trusted || cu.deps.same(b)) && !excludes(opts.Excluded, g) &&
			cu.clock.holds(opts.Now) {
			units[i] = cu
			continue
		}
		missing = append(missing, i)
	}
	// Units are independent: translate the missing ones on all cores.
	cacheable := make([]bool, len(groups))
	parallel.For(len(missing), parallel.Workers(len(missing), 16), func(j int) {
		i := missing[j]
		units[i], cacheable[i] = b.buildUnit(groups[i], defaultFallback)
	})

	cfg, findings, ok := b.merge(cache, ingresses, infos, units, fallbackBuilder, defaultFallback, trusted && sameEnv)
	if !ok {
		// merge changed b: the whole build starts afresh.
		return prelude(snap, opts, build).whole()
	}
	keep := make(map[*networkingv1.Ingress]*cachedUnit, len(units))
	for i, u := range units {
		if cacheable[i] || old[u.ingresses[0]] == u {
			keep[u.ingresses[0]] = u
		}
	}
	cfg.Owners = contestedOwners(units) // a patched merge hands back the last Config's
	cfg.ConfigMap = b.configMapApplied
	cfg.ConfigMapValues = b.configMapValues
	cfg.RecheckAt = b.clock.until
	for _, u := range units {
		cfg.RecheckAt = earliest(cfg.RecheckAt, u.clock.until)
	}
	cache.env, cache.units, cache.current = env, keep, true
	cache.stats.Whole, cache.stats.Units, cache.stats.Translated = false, len(units), len(missing)
	return cfg, findings
}

// indexFor returns the index of snap, made again only when its objects
// differ from the last build's; sameObjects says they do not, and trusted
// that the cached units were checked against these very objects and DNS
// answers, so they need no check of what they read.
func (c *UnitCache) indexFor(snap *snapshot.Snapshot) (idx index, sameObjects, trusted bool) {
	sameObjects = c.sameObjects(snap)
	sameAnswers := maps.EqualFunc(c.answers, snap.Resolved, slices.Equal)
	trusted = sameObjects && sameAnswers && c.current
	if !sameAnswers {
		// As for new objects: until a build by units checks the units
		// against these answers, they are not trusted.
		c.answers, c.current = snap.Resolved, false
	}
	if !sameObjects {
		c.remember(snap, newIndex(snap))
	}
	return c.idx, sameObjects, trusted
}

// contestedOwners returns Config.Owners: the owners of the contested hosts
// of every unit, nil when there are none.
func contestedOwners(units []*cachedUnit) map[string]string {
	var owners map[string]string
	for _, u := range units {
		for h, ns := range u.out.contested {
			if owners == nil {
				owners = map[string]string{}
			}
			owners[h] = ns
		}
	}
	return owners
}

// excludes reports whether one of the Ingresses is excluded: its unit was
// translated with it, and is not to be reused.
func excludes(excluded map[string]Exclusion, ingresses []*networkingv1.Ingress) bool {
	if len(excluded) == 0 {
		return false
	}
	for _, ing := range ingresses {
		if ex, ok := excluded[key(ing.Namespace, ing.Name)]; ok && SameVersion(ex.Ingress, ing) {
			return true
		}
	}
	return false
}

// unitsOf groups the Ingresses into units, each in build order, the units
// ordered by their first Ingress; ok is false when an Ingress reaches
// across hosts. owner is an empty map for the hosts, kept from build to
// build for its room.
func unitsOf(ingresses []*networkingv1.Ingress, infos []ingressInfo, owner map[string]int) ([][]*networkingv1.Ingress, bool) {
	parent := make([]int, len(ingresses))
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	join := func(i int, host string) {
		j, seen := owner[host]
		if !seen {
			owner[host] = i
			return
		}
		ri, rj := find(i), find(j)
		// The smaller index is the root: a unit's root is its first Ingress.
		parent[max(ri, rj)] = min(ri, rj)
	}
	for i := range ingresses {
		if !infos[i].local {
			return nil, false
		}
		parent[i] = i
		for _, h := range infos[i].hosts {
			join(i, h)
		}
	}
	// Count the members per root, then cut one array into the units: a
	// slice per unit of one Ingress would be 10,000 allocations.
	size := make([]int, len(ingresses))
	roots := 0
	for i := range ingresses {
		r := find(i)
		if size[r] == 0 {
			roots++
		}
		size[r]++
	}
	all := make([]*networkingv1.Ingress, 0, len(ingresses))
	groups := make([][]*networkingv1.Ingress, 0, roots)
	at := make([]int, len(ingresses)) // root -> unit
	for i := range ingresses {
		if r := find(i); r == i {
			at[r] = len(groups)
			groups = append(groups, all[len(all):len(all):len(all)+size[r]])
			all = all[:len(all)+size[r]]
		}
	}
	for i, ing := range ingresses {
		g := at[find(i)]
		groups[g] = append(groups[g], ing)
	}
	return groups, true
}

// unitLocal reports whether an Ingress touches only the servers of its own
// hosts: no default backend, no rule without a host, no TLS section without
// hosts (all three reach the catch-all server, which units do not build).
// The two annotations are judged by their presence, whatever their value:
// erring towards a whole build costs time, never correctness.
func unitLocal(ing *networkingv1.Ingress, aliasKey, wwwKey string) bool {
	if ing.Spec.DefaultBackend != nil {
		return false
	}
	for _, r := range ing.Spec.Rules {
		if r.Host == "" {
			return false
		}
	}
	for _, t := range ing.Spec.TLS {
		if len(t.Hosts) == 0 || slices.Contains(t.Hosts, "") {
			return false
		}
	}
	if _, ok := ing.Annotations[aliasKey]; ok {
		return false
	}
	_, www := ing.Annotations[wwwKey]
	return !www
}

// unitEnv digests what every unit's output depends on besides its
// Ingresses and the objects it read.
func unitEnv(opts Options, global Global, defaultFallback *fallback) ([32]byte, bool) {
	// The Global the ConfigMap history gives, and the global auth, are in
	// the digest. A unit that read LastCertificates is not cached; what
	// Now decided holds for the unit's own span of time
	// (cachedUnit.clock), and only whether there is a clock at all is the
	// same for every unit.
	clock := !opts.Now.IsZero()
	opts = opts.WithoutHistory()
	opts.Now = time.Time{}
	raw, err := json.Marshal(struct {
		Options  Options
		Global   Global
		Fallback Action
		Clock    bool
	}{opts, global, defaultFallback.action, clock})
	if err != nil {
		return [32]byte{}, false
	}
	return sha256.Sum256(raw), true
}

// child is a builder that shares b's indexes and settings, with nothing
// built yet.
func (b *builder) child() *builder {
	c := b.unitBuilder()
	c.defaultServer = newServerBuilder("")
	return c
}

// unitBuilder makes the builder of one unit: a child without a default
// server, which no Ingress of a snapshot built by units touches (unitLocal)
// and which would cost a server builder per unit.
func (b *builder) unitBuilder() *builder {
	return &builder{
		opts: b.opts, global: b.global, parser: b.parser,
		index: b.index, classes: b.classes, addrs: b.addrs, resolved: b.resolved,
		keyPairBuild: b.keyPairBuild,
		defaultPair:  b.defaultPair,
		limits:       b.limits,
		servers:      map[string]*serverBuilder{},
		upstreams:    map[string]*Upstream{},
		limitZones:   map[string]LimitZone{},
		limitExempts: map[string]LimitExempt{},
		originMaps:   map[string]OriginMap{},
		authFiles:    map[string]SecretFile{},
		certificates: map[string]Certificate{},
		certBySecret: map[string]certResult{},
		current:      -1,
	}
}

// buildUnit translates one unit as a whole build would, recording what it
// read. cacheable is false when an Ingress was served from its last
// accepted version or not at all (invalid annotations), which depends on
// Options.LastAccepted.
func (b *builder) buildUnit(ingresses []*networkingv1.Ingress, defaultFallback *fallback) (*cachedUnit, bool) {
	u := b.unitBuilder()
	u.deps = &depLog{}
	out := &unitOutput{}
	cacheable := true // while every Ingress is served as it is
	u.addIngresses(ingresses, func(j int, use *networkingv1.Ingress) {
		out.served, out.accepted = append(out.served, j), append(out.accepted, use)
		cacheable = cacheable && use == ingresses[j]
	})
	// Owners kept from the last build (Options.LastOwners), and key pairs
	// looked up in Options.LastCertificates, are inputs the cache does not
	// key on.
	cacheable = cacheable && len(out.served) == len(ingresses) && !u.stickyOwners && !u.usedLast
	u.setFallbacks(defaultFallback)
	// Not u.config(): a unit needs no copy of the global settings.
	cfg := &Config{}
	u.collect(cfg)
	out.servers, out.upstreams, out.certificates = cfg.Servers, cfg.Upstreams, cfg.Certificates
	out.limitZones, out.limitExempts, out.originMaps, out.authFiles = cfg.LimitZones, cfg.LimitExempts, cfg.OriginMaps, cfg.AuthFiles
	out.findings, out.tags = u.findings, u.tags
	out.contested = u.contested
	if u.global.Balancer == BalancerLua {
		// As assignRoutes, without a map per unit (10,000 per cold build):
		// a unit has a few routes, and its locations keep them (eachRoute).
		servers := make([]*Server, len(cfg.Servers))
		for i := range cfg.Servers {
			servers[i] = &cfg.Servers[i]
		}
		var ids []string
		assignRouteIDs(servers,
			func(id string) bool { return slices.Contains(ids, id) },
			func(id string, _ Route) { ids = append(ids, id) })
	}
	return &cachedUnit{ingresses: ingresses, deps: u.deps, clock: u.clock, out: out}, cacheable
}
