package model

import (
	"cmp"
	"regexp"
	"slices"
	"strings"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/ngxconf"
	"github.com/portico-ingress/portico/pkg/pcre"
)

// ruleKey identifies a claim on a host: two Ingresses claiming the same
// path with the same match type conflict.
type ruleKey struct {
	exact bool
	regex bool
	path  string
	// pattern is, for a regex path, the PCRE pattern printed from it.
	pattern string
}

// locKey identifies an nginx location; nginx rejects duplicates.
type locKey struct {
	modifier string
	path     string
}

type fallback struct {
	action Action
	source string
	vars   *LocationVars
	policy locationPolicy
}

// locationPolicy is what an Ingress's annotations add to each of its locations.
type locationPolicy struct {
	// proxy and access are nil when the Ingress sets none; locations share them.
	proxy  *annotations.Proxy
	access *LocationAccess
	// sslRedirect is the Ingress's ssl-redirect, nil when unset (the server default applies).
	sslRedirect *bool
	// forceSSLRedirect redirects even without TLS on the host.
	forceSSLRedirect bool
	// redirect replaces the backend with a redirect (permanent- or temporal-redirect).
	redirect *Action
	// backendProtocol is HTTP, HTTPS, GRPC or GRPCS.
	backendProtocol string
	// appRoot is where "/" redirects, or "".
	appRoot string
	// cors is the CORS policy, or nil.
	cors *LocationCORS
	// modSecurity is the ModSecurity policy, or nil.
	modSecurity *LocationModSecurity
	// headers are the backend headers and access log switch.
	headers annotations.Headers
	// regex treats Prefix and ImplementationSpecific paths as regular expressions.
	regex bool
	// rewriteTarget replaces the matched path, with $1..$9 from the regex.
	rewriteTarget string
	// rewriteRedirect is set when rewriteTarget is an absolute URL: the
	// location then answers a 302 to it instead of proxying.
	rewriteRedirect bool
	// basicAuth asks for credentials, when set.
	basicAuth *BasicAuth
	// snippet are the allowed configuration-snippet directives.
	snippet []*ngxconf.Directive
	// serverSnippet are the allowed server-snippet directives.
	serverSnippet []*ngxconf.Directive
	// balance is the load-balancing method of the Ingress's backends.
	balance annotations.Balance
	// affinity is cookie session affinity (Lua balancer), or nil; its Path
	// is "" when each location should scope the cookie to its own path.
	affinity *RouteAffinity
	// extAuth and authEndpoint are external authentication, when set.
	extAuth      *ExternalAuth
	authEndpoint *AuthEndpoint
	// authExempt are path prefixes whose locations skip extAuth (the
	// global auth's no-auth-locations).
	authExempt []string
	// clientCert is mutual TLS for the Ingress's hosts, when set.
	clientCert *ServerClientCert
	// passClientCert sends the client certificate to the backend.
	passClientCert bool
	// responseHeaders are custom-headers from a ConfigMap.
	responseHeaders []HeaderValue
	// wwwRedirect answers the www. twin of each host (or the bare twin of a www. host) with a 308 to the host.
	wwwRedirect bool
	// defaultBackend answers the Ingress's paths whose Service has no ready
	// endpoints, and unmatched paths of its hosts (default-backend), when set.
	defaultBackend *Action
	// errorPages and errorLocations are custom-http-errors, when set.
	errorPages     []ErrorPage
	errorLocations []ErrorLocation
	// proxySSL is the backend TLS settings, when set and the backend speaks TLS.
	proxySSL *ProxySSL
	// escapedURI defines $escaped_request_uri in the locations (a
	// sign-in or redirect URL names it).
	escapedURI bool
	// denied answers 503 instead of proxying: authentication was asked for
	// but cannot be checked, and failing open would expose the backend.
	denied bool
}

