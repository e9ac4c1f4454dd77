package model

import (
	"cmp"
	"maps"
	"reflect"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
)

// mergeState is the last config built by units, with what it takes to
// patch it when only a few units changed: how many parts (units, and the
// global part) hold each shared entry. The config itself is never changed;
// a patch copies what it changes.
type mergeState struct {
	cfg   *Config
	units []*cachedUnit
	// stamp numbers the merge; a unit's inMerge says the last merge it was
	// part of.
	stamp        uint64
	upstreams    refSet[Upstream]
	certificates refSet[Certificate]
	limitZones   refSet[LimitZone]
	limitExempts refSet[LimitExempt]
	originMaps   refSet[OriginMap]
	authFiles    refSet[SecretFile]
	prelude      []Finding // the ConfigMap's and default certificate's
	after        []Finding // the global default backend's
}

// refSet is a sorted list of entries by key, each held by some parts.
// While bulk is set, add collects entries unsorted (inserting thousands in
// order one by one would move the list thousands of times); seal sorts.
type refSet[T any] struct {
	items []T
	refs  map[string]int
	keyOf func(T) string
	bulk  map[string]int // key -> index in items while collecting
}

func newRefSet[T any](keyOf func(T) string) refSet[T] {
	return refSet[T]{refs: map[string]int{}, keyOf: keyOf, bulk: map[string]int{}}
}

// seal ends collecting: the entries sorted by key.
func (s *refSet[T]) seal() {
	slices.SortFunc(s.items, func(a, c T) int { return cmp.Compare(s.keyOf(a), s.keyOf(c)) })
	s.bulk = nil
}

// take moves s into a new set, leaving s without refs: only the items are
// copied, which the Config built from s holds.
func (s *refSet[T]) take() refSet[T] {
	t := refSet[T]{items: slices.Clone(s.items), refs: s.refs, keyOf: s.keyOf}
	s.refs = nil
	return t
}

func (s *refSet[T]) find(k string) (int, bool) {
	return slices.BinarySearchFunc(s.items, k, func(it T, k string) int { return cmp.Compare(s.keyOf(it), k) })
}

// add counts one more holder of it; false when the entry there differs.
func (s *refSet[T]) add(it T) bool {
	k := s.keyOf(it)
	var i int
	var found bool
	if s.bulk != nil {
		i, found = s.bulk[k]
	} else {
		i, found = s.find(k)
	}
	switch {
	case found && !reflect.DeepEqual(s.items[i], it):
		return false
	case found:
		s.refs[k]++
		return true
	case s.bulk != nil:
		s.bulk[k] = len(s.items)
		s.items = append(s.items, it)
	default:
		s.items = slices.Insert(s.items, i, it)
	}
	s.refs[k] = 1
	return true
}

// remove counts one holder less, dropping the entry with its last.
func (s *refSet[T]) remove(it T) {
	k := s.keyOf(it)
	if s.refs[k]--; s.refs[k] > 0 {
		return
	}
	delete(s.refs, k)
	if i, found := s.find(k); found {
		s.items = slices.Delete(s.items, i, i+1)
	}
}

// list is the entries, nil when there are none (as a whole build has it).
func (s *refSet[T]) list() []T {
	if len(s.items) == 0 {
		return nil
	}
	return s.items
}

func (st *mergeState) addParts(o *unitOutput) bool {
	return addAllTo(&st.upstreams, o.upstreams) && addAllTo(&st.certificates, o.certificates) && addAllTo(&st.limitZones, o.limitZones) &&
		addAllTo(&st.limitExempts, o.limitExempts) && addAllTo(&st.originMaps, o.originMaps) && addAllTo(&st.authFiles, o.authFiles)
}

func (st *mergeState) removeParts(o *unitOutput) {
	removeAllFrom(&st.upstreams, o.upstreams)
	removeAllFrom(&st.certificates, o.certificates)
	removeAllFrom(&st.limitZones, o.limitZones)
	removeAllFrom(&st.limitExempts, o.limitExempts)
	removeAllFrom(&st.originMaps, o.originMaps)
	removeAllFrom(&st.authFiles, o.authFiles)
}

func addAllTo[T any](s *refSet[T], items []T) bool {
	for _, it := range items {
		if !s.add(it) {
			return false
		}
	}
	return true
}

func removeAllFrom[T any](s *refSet[T], items []T) {
	for _, it := range items {
		s.remove(it)
	}
}

