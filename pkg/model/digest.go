package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// ServerDigests returns, per server name ("_" for the default server), a hash
// of everything that shapes that server: its own fields and the endpoints of
// the upstreams it uses. Comparing two digests maps says which servers a
// reload added, removed or changed.
func (c *Config) ServerDigests() map[string]string {
	upstreams := make(map[string][]string, len(c.Upstreams))
	for _, u := range c.Upstreams {
		upstreams[u.Name] = u.Endpoints
	}
	out := make(map[string]string, len(c.Servers)+1)
	digest := func(name string, s Server) {
		h := sha256.New()
		// Marshalling plain structs of strings, ints and slices cannot fail.
		b, _ := json.Marshal(s)
		h.Write(b)
		for _, l := range s.Locations {
			if eps, ok := upstreams[l.Action.Upstream]; ok {
				b, _ := json.Marshal(eps)
				h.Write(b)
			}
		}
		out[name] = hex.EncodeToString(h.Sum(nil)[:8])
	}
	digest("_", c.DefaultServer)
	for _, s := range c.Servers {
		digest(s.Name, s)
	}
	return out
}