// decorate copies the policy's per-location settings onto a location.
func (p locationPolicy) decorate(l *Location) {
	l.Proxy, l.Access, l.CORS = p.proxy, p.access, p.cors
	l.ModSecurity = p.modSecurity
	l.UpstreamHost, l.XForwardedPrefix = p.headers.UpstreamVhost, p.headers.XForwardedPrefix
	l.AccessLogOff = p.headers.AccessLog == "false"
	l.BasicAuth = p.basicAuth
	l.Snippet = p.snippet
	l.SnippetProxyHeaders = hasDirective(p.snippet, "proxy_set_header")
	l.SnippetGRPCHeaders = hasDirective(p.snippet, "grpc_set_header")
	l.ExternalAuth = p.extAuth
	if exemptPath(p.authExempt, l.Path) {
		l.ExternalAuth = nil
	}
	l.EscapedRequestURI = p.escapedURI
	l.ResponseHeaders = p.responseHeaders
	l.ErrorPages = p.errorPages
	l.ProxySSL = nil
	if p.proxySSL != nil && l.Action.Pass != "" {
		ps := *p.proxySSL
		ps.Module = strings.TrimSuffix(l.Action.Pass, "_pass")
		if ps.Name == "" {
			// An ExternalName backend is checked (and named by SNI) as its
			// externalName, not as the pool it reaches nginx as.
			ps.Name = l.Action.ExternalHost
		}
		l.ProxySSL = &ps
	}
	l.SetHeaders = nil
	if l.ExternalAuth != nil {
		for _, h := range l.ExternalAuth.Headers {
			l.SetHeaders = append(l.SetHeaders, SetHeader{Name: h.Name, Variable: h.Variable})
		}
	}
	if p.clientCert != nil {
		l.RequireClientCert = p.clientCert.Verify == "on"
		if p.passClientCert {
			l.SetHeaders = append(l.SetHeaders, SetHeader{Name: "ssl-client-cert", Variable: "$ssl_client_escaped_cert"})
		}
	}
}

// apply adapts a backend action to the policy: redirects replace it, and
// the backend protocol picks the pass directive and scheme.
func (p locationPolicy) apply(a Action) Action {
	if p.denied {
		return Action{Return: statusUnavailable, Service: a.Service}
	}
	if p.redirect != nil {
		return *p.redirect
	}
	if a.ProxyPass == "" {
		return a
	}
	rest := strings.TrimPrefix(a.ProxyPass, "http://")
	switch p.backendProtocol {
	case "HTTPS":
		a.ProxyPass = "https://" + rest
	case "GRPC":
		a.Pass, a.ProxyPass = "grpc_pass", "grpc://"+rest
	case "GRPCS":
		a.Pass, a.ProxyPass = "grpc_pass", "grpcs://"+rest
	}
	return a
}

// located records, for the redirect decision made in finish, each location's policy.
type located struct {
	sslRedirect      *bool
	forceSSLRedirect bool
}

// located is what finish needs of the policy to decide on redirects.
func (p locationPolicy) located() located { return located{p.sslRedirect, p.forceSSLRedirect} }

// serverBuilder collects one host's server block. Its maps other than
// claims are made on first use (putIn): most hosts never need them.
type serverBuilder struct {
	name    string
	aliases map[string]string // alias -> Ingress that asked for it
	// snippet is the host's server-snippet and snippetSource the Ingress
	// it comes from: one per host, the oldest Ingress's.
	snippet       []*ngxconf.Directive
	snippetSource string
	// snippetLocs are the exact, prefix and named locations snippet
	// defines: nginx refuses a second location with the same match, so
	// the host's other locations must keep clear of them (taken).
	snippetLocs   map[locKey]bool
	authEndpoints map[string]AuthEndpoint
	errorLocs     map[string]ErrorLocation
	clientCert    *ServerClientCert
	tls           *ServerTLS
	tlsSource     string
	claims        map[ruleKey]string
	locations     locationSet
	// weak marks exact locations generated for a Prefix rule: an Exact rule
	// for the same path takes precedence over them, as Kubernetes defines.
	weak     map[locKey]bool
	fallback *fallback
	// quietFallback leaves the global fallback's requests out of the
	// access log (the default server's, without
	// enable-access-log-for-default-backend).
	quietFallback bool
	// regex is set when some Ingress uses regex paths on this host: then
	// every prefix location becomes a regex, longest first, so that the
	// longest match still wins (nginx tries regexes after prefixes and
	// lets the first matching regex win).
	regex bool
	// regexPaths counts the host's regex paths (Limits.RegexPathsPerHost).
	regexPaths int
	// pathLen is, for each regex location's pattern, the length of the
	// Ingress path it was printed from: regexes sort by what the user
	// wrote, as in ingress-nginx, not by the printed pattern's length.
	pathLen map[string]int
}

func newServerBuilder(name string) *serverBuilder {
	return &serverBuilder{
		name:   name,
		claims: map[ruleKey]string{},
	}
}

