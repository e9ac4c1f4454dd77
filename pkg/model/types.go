// Package model translates a snapshot of Kubernetes objects into the
// render-ready description of one nginx configuration. Build is pure and
// deterministic: no I/O, no clocks, no randomness, sorted output. What it
// finds wrong in the objects it returns as Findings instead of acting on it.
package model

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/ngxconf"
)

// Config is everything the template needs to print nginx.conf.
type Config struct {
	// Global holds http-level settings that come from the operator, not from Ingresses.
	Global Global `json:"global"`
	// DefaultServer answers requests for hosts no Ingress names, and serves host-less rules.
	DefaultServer Server `json:"defaultServer"`
	// Servers are the virtual hosts, sorted by Name.
	Servers []Server `json:"servers"`
	// Upstreams are the backend pools, sorted by Name. With the upstreams
	// balancer only pools with ready endpoints appear, and the pools of
	// ExternalName Services (locations answer 503 while those have none);
	// with the Lua balancer every pool a location uses does, endpoints or
	// not, so that endpoints coming and going never change nginx.conf.
	Upstreams []Upstream `json:"upstreams"`
	// Routes are what the Lua balancer needs per location, by Location.Route;
	// empty with the upstreams balancer. They are pushed, never rendered.
	Routes map[string]Route `json:"routes,omitempty"`
	// Certificates are the PEM files (certificate chain and key) the servers refer to, sorted by Path.
	Certificates []Certificate `json:"certificates"`
	// LimitZones are the rate and connection limit zones, sorted by Name.
	LimitZones []LimitZone `json:"limitZones,omitempty"`
	// LoadModSecurity is the ModSecurity module to load, set only when a
	// location uses it.
	LoadModSecurity string `json:"loadModSecurity,omitempty"`
	// ModSecurityRules are the ModSecurity rules read once at http level,
	// for the ConfigMap's enable-modsecurity and the annotations alike
	// (locations with "modsecurity on" run them); nil without ModSecurity.
	ModSecurityRules *LocationModSecurity `json:"modSecurityRules,omitempty"`
	// LoadHeadersMore is the headers-more module to load, set only when a
	// served snippet uses its directives.
	LoadHeadersMore string `json:"loadHeadersMore,omitempty"`
	// OriginMaps pick the CORS origin for Ingresses that allow several, sorted by Variable.
	OriginMaps []OriginMap `json:"originMaps,omitempty"`
	// LimitExempts are the limit-whitelist networks, sorted by Geo.
	LimitExempts []LimitExempt `json:"limitExempts,omitempty"`
	// AuthUpstreams are the auth-keepalive upstreams the servers' auth
	// endpoints name, sorted by Name (authShared).
	AuthUpstreams []AuthUpstream `json:"authUpstreams,omitempty"`
	// AuthCacheZone is set when an auth endpoint caches (auth-cache-key):
	// the http block then has the one shared zone.
	AuthCacheZone bool `json:"authCacheZone,omitempty"`
	// AuthFiles are the htpasswd files basic authentication reads, sorted by Path.
	AuthFiles []SecretFile `json:"authFiles,omitempty"`
	// Ingresses are the Ingresses of our class this config serves, oldest first; status goes to them.
	Ingresses []ObjectRef `json:"ingresses"`
	// Accepted are the Ingress versions this config serves, by "namespace/name": pass
	// them back as Options.LastAccepted to keep serving them if an edit breaks them.
	Accepted map[string]*networkingv1.Ingress `json:"-"`
	// ConfigMap is the version of the options ConfigMap applied, nil for
	// none: pass it back as Options.LastConfigMap.
	ConfigMap *corev1.ConfigMap `json:"-"`
	// ConfigMapValues are the options ConfigMap's values in effect, by key:
	// those accepted and those kept from the live config (GlobalOption.KeepLast),
	// not those refused. Pass them back as Options.LastConfigMapValues.
	ConfigMapValues map[string]string `json:"-"`
	// Owners are the namespaces that own the contested hosts (claimed by
	// Ingresses of several namespaces), by host ("" for rules without
	// one): pass them back as Options.LastOwners so that a host stays with
	// its namespace (owners.go).
	Owners map[string]string `json:"-"`
	// RecheckAt is the next instant at which a certificate of this config
	// expires or enters the warning window (Options.CertificateExpiryWarning),
	// zero for none: build again then, even if no object changed, for the
	// findings (and the choice of pair) to follow the clock.
	RecheckAt time.Time `json:"-"`
}

