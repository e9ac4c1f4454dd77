package annotations

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/ngxconf"
)

const (
	locationKey = "configuration-snippet"
	serverKey   = "server-snippet"
)

// snippetCase is one snippet and, when it is refused, a part of the error.
type snippetCase struct {
	name  string
	key   string
	value string
	err   string
}

// parseOne parses one snippet annotation alone and returns the stored
// directives and the problem message, if any.
func parseOne(t *testing.T, key, value string) ([]*ngxconf.Directive, string) {
	t.Helper()
	set, problems := NewParser("").Parse(map[string]string{DefaultPrefix + "/" + key: value})
	dirs := set.Snippets.Location
	if key == serverKey {
		dirs = set.Snippets.Server
	}
	if len(problems) == 0 {
		return dirs, ""
	}
	require.Len(t, problems, 1)
	assert.Equal(t, Invalid, problems[0].Kind)
	assert.NotContains(t, problems[0].Message, "\n", "messages stay on one line")
	assert.Nil(t, dirs, "nothing of a refused snippet is stored")
	return nil, problems[0].Message
}

func runSnippetCases(t *testing.T, cases []snippetCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dirs, msg := parseOne(t, c.key, c.value)
			if c.err == "" {
				assert.Empty(t, msg)
				assert.NotEmpty(t, dirs)
				return
			}
			assert.Contains(t, msg, c.err)
			assert.Contains(t, msg, snippetDocs, "every refusal points to the docs")
		})
	}
}

// TestSnippetAllowed: what ingress-nginx users write in snippets, within
// the allowlist, is accepted.
func TestSnippetAllowed(t *testing.T) {
	runSnippetCases(t, []snippetCase{
		{name: "headers", key: locationKey, value: `add_header X-Frame-Options "DENY" always;
add_header X-Request $req_id;
more_headers_are_not_here_anyway_so_no;`, err: "not in the snippet allowlist"},
		{name: "response headers", key: locationKey, value: `add_header X-Frame-Options "DENY" always;
add_header X-Request-Id $req_id;
add_header X-Host "${host}-$http_x_tenant";
expires 1h; etag off; charset utf-8; default_type application/json;`},
		{name: "request headers", key: locationKey, value: `proxy_set_header X-Tenant "blue";
proxy_set_header X-Client-Cert $ssl_client_escaped_cert;
proxy_hide_header X-Powered-By; proxy_pass_header Server; proxy_ignore_headers X-Accel-Expires;`},
		{name: "flow", key: locationKey, value: `if ($request_method = POST) { return 405; }
if ($http_user_agent ~* "bot") { return 403 "no bots"; }
rewrite ^/old/(.*)$ /new/$1 last;
rewrite ^/api/(.*) /$1 break;
set $tenant_flag "on-$host";
if ($tenant_flag) { add_header X-Flag $tenant_flag; }
error_page 502 503 =200 /maintenance;
return 301 https://$host$request_uri;`},
		{name: "proxy tuning", key: locationKey, value: `proxy_read_timeout 120s; proxy_connect_timeout 5s; proxy_send_timeout 1m30s;
proxy_buffering on; proxy_buffer_size 16k; proxy_buffers 4 16k; proxy_busy_buffers_size 32k;
proxy_http_version 1.1; proxy_next_upstream error timeout http_502; proxy_next_upstream_tries 2;
proxy_redirect http://backend/ /; proxy_cookie_path /app/ /; proxy_cookie_flags session secure httponly samesite=lax;
proxy_max_temp_file_size 0; proxy_intercept_errors on;`},
		{name: "ingress-nginx's per-location variables", key: locationKey, value: `add_header X-Served-By "$namespace/$ingress_name/$service_name:$service_port";
add_header X-Upstream "$proxy_upstream_name $proxy_alternative_upstream_name $the_real_ip";`},
		{name: "client and access", key: locationKey, value: `client_max_body_size 20m; client_body_buffer_size 64k;
allow 10.0.0.0/8; allow 2001:db8::/32; deny all; satisfy any; limit_rate 500k; limit_rate_after 1m;
real_ip_header X-Forwarded-For; set_real_ip_from 192.0.2.0/24; real_ip_recursive on;`},
		{name: "compression", key: locationKey, value: `gzip on; gzip_types application/json text/css; gzip_comp_level 5;
gzip_proxied expired no-cache auth; gzip_vary on; gzip_disable msie6 "^Mozilla/4";
sub_filter "http://backend/" "https://$host/"; sub_filter_once off;`},
		{name: "limit_except", key: locationKey, value: `limit_except GET HEAD { allow 10.0.0.0/8; deny all; }`},
		{name: "server locations", key: serverKey, value: `location = /healthz { return 200 "ok"; }
location /robots.txt { add_header Content-Type text/plain; return 200 "User-agent: * Disallow: /"; }
location ~* \.(git|svn)/ { deny all; return 404; }
location ^~ /static/ { expires 30d; return 404; }
location @maintenance { return 503 "down for maintenance"; }
error_page 503 @maintenance;
large_client_header_buffers 4 16k; client_header_timeout 10s; ignore_invalid_headers off;
if ($http_x_block) { return 403; }`},
		{name: "server level proxy settings", key: serverKey, value: `proxy_read_timeout 300s; keepalive_timeout 30s 25s; gzip on;`},
		// headers-more, as ingress-nginx users write it.
		{name: "more_set_headers", key: locationKey, value: `more_set_headers "X-Frame-Options: DENY";
more_set_headers "X-Content-Type-Options: nosniff" 'Server: edge';
more_set_headers -s 404 -s "500 503" -t "text/html text/plain" "X-Error: $status $request_uri";
more_set_headers "X-Req: ${req_id}" "X-Empty:" X-Clear;
more_clear_headers "X-Powered-By" Server "X-Hidden-*";
more_clear_headers -s 404 -t text/html X-Debug;`},
		{name: "more input headers", key: locationKey, value: `more_set_input_headers "X-Tenant: blue" 'X-Forwarded-Proto: https';
more_set_input_headers -r -t application/json "X-Json: yes";
more_clear_input_headers "X-Debug" "X-Internal-*";`},
		{name: "more in server and if", key: serverKey, value: `more_set_headers "X-Served-By: $hostname";
more_clear_input_headers Cookie2;
location /x { if ($arg_debug) { more_set_headers "X-Debug: on"; } return 200; }`},
		{name: "set variable read in a header", key: locationKey, value: `set $my_var "dog-$host"; more_set_headers "Server: $my_var";`},
	})
}

