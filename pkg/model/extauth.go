package model

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/excerpt"
)

// externalAuth builds the auth_request settings. The internal location's
// path and the header variables come from a hash and an index; the
// sign-in URL gets rd= with the original URL, which nginx expands.
func externalAuth(ing *networkingv1.Ingress, ea annotations.ExternalAuth) (*ExternalAuth, *AuthEndpoint) {
	ep := &AuthEndpoint{Path: "/_portico_auth_" + hashID(ing), URL: ea.URL}
	if ea.Method != "" && ea.Method != "GET" {
		ep.Method = ea.Method
	}
	auth := &ExternalAuth{Endpoint: ep.Path}
	param := ea.SignInRedirectParam
	if param == "" {
		param = annotations.DefaultSignInRedirectParam
	}
	if ea.SignIn != "" && hasParam(ea.SignIn, param) {
		// oauth2-proxy style: the value names where to return itself
		// (rd=$escaped_request_uri), as ingress-nginx leaves it.
		auth.SignIn = ea.SignIn
	} else if ea.SignIn != "" {
		sep := "?"
		if strings.Contains(ea.SignIn, "?") {
			sep = "&"
		}
		// param is allowlisted (unreserved URL characters only).
		auth.SignIn = ea.SignIn + sep + param + "=$scheme://$http_host$request_uri"
	}
	for i, h := range ea.ResponseHeaders {
		auth.Headers = append(auth.Headers, AuthHeader{
			Name:     h,
			Variable: fmt.Sprintf("$portico_auth_header_%d", i),
			Upstream: "$upstream_http_" + strings.ReplaceAll(strings.ToLower(h), "-", "_"),
		})
	}
	return auth, ep
}

// authURLRefusal says why an auth-url may not be asked, or "": like a
// backend, it must not be the controller's own Pod (nginx would send the
// subrequest, and copy its answer's headers, from inside it). An IP
// address is checked with its port; localhost names are loopback. Other
// names nginx resolves per request (docs/security.md, known limits).
func (b *builder) authURLRefusal(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "" // the annotation's own check refused it already
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return "it is loopback, and no auth service may be the controller's own Pod"
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	port := uint16(80)
	if u.Scheme == "https" {
		port = 443
	}
	if p, err := strconv.ParseUint(u.Port(), 10, 16); err == nil {
		port = uint16(p)
	}
	return addressPolicy(b.opts, b.global).Refusal(addr, port)
}

// hasParam reports whether a sign-in URL's query already has the
// parameter that carries the original URL (rd, or auth-signin-redirect-param).
func hasParam(signIn, param string) bool {
	_, query, ok := strings.Cut(signIn, "?")
	if !ok {
		return false
	}
	for _, kv := range strings.Split(query, "&") {
		if k, _, _ := strings.Cut(kv, "="); k == param {
			return true
		}
	}
	return false
}

// escapedRequestURI is the canonical spelling (ngxvar) of the one
// allowlisted variable nginx lacks; locations that name it define it.
const escapedRequestURI = "${escaped_request_uri}"

// extAuthExtras applies the auth keys beyond auth-url, auth-method,
// auth-signin and auth-response-headers to the location settings and the
// internal location. It returns true when the Ingress's paths must answer
// 503: the headers it asked to send to its auth service cannot be read,
// and asking without them could let requests through that it refuses.
func (b *builder) extAuthExtras(ing *networkingv1.Ingress, ea annotations.ExternalAuth, auth *ExternalAuth, ep *AuthEndpoint) bool {
	about := ingressRef(ing)
	authAnswerSettings(ing, ea, auth, ep)
	if ea.CacheKey == "" && len(ea.CacheDuration) > 0 {
		b.ignored(about, ReasonIneffectiveAnnotation, "auth-cache-duration has no effect without auth-cache-key; auth answers are not cached")
	}
	if ea.Keepalive > 0 {
		b.authKeepalive(ing, ea, ep)
	}
	if ea.ProxySetHeaders == "" {
		return false
	}
	headers, reason, why := b.authProxySetHeaders(ing, ea.ProxySetHeaders)
	if why != "" {
		b.notServed(about, reason, "auth-proxy-set-headers %q: %s; the Ingress's paths answer 503 until it is fixed, "+
			"since the auth service would be asked without the headers it expects", excerpt.Of(ea.ProxySetHeaders), why)
		return true
	}
	ep.SetHeaders = headers
	return false
}