// Global holds settings that apply to the whole nginx process or http block.
type Global struct {
	// HTTPPort is the port plain HTTP servers listen on.
	HTTPPort int `json:"httpPort"`
	// HTTPSPort is the port TLS servers listen on.
	HTTPSPort int `json:"httpsPort"`
	// BindAddress is the address servers listen on; "" means every address.
	BindAddress string `json:"bindAddress,omitempty"`
	// HTTPListen is the listen argument for plain HTTP, computed by Build.
	HTTPListen string `json:"httpListen"`
	// HTTPSListen is the listen argument for TLS, computed by Build.
	HTTPSListen string `json:"httpsListen"`
	// InternalListen is the listen argument of the internal server ("unix:"
	// and InternalSocket), computed by Build.
	InternalListen string `json:"internalListen"`
	// InternalSocket is the unix socket of the internal server, where the
	// controller checks the generation and pushes the balancer's data. A
	// socket in a directory only the controller and nginx can enter: no
	// request through nginx, and no other process in the Pod, reaches it
	// (a loopback port is reachable by both).
	InternalSocket string `json:"internalSocket"`
	// UnavailableListen is where the server that answers 503 listens, on
	// another loopback address with the internal port, computed by Build:
	// the Lua balancer sends requests it has no endpoint for there.
	UnavailableListen string `json:"unavailableListen"`
	// ServerNamesHashMaxSize sizes nginx's server name hash for the number of hosts, computed by Build.
	ServerNamesHashMaxSize int `json:"serverNamesHashMaxSize"`
	// InternalPort is the loopback port of the 503 server of the Lua
	// balancer (UnavailableListen).
	InternalPort int `json:"internalPort"`
	// Balancer is BalancerLua (one upstream whose endpoints the controller
	// pushes at run time) or BalancerUpstreams (an upstream block per Service
	// port: endpoint changes reload nginx).
	Balancer string `json:"balancer"`
	// LuaModules are the load_module paths the Lua balancer needs; empty when
	// nginx has the modules built in.
	LuaModules []string `json:"luaModules,omitempty"`
	// ModSecurityModule is the load_module path of the ModSecurity module;
	// empty when nginx has none (Ingresses asking for it are then not served).
	ModSecurityModule string `json:"modSecurityModule,omitempty"`
	// HeadersMoreModule is the load_module path of the headers-more module;
	// empty when nginx has none (Ingresses whose snippets use it are then
	// not served).
	HeadersMoreModule string `json:"headersMoreModule,omitempty"`
	// ModSecurityConf is the base rules file enable-modsecurity loads.
	ModSecurityConf string `json:"modSecurityConf,omitempty"`
	// OWASPCRSSetup is the Core Rule Set's setup file, loaded before its rules.
	OWASPCRSSetup string `json:"owaspCRSSetup,omitempty"`
	// OWASPCRSRules is the glob of the Core Rule Set's rule files (no spaces).
	OWASPCRSRules string `json:"owaspCRSRules,omitempty"`
	// ModSecurityAll (ConfigMap enable-modsecurity) runs ModSecurity on
	// the locations of every Ingress but those whose enable-modsecurity
	// annotation is "false".
	ModSecurityAll bool `json:"modSecurityAll,omitempty"`
	// ModSecurityAllCRS (ConfigMap enable-owasp-modsecurity-crs) adds the
	// OWASP Core Rule Set to ModSecurityAll's rules.
	ModSecurityAllCRS bool `json:"modSecurityAllCRS,omitempty"`
	// ModSecuritySnippet (ConfigMap modsecurity-snippet) are the
	// operator's ModSecurity lines for ModSecurityAll, from the same
	// allowlist as the annotation's.
	ModSecuritySnippet []string `json:"modSecuritySnippet,omitempty"`
	// ModSecurityBroken, when set, says why ModSecurityAll cannot be
	// honoured (no module or rules on this host, or a bad ConfigMap value
	// with no accepted one to keep): every location it covers answers 503.
	ModSecurityBroken string `json:"modSecurityBroken,omitempty"`
	// ModSecurityHTTP are ModSecurityAll's rules, computed by Build; nil
	// when ModSecurityAll is off or broken. Config.ModSecurityRules, what
	// is rendered at http level, are these with the Core Rule Set added
	// when an Ingress asks for it.
	ModSecurityHTTP *LocationModSecurity `json:"modSecurityHTTP,omitempty"`
	// RequestMetrics tells the Lua module which request figures to record
	// (requestmetrics.Options.Env), or "" for none. Only with the Lua balancer.
	RequestMetrics string `json:"requestMetrics,omitempty"`
	// RequestMetricsMemory is the size of the shared dict the figures live
	// in (an nginx size, e.g. "32m").
	RequestMetricsMemory string `json:"requestMetricsMemory,omitempty"`
	// LuaDir holds Portico's Lua code (lua_package_path and hook files).
	LuaDir string `json:"luaDir,omitempty"`
	// PIDFile is where the nginx master writes its pid.
	PIDFile string `json:"pidFile"`
	// RuntimeDir holds nginx's temporary files (request bodies, proxy buffers).
	RuntimeDir string `json:"runtimeDir"`
	// ErrorLog is the error_log target, e.g. "stderr".
	ErrorLog string `json:"errorLog"`
	// ErrorLogLevel is the error_log level, one of nginx's (error-log-level).
	ErrorLogLevel string `json:"errorLogLevel"`
	// AccessLog is the access_log target, or "off".
	AccessLog string `json:"accessLog"`
	// LogDirs are the directories access-log-path and error-log-path may
	// name files in (--log-dir); nil means DefaultLogDirs().
	LogDirs []string `json:"logDirs,omitempty"`
	// LogEscapeJSON is log-format-escape-json.
	LogEscapeJSON bool `json:"logEscapeJSON,omitempty"`
	// LogEscapeNone is log-format-escape-none.
	LogEscapeNone bool `json:"logEscapeNone,omitempty"`
	// LogFormatEscape is log_format's escape parameter ("json", "none"),
	// "" for nginx's default: what the two keys above decide.
	LogFormatEscape string `json:"logFormatEscape,omitempty"`
	// SkipAccessLogURLs are the request URIs ($request_uri, whole) the
	// access log leaves out (skip-access-log-urls).
	SkipAccessLogURLs []string `json:"skipAccessLogURLs,omitempty"`
	// AccessLogDefaultBackend logs the requests the default server answers
	// with the global default backend or 404, which ingress-nginx leaves out
	// of the access log (enable-access-log-for-default-backend).
	AccessLogDefaultBackend bool `json:"accessLogDefaultBackend,omitempty"`
	// WorkerProcesses is the worker_processes value ("auto" or a number).
	WorkerProcesses string `json:"workerProcesses"`
	// WorkerConnections is the per-worker connection limit.
	WorkerConnections int `json:"workerConnections"`
	// WorkerShutdownTimeout is worker_shutdown_timeout, as an nginx time: how long old workers live after a reload.
	WorkerShutdownTimeout string `json:"workerShutdownTimeout"`
	// Resolvers are the DNS servers ("ip", "[ipv6]", with ":port" when not
	// 53), formatted for nginx: the controller resolves ExternalName names
	// with them (pkg/resolve), and nginx the hosts of auth-url.
	Resolvers []string `json:"resolvers"`
	// UpstreamKeepalive is the number of idle keep-alive connections each worker keeps per upstream.
	UpstreamKeepalive int `json:"upstreamKeepalive"`
	// UpstreamKeepaliveRequests is how many requests one upstream connection serves before it is closed.
	UpstreamKeepaliveRequests int `json:"upstreamKeepaliveRequests"`
	// UpstreamKeepaliveTimeout is how long an idle upstream connection stays open, as an nginx time.
	UpstreamKeepaliveTimeout string `json:"upstreamKeepaliveTimeout"`
	// ProxyConnectTimeout is proxy_connect_timeout, as an nginx time.
	ProxyConnectTimeout string `json:"proxyConnectTimeout"`
	// ProxyReadTimeout is proxy_read_timeout, as an nginx time.
	ProxyReadTimeout string `json:"proxyReadTimeout"`
	// ProxySendTimeout is proxy_send_timeout, as an nginx time.
	ProxySendTimeout string `json:"proxySendTimeout"`
	// ClientMaxBodySize is client_max_body_size, as an nginx size.
	ClientMaxBodySize string `json:"clientMaxBodySize"`
	// DefaultCertificate is the PEM file for TLS hosts without a usable Secret, and for unknown SNI names.
	DefaultCertificate string `json:"defaultCertificate"`
	// ClientBodyBufferSize is client_body_buffer_size, as an nginx size.
	ClientBodyBufferSize string `json:"clientBodyBufferSize"`
	// KeepaliveTimeout is the client keepalive_timeout, as an nginx time.
	KeepaliveTimeout string `json:"keepaliveTimeout"`
	// KeepaliveRequests is how many requests a client connection may carry.
	KeepaliveRequests int `json:"keepaliveRequests"`
	// SSLProtocols are the enabled TLS versions, e.g. ["TLSv1.2", "TLSv1.3"].
	SSLProtocols []string `json:"sslProtocols"`
	// SSLCiphers is the OpenSSL cipher list for TLS 1.2 and older.
	SSLCiphers string `json:"sslCiphers"`
	// HSTS is the Strict-Transport-Security header value for TLS servers, or "" for none.
	HSTS string `json:"hsts,omitempty"`
	// HTTP2 enables HTTP/2 on TLS listeners.
	HTTP2 bool `json:"http2"`
	// LogFormat is the access log format (nginx variables allowed).
	LogFormat string `json:"logFormat"`
	// ServerTokens shows the nginx version in responses and error pages.
	ServerTokens bool `json:"serverTokens"`
	// GenerateRequestID gives requests without an X-Request-ID header a
	// random one ($req_id); a client's own is always passed on.
	GenerateRequestID bool `json:"generateRequestID"`
	// GenerateTraceparent gives requests without a valid W3C traceparent
	// header (or whose header is not trusted) a new one, built from
	// $request_id, sent to the backend (generate-traceparent).
	GenerateTraceparent bool `json:"generateTraceparent"`
	// TrustIncomingTraceparent passes a client's valid traceparent header
	// (and its tracestate) on unchanged (trust-incoming-traceparent); an
	// invalid one is never passed on.
	TrustIncomingTraceparent bool `json:"trustIncomingTraceparent"`
	// SSLRedirect is the default for redirecting plain HTTP to HTTPS on TLS hosts.
	SSLRedirect bool `json:"sslRedirect"`
	// UseForwardedHeaders (use-forwarded-headers) takes the client address
	// from ForwardedForHeader and the scheme, host and port sent upstream
	// from X-Forwarded-Proto/Host/Port, only when the connecting address
	// is in RealIPFrom.
	UseForwardedHeaders bool `json:"useForwardedHeaders,omitempty"`
	// EnableRealIP (enable-real-ip) takes the client address from
	// ForwardedForHeader (trusted senders only) without trusting the other
	// X-Forwarded-* headers.
	EnableRealIP bool `json:"enableRealIP,omitempty"`
	// ForwardedForHeader (forwarded-for-header) is the header the client
	// address is read from: a header name of letters, digits and "-".
	ForwardedForHeader string `json:"forwardedForHeader"`
	// ComputeFullForwardedFor (compute-full-forwarded-for) sends upstream
	// the received X-Forwarded-For chain plus the connecting address
	// instead of the client address alone.
	ComputeFullForwardedFor bool `json:"computeFullForwardedFor,omitempty"`
	// RealIPFrom (proxy-real-ip-cidr) are the networks, masked prefixes,
	// whose forwarded headers and PROXY headers are trusted; none by default.
	RealIPFrom []string `json:"realIPFrom,omitempty"`
	// ProxyProtocol (use-proxy-protocol) makes every listener expect a
	// PROXY protocol header; the client address comes from it when the
	// sender is in RealIPFrom.
	ProxyProtocol bool `json:"proxyProtocol,omitempty"`
	// ProxyProtocolHeaderTimeout (proxy-protocol-header-timeout), as an
	// nginx time. nginx's http listeners read the PROXY header within
	// client_header_timeout; the value is kept for ingress-nginx's
	// configurations and reported by the model.
	ProxyProtocolHeaderTimeout string `json:"proxyProtocolHeaderTimeout"`
	// RealIP, computed by Build, is what the realip module is told; nil
	// leaves $remote_addr the connecting address.
	RealIP *RealIP `json:"realIP,omitempty"`
	// GlobalAuth is the external auth of the global-auth-* keys, nil for
	// none (globalauth.go): pass Auth back as Options.LastGlobalAuth
	// when Refused is "".
	GlobalAuth *GlobalAuth `json:"globalAuth,omitempty"`
}