// TestMoreHeadersCanonical: headers-more arguments reach the template in
// one form: "Name: value", or the name alone to clear.
func TestMoreHeadersCanonical(t *testing.T) {
	dirs, msg := parseOne(t, locationKey, `more_set_headers -s "404 500" "X-A:   b c" "X-B:" X-C; more_clear_headers "X-D:" "X-E-*";`)
	require.Empty(t, msg)
	require.Len(t, dirs, 2)
	assert.Equal(t, []string{"-s", "404 500", "X-A: b c", "X-B", "X-C"}, dirs[0].Args)
	assert.Equal(t, []string{"X-D", "X-E-*"}, dirs[1].Args)
}

// TestSnippetHeaderLineBreaks: no header value of a snippet may read a
// variable that can hold a line break the client chose: nginx decodes $uri
// (GET /a%0d%0aX-Inj:%20yes put "X-Inj: yes" in the response, measured on
// nginx 1.22), regex captures come from it, request bodies and PEM
// certificates hold lines; nor a variable the snippet set from one.
func TestSnippetHeaderLineBreaks(t *testing.T) {
	runSnippetCases(t, []snippetCase{
		{name: "add_header uri", key: locationKey, value: `add_header X-Path $uri;`, err: "reads $uri in a header value"},
		{name: "add_header braced", key: locationKey, value: `add_header X-Path "at ${URI}";`, err: "reads $uri in a header value"},
		{name: "add_trailer document_uri", key: locationKey, value: `add_trailer X $document_uri;`, err: "reads $document_uri"},
		{name: "proxy_set_header uri", key: locationKey, value: `proxy_set_header X-Path $uri;`, err: "reads $uri"},
		{name: "grpc_set_header body", key: locationKey, value: `grpc_set_header X-Body $request_body;`, err: "reads $request_body"},
		{name: "capture", key: locationKey, value: `rewrite ^/(.*)$ /x/$1; add_header X-Was $1;`, err: "reads $1"},
		{name: "more_set_headers uri", key: locationKey, value: `more_set_headers "X-Path: $uri";`, err: "reads $uri"},
		{name: "more_set_input_headers cert", key: locationKey, value: `more_set_input_headers "X-Cert: $ssl_client_raw_cert";`, err: "reads $ssl_client_raw_cert"},
		{name: "through set", key: locationKey, value: `set $p "$uri"; more_set_headers "X-Path: $p";`, err: "reads $p"},
		{name: "through two sets", key: locationKey, value: `set $a "x$1"; set $b "$a-y"; add_header X $b;`, err: "reads $b"},
		{name: "through set in if", key: locationKey, value: `if ($uri ~ "^/(a)") { set $c $1; } add_header X $c;`, err: "reads $c"},
		// A redirect's URL is the Location header (measured: rewrite ^ https://x$uri redirect split it).
		{name: "return URL", key: locationKey, value: `return https://x.example$uri;`, err: "reads $uri"},
		{name: "return 302 URL", key: locationKey, value: `return 302 "https://x.example/$1";`, err: "reads $1"},
		{name: "rewrite redirect", key: locationKey, value: `rewrite ^ https://x.example$uri redirect;`, err: "reads $uri"},
		{name: "rewrite permanent", key: locationKey, value: `rewrite ^/(.*)$ /new/$1 permanent;`, err: "reads $1"},
		{name: "error_page URL", key: serverKey, value: `error_page 404 https://x.example$document_uri;`, err: "reads $document_uri"},
	})
}