// putIn stores v under k in *m, making the map on first use.
func putIn[K comparable, V any](m *map[K]V, k K, v V) {
	if *m == nil {
		*m = map[K]V{}
	}
	(*m)[k] = v
}

// addRule turns one claimed path into nginx locations. A Prefix path "/foo"
// becomes "= /foo" and "/foo/": nginx prefix matching is by characters, and
// this pair gives the per-element matching Kubernetes asks for ("/foo"
// matches "/foo" and "/foo/bar", never "/foobar"). A guest's (a path of a
// namespace that does not own the host, owners.go) prefix location is
// "^~ /foo/": nginx then tries no regex for requests whose longest prefix
// match it is, so the owner's regexes cannot take the guest's requests.
func (s *serverBuilder) addRule(claim ruleKey, source string, vars *LocationVars, action Action, policy locationPolicy, guest bool) {
	action = policy.apply(action)
	if claim.regex {
		s.regex = true
		l := Location{Modifier: "~*", Path: "^" + claim.pattern, Source: source, Vars: vars, Action: action}
		putIn(&s.pathLen, l.Path, max(s.pathLen[l.Path], len(claim.path)))
		policy.decorate(&l)
		// Only a proxying location rewrites: in one nginx answers itself,
		// "rewrite ... break" would skip the return and serve a file.
		// An absolute rewrite-target redirects (nginx's rewrite does so for
		// a replacement with a scheme); it too only where the route proxies,
		// so a location refused (503) or answered otherwise stays so.
		if policy.rewriteTarget != "" && action.ProxyPass != "" {
			l.Rewrite = &Rewrite{Regex: "(?i)^" + claim.pattern, Replacement: policy.rewriteTarget, Redirect: policy.rewriteRedirect}
		}
		s.locations.put(l, policy.located())
		return
	}
	put := func(modifier, path string) {
		l := Location{Modifier: modifier, Path: path, Source: source, Vars: vars, Action: action}
		policy.decorate(&l)
		if s.quietFallback && s.fallback.source == "" {
			l.AccessLogOff = true
		}
		s.locations.put(l, policy.located())
	}
	if claim.exact {
		l := Location{Modifier: "=", Path: claim.path, Source: source, Vars: vars, Action: action}
		policy.decorate(&l)
		// An Exact path stays exact with rewrite-target (ingress-nginx turns
		// it into a prefix regex, which serves paths the Ingress never
		// named); the rewrite matches the whole path, so $1..$9 are empty.
		if policy.rewriteTarget != "" && action.ProxyPass != "" {
			l.Rewrite = &Rewrite{Regex: "^" + regexp.QuoteMeta(claim.path) + "$", Replacement: policy.rewriteTarget, Redirect: policy.rewriteRedirect}
		}
		s.locations.put(l, policy.located())
		delete(s.weak, locKey{modifier: "=", path: claim.path})
		return
	}
	if claim.path == "/" {
		// Even a guest's "/" stays a plain prefix: it is the least
		// specific path, and the owner's regexes come before it.
		put("", "/")
		return
	}
	exactKey := locKey{modifier: "=", path: claim.path}
	if !s.taken(exactKey) {
		put("=", claim.path)
		putIn(&s.weak, exactKey, true)
	}
	modifier := ""
	if guest {
		modifier = guestPrefix
	}
	put(modifier, claim.path+"/")
}

// guestPrefix is the modifier of a guest's prefix locations: a prefix
// match that stops nginx from trying regexes.
const guestPrefix = "^~"

// isPrefix reports whether a location modifier is a prefix match.
func isPrefix(modifier string) bool { return modifier == "" || modifier == guestPrefix }