// RealIP is the realip configuration Build derives from the forwarded
// header options: every variable name in it is made by the model.
type RealIP struct {
	// Header is real_ip_header: "proxy_protocol" or a header name.
	Header string `json:"header"`
	// From are the set_real_ip_from networks; never empty.
	From []string `json:"from"`
	// TrustForwarded passes trusted X-Forwarded-Proto/Host/Port upstream
	// and lets X-Forwarded-Proto: https stop the HTTPS redirect.
	TrustForwarded bool `json:"trustForwarded,omitempty"`
	// FullForwardedFor, when set, is the variable holding the received
	// forwarded-for header ("$http_x_forwarded_for"): X-Forwarded-For
	// upstream is its chain plus PeerVariable. Else it is $remote_addr.
	FullForwardedFor string `json:"fullForwardedFor,omitempty"`
	// PeerVariable is the address that sent the request to nginx
	// ($realip_remote_addr, or $proxy_protocol_addr behind a PROXY sender).
	PeerVariable string `json:"peerVariable,omitempty"`
}

// Server is one nginx server block: a host name and its locations.
type Server struct {
	// Name is the Ingress host ("foo.com", "*.foo.com"), or "" for the default server.
	Name string `json:"name"`
	// ServerName is the server_name argument: the host itself or, for a wildcard, a regex matching exactly one label.
	ServerName string `json:"serverName"`
	// Snippet are the server-snippet directives of the host's oldest Ingress
	// that has one, from a namespace the operator allows.
	Snippet []*ngxconf.Directive `json:"snippet,omitempty"`
	// SnippetSource is the Ingress Snippet came from ("ns/name").
	SnippetSource string `json:"snippetSource,omitempty"`
	// ClientCert requires client certificates on TLS connections, when set.
	ClientCert *ServerClientCert `json:"clientCert,omitempty"`
	// AuthEndpoints are internal locations that call external auth services, sorted by Path.
	AuthEndpoints []AuthEndpoint `json:"authEndpoints,omitempty"`
	// ErrorLocations are the named locations custom-http-errors sends answers to, sorted by Name.
	ErrorLocations []ErrorLocation `json:"errorLocations,omitempty"`
	// Aliases are more server_name values (server-alias), sorted.
	Aliases []string `json:"aliases,omitempty"`
	// TLS is set when some Ingress lists this host under spec.tls.
	TLS *ServerTLS `json:"tls,omitempty"`
	// Locations are sorted by Path, then Modifier.
	Locations []Location `json:"locations"`
}