// TestMoreHeadersRefused: what a tenant with snippets could try through
// headers-more: framing headers (response desync for every host behind the
// same front proxy), Host on input, options in the wrong place.
func TestMoreHeadersRefused(t *testing.T) {
	runSnippetCases(t, []snippetCase{
		{name: "set content-length", key: locationKey, value: `more_set_headers "Content-Length: 1";`, err: "Content-Length: 1 may not be set"},
		{name: "clear transfer-encoding", key: locationKey, value: `more_clear_headers Transfer-Encoding;`, err: "may not be set or cleared"},
		{name: "clear by wildcard", key: locationKey, value: `more_clear_headers "Content-*";`, err: "may not be set or cleared"},
		{name: "clear everything", key: locationKey, value: `more_clear_headers "*";`, err: "is not a header name"},
		{name: "set connection", key: serverKey, value: `more_set_headers "connection: close";`, err: "may not be set"},
		{name: "input content-length", key: locationKey, value: `more_set_input_headers "Content-Length: 0";`, err: "may not be set"},
		{name: "input transfer-encoding", key: locationKey, value: `more_set_input_headers "Transfer-Encoding: chunked";`, err: "may not be set"},
		{name: "input host", key: locationKey, value: `more_set_input_headers "Host: victim.example.com";`, err: "nginx chose the server by it"},
		{name: "input clear host", key: locationKey, value: `more_clear_input_headers "H*";`, err: "nginx chose the server by it"},
		{name: "status on input", key: locationKey, value: `more_set_input_headers -s 404 "X: y";`, err: "-s (status codes) is for response headers only"},
		{name: "replace on output", key: locationKey, value: `more_set_headers -r "X: y";`, err: "-r (replace only)"},
		{name: "append option", key: locationKey, value: `more_set_headers -a "X: y";`, err: "is not an option"},
		{name: "option after header", key: locationKey, value: `more_set_headers "X: y" -s 404;`, err: "options come first"},
		{name: "option without list", key: locationKey, value: `more_set_headers -t;`, err: "-t needs a list"},
		{name: "no header", key: locationKey, value: `more_set_headers -s 404;`, err: "names no header"},
		{name: "bad status", key: locationKey, value: `more_set_headers -s 600 "X: y";`, err: "not a status code"},
		{name: "bad type", key: locationKey, value: `more_set_headers -t "text/html;q=1" "X: y";`, err: "not a MIME type"},
		{name: "value in clear", key: locationKey, value: `more_clear_headers "X: y";`, err: "take header names, not values"},
		{name: "bad name", key: locationKey, value: `more_set_headers "X Y: z";`, err: "is not a header name"},
		{name: "portico variable", key: locationKey, value: `more_set_headers "X: $portico_route";`, err: "reads $portico_route"},
		{name: "unknown variable", key: locationKey, value: `more_set_headers "X: $tenant_flag";`, err: "neither an nginx variable"},
		{name: "in server if", key: serverKey, value: `if ($arg_x) { more_set_headers "X: y"; }`, err: "more_set_headers is not allowed in if (server)"},
		{name: "in limit_except", key: locationKey, value: `limit_except GET { more_set_headers "X: y"; }`, err: "not allowed in limit_except"},
		{name: "newline", key: locationKey, value: "more_set_headers \"X: a\\r\\nSet-Cookie: s=1\";", err: "control character"},
	})
}

