package annotations

import (
	"sort"
	"strings"

	"github.com/portico-ingress/portico/pkg/ngxconf"
)

// The snippet allowlist (issue 10, class 6). A snippet may only hold the
// directives below, each where nginx allows it and Portico wants it, with
// arguments its checker accepts. Every entry has to be safe for a namespace
// that owns its own hosts and nothing else: it acts on requests for those
// hosts only, reads no file, runs no code, reaches no address of its own
// choosing, writes no variable Portico or another Ingress reads, and never
// makes nginx -t fail (a refused config stops every later reload, other
// tenants' changes included). docs/snippets.md is generated from this table
// and from refusedDirectives.

// snippetContext is where a directive of a snippet stands, as a bit set.
type snippetContext uint8

// Snippet contexts. They follow nginx's own (SRV, LOC, SIF, LIF, LMT) and
// split LOC in two: the Ingress's own locations, which proxy to its
// backends, and the locations a server-snippet defines, which cannot.
const (
	// inServer is the top level of a server-snippet (nginx's server block).
	inServer snippetContext = 1 << iota
	// inLocation is the top level of a configuration-snippet: a location
	// of the Ingress, which proxies to its backends or answers itself.
	inLocation
	// inSnippetLocation is inside a location block of a server-snippet.
	inSnippetLocation
	// inServerIf is inside an if block of a server-snippet's top level.
	inServerIf
	// inLocationIf is inside an if block in a location.
	inLocationIf
	// inLimitExcept is inside a limit_except block.
	inLimitExcept
)

// Context groups used by the table.
const (
	anyLocation = inLocation | inSnippetLocation
	// proxying are where proxy_* settings take effect: the Ingress's
	// locations and the server level they inherit from. A server-snippet's
	// own locations cannot proxy, so proxy settings there would do nothing.
	proxying  = inServer | inLocation
	serverLoc = inServer | anyLocation
	rewriting = inServer | anyLocation | inServerIf | inLocationIf
)

// contextNames name the contexts in errors and docs.
var contextNames = []struct {
	ctx  snippetContext
	name string
}{
	{inServer, "server"},
	{inLocation, "location"},
	{inSnippetLocation, "server-snippet location"},
	{inServerIf, "if (server)"},
	{inLocationIf, "if (location)"},
	{inLimitExcept, "limit_except"},
}

// String lists the contexts in c, comma separated.
func (c snippetContext) String() string {
	var names []string
	for _, n := range contextNames {
		if c&n.ctx != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ", ")
}

// directiveRule is what a snippet may do with one directive.
type directiveRule struct {
	// contexts are where the directive may stand.
	contexts snippetContext
	// minArgs and maxArgs bound the number of arguments; maxArgs 0 means
	// no bound and noArgs none at all.
	minArgs, maxArgs int
	// check checks the arguments and may replace them by a canonical form
	// (a regex by the pattern printed from its tree); nil means none.
	check func(*snippetCheck, *directive) error
	// block, when set, says the directive takes a block and gives the
	// context of the directives inside, from the directive's own context.
	block func(snippetContext) snippetContext
	// repeat says the directive may appear more than once in one block;
	// nginx refuses a second one of the others ("is duplicate").
	repeat bool
	// example is a valid argument list, shown in the docs and run through
	// nginx -t in every context the rule allows (pkg/render).
	example string
	// args describes the arguments for the docs.
	args string
}

// noArgs is maxArgs for a directive that takes no argument.
const noArgs = -1

// onOffRule is a directive that takes on or off, in contexts ctx.
func onOffRule(ctx snippetContext) directiveRule {
	return directiveRule{contexts: ctx, minArgs: 1, maxArgs: 1, check: argsEach(onOffArg), example: "on", args: "on or off"}
}

// timeRule is a directive that takes one nginx time, in contexts ctx.
func timeRule(ctx snippetContext) directiveRule {
	return directiveRule{contexts: ctx, minArgs: 1, maxArgs: 1, check: argsEach(timeout), example: "30s",
		args: "an nginx time (30s, 1m30s, 500ms) up to " + maxTimeoutText}
}