// ServerTLS says which certificate a server presents and whether plain HTTP is redirected.
type ServerTLS struct {
	// CertificatePath is the PEM file holding the certificate chain and key.
	CertificatePath string `json:"certificatePath"`
	// RedirectHTTP sends plain HTTP requests to HTTPS with a 308.
	RedirectHTTP bool `json:"redirectHTTP"`
	// RedirectPort is ":PORT" when HTTPS is not on 443, else "".
	RedirectPort string `json:"redirectPort"`
	// Secret names the Secret the certificate came from ("ns/name"), or "" for the default certificate.
	Secret string `json:"secret,omitempty"`
}

// Location is one nginx location block and what it does.
type Location struct {
	// Modifier is the nginx match modifier: "=" for exact matches, "" for prefix
	// matches, "~" and "~*" for regular expressions (case-sensitive, -insensitive).
	Modifier string `json:"modifier"`
	// Path is the URI the location matches.
	Path string `json:"path"`
	// Source names the Ingress the location came from ("ns/name"), or "" for generated fallbacks.
	Source string `json:"source,omitempty"`
	// Route is the key of Config.Routes the Lua balancer uses for this
	// location, or "" when it does not proxy through the balancer.
	Route string `json:"route,omitempty"`
	// Vars are ingress-nginx's per-location variables for an Ingress's
	// location, or nil for generated ones (the http level's defaults).
	Vars *LocationVars `json:"vars,omitempty"`
	// Action is what nginx does with a matching request.
	Action Action `json:"action"`
	// Proxy holds the proxy settings the Ingress's annotations change, or
	// nil when they change none; empty fields keep the global values. A
	// pointer, shared by the Ingress's locations, because most Ingresses set
	// none and a location is copied and kept for every path of every host.
	Proxy *annotations.Proxy `json:"proxy,omitempty"`
	// Access holds the client allow and deny lists and rate limits of the
	// Ingress, or nil when it has none (a pointer for the same reason).
	Access *LocationAccess `json:"access,omitempty"`
	// Snippet are configuration-snippet directives, from a namespace the operator allows.
	Snippet []*ngxconf.Directive `json:"snippet,omitempty"`
	// SnippetProxyHeaders is set when Snippet holds proxy_set_header: nginx
	// then inherits none of the http level's, so the location repeats
	// Portico's request headers (Host, X-Forwarded-*...) itself.
	SnippetProxyHeaders bool `json:"snippetProxyHeaders,omitempty"`
	// SnippetGRPCHeaders is set when Snippet holds grpc_set_header: the
	// location then repeats the trace context headers the http level sets
	// for gRPC backends, or a client's unchecked traceparent would reach them.
	SnippetGRPCHeaders bool `json:"snippetGRPCHeaders,omitempty"`
	// BasicAuth asks for a user and password, when set.
	BasicAuth *BasicAuth `json:"basicAuth,omitempty"`
	// ExternalAuth asks an auth service about each request, when set.
	ExternalAuth *ExternalAuth `json:"externalAuth,omitempty"`
	// EscapedRequestURI defines $escaped_request_uri (the request URI,
	// percent-encoded) before the location's redirects use it.
	EscapedRequestURI bool `json:"escapedRequestURI,omitempty"`
	// RequireClientCert refuses (403) requests without a verified client certificate, plain HTTP included.
	RequireClientCert bool `json:"requireClientCert,omitempty"`
	// SetHeaders are extra headers for the backend, each a name and an nginx variable.
	SetHeaders []SetHeader `json:"setHeaders,omitempty"`
	// ResponseHeaders are added to every response (custom-headers), sorted by name.
	ResponseHeaders []HeaderValue `json:"responseHeaders,omitempty"`
	// Rewrite changes the request path before it is proxied, when set.
	Rewrite *Rewrite `json:"rewrite,omitempty"`
	// UpstreamHost replaces the Host header sent to the backend, when set.
	UpstreamHost string `json:"upstreamHost,omitempty"`
	// XForwardedPrefix is sent as X-Forwarded-Prefix, when set.
	XForwardedPrefix string `json:"xForwardedPrefix,omitempty"`
	// AccessLogOff turns the access log off for this location.
	AccessLogOff bool `json:"accessLogOff,omitempty"`
	// CORS adds cross-origin headers and answers preflights, when set.
	CORS *LocationCORS `json:"cors,omitempty"`
	// ModSecurity runs the ModSecurity WAF on the location, when set.
	ModSecurity *LocationModSecurity `json:"modSecurity,omitempty"`
	// HSTS repeats the server's Strict-Transport-Security header: a location
	// with its own add_header directives does not inherit the server's.
	HSTS string `json:"hsts,omitempty"`
	// ProxySSL is how nginx checks and authenticates to an HTTPS or GRPCS backend, when set.
	ProxySSL *ProxySSL `json:"proxySSL,omitempty"`
	// ErrorPages replace backend answers with these codes by an ErrorLocation's (custom-http-errors).
	ErrorPages []ErrorPage `json:"errorPages,omitempty"`
	// RedirectHTTPS sends plain HTTP requests to HTTPS with a 308.
	RedirectHTTPS bool `json:"redirectHTTPS,omitempty"`
	// RedirectPort is ":PORT" when HTTPS is not on 443, else "".
	RedirectPort string `json:"redirectPort,omitempty"`
}