// TestSnippetRefused lists, per class, what an attacker in an allowed
// namespace tried; each is refused with an error naming the directive.
func TestSnippetRefused(t *testing.T) {
	runSnippetCases(t, []snippetCase{
		// Lua and other code in the workers.
		{name: "access_by_lua_block", key: locationKey, value: `access_by_lua_block { ngx.exit(403); }`, err: "access_by_lua_block is not allowed in snippets: Lua"},
		{name: "access_by_lua_block loadstring", key: locationKey, value: `access_by_lua_block { loadstring("io.popen('id')")(); }`, err: "access_by_lua_block is not allowed"},
		{name: "content_by_lua_block", key: serverKey, value: `location /x { content_by_lua_block { ngx.say(io.popen("id"):read("*a")); } }`, err: "content_by_lua_block is not allowed"},
		{name: "set_by_lua", key: locationKey, value: `set_by_lua $x 'return 1';`, err: "set_by_lua is not allowed"},
		{name: "lua_code_cache", key: serverKey, value: `lua_code_cache off;`, err: "lua_code_cache is not allowed"},
		{name: "rewrite_by_lua_file", key: locationKey, value: `rewrite_by_lua_file /tmp/x.lua;`, err: "rewrite_by_lua_file is not allowed"},
		{name: "js_content", key: locationKey, value: `js_content main.f;`, err: "js_content is not allowed"},
		{name: "perl", key: locationKey, value: `perl Module::handler;`, err: "perl is not allowed"},
		// Files.
		{name: "ssl_certificate_key", key: serverKey, value: `ssl_certificate_key /etc/shadow;`, err: "ssl_certificate_key is not allowed"},
		{name: "auth_basic_user_file", key: locationKey, value: `auth_basic "x"; auth_basic_user_file /etc/passwd;`, err: "auth_basic is not allowed"},
		{name: "auth_basic_user_file alone", key: locationKey, value: `auth_basic_user_file /var/run/secrets/kubernetes.io/serviceaccount/token;`, err: "auth_basic_user_file is not allowed"},
		{name: "root", key: serverKey, value: `root /;`, err: "root is not allowed"},
		{name: "alias", key: serverKey, value: `location /x/ { alias /etc/; }`, err: "alias is not allowed"},
		{name: "include", key: locationKey, value: `include /etc/passwd;`, err: "include is not allowed"},
		{name: "try_files", key: locationKey, value: `try_files /etc/passwd =404;`, err: "try_files is not allowed"},
		{name: "access_log", key: locationKey, value: `access_log /tmp/x.log;`, err: "access_log is not allowed"},
		{name: "load_module", key: serverKey, value: `load_module /tmp/x.so;`, err: "load_module is not allowed"},
		{name: "if file test", key: locationKey, value: `if (-f /etc/shadow) { return 200; }`, err: "file tests"},
		{name: "if negated file test", key: locationKey, value: `if (!-e $request_uri) { return 200; }`, err: "file tests"},
		// Proxying from a snippet.
		{name: "proxy_pass internal port", key: locationKey, value: `proxy_pass http://127.0.0.1:10246;`, err: "proxy_pass is not allowed"},
		{name: "proxy_pass in location", key: serverKey, value: `location /i { proxy_pass http://unix:/run/portico/nginx.sock:/portico/dynamic; }`, err: "proxy_pass is not allowed"},
		{name: "grpc_pass", key: locationKey, value: `grpc_pass grpc://127.0.0.1:1;`, err: "grpc_pass is not allowed"},
		{name: "mirror", key: locationKey, value: `mirror /m;`, err: "mirror is not allowed"},
		{name: "fastcgi_pass", key: locationKey, value: `fastcgi_pass 127.0.0.1:9000;`, err: "fastcgi_pass is not allowed"},
		{name: "resolver", key: serverKey, value: `resolver 8.8.8.8;`, err: "resolver is not allowed"},
		// Variable writes.
		{name: "set portico_route", key: locationKey, value: `set $portico_route "r0123456789abcdef";`, err: "starts with portico"},
		{name: "set portico_route upper case", key: locationKey, value: `set $PORTICO_ROUTE x;`, err: "is not $name"},
		{name: "set host", key: locationKey, value: `set $host evil.example.com;`, err: "nginx or Portico variable"},
		{name: "set best_http_host", key: locationKey, value: `set $best_http_host evil.example.com;`, err: "nginx or Portico variable"},
		{name: "set req_id", key: serverKey, value: `set $req_id x;`, err: "nginx or Portico variable"},
		{name: "set http header family", key: locationKey, value: `set $http_x_canary always;`, err: "starts with http_"},
		{name: "set cookie family", key: locationKey, value: `set $cookie_route x;`, err: "starts with cookie_"},
		{name: "set args", key: locationKey, value: `set $args "a=1";`, err: "nginx or Portico variable"},
		// A tenant framing another namespace in the access log.
		{name: "set namespace", key: locationKey, value: `set $namespace victim;`, err: "nginx or Portico variable"},
		{name: "set ingress_name", key: serverKey, value: `set $ingress_name victim-app;`, err: "nginx or Portico variable"},
		{name: "set service_name", key: locationKey, value: `set $service_name db;`, err: "nginx or Portico variable"},
		{name: "set proxy_upstream_name", key: locationKey, value: `set $proxy_upstream_name victim-db-5432;`, err: "nginx or Portico variable"},
		{name: "set the_real_ip", key: locationKey, value: `set $the_real_ip 192.0.2.1;`, err: "nginx or Portico variable"},
		{name: "set in if", key: locationKey, value: `if ($uri) { set $portico_generation 1; }`, err: "starts with portico"},
		// Variable reads.
		{name: "read portico_route", key: locationKey, value: `add_header X-Route $portico_route;`, err: "reads $portico_route"},
		{name: "read portico braced", key: locationKey, value: `add_header X-Route "${portico_route}x";`, err: "reads $portico_route"},
		{name: "read portico upper case", key: locationKey, value: `return 200 $PORTICO_GENERATION;`, err: "reads $PORTICO_GENERATION"},
		{name: "read portico in if", key: locationKey, value: `if ($portico_route = "x") { return 403; }`, err: "reads $portico_route"},
		{name: "read portico auth target", key: locationKey, value: `proxy_set_header X-A $portico_auth_target;`, err: "reads $portico_auth_target"},
		{name: "read unknown", key: locationKey, value: `add_header X $not_a_variable;`, err: "neither an nginx variable"},
		{name: "read another snippet's variable", key: locationKey, value: `add_header X $tenant_flag;`, err: "neither an nginx variable"},
		{name: "read file path", key: locationKey, value: `add_header X $document_root;`, err: "neither an nginx variable"},
		{name: "lone dollar", key: locationKey, value: `add_header X "price: 5$";`, err: `"$" at the end`},
		{name: "dollar not a name", key: locationKey, value: `add_header X "a$-b";`, err: `not followed by a variable name`},
		{name: "dollar zero", key: locationKey, value: `set $v "$uri$0";`, err: "reads $0"},
		{name: "unclosed brace", key: locationKey, value: `return 200 "${host";`, err: `without "}"`},
		// Regexes: named groups set variables, some shapes backtrack exponentially.
		{name: "rewrite named group", key: locationKey, value: `rewrite "^/(?P<portico_route>.*)$" /x last;`, err: "named group"},
		{name: "rewrite named group perl", key: locationKey, value: `rewrite "^/(?<host>[a-z]+)" /x;`, err: "named group"},
		{name: "if named group", key: locationKey, value: `if ($uri ~ "^/(?P<best_http_host>.*)") { return 403; }`, err: "named group"},
		{name: "location named group", key: serverKey, value: `location ~ "^/(?<req_id>.*)" { return 200; }`, err: "named group"},
		{name: "rewrite redos", key: locationKey, value: `rewrite "^(a+)+$" /x;`, err: "regex"},
		{name: "if redos", key: locationKey, value: `if ($http_user_agent ~* "(a|aa)+$") { return 403; }`, err: "regex"},
		{name: "location redos", key: serverKey, value: `location ~ "(.*a){12}" { return 200; }`, err: "regex"},
		{name: "gzip_disable redos", key: serverKey, value: `gzip_disable "(\w+\s?)+$";`, err: "regex"},
		// Control characters.
		{name: "newline in value", key: locationKey, value: "add_header X \"a\\nb\";", err: "control character 0x0a"},
		{name: "NUL in value", key: locationKey, value: "add_header X a\x00b;", err: "control character 0x00"},
		{name: "tab in value", key: locationKey, value: "return 200 \"a\\tb\";", err: "control character 0x09"},
		{name: "escape in regex", key: locationKey, value: "rewrite \"a\\rb\" /x;", err: "control character 0x0d"},
		// Contexts.
		{name: "location in configuration-snippet", key: locationKey, value: `location /x { return 200; }`, err: "location is not allowed in location"},
		{name: "nested location", key: serverKey, value: `location /a/ { location /a/b { return 200; } }`, err: "location is not allowed in server-snippet location"},
		{name: "server-only directive in location", key: locationKey, value: `client_header_timeout 5s;`, err: "client_header_timeout is not allowed in location"},
		{name: "proxy_set_header at server level", key: serverKey, value: `proxy_set_header X-A b;`, err: "proxy_set_header is not allowed in server"},
		{name: "proxy tuning in snippet location", key: serverKey, value: `location /x { proxy_read_timeout 5s; return 200; }`, err: "proxy_read_timeout is not allowed in server-snippet location"},
		{name: "internal at server level", key: serverKey, value: `internal;`, err: "internal is not allowed in server"},
		{name: "add_header in limit_except", key: locationKey, value: `limit_except GET { add_header X y; }`, err: "add_header is not allowed in limit_except"},
		{name: "proxy directive in if", key: locationKey, value: `if ($uri) { proxy_read_timeout 5s; }`, err: "proxy_read_timeout is not allowed in if (location)"},
		{name: "if in if", key: locationKey, value: `if ($uri) { if ($args) { return 403; } }`, err: "if is not allowed in if (location)"},
		{name: "add_header in server if", key: serverKey, value: `if ($uri) { add_header X y; }`, err: "add_header is not allowed in if (server)"},
		{name: "limit_except at server level", key: serverKey, value: `limit_except GET { deny all; }`, err: "limit_except is not allowed in server"},
		// What nginx -t would refuse, which would stop every later reload.
		{name: "duplicate", key: locationKey, value: `expires 1h; expires 2h;`, err: "appears twice"},
		{name: "duplicate limit_except", key: locationKey, value: `limit_except GET { deny all; } limit_except POST { deny all; }`, err: "appears twice"},
		{name: "off with pairs", key: locationKey, value: `proxy_redirect off; proxy_redirect /a /b;`, err: "cannot share a block"},
		{name: "proxy_redirect default", key: locationKey, value: `proxy_redirect default;`, err: "takes off, or two arguments"},
		{name: "proxy_redirect regex", key: locationKey, value: `proxy_redirect ~^http://(?<h>.*)/ /;`, err: "~ regexes are not allowed"},
		{name: "buffer alone", key: locationKey, value: `proxy_buffer_size 64k;`, err: "go together"},
		{name: "buffers disagree", key: locationKey, value: `proxy_buffer_size 8k; proxy_buffers 4 8k; proxy_busy_buffers_size 64k;`, err: "proxy_busy_buffers_size must be"},
		{name: "buffers too large", key: locationKey, value: `proxy_buffer_size 8k; proxy_buffers 64 9m; proxy_busy_buffers_size 9m;`, err: "36m"},
		{name: "temp file size", key: locationKey, value: `proxy_max_temp_file_size 1k;`, err: "at least 10m"},
		{name: "host name in set_real_ip_from", key: locationKey, value: `set_real_ip_from localhost;`, err: "not an IP address"},
		{name: "return code", key: locationKey, value: `return 1000;`, err: "neither a status code"},
		{name: "return relative", key: locationKey, value: `return /x;`, err: "neither a status code"},
		{name: "time", key: locationKey, value: `proxy_read_timeout 30m1h;`, err: "not an nginx time"},
		{name: "time too long", key: locationKey, value: `proxy_read_timeout 300d;`, err: "not an nginx time"},
		{name: "gzip level", key: locationKey, value: `gzip_comp_level 10;`, err: "from 1 to 9"},
		{name: "error_page 499", key: locationKey, value: `error_page 499 /x;`, err: "499 excepted"},
		{name: "error_page to portico", key: locationKey, value: `error_page 404 = @portico_err_abc_404;`, err: "Portico's own location"},
		{name: "location portico name", key: serverKey, value: `location @portico_err_x { return 200; }`, err: "Portico's own location"},
		{name: "location portico path", key: serverKey, value: `location = /_portico_auth_abc { return 200; }`, err: "under /_portico"},
		{name: "location path with quote", key: serverKey, value: `location "/a\"b" { return 200; }`, err: "is not a path"},
		{name: "location path with dollar", key: serverKey, value: `location "/a$host" { return 200; }`, err: "is not a path"},
		{name: "portico proxy header", key: locationKey, value: `proxy_set_header Host evil.example.com;`, err: "set by Portico"},
		{name: "portico traceparent", key: locationKey, value: `proxy_set_header TraceParent 00-x;`, err: "set by Portico"},
		{name: "portico tracestate", key: locationKey, value: `proxy_set_header tracestate x=1;`, err: "set by Portico"},
		{name: "portico grpc traceparent", key: locationKey, value: `grpc_set_header traceparent 00-x;`, err: "set by Portico for every gRPC backend"},
		{name: "set trace_id", key: locationKey, value: `set $trace_id 1;`, err: "nginx or Portico variable"},
		{name: "set traceparent", key: locationKey, value: `set $traceparent 1;`, err: "nginx or Portico variable"},
		{name: "break with argument", key: locationKey, value: `break now;`, err: "takes no argument"},
		{name: "no block", key: serverKey, value: `location /x;`, err: "needs a block"},
		{name: "unexpected block", key: locationKey, value: `add_header X y { return 200; }`, err: "takes no block"},
		{name: "upper-case name", key: locationKey, value: `Add_Header X y;`, err: "not lower-case"},
		{name: "unknown", key: locationKey, value: `frobnicate on;`, err: "not in the snippet allowlist"},
		{name: "underscores_in_headers", key: serverKey, value: `underscores_in_headers on;`, err: "default server"},
		{name: "map", key: serverKey, value: `map $uri $x { default 1; }`, err: "map is not allowed"},
		{name: "limit_req", key: locationKey, value: `limit_req zone=portico_x_rps;`, err: "limit_req is not allowed"},
	})
}

