package annotations

import "strings"

// extAuthDoc is the external-auth section of docs/annotations.md: what the
// auth keys beyond auth-url do that their table rows cannot say.
func extAuthDoc() string {
	return strings.Join([]string{
		"",
		"## External auth, in detail",
		"",
		"- `auth-signin` gets `rd=$scheme://$http_host$request_uri` appended unless its query has `rd=`",
		"  already; with `auth-signin-redirect-param` the parameter has that name instead.",
		"- The answer's `Set-Cookie` reaches the client on 2xx and 3xx responses (the sign-in redirect",
		"  included), as in ingress-nginx; with `auth-always-set-cookie: \"true\"` on every response, a",
		"  401 or 403 included.",
		"- `auth-request-redirect` sets `X-Auth-Request-Redirect` (else it is `$request_uri`).",
		"- `auth-proxy-set-headers` names a ConfigMap of the Ingress's own namespace; each entry is sent to",
		"  the auth service as a header. A ConfigMap of another namespace, a missing one, an entry that is",
		"  not a header name and a value without `$` and control characters, or an entry for a header",
		"  Portico sets itself (`Host`, `Content-Length`, `Connection`, `X-Original-URL`, ...) makes the",
		"  Ingress NOT served: its paths answer 503 rather than ask the auth service without the headers",
		"  it expects. Changes to the ConfigMap are watched and re-rendered.",
		"- `auth-cache-key` caches the auth answers in one zone shared by all Ingresses; nginx's key is a",
		"  SHA-256 of the Ingress's namespace and name, the request's host, then the value. Two Ingresses",
		"  with the same value never read or fill each other's entries (docs/security.md). Answers",
		"  carrying `Set-Cookie` or `Cache-Control: no-cache`/`private` are not cached (nginx's rule). The",
		"  value must name at least one variable of the allowlist below.",
		"- `auth-keepalive` keeps idle connections to the auth service, in an upstream block of the",
		"  Ingress's own. nginx resolves a name in an upstream block when it loads the configuration, so",
		"  one name that does not resolve would fail the configuration of every Ingress: keepalive is",
		"  applied only when `auth-url`'s host is an IP address (a Service's cluster IP). With a name the",
		"  auth service gets a new connection per request, as without the key, and a warning says so",
		"  (`IneffectiveAnnotation`): keepalive is a performance option, not a control. nginx reuses a",
		"  connection after an answer without a body (`Content-Length: 0`, or 204).",
		"- `auth-keepalive-share-vars` is accepted for ingress-nginx's manifests: nginx's `auth_request`",
		"  always shares the request's variables with the auth request, and the auth location sets only",
		"  Portico's own.",
		"- `auth-snippet` is not supported (a snippet), and a key ingress-nginx never had under `auth-`",
		"  (such as `auth-keepalive-connections`) is a misspelt auth key: the Ingress is NOT served.",
		"",
	}, "\n")
}
