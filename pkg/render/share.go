package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"

	"github.com/portico-ingress/portico/pkg/model"
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
	// check marks the text nginx -t checks (ServerData.Check).
	check bool
}

// renderServers returns the server blocks, default server first, with the
// sha256 of each, and the blocks as nginx -t checks them (nil where that is
// the block itself), from the cache or rendered now.
func (r *Renderer) renderServers(cfg *model.Config) (texts [][]byte, sums [][32]byte, checks [][]byte, err error) {
	n := 1 + len(cfg.Servers)
	srv := func(i int) *model.Server {
		if i == 0 {
			return &cfg.DefaultServer
		}
		return &cfg.Servers[i-1]
	}
	// A block's text follows from the whole Global (the server templates
	// read some of it; a Global change is rare and re-renders everything),
	// the kind of block, the shape of its server(s) and what Shape clears.
	gk := newKeyer()
	if err := gk.add(&cfg.Global); err != nil {
		return nil, nil, nil, err
	}
	gsum := sha256.Sum256(gk.buf)
	// Keys are most of the work when one server changed: servers seen in
	// the last render come from the memo, the others are spread over the
	// cores like the renders (the buffer is per goroutine).
	ids := make([]serverID, n)
	for i := range n {
		ids[i] = idOf(srv(i))
	}
	memo := r.memo.lookup(ids)
	var fresh []int
	for i, e := range memo {
		if e == nil {
			fresh = append(fresh, i)
		}
	}
	var keyers sync.Pool
	err = parallel(len(fresh), func(j int, _ *bytes.Buffer) error {
		k, _ := keyers.Get().(*keyer)
		if k == nil {
			k = newKeyer()
		}
		defer keyers.Put(k)
		i := fresh[j]
		s := srv(i)
		model.ShapeInto(&k.shape, s)
		k.buf = k.buf[:0]
		if err := k.add(&k.shape); err != nil {
			return err
		}
		memo[i] = &memoEntry{server: *s, shape: sha256.Sum256(k.buf), ident: identity(k, s),
			shareable: i > 0 && model.Shareable(s), phases: hasPhases(s)}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	r.memo.store(ids, memo, fresh)

	blocks := r.plan(memo)
	keys := make([][32]byte, len(blocks))
	kb := make([]byte, 0, 256)
	for b := range blocks {
		bl := &blocks[b]
		kb = append(kb[:0], gsum[:]...)
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
	// Blocks with per-location Lua hooks have a second text, for nginx -t,
	// under their key with a 'c' appended; one cache lookup covers both.
	checkOf := make([]int, len(blocks)) // index in keys of the check text, or 0
	for b := range blocks {
		if memo[blocks[b].server].phases {
			checkOf[b] = len(keys)
			keys = append(keys, sha256.Sum256(append(keys[b][:], 'c')))
			blocks = append(blocks, block{server: blocks[b].server, members: blocks[b].members, check: true})
		}
	}

	texts = make([][]byte, len(keys))
	sums = make([][32]byte, len(keys))
	missing := r.cache.lookup(keys, texts, sums)
	if len(missing) > 0 {
		err := parallel(len(missing), func(j int, buf *bytes.Buffer) error {
			bl := blocks[missing[j]]
			t, data := r.server, ServerData{Global: &cfg.Global, Server: srv(bl.server), Check: bl.check}
			if bl.server == 0 {
				t = r.defaultServer
			}
			if bl.members != nil {
				members := make([]*model.Server, len(bl.members))
				for m, i := range bl.members {
					members[m] = srv(i)
				}
				shared, maps := sharedServer(members, "portico_r"+hex.EncodeToString(memo[bl.server].shape[:8]))
				data.Server, data.RouteMaps = &shared, maps
			}
			buf.Reset()
			if err := t.Execute(buf, data); err != nil {
				return fmt.Errorf("rendering server %q: %w", data.Server.Name, err)
			}
			texts[missing[j]] = bytes.Clone(buf.Bytes())
			sums[missing[j]] = sha256.Sum256(texts[missing[j]])
			return nil
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("rendering nginx.conf: %w", err)
		}
	}
	r.cache.store(keys, texts, sums, missing)
	main := len(checkOf)
	checks = make([][]byte, main)
	for b, c := range checkOf {
		if c != 0 {
			checks[b] = texts[c]
		}
	}
	return texts[:main], sums[:main], checks, nil
}

// hasPhases reports whether a server prints per-location Lua hooks; the
// hosts sharing a block have the same (model.Shape keeps them).
func hasPhases(s *model.Server) bool {
	for j := range s.Locations {
		if s.Locations[j].Action.Phases != (model.LuaPhases{}) {
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
// the names, the locations' sources and the route IDs.
func identity(k *keyer, s *model.Server) [32]byte {
	k.buf = k.buf[:0]
	k.str(s.Name)
	k.str(s.ServerName)
	for i := range s.Locations {
		l := &s.Locations[i]
		k.str(l.Source)
		k.str(l.Route)
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