// TestSnippetPrintsCheckedForms: the tree that reaches the template holds
// the checked forms: regexes printed by pkg/pcre with a match limit, if
// conditions canonical, addresses masked.
func TestSnippetPrintsCheckedForms(t *testing.T) {
	limit := "(*LIMIT_MATCH=100000)"
	dirs, msg := parseOne(t, locationKey, `rewrite ^/old/(.*)$ /new/$1 last;
if ($http_user_agent ~* Bot) { return 403; }
if ($request_method = POST) { return 405; }
if ( $http_x_a ) { return 400; }
allow 10.1.2.3/8;
gzip_disable msie6 "MSIE [4-6]";`)
	require.Empty(t, msg)
	require.Len(t, dirs, 6)
	assert.Equal(t, []string{limit + `\A/old/([^\x0a]*)\z`, "/new/$1", "last"}, dirs[0].Args)
	assert.Equal(t, []string{"(", "$http_user_agent", "~*", limit + "bot", ")"}, dirs[1].Args)
	assert.Equal(t, []string{"(", "$request_method", "=", "POST", ")"}, dirs[2].Args)
	assert.Equal(t, []string{"(", "$http_x_a", ")"}, dirs[3].Args)
	assert.Equal(t, []string{"10.0.0.0/8"}, dirs[4].Args)
	assert.Equal(t, "msie6", dirs[5].Args[0])
	assert.True(t, strings.HasPrefix(dirs[5].Args[1], limit), dirs[5].Args[1])

	dirs, msg = parseOne(t, serverKey, `location ~ ^/(a|b)/ { return 200 $1; }`)
	require.Empty(t, msg)
	assert.Equal(t, []string{"~", limit + `\A/([ab])/`}, dirs[0].Args)
}