// LocationVars are the values of ingress-nginx's per-location variables
// ($namespace, $ingress_name, $service_name, $service_port,
// $proxy_upstream_name), which log formats and snippets written for
// ingress-nginx read. Each is a Kubernetes name, a port or both joined by
// "-", never "$"... except in a shared server block, where each may be an
// nginx variable ("$portico_...") set by a map on $host (pkg/render).
type LocationVars struct {
	// Namespace is the Ingress's namespace.
	Namespace string `json:"namespace"`
	// Ingress is the Ingress's name.
	Ingress string `json:"ingress"`
	// Service is the backend Service's name, or "" when there is none.
	Service string `json:"service"`
	// ServicePort is the backend port as the Ingress names it (number or name), or "".
	ServicePort string `json:"servicePort"`
	// Upstream is ingress-nginx's name of the backend, "namespace-service-port",
	// or "" when there is none.
	Upstream string `json:"upstream"`
	// Path is the Ingress path the location serves, as the Ingress has it
	// (ingress-nginx's $location_path, the path label of the request
	// metrics); "" for a default backend. Not printed in nginx.conf.
	Path string `json:"path,omitempty"`
}

// LocationAccess is who may use a location and how fast, render-ready.
type LocationAccess struct {
	// Deny are networks refused first.
	Deny []string `json:"deny,omitempty"`
	// Allow are networks allowed; DenyAll then refuses everyone else.
	Allow []string `json:"allow,omitempty"`
	// DenyAll ends an allow list.
	DenyAll bool `json:"denyAll,omitempty"`
	// LimitReq are the request-rate limits (limit_req).
	LimitReq []LimitReq `json:"limitReq,omitempty"`
	// LimitConn is the connection limit (limit_conn), if any.
	LimitConn *LimitConn `json:"limitConn,omitempty"`
}

// Rewrite is an nginx rewrite ... break: Regex is matched against the
// path and Replacement (with $1..$9) replaces it.
type Rewrite struct {
	// Regex is the case-insensitive pattern, "(?i)^" and the Ingress path.
	Regex string `json:"regex"`
	// Replacement is rewrite-target.
	Replacement string `json:"replacement"`
	// Redirect answers a 302 to Replacement, an absolute URL, instead of
	// changing the path ("rewrite ... redirect" rather than "... break").
	Redirect bool `json:"redirect,omitempty"`
}

// LocationCORS is the render-ready CORS policy of a location.
type LocationCORS struct {
	// AllowOrigin is "*", one origin, or a variable set by an OriginMap.
	AllowOrigin string `json:"allowOrigin"`
	// AllowMethods is the Access-Control-Allow-Methods value.
	AllowMethods string `json:"allowMethods"`
	// AllowHeaders is the Access-Control-Allow-Headers value.
	AllowHeaders string `json:"allowHeaders"`
	// ExposeHeaders is the Access-Control-Expose-Headers value, or "".
	ExposeHeaders string `json:"exposeHeaders,omitempty"`
	// AllowCredentials sends Access-Control-Allow-Credentials: true.
	AllowCredentials bool `json:"allowCredentials"`
	// MaxAge is the Access-Control-Max-Age value.
	MaxAge string `json:"maxAge"`
}

// OriginMap sets Variable to the request's Origin when it is one of Origins, else "".
type OriginMap struct {
	// Variable is derived from a hash, never from user text.
	Variable string `json:"variable"`
	// Origins are the allowed origins.
	Origins []string `json:"origins"`
}

// LimitReq applies one request-rate zone with a burst.
type LimitReq struct {
	// Zone is the limit_req_zone name.
	Zone string `json:"zone"`
	// Burst is how many requests may exceed the rate before nginx refuses them.
	Burst int `json:"burst"`
}

// LimitConn applies one connection zone.
type LimitConn struct {
	// Zone is the limit_conn_zone name.
	Zone string `json:"zone"`
	// Connections is the limit per key.
	Connections int `json:"connections"`
}

// LimitZone is an http-level shared memory zone for rate or connection limits.
// Names and variables are derived from a hash, never from user text.
type LimitZone struct {
	// Name is the zone name.
	Name string `json:"name"`
	// Key is the variable limits are counted by.
	Key string `json:"key"`
	// Rate is "Nr/s" or "Nr/m" for request zones; "" for connection zones.
	Rate string `json:"rate,omitempty"`
}

// LimitExempt maps client networks to an empty limit key, so limits skip them.
type LimitExempt struct {
	// Geo is the variable set to 1 for exempt clients.
	Geo string `json:"geo"`
	// Key is the variable used as the zone key: empty for exempt clients.
	Key string `json:"key"`
	// Networks are the exempt CIDRs.
	Networks []string `json:"networks"`
}

