package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/parallel"
)

// Shared server blocks. nginx pays for every server and location block at
// every nginx -t and reload, and Debian's Lua module makes that dear: it
// creates an OpenSSL context for each of them (docs/benchmarks.md). Hosts
// whose blocks would differ only in their names and route IDs (many
// Ingresses of one shape, one host each, as clusters have them) therefore
// share one block: server_name lists the hosts, and each routing location
// sets $portico_route from a map on $host. A request sees no difference:
// nginx picks the server by the same exact name, and the map gives the
// route ID the host's own block would have set.

// block is one server block of the output: one server, or the hosts that
// share it.
type block struct {
	// server is the index of the (first) server, 0 being the default server.
	server int
	// members are the indexes of the hosts sharing the block, in server
	// order; nil for a block of one.
	members []int
}

// rendered is a server block as printed, with its sha256 and, for a block
// with per-location Lua hooks, the text nginx -t checks (ServerData.Check).
type rendered struct {
	text, check []byte
	sum         [32]byte
}

// renderServers returns the server blocks, default server first, with the
// sha256 of each, from the cache or rendered now; and, when some block has a
// text of its own for nginx -t, all the blocks as nginx -t checks them (else
// nil).
func (r *Renderer) renderServers(cfg *model.Config) (texts [][]byte, sums [][32]byte, checks [][]byte, err error) {
	// A block's text follows from the whole Global (the server templates
	// read some of it; a Global change is rare and re-renders everything),
	// the kind of block, the shape of its server(s) and what Shape clears.
	gk := newKeyer()
	if err := gk.add(&cfg.Global); err != nil {
		return nil, nil, nil, err
	}
	global := sha256.Sum256(gk.buf)
	memo, err := r.memoize(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	blocks := r.plan(memo)
	keys := blockKeys(global, blocks, memo)
	got := make([]rendered, len(blocks))
	missing := r.cache.lookup(keys, got)
	if err := r.renderBlocks(cfg, blocks, memo, missing, got); err != nil {
		return nil, nil, nil, fmt.Errorf("rendering nginx.conf: %w", err)
	}
	r.cache.store(keys, got, missing)
	texts = make([][]byte, len(got))
	sums = make([][32]byte, len(got))
	for b := range got {
		texts[b], sums[b] = got[b].text, got[b].sum
	}
	for b := range got {
		if got[b].check != nil {
			if checks == nil {
				checks = slices.Clone(texts)
			}
			checks[b] = got[b].check
		}
	}
	return texts, sums, checks, nil
}

// serverAt returns server i of cfg, counting the default server as 0.
func serverAt(cfg *model.Config, i int) *model.Server {
	if i == 0 {
		return &cfg.DefaultServer
	}
	return &cfg.Servers[i-1]
}

// memoize returns the memo entry of every server (default server first).
// Keys are most of the work when one server changed: servers seen in the
// last render come from the memo, the others are spread over the cores
// like the renders, each worker with its own keyer.
func (r *Renderer) memoize(cfg *model.Config) ([]*memoEntry, error) {
	n := 1 + len(cfg.Servers)
	ids := make([]serverID, n)
	for i := range n {
		ids[i] = idOf(serverAt(cfg, i))
	}
	memo := make([]*memoEntry, n)
	fresh := r.memo.lookup(ids, memo)
	err := parallel.Do(len(fresh), parallel.Workers(len(fresh), 64), newKeyer, func(j int, k *keyer) error {
		i := fresh[j]
		s := serverAt(cfg, i)
		model.ShapeInto(&k.shape, s)
		k.buf = k.buf[:0]
		if err := k.add(&k.shape); err != nil {
			return err
		}
		memo[i] = &memoEntry{shape: sha256.Sum256(k.buf), ident: identity(k, s),
			shareable: model.Shareable(s), phases: hasPhases(s)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.memo.store(ids, memo, fresh)
	return memo, nil
}

// blockKeys returns the cache key of each block: the Global's sum, the kind
// of block, its shape and the identities of its server(s).
func blockKeys(global [32]byte, blocks []block, memo []*memoEntry) [][32]byte {
	keys := make([][32]byte, len(blocks))
	kb := make([]byte, 0, 256)
	for b := range blocks {
		bl := &blocks[b]
		kb = append(kb[:0], global[:]...)
		switch {
		case bl.members != nil:
			kb = append(kb, 's')
		case bl.server == 0:
			kb = append(kb, 'd')
		default:
			kb = append(kb, 'h')
		}
		kb = append(kb, memo[bl.server].shape[:]...)
		if bl.members == nil {
			kb = append(kb, memo[bl.server].ident[:]...)
		}
		for _, m := range bl.members {
			kb = append(kb, memo[m].ident[:]...)
		}
		keys[b] = sha256.Sum256(kb)
	}
	return keys
}

// renderBlocks prints the blocks the cache misses into got, on all cores.
func (r *Renderer) renderBlocks(cfg *model.Config, blocks []block, memo []*memoEntry, missing []int, got []rendered) error {
	return parallel.Do(len(missing), parallel.Workers(len(missing), 64), newBuffer, func(j int, buf *bytes.Buffer) error {
		b := missing[j]
		bl := blocks[b]
		t, data := r.server, ServerData{Global: &cfg.Global, Server: serverAt(cfg, bl.server)}
		if bl.server == 0 {
			t = r.defaultServer
		}
		if bl.members != nil {
			members := make([]*model.Server, len(bl.members))
			for m, i := range bl.members {
				members[m] = serverAt(cfg, i)
			}
			shared, maps := sharedServer(members, "portico_r"+hex.EncodeToString(memo[bl.server].shape[:8]))
			data.Server, data.RouteMaps = &shared, maps
		}
		execute := func(check bool) ([]byte, error) {
			data.Check = check
			buf.Reset()
			if err := t.Execute(buf, data); err != nil {
				return nil, fmt.Errorf("rendering server %q: %w", data.Server.Name, err)
			}
			return bytes.Clone(buf.Bytes()), nil
		}
		text, err := execute(false)
		if err != nil {
			return err
		}
		got[b] = rendered{text: text, sum: sha256.Sum256(text)}
		// Per-location Lua hooks make a second text, for nginx -t, kept with
		// the first: the key covers them, as model.Shape keeps them.
		if memo[bl.server].phases {
			got[b].check, err = execute(true)
		}
		return err
	})
}

// hasPhases reports whether a server prints per-location Lua hooks (or
// Lua's set_by_lua for $escaped_request_uri); the
// hosts sharing a block have the same (model.Shape keeps them).
func hasPhases(s *model.Server) bool {
	for j := range s.Locations {
		// $escaped_request_uri is set by Lua too (set_by_lua).
		if s.Locations[j].Action.Phases != (model.LuaPhases{}) || s.Locations[j].EscapedRequestURI {
			return true
		}
	}
	for j := range s.ErrorLocations {
		if s.ErrorLocations[j].Action.Phases != (model.LuaPhases{}) {
			return true
		}
	}
	return false
}

// plan lists the blocks in server order: the default server, then each
// server alone or, at its first host, the block the hosts of its shape
// share. Only model.Shareable servers share, and only with the template's
// consent (Renderer.share).
func (r *Renderer) plan(memo []*memoEntry) []block {
	blocks := make([]block, 0, len(memo))
	blocks = append(blocks, block{server: 0})
	var groups map[[32]byte][]int
	if r.share {
		groups = make(map[[32]byte][]int)
		for i := 1; i < len(memo); i++ {
			if memo[i].shareable {
				groups[memo[i].shape] = append(groups[memo[i].shape], i)
			}
		}
	}
	for i := 1; i < len(memo); i++ {
		if g := groups[memo[i].shape]; len(g) > 1 && memo[i].shareable {
			if g[0] == i {
				blocks = append(blocks, block{server: i, members: g})
			}
			continue
		}
		blocks = append(blocks, block{server: i})
	}
	return blocks
}

// identity digests what model.Shape clears from s and the template prints:
// the names, the locations' sources, per-location variables and the route IDs.
func identity(k *keyer, s *model.Server) [32]byte {
	k.buf = k.buf[:0]
	k.str(s.Name)
	k.str(s.ServerName)
	for i := range s.Locations {
		l := &s.Locations[i]
		k.str(l.Source)
		k.str(l.Route)
		if v := l.Vars; v != nil {
			k.str(v.Namespace)
			k.str(v.Ingress)
			k.str(v.Service)
			k.str(v.ServicePort)
			k.str(v.Upstream)
		}
	}
	for i := range s.ErrorLocations {
		k.str(s.ErrorLocations[i].Route)
	}
	return sha256.Sum256(k.buf)
}

// sharedServer is the server block members share, and the maps its
// locations read their routes from, named prefix_N for location N and
// prefix_eN for error location N. members have one shape (model.Shape).
func sharedServer(members []*model.Server, prefix string) (model.Server, []RouteMap) {
	first := members[0]
	out := *first
	out.Aliases = make([]string, 0, len(members)-1)
	for _, m := range members[1:] {
		out.Aliases = append(out.Aliases, m.ServerName)
	}
	var maps []RouteMap
	routeMap := func(variable string, route func(*model.Server) string) string {
		rm := RouteMap{Variable: variable, Entries: make([]RouteMapEntry, len(members))}
		for i, m := range members {
			rm.Entries[i] = RouteMapEntry{Host: m.ServerName, Route: route(m)}
		}
		maps = append(maps, rm)
		return "$" + variable
	}
	out.Locations = slices.Clone(first.Locations)
	for i := range out.Locations {
		l := &out.Locations[i]
		l.Source = ""
		if l.Vars != nil {
			l.Vars = sharedVars(members, prefix, i, routeMap)
		}
		if l.Route != "" {
			l.Route = routeMap(fmt.Sprintf("%s_%d", prefix, i), func(m *model.Server) string { return m.Locations[i].Route })
		}
	}
	out.ErrorLocations = slices.Clone(first.ErrorLocations)
	for i := range out.ErrorLocations {
		e := &out.ErrorLocations[i]
		if e.Route != "" {
			e.Route = routeMap(fmt.Sprintf("%s_e%d", prefix, i), func(m *model.Server) string { return m.ErrorLocations[i].Route })
		}
	}
	return out, maps
}

// sharedVars are location i's per-location variables in a block shared by
// members: a value all members have is printed as it is, one that differs
// is read from a map on $host (named prefix_i_ns, _ing, _svc, _port), and
// the upstream name is built from the others. Only what differs costs a map.
func sharedVars(members []*model.Server, prefix string, i int, routeMap func(string, func(*model.Server) string) string) *model.LocationVars {
	field := func(suffix string, get func(*model.LocationVars) string) string {
		first := get(members[0].Locations[i].Vars)
		for _, m := range members[1:] {
			if get(m.Locations[i].Vars) != first {
				return routeMap(fmt.Sprintf("%s_%d_%s", prefix, i, suffix), func(m *model.Server) string {
					return get(m.Locations[i].Vars)
				})
			}
		}
		return first
	}
	v := &model.LocationVars{
		Namespace:   field("ns", func(v *model.LocationVars) string { return v.Namespace }),
		Ingress:     field("ing", func(v *model.LocationVars) string { return v.Ingress }),
		Service:     field("svc", func(v *model.LocationVars) string { return v.Service }),
		ServicePort: field("port", func(v *model.LocationVars) string { return v.ServicePort }),
	}
	upstream := func(v *model.LocationVars) string { return v.Upstream }
	if !slices.ContainsFunc(members, func(m *model.Server) bool { return m.Locations[i].Vars.Upstream == "" }) {
		// Most blocks: every member has a Service, and the name needs no map of its own.
		v.Upstream = v.Namespace + "-" + v.Service + "-" + v.ServicePort
	} else {
		v.Upstream = field("up", upstream)
	}
	return v
}

func newBuffer() *bytes.Buffer { return new(bytes.Buffer) }