// authCacheKey is proxy_cache_key for an Ingress: the whole SHA-256 of
// namespace/name (no Ingress can choose a name whose key space meets
// another's, as it could with a short hash), the request's host, then the
// user's key. Two Ingresses with the same auth-cache-key and the same host
// (two namespaces, one claiming the host in vain) never share an entry.
func authCacheKey(ing *networkingv1.Ingress, userKey string) string {
	return fullHashID(ing) + ":${host}:" + userKey
}

// fullHashID is the whole SHA-256 of namespace/name, for names shared by
// every Ingress's objects at http level (the auth cache, auth upstreams):
// hashID's 48 bits could be matched by a chosen name, this cannot.
func fullHashID(ing *networkingv1.Ingress) string {
	sum := sha256.Sum256([]byte(ing.Namespace + "/" + ing.Name))
	return hex.EncodeToString(sum[:])
}

// authCacheValid turns auth-cache-duration's entries (checked by the
// annotation) into proxy_cache_valid lines.
func authCacheValid(entries []string) []AuthCacheValid {
	if len(entries) == 0 {
		entries = []string{annotations.DefaultCacheDuration}
	}
	out := make([]AuthCacheValid, 0, len(entries))
	for _, e := range entries {
		f := strings.Fields(e)
		out = append(out, AuthCacheValid{Codes: f[:len(f)-1], Time: f[len(f)-1]})
	}
	return out
}