// headerValueRule is add_header or add_trailer: a name, a value, "always".
func headerValueRule(ctx snippetContext, example string) directiveRule {
	return directiveRule{contexts: ctx, minArgs: 2, maxArgs: 3, check: addHeader, repeat: true, example: example,
		args: "a header name, a value (variables allowed, see below), and optionally always"}
}

// snippetRules is the allowlist: directive name -> rule.
var snippetRules = map[string]directiveRule{
	// Headers.
	"add_header":  headerValueRule(serverLoc|inLocationIf, `X-Frame-Options DENY always`),
	"add_trailer": headerValueRule(serverLoc|inLocationIf, `X-Served-By $hostname`),
	"proxy_set_header": {contexts: inLocation, minArgs: 2, maxArgs: 2, check: setHeader("proxy_set_header"), repeat: true,
		example: `X-Tenant-Request $request_id`,
		args:    "a header name other than those Portico sets (Host, X-Forwarded-*, X-Real-IP, X-Request-ID, X-Scheme, Upgrade, Connection, Proxy, traceparent, tracestate) and a value"},
	"grpc_set_header": {contexts: inLocation, minArgs: 2, maxArgs: 2, check: setHeader("grpc_set_header"), repeat: true,
		example: `X-Tenant $host`, args: "a header name other than traceparent and tracestate (Portico sets them) and a value"},
	// headers-more (Debian's libnginx-mod-http-headers-more-filter),
	// loaded only when a snippet uses it (model.Config.LoadHeadersMore).
	"more_set_headers": {contexts: serverLoc | inLocationIf, minArgs: 1, check: moreHeaders(false, true), repeat: true,
		example: `-s "200 404" -t text/plain "X-Frame-Options: DENY" "X-Served-By: $hostname"`,
		args:    `options -s "codes" and -t "MIME types", then headers "Name: value" (variables allowed, see below) or "Name" to clear; not framing headers (Content-Length, Transfer-Encoding, Connection...)`},
	"more_clear_headers": {contexts: serverLoc | inLocationIf, minArgs: 1, check: moreHeaders(false, false), repeat: true,
		example: `-t text/plain X-Powered-By "X-Hidden-*"`,
		args:    `options -s "codes" and -t "MIME types", then header names, which may end in *; not framing headers`},
	"more_set_input_headers": {contexts: serverLoc | inLocationIf, minArgs: 1, check: moreHeaders(true, true), repeat: true,
		example: `-r "X-Tenant: $host"`,
		args:    `options -r (replace only) and -t "MIME types", then headers "Name: value" or "Name"; not Host nor framing headers`},
	"more_clear_input_headers": {contexts: serverLoc | inLocationIf, minArgs: 1, check: moreHeaders(true, false), repeat: true,
		example: `X-Debug "X-Internal-*"`,
		args:    `option -t "MIME types", then header names, which may end in *; not Host nor framing headers`},
	"proxy_hide_header":    {contexts: proxying, minArgs: 1, maxArgs: 1, check: argsEach(headerNameArg), repeat: true, example: "X-Powered-By", args: "a header name"},
	"proxy_pass_header":    {contexts: proxying, minArgs: 1, maxArgs: 1, check: argsEach(headerNameArg), repeat: true, example: "Server", args: "a header name"},
	"proxy_ignore_headers": {contexts: proxying, minArgs: 1, check: argsEach(oneOf(ignorableHeaders...)), repeat: true, example: "X-Accel-Expires Expires", args: "any of " + strings.Join(ignorableHeaders, ", ")},
	"expires": {contexts: serverLoc | inLocationIf, minArgs: 1, maxArgs: 2, check: expires, example: "modified 1h",
		args: "[modified] a time (may be negative, or @ a time of day), epoch, max or off"},
	"etag":          onOffRule(serverLoc),
	"charset":       {contexts: serverLoc | inLocationIf, minArgs: 1, maxArgs: 1, check: argsEach(charsetName), example: "utf-8", args: "off or a charset name"},
	"default_type":  {contexts: serverLoc, minArgs: 1, maxArgs: 1, check: argsEach(mimeType), example: "application/json", args: "a MIME type"},
	"server_tokens": onOffRule(serverLoc),

	// Flow.
	"return": {contexts: rewriting, minArgs: 1, maxArgs: 2, check: returnArgs, repeat: true, example: `200 "ok $request_id"`,
		args: "a status code 100-599 and optionally a text or URL; or an http(s):// URL alone"},
	"rewrite": {contexts: rewriting, minArgs: 2, maxArgs: 3, check: rewriteArgs, repeat: true, example: `^/old/(.*)$ /new/$1 last`,
		args: "a regex (checked, printed with a match limit), a replacement, and optionally last, break, redirect or permanent"},
	"if": {contexts: inServer | anyLocation, minArgs: 1, maxArgs: 5, check: ifCondition, repeat: true, example: `($http_x_debug = "1")`,
		block: func(c snippetContext) snippetContext {
			if c == inServer {
				return inServerIf
			}
			return inLocationIf
		},
		args: "($variable), ($variable = value), ($variable != value) or ($variable ~ regex) with ~, ~*, !~, !~*; no file tests"},
	"set": {contexts: rewriting, minArgs: 2, maxArgs: 2, check: setVariable, repeat: true, example: `$tenant_flag "on"`,
		args: "a new variable $name (lower case, not an nginx or Portico variable) and a value"},
	"break": {contexts: rewriting, maxArgs: noArgs, repeat: true, args: "none"},
	"error_page": {contexts: serverLoc | inLocationIf, minArgs: 2, check: errorPage, repeat: true, example: `502 503 =200 /maintenance`,
		args: "codes 300-599, optionally =code, and a /URI, @name or http(s):// URL"},
	"internal": {contexts: anyLocation, maxArgs: noArgs, args: "none"},
	"location": {contexts: inServer, minArgs: 1, maxArgs: 2, check: locationArgs, repeat: true, example: `= /healthz`,
		block: func(snippetContext) snippetContext { return inSnippetLocation },
		args:  "= /path, ^~ /path, /path, ~ regex, ~* regex or @name; paths as Ingress paths allow, regexes checked"},
	"limit_except": {contexts: anyLocation, minArgs: 1, check: argsEach(oneOf(httpMethods...)), example: "GET",
		block: func(snippetContext) snippetContext { return inLimitExcept },
		args:  "HTTP methods; the block may hold allow and deny only"},

	// Proxy tuning.
	"proxy_connect_timeout":       timeRule(proxying),
	"proxy_read_timeout":          timeRule(proxying),
	"proxy_send_timeout":          timeRule(proxying),
	"proxy_next_upstream_timeout": timeRule(proxying),
	"proxy_buffering":             onOffRule(proxying),
	"proxy_request_buffering":     onOffRule(proxying),
	"proxy_intercept_errors":      onOffRule(proxying),
	"proxy_pass_request_headers":  onOffRule(proxying),
	"proxy_pass_request_body":     onOffRule(proxying),
	"proxy_ssl_server_name":       onOffRule(proxying),
	"proxy_buffer_size": {contexts: proxying, minArgs: 1, maxArgs: 1, check: argsEach(bufferSize), example: "16k",
		args: "a size from 1k to 9m; only together with proxy_buffers and proxy_busy_buffers_size (see below)"},
	"proxy_buffers": {contexts: proxying, minArgs: 2, maxArgs: 2, check: proxyBuffers, example: "4 16k",
		args: "a number from 2 to 64 and a size from 1k to 9m, at most 36m in all"},
	"proxy_busy_buffers_size": {contexts: proxying, minArgs: 1, maxArgs: 1, check: argsEach(bufferSize), example: "32k",
		args: "a size from 1k to 9m"},
	"proxy_http_version": {contexts: proxying, minArgs: 1, maxArgs: 1, check: argsEach(oneOf("1.0", "1.1")), example: "1.1", args: "1.0 or 1.1"},
	"proxy_next_upstream": {contexts: proxying, minArgs: 1, check: nextUpstream, example: "error timeout http_502",
		args: "conditions: " + strings.Join(nextUpstreamConditions, ", ")},
	"proxy_next_upstream_tries": {contexts: proxying, minArgs: 1, maxArgs: 1, check: argsEach(intRange(0, 100)), example: "2", args: "0 to 100"},
	"proxy_redirect": {contexts: proxying, minArgs: 1, maxArgs: 2, check: offOrPair("proxy_redirect"), repeat: true, example: `http://backend/ /`,
		args: "off, or a literal prefix and its replacement (no ~ regex, no default)"},
	"proxy_cookie_domain": {contexts: proxying, minArgs: 1, maxArgs: 2, check: offOrPair("proxy_cookie_domain"), repeat: true, example: "backend.local example.com",
		args: "off, or a literal domain and its replacement (no ~ regex)"},
	"proxy_cookie_path": {contexts: proxying, minArgs: 1, maxArgs: 2, check: offOrPair("proxy_cookie_path"), repeat: true, example: "/app/ /",
		args: "off, or a literal path and its replacement (no ~ regex)"},
	"proxy_cookie_flags": {contexts: proxying, minArgs: 1, check: cookieFlags, repeat: true, example: "session secure httponly samesite=lax",
		args: "off, or a cookie name and flags: " + strings.Join(cookieFlagValues, ", ")},
	"proxy_max_temp_file_size": {contexts: proxying, minArgs: 1, maxArgs: 1, check: argsEach(maxTempFileSize), example: "0",
		args: "0, or a size of at least 10m (nginx refuses one below the largest buffer)"},
	"proxy_method":   {contexts: proxying, minArgs: 1, maxArgs: 1, check: argsEach(methodToken), example: "POST", args: "an HTTP method in capitals"},
	"proxy_set_body": {contexts: proxying, minArgs: 1, maxArgs: 1, check: argsEach(value), example: `"{}"`, args: "a value"},
	"proxy_ssl_name": {contexts: proxying, minArgs: 1, maxArgs: 1, check: argsEach(value), example: "$host", args: "a value"},

	// Client side.
	"client_max_body_size":        {contexts: serverLoc, minArgs: 1, maxArgs: 1, check: argsEach(offset), example: "20m", args: "a size (k, m, g); 0 for no limit"},
	"client_body_buffer_size":     {contexts: serverLoc, minArgs: 1, maxArgs: 1, check: argsEach(bufferSize), example: "64k", args: "a size from 1k to 9m"},
	"client_body_timeout":         timeRule(serverLoc),
	"client_header_timeout":       timeRule(inServer),
	"keepalive_timeout":           {contexts: serverLoc, minArgs: 1, maxArgs: 2, check: keepaliveTimeout, example: "30s 25s", args: "a time and optionally the Keep-Alive header's time"},
	"send_timeout":                timeRule(serverLoc),
	"large_client_header_buffers": {contexts: inServer, minArgs: 2, maxArgs: 2, check: headerBuffers, example: "4 16k", args: "a number from 1 to 16 and a size from 1k to 64k"},
	"chunked_transfer_encoding":   onOffRule(serverLoc),
	"if_modified_since":           {contexts: serverLoc, minArgs: 1, maxArgs: 1, check: argsEach(oneOf("off", "exact", "before")), example: "before", args: "off, exact or before"},
	"ignore_invalid_headers":      onOffRule(inServer),

	// Access.
	"allow":             {contexts: serverLoc | inLimitExcept, minArgs: 1, maxArgs: 1, check: argsEach(accessAddress), repeat: true, example: "10.0.0.0/8", args: "an IP address, a CIDR, unix: or all"},
	"deny":              {contexts: serverLoc | inLimitExcept, minArgs: 1, maxArgs: 1, check: argsEach(accessAddress), repeat: true, example: "all", args: "an IP address, a CIDR, unix: or all"},
	"satisfy":           {contexts: serverLoc, minArgs: 1, maxArgs: 1, check: argsEach(oneOf("all", "any")), example: "any", args: "all or any"},
	"limit_rate":        {contexts: serverLoc | inLocationIf, minArgs: 1, maxArgs: 1, check: argsEach(rateSize), example: "500k", args: "a size per second (k, m); 0 for no limit"},
	"limit_rate_after":  {contexts: serverLoc | inLocationIf, minArgs: 1, maxArgs: 1, check: argsEach(rateSize), example: "1m", args: "a size (k, m)"},
	"real_ip_header":    {contexts: serverLoc, minArgs: 1, maxArgs: 1, check: argsEach(headerNameArg), example: "X-Forwarded-For", args: "a header name"},
	"set_real_ip_from":  {contexts: serverLoc, minArgs: 1, maxArgs: 1, check: argsEach(realIPFrom), repeat: true, example: "192.0.2.0/24", args: "an IP address, a CIDR or unix: (no host names: nginx would resolve them)"},
	"real_ip_recursive": onOffRule(serverLoc),

	// Compression and body filters.
	"gzip":            {contexts: serverLoc | inLocationIf, minArgs: 1, maxArgs: 1, check: argsEach(onOffArg), example: "on", args: "on or off"},
	"gzip_types":      {contexts: serverLoc, minArgs: 1, check: argsEach(mimeTypeOrStar), repeat: true, example: "application/json text/css", args: "MIME types or *"},
	"gzip_min_length": {contexts: serverLoc, minArgs: 1, maxArgs: 1, check: argsEach(rateSize), example: "1k", args: "a size (k, m)"},
	"gzip_comp_level": {contexts: serverLoc, minArgs: 1, maxArgs: 1, check: argsEach(intRange(1, 9)), example: "5", args: "1 to 9"},
	"gzip_proxied":    {contexts: serverLoc, minArgs: 1, check: argsEach(oneOf(gzipProxiedValues...)), example: "expired no-cache auth", args: "any of " + strings.Join(gzipProxiedValues, ", ")},
	"gzip_vary":       onOffRule(serverLoc),
	"gzip_disable": {contexts: serverLoc, minArgs: 1, check: argsEach(gzipDisable), repeat: true, example: `msie6 "^Mozilla/4"`,
		args: "msie6 or regexes on the User-Agent (case-insensitive, checked, printed with a match limit)"},
	"sub_filter":               {contexts: serverLoc, minArgs: 2, maxArgs: 2, check: subFilter, repeat: true, example: `"http://backend/" "https://$host/"`, args: "a non-empty text and its replacement (variables allowed in both)"},
	"sub_filter_once":          onOffRule(serverLoc),
	"sub_filter_types":         {contexts: serverLoc, minArgs: 1, check: argsEach(mimeTypeOrStar), repeat: true, example: "text/css", args: "MIME types or *"},
	"sub_filter_last_modified": onOffRule(serverLoc),

	// Miscellaneous.
	"log_not_found":           onOffRule(serverLoc),
	"log_subrequest":          onOffRule(serverLoc),
	"recursive_error_pages":   onOffRule(serverLoc),
	"absolute_redirect":       onOffRule(serverLoc),
	"port_in_redirect":        onOffRule(serverLoc),
	"server_name_in_redirect": onOffRule(serverLoc),
	"msie_padding":            onOffRule(serverLoc),
}

