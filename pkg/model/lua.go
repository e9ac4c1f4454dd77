package model

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/portico-ingress/portico/pkg/snapshot"
)

// Balancers: how nginx picks an endpoint.
const (
	// BalancerLua serves every location through one upstream whose peer a
	// Lua balancer picks from data the controller pushes: endpoint and
	// traffic-policy changes need no reload.
	BalancerLua = "lua"
	// BalancerUpstreams writes an upstream block per Service port, for an
	// nginx without the Lua module: every endpoint change reloads.
	BalancerUpstreams = "upstreams"
)

// Upstream names of the Lua balancer. A location whose backend TLS settings
// (proxy-ssl) differ from the default uses the second one, which keeps no
// idle connections: nginx pools keep-alive connections by address alone, and
// a connection verified for one Ingress must never carry another's request.
const (
	luaUpstream    = "portico_balancer"
	luaUpstreamTLS = "portico_balancer_tls"
)

// Route is what the Lua balancer knows about one location: where its
// requests go and how the endpoint is chosen. Every field is pushed as JSON,
// never written into nginx.conf.
type Route struct {
	// Backend is the upstream (Config.Upstreams name) requests go to.
	Backend string `json:"backend"`
	// Fallback answers while Backend has no ready endpoints, or "".
	Fallback string `json:"fallback,omitempty"`
	// Balance is "round_robin" (""), "least_conn" or "ewma".
	Balance string `json:"balance,omitempty"`
	// HashBy is a consistent-hash key made of nginx variables, or "".
	HashBy string `json:"hashBy,omitempty"`
	// Affinity pins clients to an endpoint with a cookie, when set.
	Affinity *RouteAffinity `json:"affinity,omitempty"`
	// Canary diverts some requests to another upstream, when set.
	Canary *RouteCanary `json:"canary,omitempty"`
}

// RouteAffinity is cookie session affinity, ingress-nginx's affinity family.
type RouteAffinity struct {
	// Mode is "balanced" or "persistent".
	Mode string `json:"mode"`
	// Name is the cookie name.
	Name string `json:"name"`
	// Path is the cookie's Path attribute.
	Path string `json:"path"`
	// Domain is the cookie's Domain attribute, or "".
	Domain string `json:"domain,omitempty"`
	// MaxAge and Expires are seconds; 0 leaves the attribute out (a session cookie).
	MaxAge  int `json:"maxAge,omitempty"`
	Expires int `json:"expires,omitempty"`
	// Secure adds the Secure attribute.
	Secure bool `json:"secure,omitempty"`
	// SameSite is "", "None", "Lax" or "Strict".
	SameSite string `json:"sameSite,omitempty"`
	// ChangeOnFailure moves the session to the endpoint a retry reached.
	ChangeOnFailure bool `json:"changeOnFailure,omitempty"`
}

// RouteCanary is a canary Ingress's share of a location's requests.
type RouteCanary struct {
	// Backend is the canary's upstream.
	Backend string `json:"backend"`
	// Source is the canary Ingress ("ns/name"), for debugging.
	Source string `json:"source"`
	// Weight out of WeightTotal requests go to the canary when no header or cookie decides.
	Weight      int `json:"weight"`
	WeightTotal int `json:"weightTotal"`
	// Header, when the request has it, decides: "always"/"never", or equal
	// to HeaderValue, or matching HeaderPattern.
	Header        string `json:"header,omitempty"`
	HeaderValue   string `json:"headerValue,omitempty"`
	HeaderPattern string `json:"headerPattern,omitempty"`
	// Cookie, when the request has it, decides: "always" or "never".
	Cookie string `json:"cookie,omitempty"`
}

// Dynamic is the Lua balancer's data: it changes without a reload. The
// controller pushes it as JSON to the internal server; encoding/json sorts
// map keys, so equal data always gives equal bytes.
type Dynamic struct {
	// Backends are the ready endpoints of every upstream.
	Backends map[string][]string `json:"backends"`
	// Routes are by Location.Route.
	Routes map[string]Route `json:"routes"`
	// Generation is the config generation Routes belong to (set by the
	// controller; nginx.conf maps $portico_generation to it).
	Generation uint64 `json:"generation,string"`
	// Previous are the routes of the config still live while a reload is
	// in flight, for the old workers; nil otherwise.
	Previous *GenerationRoutes `json:"previous,omitempty"`
}

// GenerationRoutes are the routes of one config generation.
type GenerationRoutes struct {
	// Generation is the config generation.
	Generation uint64 `json:"generation,string"`
	// Routes are by Location.Route.
	Routes map[string]Route `json:"routes"`
}

// Dynamic returns the data to push, or an empty Dynamic with the upstreams balancer.
func (c *Config) Dynamic() Dynamic {
	if c.Global.Balancer != BalancerLua {
		return c.dynamic(nil)
	}
	return c.dynamic(func(u *Upstream) []string { return u.Endpoints })
}