// authKeepalive gives the auth endpoint its own upstream block with idle
// connections when auth-url's host is an IP address. A name in an upstream
// block's server line is resolved when nginx loads the configuration: one
// tenant's name that does not resolve would fail nginx -t for every
// Ingress. Keepalive is a performance option, so a name keeps today's
// connection per request (resolved per request) and a warning says so.
func (b *builder) authKeepalive(ing *networkingv1.Ingress, ea annotations.ExternalAuth, ep *AuthEndpoint) {
	scheme, rest, ok := strings.Cut(ep.URL, "://")
	if !ok {
		return // the annotation's own check refused it already
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	host, port := authority, "80"
	if strings.EqualFold(scheme, "https") {
		port = "443"
	}
	if h, p, err := net.SplitHostPort(authority); err == nil {
		host, port = h, p
	}
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	p, perr := strconv.ParseUint(port, 10, 16)
	if err != nil || perr != nil || addr.Zone() != "" {
		b.ignored(ingressRef(ing), ReasonIneffectiveAnnotation, "auth-keepalive is not applied: auth-url's host %q is not an IP address, "+
			"and nginx would resolve a name in an upstream block when it loads the configuration (one that does not resolve would "+
			"fail it for every Ingress); the auth service gets a new connection per request. Name the Service's cluster IP in "+
			"auth-url to keep connections open", excerpt.Of(host))
		return
	}
	requests, timeout := ea.KeepaliveRequests, ea.KeepaliveTimeout
	if requests == 0 {
		requests = annotations.DefaultKeepaliveRequests
	}
	if timeout == 0 {
		timeout = annotations.DefaultKeepaliveTimeout
	}
	up := &AuthUpstream{
		// A pool of another Ingress's name would send one tenant's
		// checks to the other's auth service: the name is the full hash.
		Name:      "portico_auth_" + fullHashID(ing),
		Server:    netip.AddrPortFrom(addr.Unmap(), uint16(p)).String(),
		Keepalive: ea.Keepalive,
		Requests:  requests,
		Timeout:   strconv.Itoa(timeout) + "s",
	}
	ep.Upstream, ep.Host = up, authority
	ep.URL = scheme + "://" + up.Name + tail
}

// authProxySetHeaders reads an auth-proxy-set-headers ConfigMap of the
// Ingress's namespace, or says why it cannot be used. Every entry must be
// a header name and a plain value (no "$": nginx would expand it), and
// none may be a header that frames the request or that Portico sets for
// the auth service: the auth location is an authentication control, so
// an entry it cannot send refuses the Ingress rather than drops the entry.
// The reason is ConfigMapNotFound or IneffectiveAnnotation (a valid
// annotation that cannot take effect; the annotation itself is valid).
func (b *builder) authProxySetHeaders(ing *networkingv1.Ingress, ref string) (headers []HeaderValue, reason, why string) {
	name, own := ownNamespaceName(ing, ref)
	if !own {
		return nil, ReasonIneffectiveAnnotation, "the ConfigMap is in another namespace; only the Ingress's own namespace is read"
	}
	cm, ok := b.configMap(key(ing.Namespace, name))
	if !ok {
		return nil, ReasonConfigMapNotFound, fmt.Sprintf("ConfigMap %s/%s not found", ing.Namespace, name)
	}
	keys := slices.Sorted(maps.Keys(cm.Data))
	if len(keys) > 64 {
		return nil, ReasonIneffectiveAnnotation, "the ConfigMap has more than 64 entries"
	}
	out := make([]HeaderValue, 0, len(keys))
	for _, k := range keys {
		v := cm.Data[k]
		if !headerNamePattern.MatchString(k) || !plainHeaderValue(v) {
			return nil, ReasonIneffectiveAnnotation, fmt.Sprintf("entry %q needs a header name (letters, digits, -) and a value without $ or control characters", excerpt.Of(k))
		}
		if reservedAuthHeaders[strings.ToLower(k)] {
			return nil, ReasonIneffectiveAnnotation, fmt.Sprintf("entry %q names a header Portico sets for the auth request itself", excerpt.Of(k))
		}
		out = append(out, HeaderValue{Name: k, Value: v})
	}
	return out, "", ""
}

// reservedAuthHeaders are the headers the auth location sets or that
// frame the request: a second copy from a ConfigMap would make the auth
// request ambiguous (two Content-Lengths) or lie about the original one.
var reservedAuthHeaders = map[string]bool{
	"host": true, "content-length": true, "transfer-encoding": true, "connection": true, "upgrade": true,
	"keep-alive": true, "te": true, "trailer": true, "expect": true, "proxy-connection": true,
	"x-original-url": true, "x-original-method": true, "x-forwarded-for": true, "x-auth-request-redirect": true,
	"traceparent": true, "tracestate": true,
}

// authShared fills the http-level parts the servers' auth endpoints need:
// the keepalive upstreams (one per Ingress, the same wherever its hosts
// are) and whether the auth cache zone exists.
func authShared(cfg *Config) {
	cfg.AuthUpstreams, cfg.AuthCacheZone = nil, false
	seen := map[string]bool{}
	add := func(eps []AuthEndpoint) {
		for _, e := range eps {
			cfg.AuthCacheZone = cfg.AuthCacheZone || e.Cache != nil
			if e.Upstream != nil && !seen[e.Upstream.Name] {
				seen[e.Upstream.Name] = true
				cfg.AuthUpstreams = append(cfg.AuthUpstreams, *e.Upstream)
			}
		}
	}
	add(cfg.DefaultServer.AuthEndpoints)
	for i := range cfg.Servers {
		add(cfg.Servers[i].AuthEndpoints)
	}
	slices.SortFunc(cfg.AuthUpstreams, func(a, c AuthUpstream) int { return strings.Compare(a.Name, c.Name) })
}

// plainHeaderValue reports whether v can be sent as a header value as it
// is: no nginx variable (auth-proxy-set-headers values are literal) and
// no control character that could end the header line.
func plainHeaderValue(v string) bool {
	if len(v) > 4096 || strings.Contains(v, "$") {
		return false
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
