package model

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// balanced points an action at a variant of its upstream that uses the
// policy's balancing method. Upstreams are shared by every Ingress that
// uses a Service port, so a method one Ingress asks for gets its own
// upstream block instead of changing the others'. Backend TLS settings
// (proxy-ssl) get their own variant too: nginx pools keep-alive
// connections per upstream, and a connection verified for one Ingress's
// settings must never carry another Ingress's requests.
func (b *builder) balanced(a Action, pol policy) Action {
	bal := pol.balance
	lb := bal.HashBy != "" || bal.Method == "least_conn"
	if a.Upstream == "" || (!lb && pol.proxySSL == nil) {
		return a
	}
	base, ok := b.upstreams[a.Upstream]
	if !ok {
		return a
	}
	variant, suffix := bal.Method+"\n"+bal.HashBy, ".lb-"
	if ps := pol.proxySSL; ps != nil {
		variant += fmt.Sprintf("\n%s\n%s\n%s\n%s\n%s", ps.TrustedCertificate, ps.Certificate, ps.Verify, ps.Name, ps.ServerName)
		suffix = ".tls-"
	}
	sum := sha256.Sum256([]byte(variant))
	name := base.Name + suffix + hex.EncodeToString(sum[:4])
	if _, exists := b.upstreams[name]; !exists {
		v := &Upstream{Name: name, Endpoints: base.Endpoints, Hash: bal.HashBy}
		v.LeastConn = bal.HashBy == "" && bal.Method == "least_conn"
		b.upstreams[name] = v
	}
	a.Upstream = name
	a.ProxyPass = strings.Replace(a.ProxyPass, base.Name, name, 1)
	return a
}