func (s *serverBuilder) finish(redirectPort, hsts string) Server {
	out := Server{Name: s.name, ServerName: serverName(s.name), Snippet: s.snippet}
	if len(s.snippet) > 0 {
		out.SnippetSource = s.snippetSource
	}
	for _, e := range s.authEndpoints {
		out.AuthEndpoints = append(out.AuthEndpoints, e)
	}
	slices.SortFunc(out.AuthEndpoints, func(a, c AuthEndpoint) int { return cmp.Compare(a.Path, c.Path) })
	for _, e := range s.errorLocs {
		out.ErrorLocations = append(out.ErrorLocations, e)
	}
	slices.SortFunc(out.ErrorLocations, func(a, c ErrorLocation) int { return cmp.Compare(a.Name, c.Name) })
	if s.tls != nil {
		out.ClientCert = s.clientCert
	}
	for a := range s.aliases {
		out.Aliases = append(out.Aliases, a)
	}
	slices.Sort(out.Aliases)
	if s.tls != nil {
		tls := *s.tls
		if tls.RedirectHTTP {
			tls.RedirectPort = redirectPort
		}
		out.TLS = &tls
	}
	if !s.taken(locKey{path: "/"}) && s.fallback != nil {
		// Without an explicit "location /" nginx would serve files from its
		// html directory; unmatched requests go to the default backend or 404.
		policy := s.fallback.policy
		l := Location{Path: "/", Source: s.fallback.source, Vars: s.fallback.vars, Action: policy.apply(s.fallback.action)}
		policy.decorate(&l)
		if s.quietFallback && s.fallback.source == "" {
			l.AccessLogOff = true
		}
		s.locations.put(l, policy.located())
	}
	s.addSlashCompanions()
	if s.regex {
		s.prefixesToRegex()
	}
	var policies []located
	out.Locations, policies = s.locations.take()
	serverDefault := s.tls != nil && s.tls.RedirectHTTP
	for i := range out.Locations {
		loc, p := &out.Locations[i], policies[i]
		if p.forceSSLRedirect || (s.tls != nil && p.sslRedirect != nil && *p.sslRedirect) || (p.sslRedirect == nil && serverDefault) {
			loc.RedirectHTTPS, loc.RedirectPort = true, redirectPort
		}
		// add_header in a location (the auth answer's Set-Cookie too)
		// hides the server's: HSTS is repeated there.
		if (loc.CORS != nil || len(loc.ResponseHeaders) > 0 || loc.ExternalAuth != nil || hasDirective(loc.Snippet, "add_header")) && s.tls != nil {
			loc.HSTS = hsts
		}
	}
	slices.SortFunc(out.Locations, func(a, c Location) int {
		// Regex locations are tried in file order: longest path first, as
		// ingress-nginx sorts them, measured on the path the user wrote.
		ar, cr := strings.HasPrefix(a.Modifier, "~"), strings.HasPrefix(c.Modifier, "~")
		if ar && cr {
			// On equal lengths an Ingress's regex ("~*") comes before a
			// prefix turned into one ("~"), the host's fallback "/" among
			// them: use-regex or rewrite-target with the path "/" must
			// not answer 404.
			return cmp.Or(cmp.Compare(s.sortLen(c), s.sortLen(a)), cmp.Compare(a.Path, c.Path), cmp.Compare(c.Modifier, a.Modifier))
		}
		if ar != cr {
			if ar {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.Path, c.Path), cmp.Compare(a.Modifier, c.Modifier))
	})
	boundRegexWork(out.Locations)
	return out
}