// TestSnippetClashesWithAnnotations: a configuration-snippet may not set
// what the Ingress's other annotations print into the same locations
// (nginx -t refuses the duplicate).
func TestSnippetClashesWithAnnotations(t *testing.T) {
	p := NewParser("")
	cases := []struct {
		other map[string]string
		snip  string
		clash bool
	}{
		{map[string]string{"proxy-read-timeout": "30"}, "proxy_read_timeout 60s;", true},
		{map[string]string{"proxy-body-size": "1m"}, "client_max_body_size 2m;", true},
		{map[string]string{"proxy-buffer-size": "8k"}, "proxy_buffer_size 8k; proxy_buffers 4 8k; proxy_busy_buffers_size 16k;", true},
		{map[string]string{"proxy-next-upstream": "error"}, "proxy_next_upstream timeout;", true},
		{map[string]string{"default-backend": "errors", "custom-http-errors": "404"}, "proxy_intercept_errors off;", true},
		{map[string]string{"proxy-ssl-server-name": "on"}, "proxy_ssl_name $host;", true},
		{map[string]string{"proxy-read-timeout": "30"}, "proxy_send_timeout 60s;", false},
		// Inside an if block is another block: no duplicate.
		{map[string]string{"proxy-read-timeout": "30"}, "if ($uri) { return 403; }", false},
	}
	for _, c := range cases {
		anns := map[string]string{DefaultPrefix + "/" + locationKey: c.snip}
		for k, v := range c.other {
			anns[DefaultPrefix+"/"+k] = v
		}
		set, problems := p.Parse(anns)
		if !c.clash {
			assert.Empty(t, problems, c.snip)
			assert.NotEmpty(t, set.Snippets.Location, c.snip)
			continue
		}
		require.Len(t, problems, 1, c.snip)
		assert.Equal(t, DefaultPrefix+"/"+locationKey, problems[0].Key)
		assert.Contains(t, problems[0].Message, "already sets in the same locations", c.snip)
		assert.Nil(t, set.Snippets.Location)
	}
}