// refusedDirectives say why well-known directives are not in the table;
// the error for them says so, and docs/snippets.md lists them. A name in
// neither list is refused as not allowed.
var refusedDirectives = []struct {
	names  []string
	reason string
}{
	{[]string{"*_by_lua*", "lua_*", "access_by_lua_block", "content_by_lua_block", "set_by_lua"},
		"Lua runs code inside nginx's workers, which serve every tenant and can read every file and socket nginx can"},
	{[]string{"js_*", "perl*"}, "njs and Perl run code inside nginx's workers"},
	{[]string{"include", "load_module"}, "they read files and load code chosen by the snippet"},
	{[]string{"ssl_*"}, "TLS settings and key files are the host's spec.tls and the operator's; a path would read any file"},
	{[]string{"auth_basic", "auth_basic_user_file", "auth_request", "auth_request_set"},
		"authentication comes from the auth-* annotations, whose files and URLs Portico writes and checks"},
	{[]string{"root", "alias", "try_files", "index", "autoindex", "access_log", "error_log", "open_log_file_cache",
		"client_body_temp_path", "proxy_temp_path", "proxy_cache_path", "proxy_cache", "proxy_store", "secure_link_secret"},
		"they name files or directories: a snippet could read or write any file nginx can"},
	{[]string{"proxy_pass", "grpc_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "memcached_pass", "mirror", "proxy_bind"},
		"backends come from Services, whose addresses Portico checks; a snippet could reach nginx's internal endpoints or any address"},
	{[]string{"proxy_ssl_certificate*", "proxy_ssl_trusted_certificate", "proxy_ssl_crl", "proxy_ssl_password_file", "proxy_ssl_verify*", "grpc_ssl_*"},
		"backend TLS comes from the proxy-ssl-* annotations, which read Secrets of the Ingress's namespace"},
	{[]string{"map", "geo", "upstream", "split_clients", "limit_req_zone", "limit_conn_zone", "server", "http", "events"},
		"they belong to nginx's http level, shared by every tenant"},
	{[]string{"limit_req", "limit_conn"}, "they need zones, which only the limit-* annotations define"},
	{[]string{"resolver"}, "name resolution is the operator's (--resolver); a snippet could send queries anywhere"},
	{[]string{"underscores_in_headers"},
		"nginx reads it from the listen socket's default server for headers parsed before Host is known, so in one host's block it works only in part; it is an operator setting"},
	{[]string{"modsecurity", "modsecurity_rules", "modsecurity_rules_file"}, "ModSecurity comes from the modsecurity annotations and ConfigMap keys, whose lines pass their own allowlist; a raw directive could turn it off or load any rules file"},
	{[]string{"listen", "server_name"}, "listeners and names come from the Ingress's hosts"},
	{[]string{"proxy_set_header (Portico's headers)"}, "Host, X-Forwarded-*, X-Real-IP, X-Request-ID, traceparent and tracestate are set by Portico; use upstream-vhost and x-forwarded-prefix, and see docs/tracing.md"},
}

// refusedReason returns why name is refused, or "" when no entry names it.
func refusedReason(name string) string {
	for _, r := range refusedDirectives {
		for _, n := range r.names {
			if matchName(n, name) {
				return r.reason
			}
		}
	}
	switch {
	case strings.Contains(name, "lua"):
		return refusedDirectives[0].reason
	case strings.HasSuffix(name, "_pass"):
		return "backends come from Services, whose addresses Portico checks"
	}
	return ""
}

// matchName matches a name against a pattern with * wildcards.
func matchName(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	rest := name[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(rest, p)
		}
		j := strings.Index(rest, p)
		if j < 0 {
			return false
		}
		rest = rest[j+len(p):]
	}
	return true
}