// dynamic is the data to push with each pool's endpoints from endpoints,
// or with no pools for nil.
func (c *Config) dynamic(endpoints func(*Upstream) []string) Dynamic {
	d := Dynamic{Backends: make(map[string][]string, len(c.Upstreams)), Routes: c.Routes}
	if d.Routes == nil {
		d.Routes = map[string]Route{}
	}
	if endpoints == nil {
		return d
	}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		eps := endpoints(u)
		if eps == nil {
			eps = []string{}
		}
		d.Backends[u.Name] = eps
	}
	return d
}

func (b *builder) lua() bool { return b.global.Balancer == BalancerLua }

// assignRoutes gives every location that proxies through the Lua balancer
// a route ID and records its route. The ID hashes only the server name and
// the location's match, so changing where or how a location balances
// changes the pushed data, not nginx.conf.
func assignRoutes(cfg *Config) {
	if cfg.Global.Balancer != BalancerLua {
		return
	}
	cfg.Routes = map[string]Route{}
	servers := make([]*Server, 0, len(cfg.Servers)+1)
	servers = append(servers, &cfg.DefaultServer)
	for i := range cfg.Servers {
		servers = append(servers, &cfg.Servers[i])
	}
	assignRouteIDs(servers,
		func(id string) bool { _, taken := cfg.Routes[id]; return taken },
		func(id string, r Route) { cfg.Routes[id] = r })
}

// routeOf is the route of a location that proxies through the balancer.
func routeOf(a Action) Route {
	return Route{Backend: a.Upstream, Fallback: a.Fallback, Balance: a.Balance, HashBy: a.HashBy,
		Affinity: a.Affinity, Canary: a.Canary}
}

// assignRouteIDs gives the routing locations of servers their route IDs and
// Lua hooks, asking taken about IDs already given and telling record the
// routes.
func assignRouteIDs(servers []*Server, taken func(string) bool, record func(string, Route)) {
	add := func(server, match string, a Action) string {
		if a.Upstream == "" {
			return ""
		}
		id := routeID(server, match)
		for n := 0; taken(id); n++ {
			// A 64-bit collision: still deterministic, since servers and
			// locations are visited in sorted order.
			id = routeID(server, match+"\x00"+string(rune('a'+n%26)))
		}
		record(id, routeOf(a))
		return id
	}
	for _, s := range servers {
		for i := range s.Locations {
			l := &s.Locations[i]
			l.Route = add(s.Name, l.Modifier+" "+l.Path, l.Action)
			l.Action.Phases = phasesOf(l.Route, l.Action)
		}
		for i := range s.ErrorLocations {
			e := &s.ErrorLocations[i]
			e.Route = add(s.Name, e.Name, e.Action)
			e.Action.Phases = phasesOf(e.Route, e.Action)
		}
	}
}

// phasesOf returns the Lua hooks a routed location's policy needs.
// Turning affinity, ewma or least_conn on or off therefore reloads nginx;
// changes within them (cookie options, weights, hash keys) do not.
func phasesOf(route string, a Action) LuaPhases {
	if route == "" {
		return LuaPhases{}
	}
	return LuaPhases{
		Rewrite:      !strings.HasPrefix(a.ProxyPass, "http://"),
		HeaderFilter: a.Affinity != nil,
		Log:          a.Balance == "ewma" || a.Balance == "least_conn",
	}
}

func routeID(server, match string) string {
	sum := sha256.Sum256([]byte(server + "\n" + match))
	return "r" + hex.EncodeToString(sum[:8])
}

// luaPass returns the proxy_pass argument for the Lua balancer's upstream.
func luaPass(tls bool) string {
	if tls {
		return "http://" + luaUpstreamTLS
	}
	return "http://" + luaUpstream
}

// During returns the data to push while a reload from live to d is in
// flight: d's routes, live's routes as Previous (old workers keep routing
// as their config says until they stop), and the pools of both, d's
// endpoints winning where both have a pool.
func (d Dynamic) During(live Dynamic) Dynamic {
	out := d
	out.Backends = make(map[string][]string, len(d.Backends)+len(live.Backends))
	for k, v := range live.Backends {
		out.Backends[k] = v
	}
	for k, v := range d.Backends {
		out.Backends[k] = v
	}
	if live.Routes != nil && live.Generation != d.Generation {
		out.Previous = &GenerationRoutes{Generation: live.Generation, Routes: live.Routes}
	}
	return out
}

// RefreshEndpoints returns cfg's balancer data with the endpoints of every
// pool read again from snap (EndpointSlices, and the answers for
// ExternalName Services), through the same AddressPolicy as Build (opts
// are those cfg was built with). It is what an EndpointSlice-only change
// needs: with the Lua balancer nginx.conf never depends on endpoints, so
// the model need not be built again (which costs far more at thousands of
// Ingresses). stale reports that some pool's refused addresses differ from
// what cfg's findings say: a Build is then due, for the findings.
func RefreshEndpoints(cfg *Config, snap *snapshot.Snapshot, opts Options) (d Dynamic, stale bool) {
	b := &builder{index: index{slices: slicesByService(snap.EndpointSlices)}, addrs: addressPolicy(&opts, &cfg.Global),
		resolved: snap.Resolved}
	d = cfg.dynamic(func(u *Upstream) []string {
		endpoints, refused := b.poolEndpoints(u)
		stale = stale || !slices.Equal(refused, u.Refused)
		return endpoints
	})
	return d, stale
}
