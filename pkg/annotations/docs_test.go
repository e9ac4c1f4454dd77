package annotations

import (
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/portico-ingress/portico/pkg/ngxvar"
	"github.com/portico-ingress/portico/pkg/testutil/golden"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/annotations.md from the field tables")

func annotationsDoc() string {
	var b strings.Builder
	b.WriteString("# Annotations\n\n")
	b.WriteString("<!-- Generated from the tables in pkg/annotations by `go test ./pkg/annotations -update-docs`; do not edit. -->\n\n")
	b.WriteString("Portico reads the `nginx.ingress.kubernetes.io/*` annotations ingress-nginx users already have\n")
	b.WriteString("(another prefix with `--annotations-prefix`). Each value is checked against what is allowed:\n\n")
	b.WriteString("- an invalid value is a Warning (`InvalidAnnotation`) on the Ingress; the Ingress keeps being\n")
	b.WriteString("  served as it was last accepted, and a new Ingress with an invalid value is not served until\n")
	b.WriteString("  it is fixed; other Ingresses are never affected;\n")
	b.WriteString("- except in the proxy group (timeouts, sizes, buffering) and the `auth-keepalive` keys (no\n")
	b.WriteString("  security control), where a plain\n")
	b.WriteString("  invalid value (letters, digits, `.`, `-`, `_` only, such as `60sec`) is ignored and the default\n")
	b.WriteString("  applies, as in ingress-nginx (`IgnoredAnnotationValue`, the Ingress is served); timeouts take\n")
	b.WriteString("  whole seconds or nginx time units (`1800s`, `30m`, `1h30m`, `500ms`);\n")
	b.WriteString("- `allowlist-source-range` and `whitelist-source-range`, `denylist-source-range` and\n")
	b.WriteString("  `blacklist-source-range`, `limit-allowlist` and `limit-whitelist` are two spellings of one key;\n")
	b.WriteString("  with both set the first (current) name wins, as in ingress-nginx, and a different value under\n")
	b.WriteString("  the other is reported (`ConflictingAnnotation`);\n")
	b.WriteString("- a key under the prefix that Portico does not implement and that asks for a security control\n")
	b.WriteString("  (authentication, client networks, rate limits, TLS verification, a WAF) makes the Ingress NOT\n")
	b.WriteString("  served (`UnsupportedSecurityAnnotation`): serving it without the control would fail open. These\n")
	b.WriteString("  are the unsupported keys matching ")
	for i, p := range SecurityPatterns() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("`" + p + "`")
	}
	b.WriteString(";\n  a misspelt auth key is one of them, and so is a `global-auth-*` key, which belongs in the options\n")
	b.WriteString("  ConfigMap ([configmap.md](configmap.md)): no Ingress may set the global auth (one may only opt out with\n")
	b.WriteString("  `enable-global-auth`). `enable-modsecurity` and `enable-owasp-core-rules` set to\n")
	b.WriteString("  `\"false\"` ask for nothing and are only reported;\n")
	b.WriteString("- any other key under the prefix that Portico does not implement is reported (`UnknownAnnotation`)\n")
	b.WriteString("  and ignored.\n\n")
	b.WriteString("Annotations apply to every path of the Ingress that carries them.\n")
	group := ""
	for _, f := range Fields() {
		if f.Group != group {
			group = f.Group
			fmt.Fprintf(&b, "\n## %s\n\n| annotation | allowed | default | risk | what it does |\n| --- | --- | --- | --- | --- |\n", group)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", f.Key, f.Allowed, f.Default, f.Risk, f.Doc)
	}
	b.WriteString(extAuthDoc())
	b.WriteString("\n## nginx variables\n\n")
	b.WriteString("`auth-url`, `auth-signin`, `permanent-redirect`, `temporal-redirect`, `upstream-vhost`,\n")
	b.WriteString("`x-forwarded-prefix`, `auth-cache-key`, `auth-request-redirect` and the values of a `custom-headers`\n")
	b.WriteString("ConfigMap may name these read-only\n")
	b.WriteString("nginx variables, as `$name` or `${name}` (NAME is lower-case letters, digits and `_`; names are\n")
	b.WriteString("lower-cased as nginx does):\n\n")
	b.WriteString("`" + strings.Join(ngxvar.Names(), "`, `") + "`")
	b.WriteString("\n\nAny other variable (or a `$` that starts none) makes the value invalid, with a message naming\n")
	b.WriteString("it. The value is parsed into literals and variables and printed back from them, every variable\n")
	b.WriteString("as `${name}`. Where a variable may stand in a URL:\n\n")
	b.WriteString("- `auth-url` is a URL nginx connects to: no variable in its scheme, host or port, so no client\n")
	b.WriteString("  chooses where nginx sends the subrequest; variables only in the path and query\n")
	b.WriteString("  (`$escaped_request_uri` not at all: the auth request carries `X-Original-URL`).\n")
	b.WriteString("- `auth-signin` and the redirects are URLs sent to the client: the scheme may be `$scheme`, the\n")
	b.WriteString("  host may be `$host` alone (optionally with a literal `:port`), because nginx matched it against\n")
	b.WriteString("  the server's names, so it is one of the Ingress's hosts (for a wildcard host, any name under\n")
	b.WriteString("  it; for a rule without a host, served by the catch-all server, whatever `Host` the client\n")
	b.WriteString("  sent: only that client is redirected there, since a browser sends the host of the URL it\n")
	b.WriteString("  opened; name the host in such rules); `$http_host` and every other variable\n")
	b.WriteString("  the client controls may stand only in the path and query. The client's credentials\n")
	b.WriteString("  (`$http_authorization`, `$http_proxy_authorization`, `$http_cookie`, `$cookie_NAME`) may not\n")
	b.WriteString("  stand in them at all: the browser would carry them to the next site.\n")
	b.WriteString("- `$uri` is not on the list: nginx percent-decodes it, so a client's `%0d%0a` would put a line\n")
	b.WriteString("  break into the header or redirect it stands in (measured: `GET /a%0d%0aX-Inj:%20yes` added\n")
	b.WriteString("  `X-Inj: yes`); `$request_uri` is the raw form and is allowed.\n")
	b.WriteString("- `$request_uri` starts with `/`, so it may follow the host directly\n")
	b.WriteString("  (`https://new.example.com$request_uri`).\n")
	b.WriteString("- `$escaped_request_uri` is `$request_uri` with everything but letters, digits and `-._~`\n")
	b.WriteString("  percent-encoded (ingress-nginx's variable); Portico defines it in the locations that use it,\n")
	b.WriteString("  with the Lua module, so it needs the Lua balancer (the default).\n")
	b.WriteString("- `auth-signin` without `rd=` in its query gets `rd=$scheme://$http_host$request_uri` appended.\n")
	b.WriteString("- `custom-headers` values (the entries of the ConfigMap) may name the same variables, anywhere in\n")
	b.WriteString("  the value (`X-Request-Start: t=${msec}`, `X-Seen-Host: $host`), except the client's\n")
	b.WriteString("  credentials (a response header would hand an HttpOnly cookie to scripts).\n")
	b.WriteString("  Such an entry, one with any other variable, and one naming a header that frames the response\n")
	b.WriteString("  (`Content-Length`, `Transfer-Encoding`, `Connection`, `Keep-Alive`, `Upgrade`, `TE`, `Trailer`,\n")
	b.WriteString("  `Proxy-Connection`) is skipped with an `IneffectiveAnnotation` warning naming it; the other\n")
	b.WriteString("  entries are served. ingress-nginx v1.15 printed a `$` in these values literally (it escaped\n")
	b.WriteString("  them); its global `add-headers` expanded variables, as Portico does here.\n")
	b.WriteString("\nExample:\n\n```yaml\nmetadata:\n  annotations:\n")
	b.WriteString("    nginx.ingress.kubernetes.io/proxy-read-timeout: \"300\"\n")
	b.WriteString("    nginx.ingress.kubernetes.io/proxy-body-size: 20m\n```\n")
	return b.String()
}

// TestAnnotationsDocIsCurrent fails when docs/annotations.md differs from the tables.
func TestAnnotationsDocIsCurrent(t *testing.T) {
	golden.Check(t, "../../docs/annotations.md", annotationsDoc(), *updateDocs, "run go test ./pkg/annotations -update-docs")
}

// snippetsDoc is docs/snippets.md: the prose says what the checker does
// and why; the tables come from snippetRules and refusedDirectives.
func snippetsDoc() string {
	var b strings.Builder
	b.WriteString(`# Snippets

<!-- Generated from pkg/annotations/snippet_directives.go by ` + "`go test ./pkg/annotations -update-docs`" + `; do not edit. -->

The ` + "`configuration-snippet`" + ` and ` + "`server-snippet`" + ` annotations add nginx directives to an
Ingress's locations and to its hosts' server block. They are off unless the operator allows them
for the Ingress's namespace (` + "`--allow-snippet-annotations`" + ` with ` + "`--snippet-namespaces`" + `). Even there, a
snippet may only use the directives listed below, where the table allows them, with arguments
their checks accept. The rule for the list: a namespace that owns its own hosts and nothing else
may change how nginx answers requests for those hosts, and nothing more. A snippet can never run
code in nginx, read or write a file, send a request to an address of its choosing, write a
variable Portico or another Ingress reads, or make ` + "`nginx -t`" + ` fail (a refused config stops every
later reload, other tenants' changes included).

Anything else is refused: the Ingress gets an ` + "`InvalidAnnotation`" + ` warning naming the directive and
the line, and keeps being served as it was last accepted (a new Ingress is not served until it is
fixed). Other Ingresses are never affected.

## How a snippet is checked

- It is parsed into a directive tree (nginx's own tokenizer rules) and printed back from that tree
  with every argument quoted, so it cannot leave the block it is in.
- Every directive must be in the table below and stand in one of its contexts:
  **server** (the top level of a server-snippet), **location** (the top level of a
  configuration-snippet: each location of the Ingress), **server-snippet location** (inside a
  ` + "`location`" + ` a server-snippet defines), **if (server)** and **if (location)** (inside an ` + "`if`" + `
  block there), **limit_except** (inside a ` + "`limit_except`" + ` block). The contexts follow nginx's own:
  inside ` + "`if`" + ` nginx allows few directives. ` + "`proxy_*`" + ` settings take effect only where nginx
  proxies: the server level (which the Ingress's locations inherit) and the Ingress's locations;
  a server-snippet's own locations cannot proxy.
- A directive nginx allows once per block may appear once per block; ` + "`proxy_redirect off`" + ` (and
  ` + "`proxy_cookie_domain/path/flags off`" + `) cannot share a block with another of the same directive.
- A configuration-snippet may not set a directive the Ingress's other annotations already print
  into the same locations (for example ` + "`proxy_read_timeout`" + ` with ` + "`proxy-read-timeout`" + `, the proxy
  buffer sizes with ` + "`proxy-buffer-size`" + `, ` + "`proxy_intercept_errors`" + ` with ` + "`custom-http-errors`" + `,
  ` + "`proxy_ssl_name`" + ` with the ` + "`proxy-ssl-*`" + ` annotations): nginx would refuse the duplicate.
- ` + "`proxy_buffer_size`" + `, ` + "`proxy_buffers`" + ` and ` + "`proxy_busy_buffers_size`" + ` go together in one block, and
  must agree as nginx requires (busy at least the larger buffer, at most all buffers but one):
  a snippet cannot see the values its block would otherwise inherit.
- Arguments never hold control characters (newline, tab, NUL...) and are at most 4096 bytes; a
  snippet is at most 16 KiB and 200 directives.

### Variables

Where nginx expands variables (header values, ` + "`return`" + ` texts and URLs, ` + "`rewrite`" + ` replacements,
` + "`set`" + ` values, ` + "`if`" + ` conditions, ` + "`error_page`" + ` targets, ` + "`sub_filter`" + `, ` + "`proxy_redirect`" + `,
` + "`proxy_cookie_*`" + `, ` + "`proxy_set_body`" + `, ` + "`proxy_ssl_name`" + `), a snippet may read:

- nginx's variables: ` + "`$http_NAME`, `$cookie_NAME`, `$arg_NAME`, `$sent_http_NAME`, `$sent_trailer_NAME`, `$upstream_http_NAME`, `$upstream_cookie_NAME`, `$upstream_trailer_NAME`" + `, and
  these names: ` + variableList() + `;
- the regex captures ` + "`$1`..`$9`" + `;
- the variables the same snippet sets with ` + "`set`" + `.

` + "`${name}`" + ` follows the same rule. Variables starting with ` + "`portico`" + ` (in any case: nginx ignores case
in variable names) are Portico's internals (the route a location proxies to, the config
generation, auth targets) and are never readable. A variable another Ingress's snippet sets is not
readable either: nginx -t refuses an unknown variable, so the config would break when that other
Ingress goes. ` + "`$document_root`, `$realpath_root`, `$request_filename`" + ` and ` + "`$request_body_file`" + ` name
files and are left out. nginx has no escape for a literal ` + "`$`" + `, so a ` + "`$`" + ` must start a variable.

Header values (` + "`add_header`, `add_trailer`, `proxy_set_header`, `grpc_set_header`" + `, the headers-more
directives, and the URL of a redirect, which becomes the ` + "`Location`" + ` header: ` + "`return`" + ` with a URL or a
3xx code, ` + "`rewrite`" + ` to a URL or with ` + "`redirect`/`permanent`" + `, ` + "`error_page`" + ` to a URL)
may not read a variable that can hold a line break the client chose: ` + "`$uri`" + ` and
` + "`$document_uri`" + ` (nginx percent-decodes them, so ` + "`GET /a%0d%0aX-Injected:%20yes`" + ` would add a header),
` + "`$request_body`, `$ssl_client_raw_cert`, `$ssl_client_cert`" + `, the regex captures ` + "`$1`..`$9`" + `, and a
variable the snippet sets from any of these. ` + "`$request_uri`" + ` is the raw form and may be used.

` + "`set $name value`" + ` creates a variable of the snippet's own: the name is lower-case letters, digits
and ` + "`_`" + `, not one of nginx's or the template's variables (` + "`$host`, `$args`, `$best_http_host`, `$req_id`" + `,
...), and does not start with ` + "`portico`" + ` or one of nginx's families (` + "`http_`, `cookie_`, `arg_`, `upstream_`, `ssl_`, `proxy_`" + `, ...).
Setting ` + "`$portico_route`" + ` would send the tenant's requests to another tenant's route; setting
` + "`$http_x_canary`" + ` would turn that request header into a plain variable for every host.

### Regexes

The regexes of ` + "`rewrite`" + `, ` + "`if ($x ~ re)`" + ` (and ` + "`~*`, `!~`, `!~*`" + `), ` + "`location ~ re`" + ` (and ` + "`~*`" + `) and
` + "`gzip_disable`" + ` are parsed by Portico's regex checker (pkg/pcre) and replaced in the tree by the
pattern it prints from their parse tree, prefixed with ` + "`(*LIMIT_MATCH=100000)`" + `. Named groups are
refused (nginx would set the variable of that name for every request that reaches the regex), and
so are shapes that backtrack exponentially, like ` + "`(a+)+`" + `. ` + "`proxy_redirect`" + `, ` + "`proxy_cookie_*`" + ` and
` + "`proxy_cookie_flags`" + ` take literal text only: their ` + "`~`" + ` regex forms are refused.

### Locations and reloads

A host has one server-snippet, from its oldest Ingress; another Ingress's server-snippet for the
same host is ignored with a ` + "`Conflict`" + ` warning (as in ingress-nginx, where it may be used once per
host). Its exact (` + "`=`" + `), prefix and ` + "`^~`" + ` locations and its ` + "`@name`" + ` locations must not be ones the
host already has: a path of the Ingresses (the older claim wins, the newer one gets a ` + "`Conflict`" + `
warning), an auth or error location. Paths are written as Ingress paths are; ` + "`/_portico...`" + `
paths and ` + "`@portico...`" + ` names are Portico's.

` + "`rewrite ... last`" + ` (and ` + "`error_page`" + ` to a URI) starts location matching again in the same server block,
whose locations all belong to the same host and so to the same namespace: that is the host owner's
business. Portico's internal endpoints live on a unix socket no server block reaches. No location
serves files: nginx's root is ` + "`/dev/null`" + `, so a request a snippet ends without an answer (a
` + "`break`" + ` that skips the location's ` + "`return`" + `, say) gets 404, whatever its rewritten path.

A configuration-snippet is printed after the location's own route is chosen and before its
rewrite-target and ` + "`proxy_pass`" + `, so ` + "`rewrite ... break`" + ` changes the path sent to the backend. A
` + "`proxy_set_header`" + ` in it keeps Portico's request headers (nginx would otherwise inherit none), and
Portico's own ones (` + "`Host`, `X-Forwarded-*`, `X-Real-IP`, `X-Request-ID`, `traceparent`" + `...) may not be
set again: use ` + "`upstream-vhost`" + ` and ` + "`x-forwarded-prefix`" + `. A ` + "`grpc_set_header`" + ` in it keeps the
trace context headers Portico sends gRPC backends, and may not set them ([tracing.md](tracing.md)). An
` + "`add_header`" + ` in it keeps the host's Strict-Transport-Security header.

### headers-more

ingress-nginx loads the headers-more module and snippets use it, so Portico allows its four
directives and loads the module (Debian's ` + "`libnginx-mod-http-headers-more-filter`" + `, a part of
` + "`nginx-extras`" + `) into the nginx.conf whenever a served snippet uses one; configs without them stay
as they were. When nginx has no such module file, an Ingress whose snippet uses them is NOT
served (` + "`HeadersMoreUnavailable`" + `, its paths answer 503): the headers may be security headers,
so they never disappear silently. The arguments are checked as nginx-headers-more reads them:
options first (` + "`-s \"codes\"`" + ` status codes 100-599 and ` + "`-t \"MIME types\"`" + `; ` + "`-r`" + ` on
` + "`more_set_input_headers`" + ` only; ` + "`-a`" + ` is refused), then at least one header,
printed back as ` + "`\"Name: value\"`" + ` or ` + "`Name`" + ` (clear). Clear directives take names, which may end in ` + "`*`" + `.
No directive may set or clear a header that frames the message or belongs to the connection
(` + "`Content-Length`, `Transfer-Encoding`, `Connection`, `Keep-Alive`, `Upgrade`, `TE`, `Trailer`,\n`Proxy-Connection`" + `, nor a ` + "`*`" + ` pattern covering one): a wrong length makes nginx send more or less body
than announced, and a proxy in front that shares its connections to nginx among all hosts would
read the rest as the answer to another client's request (measured: after
` + "`more_set_headers \"Content-Length: 1\"`" + `, the next response on the connection began with the rest of
the body). The input directives may not change ` + "`Host`" + `: nginx chose the server by it.

## Allowed directives

| directive | contexts | arguments | example |
| --- | --- | --- | --- |
`)
	for _, name := range SnippetDirectives() {
		r := snippetRules[name]
		ex := exampleOf(name)
		fmt.Fprintf(&b, "| `%s` | %s | %s | `%s` |\n", name, r.contexts, r.args, strings.ReplaceAll(ex, "|", `\|`))
	}
	b.WriteString(`
## Refused directives

Any directive not in the table above is refused. These are refused on purpose:

| directives | why |
| --- | --- |
`)
	for _, r := range refusedDirectives {
		names := make([]string, len(r.names))
		for i, n := range r.names {
			names[i] = "`" + n + "`"
		}
		fmt.Fprintf(&b, "| %s | %s |\n", strings.Join(names, ", "), r.reason)
	}
	return b.String()
}

// variableList lists the readable variable names for the docs.
func variableList() string {
	names := ReadableSnippetVariables()
	for i, n := range names {
		names[i] = "`$" + n + "`"
	}
	return strings.Join(names, ", ")
}

// TestSnippetsDocIsCurrent fails when docs/snippets.md differs from the table.
func TestSnippetsDocIsCurrent(t *testing.T) {
	golden.Check(t, "../../docs/snippets.md", snippetsDoc(), *updateDocs, "run go test ./pkg/annotations -update-docs")
}
