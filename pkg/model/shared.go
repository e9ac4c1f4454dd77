package model

import "slices"

// mapKeywords are the words nginx's map block reads as parameters, not as
// source values; a host named like one cannot be a plain map key.
var mapKeywords = []string{"default", "hostnames", "include", "volatile"}

// Shareable reports whether s may share one nginx server block with other
// hosts: an exact host name (no wildcard, no server-alias) that an nginx map
// on $host can hold as a plain key, with a location that routes through the
// Lua balancer. Servers without routes (the upstreams balancer, hosts that
// only redirect) keep their own blocks: without the Lua module blocks are
// cheap to parse, and a shared block is told by its route maps. Which hosts
// do share is up to the renderer; this says which may.
func Shareable(s *Server) bool {
	if s.Name == "" || s.ServerName != s.Name || len(s.Aliases) > 0 || slices.Contains(mapKeywords, s.Name) {
		return false
	}
	// Snippets keep their own block and their Ingress's comments, so that
	// nginx's error about their lines can be traced back (render.Blame).
	if len(s.Snippet) > 0 || slices.ContainsFunc(s.Locations, func(l Location) bool { return len(l.Snippet) > 0 }) {
		return false
	}
	return slices.ContainsFunc(s.Locations, func(l Location) bool { return l.Route != "" })
}

// Shape returns the part of s that a server block shared by several hosts
// prints once for all of them. Cleared are what differs per host and the
// shared block takes from elsewhere: the names (its server_name list), the
// locations' Source (no per-Ingress comments), their Vars (all but whether
// they have any: the shared block reads them from maps on $host) and,
// where a location routes
// through the Lua balancer, its Route and the Action fields the route
// carries to the balancer (backend, fallback, policy, affinity, canary),
// since nginx.conf prints none of them. Upstream keeps only whether it is
// set, which the template tests. Two servers with equal shapes print the
// same block but for these; render's tests check that claim against the
// template, field by field. The renderer's cache keys rest on it too. s is
// not changed.
func Shape(s *Server) Server {
	var out Server
	ShapeInto(&out, s)
	return out
}

// ShapeInto is Shape writing into out, reusing the room its location
// slices have: the renderer takes the shape of every server on every sync.
func ShapeInto(out *Server, s *Server) {
	locs, errs := out.Locations[:0], out.ErrorLocations[:0]
	*out = *s
	out.Name, out.ServerName = "", ""

	out.Locations = append(locs, s.Locations...)
	// One empty Vars stands for every location's in the shape: a shared
	// block prints them from maps on $host (pkg/render), so only whether a
	// location has them shapes the block.
	var noVars *LocationVars
	for i := range out.Locations {
		l := &out.Locations[i]
		l.Source = ""
		if l.Vars != nil {
			if noVars == nil {
				noVars = &LocationVars{}
			}
			l.Vars = noVars
		}
		if l.Route != "" {
			l.Route = "route"
			l.Action = routedAction(l.Action)
		}
	}
	out.ErrorLocations = append(errs, s.ErrorLocations...)
	for i := range out.ErrorLocations {
		e := &out.ErrorLocations[i]
		if e.Route != "" {
			e.Route = "route"
			e.Action = routedAction(e.Action)
		}
	}
}

// routedAction clears what a route hands to the Lua balancer.
func routedAction(a Action) Action {
	if a.Upstream != "" {
		a.Upstream = "balancer"
	}
	a.Service, a.Balance, a.HashBy, a.Fallback = "", "", "", ""
	a.Affinity, a.Canary = nil, nil
	return a
}