func TestServerSnippetLocations(t *testing.T) {
	dirs, msg := parseOne(t, serverKey, `location = /a { return 200; }
location /b/ { return 200; }
location ^~ /c/ { return 200; }
location ~ /d { return 200; }
location @e { return 200; }`)
	require.Empty(t, msg)
	assert.Equal(t, []SnippetLocation{{Modifier: "=", Path: "/a"}, {Path: "/b/"}, {Path: "/c/"}, {Modifier: "@", Path: "@e"}},
		ServerSnippetLocations(dirs))
}

func TestParseTime(t *testing.T) {
	for s, want := range map[string]int64{"30": 30_000, "30s": 30_000, "1m30s": 90_000, "500ms": 500, "1s500ms": 1500, "1h": 3_600_000, "2d": 172_800_000} {
		got, ok := parseTime(s, false)
		assert.True(t, ok, s)
		assert.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "30m1h", "1h 30m", "s", "1x", "-1", "1.5s", "99999999999"} {
		_, ok := parseTime(s, false)
		assert.False(t, ok, s)
	}
	_, ok := parseTime("500ms", true)
	assert.False(t, ok, "directives counted in seconds take no ms")
}

// TestSnippetTableIsConsistent: every rule has an argument description,
// an example its own checker accepts (in its first context), and a sane
// argument count; every refused name is out of the table.
func TestSnippetTableIsConsistent(t *testing.T) {
	for name, r := range snippetRules {
		assert.NotEmpty(t, r.args, name)
		assert.NotZero(t, r.contexts, name)
		if r.maxArgs != noArgs {
			assert.NotEmpty(t, r.example, name)
		}
		src := exampleOf(name)
		ctx := lowestContext(r.contexts)
		dirs, err := ngxconf.Parse(src)
		require.NoError(t, err, src)
		c := &snippetCheck{sets: map[string]bool{"tenant_flag": true}}
		assert.NoError(t, c.directive(dirs[0], ctx), "%s in %s", src, ctx)
	}
	for _, r := range refusedDirectives {
		for _, n := range r.names {
			for allowed := range snippetRules {
				assert.False(t, matchName(n, allowed), "%s is both allowed and refused (%s)", allowed, n)
			}
		}
	}
}