// Action is exactly one of: proxy to an upstream, proxy to an external name, or return a status.
type Action struct {
	// Upstream is the name of the upstream pool to proxy to.
	Upstream string `json:"upstream,omitempty"`
	// ExternalHost is the externalName of an ExternalName Service backend,
	// whose pool (Upstream) holds the checked addresses it resolves to. It
	// is the default proxy_ssl_name (the name checked and sent as SNI) for
	// an HTTPS backend, which the pool's name would otherwise be.
	ExternalHost string `json:"externalHost,omitempty"`
	// Pass is the directive that forwards the request: "proxy_pass" or "grpc_pass".
	Pass string `json:"pass,omitempty"`
	// ProxyPass is the argument of Pass for Upstream.
	ProxyPass string `json:"proxyPass,omitempty"`
	// ReturnURL is the redirect target when Return is a redirect status.
	ReturnURL string `json:"returnURL,omitempty"`
	// Return is the status code nginx answers itself when there is nothing to proxy to.
	Return int `json:"return,omitempty"`
	// Service is the backend Service ("ns/name:port"), for comments and debugging.
	Service string `json:"service,omitempty"`
	// Balance is the Lua balancer's method: "round_robin" (""), "least_conn" or "ewma".
	Balance string `json:"balance,omitempty"`
	// HashBy is the consistent-hash key (nginx variables) for the Lua balancer, or "".
	HashBy string `json:"hashBy,omitempty"`
	// Affinity is cookie session affinity for the Lua balancer, when set.
	Affinity *RouteAffinity `json:"affinity,omitempty"`
	// Canary sends some requests to another Service (Lua balancer), when set.
	Canary *RouteCanary `json:"canary,omitempty"`
	// Fallback is the upstream that answers while Upstream has no ready
	// endpoints (default-backend annotation, Lua balancer), or "".
	Fallback string `json:"fallback,omitempty"`
	// Phases are the Lua hooks the location runs besides the balancer
	// (Lua balancer), set with its route.
	Phases LuaPhases `json:"phases,omitempty"`
}

// LuaPhases says which per-request Lua hooks a location needs on top of
// the balancer. Each hook costs a microsecond or so of worker CPU per
// request even when it does nothing, so only the locations that need one
// run it.
type LuaPhases struct {
	// Rewrite chooses the backend in the rewrite phase, answering 503
	// itself when there is none: for backends that speak gRPC or TLS, which
	// the plain-HTTP 503 server (Global.UnavailableListen) cannot answer.
	// Other locations choose in the balancer phase, without this hook.
	Rewrite bool `json:"rewrite,omitempty"`
	// HeaderFilter sets the session affinity cookie (affinity: cookie).
	HeaderFilter bool `json:"headerFilter,omitempty"`
	// Log feeds response times to ewma and ends least_conn's count.
	Log bool `json:"log,omitempty"`
}

// Upstream is a pool of endpoints for one Service port.
type Upstream struct {
	// Name identifies the pool: "namespace.service.port".
	Name string `json:"name"`
	// Endpoints are "ip:port" or "[ipv6]:port", sorted and unique.
	Endpoints []string `json:"endpoints"`
	// Hash is the consistent-hash key (upstream-hash-by), or "".
	Hash string `json:"hash,omitempty"`
	// LeastConn picks the endpoint with the fewest active connections.
	LeastConn bool `json:"leastConn,omitempty"`
	// Namespace, Service and PortName say where the endpoints come from
	// (EndpointSlices of the Service, port by name), so they can be read
	// again without building the model.
	Namespace string `json:"namespace,omitempty"`
	Service   string `json:"service,omitempty"`
	PortName  string `json:"portName,omitempty"`
	// ClusterIP is set when the endpoints are the Service's cluster IPs
	// (service-upstream), not its EndpointSlices.
	ClusterIP bool `json:"clusterIP,omitempty"`
	// ExternalName and ExternalPort are set instead of PortName for an
	// ExternalName Service: the endpoints are the address ExternalName is,
	// or the addresses it resolves to (snapshot.Resolved), with ExternalPort.
	ExternalName string `json:"externalName,omitempty"`
	ExternalPort uint16 `json:"externalPort,omitempty"`
	// Refused are the addresses the AddressPolicy dropped, "ip:port (why)",
	// sorted: for the finding, and so that a change in them asks for one.
	Refused []string `json:"refused,omitempty"`
}

// Certificate is a file nginx needs on disk: certificate chain and private key in one PEM.
type Certificate struct {
	// Path is where the file must be written (mode 0600).
	Path string `json:"path"`
	// PEM is the file content; it holds key material and never prints or marshals.
	PEM Sensitive `json:"pem"`
	// Secret is the TLS Secret ("namespace/name") the key pair came from,
	// "" for files of other kinds (CA bundles, backend client pairs).
	Secret string `json:"secret,omitempty"`
	// SecretUID is the UID of that Secret when the pair was accepted: a
	// Secret deleted and made again is another object, which does not
	// inherit the old one's pair (Options.LastCertificates).
	SecretUID string `json:"-"`
	// NotAfter is when the first certificate of the chain expires (zero for
	// files of other kinds).
	NotAfter time.Time `json:"notAfter,omitzero"`
	// Info is the public data of the chain's first certificate, read when
	// the pair is accepted, for the ssl_certificate_info series (zero for
	// files of other kinds). Not marshalled: the config's JSON is unchanged.
	Info certs.Identity `json:"-"`
}

// SecretFile is a file made from Secret data that nginx workers read.
type SecretFile struct {
	// Path is where the file must be written (mode 0600, owned by the workers).
	Path string `json:"path"`
	// Content never prints or marshals.
	Content Sensitive `json:"content"`
}

// ExternalAuth is auth_request to an AuthEndpoint of the same server.
type ExternalAuth struct {
	// Endpoint is the internal location's path.
	Endpoint string `json:"endpoint"`
	// SignIn is the redirect for 401 answers (the user's URL plus rd=, which nginx expands), or "".
	SignIn string `json:"signIn,omitempty"`
	// Headers are copied from the auth answer to the proxied request.
	Headers []AuthHeader `json:"headers,omitempty"`
	// AlwaysSetCookie passes the auth answer's Set-Cookie on every
	// response (auth-always-set-cookie), not only on 2xx and 3xx.
	AlwaysSetCookie bool `json:"alwaysSetCookie,omitempty"`
}

// AuthHeader copies one auth response header: auth_request_set Variable
// Upstream, then proxy_set_header Name Variable. Variables come from an index.
type AuthHeader struct {
	// Name is the header name.
	Name string `json:"name"`
	// Variable holds the value between the subrequest and the proxy.
	Variable string `json:"variable"`
	// Upstream is nginx's $upstream_http_* variable for the header.
	Upstream string `json:"upstream"`
}

// SetHeader is a backend request header whose value is an nginx variable.
type SetHeader struct {
	// Name is the header name (validated).
	Name string `json:"name"`
	// Variable is an nginx variable chosen by the model, never user text.
	Variable string `json:"variable"`
}