// merge puts the units together as a whole build would have: the default
// server from b, the global default backend (defaultFallback, with its
// pools and findings in fallbackBuilder), every unit's servers, pools,
// files and routes, the findings in build order. When the
// last merge differs by a few units it is patched instead. ok is false
// when two parts disagree.
func (b *builder) merge(c *UnitCache, ingresses []*networkingv1.Ingress, infos []ingressInfo, units []*cachedUnit, fallbackBuilder *builder, defaultFallback *fallback, trusted bool) (*Config, []Finding, bool) {
	last := c.last
	stamp := uint64(1)
	if last != nil {
		stamp = last.stamp + 1
	}
	var added []*cachedUnit
	for _, u := range units {
		if last == nil || u.inMerge != last.stamp {
			added = append(added, u)
		}
		u.inMerge = stamp
	}
	var removed []*cachedUnit
	if last != nil {
		for _, u := range last.units {
			if u.inMerge != stamp {
				removed = append(removed, u)
			}
		}
	}
	var st *mergeState
	var cfg *Config
	// Only Ingresses changed (trusted: same objects and settings), and few.
	// The prelude's findings (the default certificate's) may change with
	// the clock alone.
	if trusted && last != nil && len(added)+len(removed) <= 64 && slices.Equal(last.prelude, b.findings) {
		st, cfg = last.patched(removed, added)
		c.stats.Patched = st != nil
	}
	if st == nil {
		st, cfg = b.mergeAll(units, fallbackBuilder, defaultFallback)
	}
	if st == nil {
		for _, u := range units {
			u.inMerge = 0 // not part of any merge: the next one starts afresh
		}
		c.last = nil
		return nil, nil, false
	}
	st.stamp, st.units = stamp, units
	cfg.Global.ServerNamesHashMaxSize = hashSize(len(cfg.Servers))
	cfg.Ingresses, cfg.Accepted = served(ingresses, infos, units, cfg.Accepted, added)
	st.cfg = cfg
	c.last = st
	return cfg, st.findings(ingresses, units), true
}

// mergeAll merges every unit; st is nil when two parts disagree.
func (b *builder) mergeAll(units []*cachedUnit, fallbackBuilder *builder, defaultFallback *fallback) (*mergeState, *Config) {
	st := &mergeState{
		upstreams:    newRefSet(func(u Upstream) string { return u.Name }),
		certificates: newRefSet(func(c Certificate) string { return c.Path }),
		limitZones:   newRefSet(func(z LimitZone) string { return z.Name }),
		limitExempts: newRefSet(func(e LimitExempt) string { return e.Geo }),
		originMaps:   newRefSet(func(m OriginMap) string { return m.Variable }),
		authFiles:    newRefSet(func(f SecretFile) string { return f.Path }),
		prelude:      slices.Clone(b.findings),
		after:        fallbackBuilder.findings,
	}
	// b builds the default server alone: no Ingress of a snapshot built by
	// units touches it.
	b.setFallbacks(defaultFallback)
	cfg := b.config()
	defaults := &Config{Global: cfg.Global, DefaultServer: cfg.DefaultServer}
	assignRoutes(defaults)
	cfg.DefaultServer = defaults.DefaultServer
	// The global part (the default certificate, the global default
	// backend's pool) is one more holder.
	global := &unitOutput{upstreams: cfg.Upstreams, certificates: cfg.Certificates}
	for _, u := range fallbackBuilder.upstreams {
		global.upstreams = append(global.upstreams, *u)
	}
	if !st.addParts(global) {
		return nil, nil
	}
	nServers := 0
	for _, u := range units {
		nServers += len(u.out.servers)
	}
	cfg.Servers = make([]Server, 0, nServers)
	routes := make(map[string]Route, 2*nServers+len(defaults.Routes))
	for id, r := range defaults.Routes {
		routes[id] = r
	}
	for _, u := range units {
		o := u.out
		cfg.Servers = append(cfg.Servers, o.servers...)
		if !st.addParts(o) {
			return nil, nil
		}
		if !putRoutes(routes, o) {
			return nil, nil
		}
	}
	slices.SortFunc(cfg.Servers, func(a, c Server) int { return cmp.Compare(a.Name, c.Name) })
	if cfg.Global.Balancer == BalancerLua {
		cfg.Routes = routes
	}
	cfg.Accepted = nil // served builds it
	st.seal()
	st.fill(cfg)
	return st, cfg
}

// patched is the last merge with removed units taken out and added ones
// put in; nil when an added unit disagrees with what is there. It uses last
// up, which merge replaces either way (by the patch, a whole merge or nil):
// the refs move, and what the last Config holds is copied.
func (last *mergeState) patched(removed, added []*cachedUnit) (*mergeState, *Config) {
	st := &mergeState{
		upstreams: last.upstreams.take(), certificates: last.certificates.take(),
		limitZones: last.limitZones.take(), limitExempts: last.limitExempts.take(),
		originMaps: last.originMaps.take(), authFiles: last.authFiles.take(),
		prelude: last.prelude, after: last.after,
	}
	cfg := *last.cfg
	cfg.Servers = slices.Clone(last.cfg.Servers)
	if cfg.Routes != nil {
		cfg.Routes = maps.Clone(last.cfg.Routes)
	}
	cfg.Accepted = maps.Clone(last.cfg.Accepted)
	for _, u := range removed {
		st.removeParts(u.out)
		for _, s := range u.out.servers {
			if i, found := findServer(cfg.Servers, s.Name); found {
				cfg.Servers = slices.Delete(cfg.Servers, i, i+1)
			}
		}
		u.out.eachRoute(func(id string, _ Route) bool {
			delete(cfg.Routes, id)
			return true
		})
		for _, ing := range u.ingresses {
			delete(cfg.Accepted, key(ing.Namespace, ing.Name))
		}
	}
	for _, u := range added {
		if !st.addParts(u.out) {
			return nil, nil
		}
		for _, s := range u.out.servers {
			i, found := findServer(cfg.Servers, s.Name)
			if found {
				return nil, nil // hosts belong to one unit; a whole merge sorts it out
			}
			cfg.Servers = slices.Insert(cfg.Servers, i, s)
		}
		if cfg.Routes != nil && !putRoutes(cfg.Routes, u.out) {
			return nil, nil
		}
	}
	st.fill(&cfg)
	return st, &cfg
}

