package model

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/excerpt"
)

// defaultBurstMultiplier is ingress-nginx's limit-burst-multiplier default.
const defaultBurstMultiplier = 5

// policy turns an Ingress's annotations into what its locations carry, and
// registers the http-level limit zones it needs.
func (b *builder) policy(ing *networkingv1.Ingress, set annotations.Set) locationPolicy {
	policy := locationPolicy{}
	if !reflect.ValueOf(set.Proxy).IsZero() {
		proxy := set.Proxy
		policy.proxy = &proxy
	}
	r := set.Routing
	if r.SSLRedirect != "" {
		v := r.SSLRedirect == "true"
		policy.sslRedirect = &v
	}
	policy.forceSSLRedirect = r.ForceSSLRedirect
	policy.backendProtocol = r.BackendProtocol
	policy.appRoot = r.AppRoot
	policy.wwwRedirect = r.FromToWWWRedirect
	policy.cors = b.cors(ing, set.CORS)
	policy.headers = set.Headers
	policy.balance = set.Balance
	if b.lua() {
		policy.affinity = affinityOf(set.Affinity)
	} else {
		b.reportLuaOnly(ing, set)
	}
	if ch := set.CustomHeaders.ConfigMap; ch != "" {
		policy.responseHeaders = b.customHeaders(ing, ch)
	}
	if cc := set.ClientCert; cc.Secret != "" {
		policy.clientCert, policy.denied = b.clientCert(ing, cc)
		policy.passClientCert = cc.PassToUpstream
	}
	if ea := set.ExternalAuth; ea.URL != "" {
		policy.extAuth, policy.authEndpoint = externalAuth(ing, ea)
		if why := b.authURLRefusal(ea.URL); why != "" {
			// Fail closed: the paths answer 503 rather than go unchecked.
			b.notServed(ingressRef(ing), ReasonBackendAddressRefused, "auth-url %q: %s; the Ingress's paths answer 503 until auth-url "+
				"names the real auth service", excerpt.Of(ea.URL), why)
			policy.denied = true
			policy.extAuth, policy.authEndpoint = nil, nil // nothing may ever call it
		} else if b.extAuthExtras(ing, ea, policy.extAuth, policy.authEndpoint) {
			policy.denied = true
			policy.extAuth, policy.authEndpoint = nil, nil
		}
	} else {
		b.useGlobalAuth(ing, set, &policy)
	}
	policy.regex = set.Rewrite.UseRegex || set.Rewrite.Target != ""
	policy.rewriteTarget = set.Rewrite.Target
	policy.rewriteRedirect = set.Rewrite.IsRedirect()
	if b.hasSnippets(ing) {
		if b.snippetsAllowed(ing) {
			policy.snippet, policy.serverSnippet = set.Snippets.Location, set.Snippets.Server
			b.headersMore(ing, &policy)
		} else {
			b.ignored(ingressRef(ing), ReasonSnippetNotAllowed,
				"snippet annotations are ignored: the operator has not allowed them for namespace %s (--allow-snippet-annotations, --snippet-namespaces)", ing.Namespace)
		}
	}
	if db := set.DefaultBackend; db.Service != "" {
		policy.defaultBackend = b.annotationDefaultBackend(ing, db)
	}
	policy.errorPages, policy.errorLocations = b.customErrors(ing, set.DefaultBackend, policy.defaultBackend)
	if set.Auth.Type == "basic" {
		// Keep a refusal an earlier setting made: each check may only add one.
		var deny bool
		policy.basicAuth, deny = b.basicAuth(ing, set.Auth)
		policy.denied = policy.denied || deny
	}
	if ps := set.ProxySSL; ps != (annotations.ProxySSL{}) {
		var deny bool
		policy.proxySSL, deny = b.proxySSL(ing, ps, r.BackendProtocol)
		policy.denied = policy.denied || deny
	}
	{
		var deny bool
		policy.modSecurity, deny = b.modSecurity(ing, set.ModSecurity)
		policy.denied = policy.denied || deny
	}
	switch {
	case r.PermanentRedirect != "":
		code := r.PermanentRedirectCode
		if code == 0 {
			code = 301
		}
		policy.redirect = &Action{Return: code, ReturnURL: r.PermanentRedirect}
	case r.TemporalRedirect != "":
		policy.redirect = &Action{Return: 302, ReturnURL: r.TemporalRedirect}
	}
	policy.access = b.access(ing, set.Access)
	policy.escapedURI = (policy.extAuth != nil && strings.Contains(policy.extAuth.SignIn, escapedRequestURI)) ||
		(policy.redirect != nil && strings.Contains(policy.redirect.ReturnURL, escapedRequestURI))
	if policy.escapedURI && !b.lua() {
		// Only the Lua module can percent-encode in stock nginx; without
		// it the variable would not exist and nginx -t would fail for all.
		b.notServed(ingressRef(ing), ReasonInvalidAnnotation, "$escaped_request_uri needs the Lua balancer (balancer: lua); "+
			"the Ingress's paths answer 503 until the annotation names another variable")
		policy.denied, policy.escapedURI = true, false
		policy.extAuth, policy.authEndpoint = nil, nil
	}
	return policy
}

// access returns a location's allow and deny lists and rate limits, or nil
// when the Ingress asks for none.
func (b *builder) access(ing *networkingv1.Ingress, a annotations.Access) *LocationAccess {
	acc := &LocationAccess{Deny: a.Deny, Allow: a.Allow, DenyAll: len(a.Allow) > 0}
	if a.RPS == 0 && a.RPM == 0 && a.Connections == 0 {
		if len(a.Deny) == 0 && len(a.Allow) == 0 {
			return nil
		}
		return acc
	}
	// One zone set per Ingress, as ingress-nginx does. Names come from a
	// hash of namespace/name: nothing the user wrote reaches the zone or
	// variable names.
	id := hashID(ing)
	keyVar := "$binary_remote_addr"
	if len(a.LimitWhitelist) > 0 {
		ex := LimitExempt{Geo: "$portico_exempt_" + id, Key: "$portico_limit_" + id, Networks: a.LimitWhitelist}
		b.limitExempts[ex.Geo] = ex
		keyVar = ex.Key
	}
	mult := a.BurstMultiplier
	if mult == 0 {
		mult = defaultBurstMultiplier
	}
	if a.RPS > 0 {
		z := LimitZone{Name: "portico_" + id + "_rps", Key: keyVar, Rate: fmt.Sprintf("%dr/s", a.RPS)}
		b.limitZones[z.Name] = z
		acc.LimitReq = append(acc.LimitReq, LimitReq{Zone: z.Name, Burst: a.RPS * mult})
	}
	if a.RPM > 0 {
		z := LimitZone{Name: "portico_" + id + "_rpm", Key: keyVar, Rate: fmt.Sprintf("%dr/m", a.RPM)}
		b.limitZones[z.Name] = z
		acc.LimitReq = append(acc.LimitReq, LimitReq{Zone: z.Name, Burst: a.RPM * mult})
	}
	if a.Connections > 0 {
		z := LimitZone{Name: "portico_" + id + "_conn", Key: keyVar}
		b.limitZones[z.Name] = z
		acc.LimitConn = &LimitConn{Zone: z.Name, Connections: a.Connections}
	}
	return acc
}

// hashID names http-level objects of an Ingress without using its text.
func hashID(ing *networkingv1.Ingress) string {
	sum := sha256.Sum256([]byte(ing.Namespace + "/" + ing.Name))
	return hex.EncodeToString(sum[:6])
}
