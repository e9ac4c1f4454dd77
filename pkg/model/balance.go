package model

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
)

// balanced points an action at a variant of its upstream that uses the
// policy's balancing method. Upstreams are shared by every Ingress that
// uses a Service port, so a method one Ingress asks for gets its own
// upstream block instead of changing the others'. Backend TLS settings
// (proxy-ssl) get their own variant too: nginx pools keep-alive
// connections per upstream, and a connection verified for one Ingress's
// settings must never carry another Ingress's requests.
func (b *builder) balanced(a Action, policy locationPolicy) Action {
	if b.lua() {
		return b.luaBalanced(a, policy)
	}
	bal := policy.balance
	lb := bal.HashBy != "" || bal.Method == "least_conn"
	if a.Upstream == "" || (!lb && policy.proxySSL == nil) {
		return a
	}
	base, ok := b.upstreams[a.Upstream]
	if !ok {
		return a
	}
	variant, suffix := bal.Method+"\n"+bal.HashBy, ".lb-"
	if ps := policy.proxySSL; ps != nil {
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

// luaBalanced records the policy on the action for the Lua balancer, which
// applies it per request: no upstream variants, and nothing in nginx.conf
// changes with the method.
func (b *builder) luaBalanced(a Action, policy locationPolicy) Action {
	if a.Upstream == "" {
		return a
	}
	if policy.balance.Method != "round_robin" {
		a.Balance = policy.balance.Method
	}
	a.HashBy = policy.balance.HashBy
	a.Affinity = policy.affinity
	if policy.proxySSL != nil {
		a.ProxyPass = luaPass(true)
	}
	return a
}

// affinityOf turns the affinity annotations into the Lua balancer's cookie
// settings; the annotations package has filled in ingress-nginx's defaults.
func affinityOf(af annotations.Affinity) *RouteAffinity {
	if af.Type != "cookie" {
		return nil
	}
	return &RouteAffinity{Mode: af.Mode, Name: af.CookieName, Path: af.CookiePath, Domain: af.CookieDomain,
		MaxAge: af.CookieMaxAge, Expires: af.CookieExpires, Secure: af.CookieSecure, SameSite: af.CookieSameSite,
		ChangeOnFailure: af.CookieChangeOnFailure}
}

// reportLuaOnly reports the policies only the Lua balancer can apply, for
// the upstreams balancer: requests are then spread as usual.
func (b *builder) reportLuaOnly(ing *networkingv1.Ingress, set annotations.Set) {
	if set.Balance.Method == "ewma" {
		b.ignored(ingressRef(ing), ReasonIneffectiveAnnotation, "load-balance ewma needs the Lua balancer, which this nginx lacks; round_robin is used")
	}
	if set.Affinity.Type != "" {
		b.ignored(ingressRef(ing), ReasonIneffectiveAnnotation, "affinity needs the Lua balancer, which this nginx lacks; requests are spread over all endpoints")
	}
}