// findServer finds a server by name in a list sorted by name.
func findServer(list []Server, name string) (int, bool) {
	return slices.BinarySearchFunc(list, name, func(x Server, n string) int { return cmp.Compare(x.Name, n) })
}

// putRoutes puts a unit's routes into routes; false on a route ID
// collision, which the whole build resolves.
func putRoutes(routes map[string]Route, o *unitOutput) bool {
	return o.eachRoute(func(id string, r Route) bool {
		if _, taken := routes[id]; taken {
			return false
		}
		routes[id] = r
		return true
	})
}

// seal ends collecting in every set (mergeAll).
func (st *mergeState) seal() {
	st.upstreams.seal()
	st.certificates.seal()
	st.limitZones.seal()
	st.limitExempts.seal()
	st.originMaps.seal()
	st.authFiles.seal()
}

// fill puts the shared entries into cfg.
func (st *mergeState) fill(cfg *Config) {
	cfg.Upstreams = st.upstreams.items
	if cfg.Upstreams == nil {
		cfg.Upstreams = []Upstream{}
	}
	cfg.Certificates = st.certificates.list()
	cfg.LimitZones = st.limitZones.list()
	cfg.LimitExempts = st.limitExempts.list()
	cfg.OriginMaps = st.originMaps.list()
	cfg.AuthFiles = st.authFiles.list()
	modSecurityConfig(cfg)
	authShared(cfg)
	cfg.LoadHeadersMore = headersMoreToLoad(cfg)
}

// served returns Config.Ingresses (the Ingresses served, in build order)
// and Config.Accepted. A patched merge passes the last map with the
// removed units' Ingresses taken out, to which the added units' are put;
// with nil it is built from every unit.
func served(ingresses []*networkingv1.Ingress, infos []ingressInfo, units []*cachedUnit, accepted map[string]*networkingv1.Ingress, added []*cachedUnit) ([]ObjectRef, map[string]*networkingv1.Ingress) {
	from := added
	if accepted == nil {
		accepted = make(map[string]*networkingv1.Ingress, len(ingresses))
		from = units
	}
	for _, u := range from {
		for k, j := range u.out.served {
			ing := u.ingresses[j]
			accepted[key(ing.Namespace, ing.Name)] = u.out.accepted[k]
		}
	}
	// Most units serve all their Ingresses; note the ones that do not.
	var unserved map[*networkingv1.Ingress]bool
	for _, u := range units {
		if len(u.out.served) == len(u.ingresses) {
			continue
		}
		if unserved == nil {
			unserved = map[*networkingv1.Ingress]bool{}
		}
		for _, ing := range u.ingresses {
			unserved[ing] = true
		}
		for _, j := range u.out.served {
			delete(unserved, u.ingresses[j])
		}
	}
	refs := make([]ObjectRef, 0, len(ingresses))
	for i, ing := range ingresses {
		if !unserved[ing] {
			refs = append(refs, infos[i].ref)
		}
	}
	return refs, accepted
}

// findings are the build's findings in a whole build's order: the
// prelude's, the units' by phase and Ingress, the global default backend's.
func (st *mergeState) findings(ingresses []*networkingv1.Ingress, units []*cachedUnit) []Finding {
	type placed struct {
		f   Finding
		tag findingTag
	}
	var found []placed
	for _, u := range units {
		o := u.out
		if len(o.findings) == 0 {
			continue
		}
		at := func(j int) int {
			i, _ := slices.BinarySearchFunc(ingresses, u.ingresses[j], olderFirst)
			return i
		}
		for i, f := range o.findings {
			t := o.tags[i]
			if t.index >= 0 {
				t.index = at(t.index)
			} else {
				t.index = at(0)
			}
			found = append(found, placed{f, t})
		}
	}
	slices.SortStableFunc(found, func(a, c placed) int {
		return cmp.Or(cmp.Compare(a.tag.phase, c.tag.phase), cmp.Compare(a.tag.index, c.tag.index))
	})
	out := slices.Clone(st.prelude)
	for _, p := range found {
		out = append(out, p.f)
	}
	return append(out, st.after...)
}