// SnippetDirectives lists the directive names snippets may use, sorted.
func SnippetDirectives() []string {
	names := make([]string, 0, len(snippetRules))
	for n := range snippetRules {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Variables a snippet may read. nginx refuses a config that reads a
// variable nobody defines ("unknown variable"), so a snippet may read only
// what nginx itself always defines, Portico's template always defines,
// and what the snippet sets itself: a variable another Ingress's snippet
// sets would pass nginx -t only while that other Ingress exists. Names
// starting with "portico" are Portico's internals (route IDs, generation,
// auth targets) and may be neither read nor written.

// builtinVariables are nginx's own variables (core and the modules of
// Debian's nginx that Portico's nginx.conf uses), checked by nginx -t in
// pkg/render. document_root, realpath_root, request_filename and
// request_body_file are left out: they name files, and nothing a proxy does
// needs them.
var builtinVariables = []string{
	// ngx_http_core_module.
	"args", "binary_remote_addr", "body_bytes_sent", "bytes_sent", "connection", "connection_requests",
	"connection_time", "content_length", "content_type", "document_uri", "host", "hostname", "https",
	"is_args", "limit_rate", "msec", "nginx_version", "pid", "pipe", "proxy_protocol_addr", "proxy_protocol_port",
	"proxy_protocol_server_addr", "proxy_protocol_server_port", "query_string", "remote_addr", "remote_port",
	"remote_user", "request", "request_body", "request_completion", "request_id", "request_length",
	"request_method", "request_time", "request_uri", "scheme", "server_addr", "server_name", "server_port",
	"server_protocol", "status", "tcpinfo_rtt", "tcpinfo_rttvar", "tcpinfo_snd_cwnd", "tcpinfo_rcv_space",
	"time_iso8601", "time_local", "uri",
	// ngx_http_upstream_module and ngx_http_proxy_module.
	"upstream_addr", "upstream_bytes_received", "upstream_bytes_sent", "upstream_connect_time",
	"upstream_header_time", "upstream_response_length", "upstream_response_time", "upstream_status",
	"proxy_add_x_forwarded_for", "proxy_host", "proxy_port",
	// ngx_http_ssl_module.
	"ssl_cipher", "ssl_ciphers", "ssl_client_escaped_cert", "ssl_client_fingerprint", "ssl_client_i_dn",
	"ssl_client_raw_cert", "ssl_client_s_dn", "ssl_client_serial", "ssl_client_v_end", "ssl_client_v_remain",
	"ssl_client_v_start", "ssl_client_verify", "ssl_curves", "ssl_early_data", "ssl_protocol", "ssl_server_name",
	"ssl_session_id", "ssl_session_reused",
	// Other modules: realip, gzip, http2, limit_req, limit_conn.
	"realip_remote_addr", "realip_remote_port", "gzip_ratio", "http2", "limit_req_status", "limit_conn_status",
}

// builtinPrefixes are nginx's variable families: any name after the
// prefix is defined (a request header, cookie, argument...).
var builtinPrefixes = []string{"http_", "sent_http_", "sent_trailer_", "cookie_", "arg_",
	"upstream_http_", "upstream_trailer_", "upstream_cookie_"}

// templateVariables are the variables Portico's nginx.conf always defines
// for every request (maps at http level): readable, never writable. Besides
// Portico's own they are ingress-nginx's per-location variables, set by
// every location an Ingress makes (defaults at http level), because log
// formats and snippets written for ingress-nginx name them.
var templateVariables = []string{"best_http_host", "connection_upgrade", "req_id",
	"namespace", "ingress_name", "service_name", "service_port",
	"proxy_upstream_name", "proxy_alternative_upstream_name", "the_real_ip",
	"traceparent", "trace_id"}

// reservedPrefixes may not start a variable a snippet sets: nginx's
// families (setting $http_x would turn that request header into a plain
// variable for every host), module names whose variables Portico may use
// one day, and Portico's own.
var reservedPrefixes = []string{"http_", "sent_http_", "sent_trailer_", "cookie_", "arg_", "upstream_",
	"ssl_", "proxy_", "realip_", "tcpinfo_", "request_", "connection", "limit_", "gzip_", "geoip", "lua",
	"portico", "document_", "realpath_", "fastcgi_", "uwsgi_", "scgi_", "memcached_", "secure_link",
	"uid_", "date_", "time_", "upstream"}

// readableVariable reports whether a snippet may read the variable name
// (lower case), given the names it sets itself.
func readableVariable(name string, sets map[string]bool) bool {
	if strings.HasPrefix(name, "portico") {
		return false
	}
	if sets[name] || containsString(builtinVariables, name) || containsString(templateVariables, name) {
		return true
	}
	for _, p := range builtinPrefixes {
		if strings.HasPrefix(name, p) && len(name) > len(p) {
			return true
		}
	}
	return false
}

// KnownVariable reports whether name (without "$", lower case) is a
// variable every request has in Portico's nginx.conf: nginx's own, one of
// nginx's families ($http_*, $cookie_*, $arg_*...) or one the template
// defines. Portico's internal $portico* variables are not. Log formats are
// checked against it, so that a format never fails nginx -t.
func KnownVariable(name string) bool { return readableVariable(name, nil) }

// ReadableSnippetVariables lists the exact variable names a snippet may
// read besides its own and the prefix families, for tests and docs.
func ReadableSnippetVariables() []string {
	out := append(append([]string(nil), builtinVariables...), templateVariables...)
	sort.Strings(out)
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Value lists used by the checkers.
var (
	ignorableHeaders  = []string{"X-Accel-Redirect", "X-Accel-Expires", "X-Accel-Limit-Rate", "X-Accel-Buffering", "X-Accel-Charset", "Expires", "Cache-Control", "Set-Cookie", "Vary"}
	httpMethods       = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "MKCOL", "COPY", "MOVE", "OPTIONS", "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH"}
	gzipProxiedValues = []string{"off", "expired", "no-cache", "no-store", "private", "no_last_modified", "no_etag", "auth", "any"}
	cookieFlagValues  = []string{"secure", "httponly", "samesite=strict", "samesite=lax", "samesite=none", "nosecure", "nohttponly", "nosamesite"}
	// porticoHeaders are the request headers Portico's template sets for
	// every proxied location; a second proxy_set_header for one would send
	// the header twice.
	porticoHeaders = []string{"host", "upgrade", "connection", "x-request-id", "x-real-ip", "x-forwarded-for",
		"x-forwarded-host", "x-forwarded-port", "x-forwarded-proto", "x-forwarded-prefix", "x-scheme", "proxy",
		"traceparent", "tracestate"}
	// traceHeaders are the W3C Trace Context headers, which Portico also
	// sets for gRPC backends (grpc_set_header at http level): a snippet's
	// own would be sent beside Portico's, or with an unchecked value.
	traceHeaders = []string{"traceparent", "tracestate"}
)

// SnippetExample returns the allowed directive name with its example
// arguments as snippet text (a block directive with a block holding one
// directive its block allows), or "" for a name not in the allowlist.
func SnippetExample(name string) string {
	if _, ok := snippetRules[name]; !ok {
		return ""
	}
	return exampleOf(name)
}

// exampleOf is directive name with its example arguments as snippet text.
func exampleOf(name string) string {
	r := snippetRules[name]
	text := name
	if r.example != "" {
		text += " " + r.example
	}
	switch name {
	case "limit_except":
		return text + " { deny all; }"
	case "location", "if":
		return text + " { return 403; }"
	}
	return text + ";"
}

// lowestContext is the first context of a set.
func lowestContext(c snippetContext) snippetContext { return c & -c }

// SnippetExamples returns a server-snippet and a configuration-snippet
// that together hold every allowed directive with its example arguments
// in every context its rule allows (twice where it may repeat), and read
// every variable a snippet may read by name. pkg/render runs them
// through nginx -t: whatever the checker accepts, nginx must accept too,
// or one tenant's snippet would stop every later reload.
func SnippetExamples() (server, location string) {
	groups := map[snippetContext][]string{}
	for _, name := range SnippetDirectives() {
		r := snippetRules[name]
		for _, n := range contextNames {
			if r.contexts&n.ctx == 0 {
				continue
			}
			ex := exampleOf(name)
			groups[n.ctx] = append(groups[n.ctx], ex)
			if r.repeat && name != "location" && name != "set" {
				groups[n.ctx] = append(groups[n.ctx], ex)
			}
		}
	}
	join := func(c snippetContext) string { return strings.Join(groups[c], "\n") }
	var vars strings.Builder
	for _, v := range ReadableSnippetVariables() {
		vars.WriteString("$" + v + " ")
	}
	for _, p := range builtinPrefixes {
		vars.WriteString("$" + p + "x ")
	}
	server = join(inServer) +
		"\nlocation /snippet-location/ {\n" + join(inSnippetLocation) + "\n}" +
		"\nif ($http_x_snippet_if) {\n" + join(inServerIf) + "\n}" +
		"\nlocation /snippet-limit-except/ {\nlimit_except GET {\n" + join(inLimitExcept) + "\n}\n}"
	location = join(inLocation) +
		"\nif ($http_x_snippet_if) {\n" + join(inLocationIf) + "\n}" +
		// set, not a header: some readable variables may hold a line
		// break, which no header value may read (snippet_headers.go).
		"\nset $snippet_variables " + ngxconf.Quote(strings.TrimSpace(vars.String())) + ";"
	return server, location
}