// HeaderValue is a response header, both parts validated.
type HeaderValue struct {
	// Name is the header name.
	Name string `json:"name"`
	// Value is the header value, printed back from its parsed parts
	// (pkg/ngxvar): literals without "$", and allowlisted variables as
	// ${name}, which nginx expands.
	Value string `json:"value"`
}

// ServerClientCert is mutual TLS for a server.
type ServerClientCert struct {
	// CAFile is the PEM file of the trusted CAs.
	CAFile string `json:"caFile"`
	// Verify is ssl_verify_client's value.
	Verify string `json:"verify"`
	// Depth is ssl_verify_depth.
	Depth int `json:"depth"`
	// Source is the Ingress that set it ("ns/name").
	Source string `json:"source"`
}

// AuthEndpoint is an internal location that forwards the auth subrequest.
type AuthEndpoint struct {
	// Path is the internal location's path, derived from a hash.
	Path string `json:"path"`
	// URL is the auth service; nginx resolves it per request.
	URL string `json:"url"`
	// Method is proxy_method, or "" for GET.
	Method string `json:"method,omitempty"`
	// Upstream is the pool URL's host names (auth-keepalive), or nil
	// when nginx connects per request; Config.AuthUpstreams lists it.
	Upstream *AuthUpstream `json:"upstream,omitempty"`
	// Host is the Host header with an Upstream: the host[:port] auth-url
	// names (nginx would send the upstream's name).
	Host string `json:"host,omitempty"`
	// RequestRedirect is X-Auth-Request-Redirect (auth-request-redirect,
	// allowlisted variables), or "" for the request URI.
	RequestRedirect string `json:"requestRedirect,omitempty"`
	// SetHeaders are sent to the auth service (auth-proxy-set-headers),
	// sorted by name; values hold no "$".
	SetHeaders []HeaderValue `json:"setHeaders,omitempty"`
	// Cache caches the auth answers (auth-cache-key), when set.
	Cache *AuthCache `json:"cache,omitempty"`
}

// AuthCache is proxy_cache in the shared auth cache zone (Config.AuthCacheZone).
type AuthCache struct {
	// Key is proxy_cache_key: a hash of the Ingress's namespace and name,
	// the request's host and the user's key (allowlisted variables), so
	// that no Ingress reads or fills another's entries.
	Key string `json:"key"`
	// Valid are the proxy_cache_valid lines.
	Valid []AuthCacheValid `json:"valid"`
}

// AuthCacheValid is one proxy_cache_valid: status codes and a time.
type AuthCacheValid struct {
	// Codes are status codes or "any"; none means 200, 301 and 302.
	Codes []string `json:"codes,omitempty"`
	// Time is an nginx time ("5m").
	Time string `json:"time"`
}

// AuthUpstream is an upstream block with idle connections to one auth
// service (auth-keepalive), one per Ingress: pools are never shared.
type AuthUpstream struct {
	// Name is "portico_auth_" and the SHA-256 of the Ingress's namespace and name.
	Name string `json:"name"`
	// Server is an IP address and port: nginx -t never resolves a name here.
	Server string `json:"server"`
	// Keepalive is the number of idle connections per worker.
	Keepalive int `json:"keepalive"`
	// Requests is keepalive_requests.
	Requests int `json:"requests"`
	// Timeout is keepalive_timeout, as an nginx time.
	Timeout string `json:"timeout"`
}

// ProxySSL is the backend TLS settings of a location (proxy-ssl family).
type ProxySSL struct {
	// Module is "proxy" or "grpc", chosen by the model from the pass
	// directive: it prefixes the _ssl_* directive names.
	Module string `json:"module"`
	// TrustedCertificate is the PEM file of the CAs backends are checked against, or "".
	TrustedCertificate string `json:"trustedCertificate,omitempty"`
	// Certificate is the PEM file (chain and key) presented to backends, or "".
	Certificate string `json:"certificate,omitempty"`
	// Verify is "on" or "off".
	Verify string `json:"verify"`
	// Name is the checked name and SNI, or "" for nginx's default (the upstream name).
	Name string `json:"name,omitempty"`
	// ServerName is "on" or "off".
	ServerName string `json:"serverName"`
}

// ErrorPage is error_page Code = Location, for answers intercepted from the backend.
type ErrorPage struct {
	// Code is the status code, 400 to 599.
	Code int `json:"code"`
	// Location is the ErrorLocation's name.
	Location string `json:"location"`
}

// ErrorLocation is a named location that asks an Ingress's default backend
// for the answer to an intercepted error, as ingress-nginx's custom error
// pages do: the code and the request travel in X-* headers.
type ErrorLocation struct {
	// Name is "@portico_err_" with a hash of the Ingress and the code, never user text.
	Name string `json:"name"`
	// Route is the Lua balancer's key for this location, or "" (see Location.Route).
	Route string `json:"route,omitempty"`
	// Code is sent as X-Code.
	Code int `json:"code"`
	// Namespace, Ingress and Service (the default backend's) are sent as X-Namespace, X-Ingress-Name and X-Service-Name.
	Namespace string `json:"namespace"`
	Ingress   string `json:"ingress"`
	Service   string `json:"service"`
	// Action proxies to the default backend, or returns a status when it has no endpoints.
	Action Action `json:"action"`
}

// BasicAuth is auth_basic with its user file.
type BasicAuth struct {
	// Realm is the auth_basic text.
	Realm string `json:"realm"`
	// File is the htpasswd file path.
	File string `json:"file"`
}

// Sensitive is key material. It formats, logs and marshals as a placeholder so
// that it cannot leak through debug output, logs or events by accident.
type Sensitive []byte

const redacted = "[redacted]"

// String returns a placeholder, never the bytes.
func (Sensitive) String() string { return redacted }

// GoString returns a placeholder, never the bytes.
func (Sensitive) GoString() string { return redacted }

// Format prints a placeholder for every verb, including %x and %v.
func (Sensitive) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON writes a placeholder, never the bytes.
func (Sensitive) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// LogValue keeps key material out of structured logs.
func (Sensitive) LogValue() slog.Value { return slog.StringValue(redacted) }