// printTree prints a directive tree as the template's "snippet" does.
func printTree(dirs []*ngxconf.Directive) string {
	var b strings.Builder
	for _, d := range dirs {
		b.WriteString(d.Name)
		for _, a := range d.Args {
			b.WriteString(" " + ngxconf.Quote(a))
		}
		if d.HasBlock() {
			b.WriteString(" {\n" + printTree(d.Block) + "}\n")
		} else {
			b.WriteString(";\n")
		}
	}
	return b.String()
}

// FuzzSnippet: whatever the value, an accepted snippet holds only allowed
// directives, no control character and no read of a portico variable, and
// checking its printed form again accepts it unchanged (the checked forms
// are fixed points: nginx gets what was checked).
func FuzzSnippet(f *testing.F) {
	for _, s := range []string{
		`add_header X $host;`, `if ($a ~* "(x|y)+z") { return 403; }`, `location ~ ^/(a)/ { return 200 $1; }`,
		`rewrite ^/(.*)$ /x/$1 break;`, `set $a "${host}"; return 200 $a;`, `allow 10.1.2.3/8;`,
		`access_by_lua_block { ngx.exit(1); }`, `add_header X ${portico_route};`, `if ($PORTICO_ROUTE) { return 1; }`,
		"return 200 \"a\\nb\";", `location @x { return 200; } error_page 404 @x;`,
		// headers-more and header values: quotes, ";", "}", newlines, "${".
		`more_set_headers -s "200 404" -t text/html "X: ${req_id}" Y;`, `more_clear_headers "X-Hidden-*" Server;`,
		`more_set_headers "X: a\"; more_set_headers \"Y: b";`, `more_set_headers "X: a}"; } location /x { return 200; }`,
		"more_set_headers \"X: a\nSet-Cookie: s=1\";", `more_set_headers "X: ${host";`, `more_set_headers "X: $uri";`,
		`more_clear_headers "Content-*";`, `more_set_input_headers -r -t text/plain "X: $http_y";`, `more_clear_input_headers "Host";`,
		`set $p "$uri"; more_set_headers "X: $p";`, `if ($arg_a) { more_set_headers "X:  $arg_a  "; }`, `add_header X "${1}";`,
	} {
		f.Add(true, s)
		f.Add(false, s)
	}
	f.Fuzz(func(t *testing.T, server bool, value string) {
		top := inLocation
		if server {
			top = inServer
		}
		dirs, err := parseSnippet(value, top)
		if err != nil {
			return
		}
		ngxconf.Walk(dirs, func(_ []string, d *ngxconf.Directive) {
			_, ok := snippetRules[d.Name]
			require.True(t, ok, "%s is not allowed", d.Name)
			for _, a := range d.Args {
				require.NoError(t, plainArg(a))
				require.NotContains(t, strings.ToLower(a), "$portico")
				require.NotContains(t, strings.ToLower(a), "${portico")
			}
			if d.Name == "add_header" || d.Name == "add_trailer" || strings.HasSuffix(d.Name, "_set_header") || strings.HasPrefix(d.Name, "more_") {
				// No header value reads what may hold a line break.
				for _, a := range d.Args {
					for _, v := range readVariables(a) {
						require.False(t, containsString(lineBreakVariables, v) || v >= "0" && v <= "9", "%s reads $%s", d.Name, v)
					}
				}
			}
			if strings.HasPrefix(d.Name, "more_") {
				for _, a := range d.Args {
					name, _, _ := strings.Cut(a, ":")
					require.False(t, FramingHeader(strings.TrimSuffix(name, "*")), "%s touches %s", d.Name, a)
				}
			}
		})
		printed := printTree(dirs)
		// A regex is checked again without its match limit, which RE2 syntax lacks.
		again, err := parseSnippet(strings.ReplaceAll(printed, "(*LIMIT_MATCH=100000)", ""), top)
		require.NoError(t, err, "the printed form is refused:\n%s", printed)
		require.Equal(t, printed, printTree(again), "checking the printed form changes it")
	})
}