// sortLen is the length a regex location sorts by: that of the Ingress path
// of a "~*" location, or of the literal prefix of a "~" one (its pattern is
// "^" and the path quoted by regexp.QuoteMeta; paths hold no backslash).
func (s *serverBuilder) sortLen(l Location) int {
	if l.Modifier == "~*" {
		if n, ok := s.pathLen[l.Path]; ok {
			return n
		}
		return len(l.Path)
	}
	return len(strings.ReplaceAll(strings.TrimPrefix(l.Path, "^"), `\`, ""))
}

// regexStepBudget bounds the backtracking steps nginx's PCRE may spend on
// the user regexes of one host per request: nginx tries a server's regex
// locations in turn, and the location it picks runs its rewrite regex
// again. 100,000 steps cost about 1-2 ms of worker CPU on this kind of
// machine (docs/security.md has the measurement). pkg/pcre refuses the
// exponential shapes; this bounds the polynomial ones, like /(.*)/(.*)$ on
// a long path, whose worst case no parse can rule out.
const regexStepBudget = 100_000

// minRegexSteps is the least a regex gets when a host has many: enough for
// the linear regexes Ingresses use on paths thousands of bytes long.
const minRegexSteps = 1_000

// boundRegexWork prefixes every user regex location (and its rewrite) of a
// server with a PCRE match limit, the budget shared among them. A request
// whose path makes a regex hit its limit gets a 500 from nginx instead of
// holding a worker for a tenth of a second. The host's prefix locations,
// turned into regexes by prefixesToRegex ("~"), are literal and cheap.
func boundRegexWork(locations []Location) {
	n := 0
	for i := range locations {
		if locations[i].Modifier == "~*" {
			n++
		}
	}
	if n == 0 {
		return
	}
	limit := max(regexStepBudget/n, minRegexSteps)
	for i := range locations {
		l := &locations[i]
		if l.Modifier != "~*" {
			continue
		}
		l.Path = pcre.WithMatchLimit(l.Path, limit)
		if l.Rewrite != nil {
			rw := *l.Rewrite
			rw.Regex = pcre.WithMatchLimit(rw.Regex, limit)
			l.Rewrite = &rw
		}
	}
}

// serverName returns the nginx server_name for an Ingress host. nginx's own
// "*.foo.com" also matches "a.b.foo.com", but Kubernetes says a wildcard
// covers exactly one DNS label, so wildcards become an anchored regex.
func serverName(host string) string {
	switch {
	case host == "":
		return "_"
	case len(host) > 2 && host[:2] == "*.":
		return "~^[^.]+" + regexp.QuoteMeta(host[1:]) + "$"
	default:
		return host
	}
}

// addSlashCompanions handles nginx's trailing-slash redirect: for a location
// whose path ends in "/" and that proxies, nginx answers a request for the
// path without the slash with a 301 to the slashed path, even for "="
// locations. Kubernetes routes that request by its own rules instead, so an
// Exact path "/dir/" gets a companion "= /dir" carrying the action the
// longest matching prefix would give it. (Prefix rules already have their
// own "= /dir" location.)
func (s *serverBuilder) addSlashCompanions() {
	// Companions are appended while looping: only the locations there
	// before are looked at, and a companion is never a slashed "=".
	for i, n := 0, len(s.locations.list); i < n; i++ {
		k := keyOf(&s.locations.list[i])
		if k.modifier != "=" || len(k.path) < 2 || k.path[len(k.path)-1] != '/' {
			continue
		}
		bare := locKey{modifier: "=", path: k.path[:len(k.path)-1]}
		if s.taken(bare) {
			continue
		}
		if best := s.longestPrefix(bare.path); best >= 0 {
			companion := s.locations.list[best]
			p := s.locations.policies[best]
			companion.Modifier, companion.Path = "=", bare.path
			s.locations.put(companion, p)
		}
	}
}

// longestPrefix returns the index of the prefix location nginx would pick
// for path, or -1.
func (s *serverBuilder) longestPrefix(path string) int {
	best := -1
	for i := range s.locations.list {
		l := &s.locations.list[i]
		if isPrefix(l.Modifier) && strings.HasPrefix(path, l.Path) && (best < 0 || len(l.Path) > len(s.locations.list[best].Path)) {
			best = i
		}
	}
	return best
}

// addAppRoot redirects requests for exactly "/" to the app-root path, unless
// an Exact "/" rule or the server-snippet already owns that location.
func (s *serverBuilder) addAppRoot(source, root string, policy locationPolicy) {
	if s.taken(locKey{modifier: "=", path: "/"}) {
		return
	}
	loc := Location{Modifier: "=", Path: "/", Source: source, Action: Action{Return: 302, ReturnURL: root}}
	policy.decorate(&loc)
	loc.Proxy, loc.CORS = nil, nil // a redirect answered by nginx needs neither
	s.locations.put(loc, policy.located())
}

// prefixesToRegex turns the host's prefix locations into case-sensitive
// regexes anchored at the start, with the path quoted, so they sort with
// the Ingress regexes by length. A prefix under a guest's prefix (see
// addRule) becomes a "^~" prefix instead: nginx picks it by the longest
// prefix before any regex, as it picks the guest's, so neither the guest's
// nor the owner's longer path is taken by a regex.
func (s *serverBuilder) prefixesToRegex() {
	var guests []string
	for i := range s.locations.list {
		if l := &s.locations.list[i]; l.Modifier == guestPrefix {
			guests = append(guests, l.Path)
		}
	}
	for i := range s.locations.list {
		l := &s.locations.list[i]
		if l.Modifier != "" {
			continue
		}
		under := false
		for _, g := range guests {
			under = under || (len(l.Path) > len(g) && strings.HasPrefix(l.Path, g))
		}
		if under {
			s.locations.rekey(i, locKey{modifier: guestPrefix, path: l.Path})
		} else {
			s.locations.rekey(i, locKey{modifier: "~", path: "^" + regexp.QuoteMeta(l.Path)})
		}
	}
}