// ObjectRef names the Kubernetes object a finding is about.
type ObjectRef struct {
	// Kind is the object kind, e.g. "Ingress".
	Kind string `json:"kind"`
	// Namespace is empty for cluster-scoped objects.
	Namespace string `json:"namespace,omitempty"`
	// Name is the object name.
	Name string `json:"name"`
	// UID identifies the object for Kubernetes Events; "" when the source has none.
	UID string `json:"uid,omitempty"`
}

// String returns "Kind namespace/name".
func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// Finding is something wrong with the input that the model worked around.
// The controller turns findings into Warning events on the object.
type Finding struct {
	// Object is the object the finding is about.
	Object ObjectRef `json:"object"`
	// Reason is a short CamelCase cause, e.g. "ServiceNotFound".
	Reason string `json:"reason"`
	// Severity says what became of the object as written.
	Severity Severity `json:"severity"`
	// Message says what is wrong and how to fix it.
	Message string `json:"message"`
}

// Severity says what a finding did to the object it is about, so that a
// report can tell "served with a warning" from "not served" without
// knowing every reason.
type Severity string

const (
	// Served: the object is served as written; something it refers to is
	// missing or refused (a Service that does not exist answers 503 until
	// it does, as Kubernetes objects may arrive in any order).
	Served Severity = "Served"
	// PartlyServed: the object is served without what the finding names
	// (a path an older Ingress routes, an unknown annotation, an option
	// value kept at its default).
	PartlyServed Severity = "PartlyServed"
	// NotServed: nothing of the object as written is served: an invalid
	// annotation, a security control that cannot be honoured (its requests
	// are refused with 503 or 403: controls fail closed), or every path
	// left out.
	NotServed Severity = "NotServed"
)

// Rank orders severities from Served (0) to NotServed (2), for picking the worst.
func (s Severity) Rank() int {
	switch s {
	case NotServed:
		return 2
	case PartlyServed:
		return 1
	default:
		return 0
	}
}

// String formats the finding for logs and the render command's stderr.
func (f Finding) String() string {
	return fmt.Sprintf("%s: %s: %s", f.Object, f.Reason, f.Message)
}

// Finding reasons, stable strings operators can filter events on.
const (
	ReasonConflict           = "Conflict"
	ReasonServiceNotFound    = "ServiceNotFound"
	ReasonPortNotFound       = "ServicePortNotFound"
	ReasonInvalidHost        = "InvalidHost"
	ReasonInvalidPath        = "InvalidPath"
	ReasonInvalidBackend     = "InvalidBackend"
	ReasonSecretNotFound     = "SecretNotFound"
	ReasonInvalidCertificate = "InvalidCertificate"
	ReasonInvalidOption      = "InvalidOption"
	// ReasonUnknownOption: a key of the options ConfigMap Portico does not
	// know; it is ignored (a typo, or an ingress-nginx key not implemented).
	ReasonUnknownOption = "UnknownOption"
	// ReasonIneffectiveOption: valid options that cannot take effect
	// together (a setting without the one it needs).
	ReasonIneffectiveOption = "IneffectiveOption"
	ReasonConfigMapNotFound = "ConfigMapNotFound"
	ReasonInvalidAnnotation = "InvalidAnnotation"
	// ReasonIneffectiveAnnotation: a valid annotation that cannot take effect
	// where it is: ignored, or, for a security control, failing closed.
	ReasonIneffectiveAnnotation = "IneffectiveAnnotation"
	// ReasonInvalidProxySSL: backend TLS settings that cannot be honoured; the paths fail closed (503).
	ReasonInvalidProxySSL   = "InvalidProxySSL"
	ReasonUnknownAnnotation = "UnknownAnnotation"
	// ReasonUnsupportedSecurityAnnotation: an annotation Portico does not
	// implement that asks for a security control (auth, allowlist, rate
	// limit, TLS verification, WAF); the Ingress is not served without it.
	ReasonUnsupportedSecurityAnnotation = "UnsupportedSecurityAnnotation"
	// ReasonConflictingAnnotation: both spellings of a renamed annotation
	// (whitelist/allowlist-source-range, limit-whitelist/-allowlist,
	// blacklist/denylist-source-range) with different values; the current
	// name wins (PartlyServed).
	ReasonConflictingAnnotation = "ConflictingAnnotation"
	// ReasonIgnoredAnnotationValue: an invalid plain value of a key that
	// falls back to its default, as in ingress-nginx (PartlyServed).
	ReasonIgnoredAnnotationValue = "IgnoredAnnotationValue"
	ReasonInvalidAuthSecret      = "InvalidAuthSecret"
	ReasonSnippetNotAllowed      = "SnippetNotAllowed"
	// ReasonHostNotOwned: rules or host-wide settings of an Ingress for a
	// host another namespace owns; they are not served (owners.go).
	ReasonHostNotOwned = "HostNotOwned"
	// ReasonOverLimit: an object over one of the Limits; it is not served.
	ReasonOverLimit = "OverLimit"
	// ReasonNginxRejected: nginx -t refused the lines an Ingress makes; it
	// is left out (Options.Excluded) so that the rest can go live.
	ReasonNginxRejected = "NginxRejected"
	// ReasonBackendAddressRefused: a backend address that would reach the
	// controller's own Pod (AddressPolicy) is dropped; the others serve.
	ReasonBackendAddressRefused = "BackendAddressRefused"
	// ReasonInvalidSecretKeptLastGood: a TLS Secret whose content turned
	// invalid; its last accepted key pair keeps serving (PartlyServed).
	ReasonInvalidSecretKeptLastGood = "InvalidSecretKeptLastGood"
	// ReasonCertificateExpired: a TLS Secret's certificate has expired
	// (Options.Now). Its last accepted pair serves instead while that one
	// is valid, or else a valid --default-ssl-certificate made for the
	// hosts (PartlyServed); with nothing better the expired certificate
	// keeps serving, and the finding says so (Served: nothing of the
	// Ingress is dropped, clients see an expired certificate).
	ReasonCertificateExpired = "CertificateExpired"
	// ReasonCertificateExpiresSoon: a served certificate expires within
	// Options.CertificateExpiryWarning (Served).
	ReasonCertificateExpiresSoon = "CertificateExpiresSoon"
)
