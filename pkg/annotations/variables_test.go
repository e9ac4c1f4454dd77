package annotations

import "testing"

// TestVariablesInURLs: the URL annotations accept the allowlisted nginx
// variables, store the value re-rendered from its parts (brace form), and
// refuse a client-controlled variable where it would choose where nginx
// connects or where a redirect points.
func TestVariablesInURLs(t *testing.T) {
	auth := func(k string) string { return DefaultPrefix + "/" + k }
	runGroupCases(t, []groupCase[ExternalAuth]{
		{name: "oauth2-proxy", in: map[string]string{
			auth("auth-url"):    "http://oauth2-proxy.auth.svc:4180/oauth2/auth?uri=$request_uri",
			auth("auth-signin"): "https://$host/oauth2/start?rd=$escaped_request_uri",
		}, want: ExternalAuth{
			URL:    "http://oauth2-proxy.auth.svc:4180/oauth2/auth?uri=${request_uri}",
			SignIn: "https://${host}/oauth2/start?rd=${escaped_request_uri}",
		}},
		{name: "auth-url host from a header", in: map[string]string{
			auth("auth-url"): "http://$http_x_target/verify",
		}, problems: []string{"InvalidAnnotation " + auth("auth-url")}},
		{name: "auth-url host is $host", in: map[string]string{
			auth("auth-url"): "http://${host}:8080/verify",
		}, problems: []string{"InvalidAnnotation " + auth("auth-url")}},
		{name: "auth-url with escaped_request_uri", in: map[string]string{
			auth("auth-url"): "http://auth.example.com/?rd=$escaped_request_uri",
		}, problems: []string{"InvalidAnnotation " + auth("auth-url")}},
		{name: "auth-signin host from the Host header", in: map[string]string{
			auth("auth-signin"): "https://$http_host/start",
		}, problems: []string{"InvalidAnnotation " + auth("auth-signin")}},
		{name: "auth-signin variable off the list", in: map[string]string{
			auth("auth-signin"): "https://$host/start?x=$request_body",
		}, problems: []string{"InvalidAnnotation " + auth("auth-signin")}},
		{name: "auth-signin CR LF", in: map[string]string{
			auth("auth-signin"): "https://$host/start\r\nSet-Cookie: a=b",
		}, problems: []string{"InvalidAnnotation " + auth("auth-signin")}},
	}, func(s Set) ExternalAuth { return s.ExternalAuth })

	runGroupCases(t, []groupCase[Routing]{
		{name: "redirects keep host and URI", in: map[string]string{
			auth("permanent-redirect"): "https://new.example.com$request_uri",
			auth("temporal-redirect"):  "$scheme://$host:8443/moved?from=$request_uri&q=$arg_q",
		}, want: Routing{
			PermanentRedirect: "https://new.example.com${request_uri}",
			TemporalRedirect:  "${scheme}://${host}:8443/moved?from=${request_uri}&q=${arg_q}",
		}},
		{name: "redirect with the decoded URI", in: map[string]string{
			auth("permanent-redirect"): "https://new.example.com$uri",
		}, problems: []string{"InvalidAnnotation " + auth("permanent-redirect")}},
		{name: "redirect host from a cookie", in: map[string]string{
			auth("permanent-redirect"): "https://${cookie_to}/",
		}, problems: []string{"InvalidAnnotation " + auth("permanent-redirect")}},
		{name: "redirect with a quote", in: map[string]string{
			auth("temporal-redirect"): `https://a.example/"; return 200 "x`,
		}, problems: []string{"InvalidAnnotation " + auth("temporal-redirect")}},
	}, func(s Set) Routing { return s.Routing })
}

// TestVariablesInHeaders: upstream-vhost and x-forwarded-prefix accept the
// allowlisted variables, and refuse others, CR/LF and stray characters.
func TestVariablesInHeaders(t *testing.T) {
	k := func(s string) string { return DefaultPrefix + "/" + s }
	runGroupCases(t, []groupCase[Headers]{
		{name: "variables", in: map[string]string{
			k("upstream-vhost"):     "${arg_tenant}.svc.cluster.local:8080",
			k("x-forwarded-prefix"): "/$http_x_prefix/app",
		}, want: Headers{UpstreamVhost: "${arg_tenant}.svc.cluster.local:8080", XForwardedPrefix: "/${http_x_prefix}/app"}},
		{name: "header injection", in: map[string]string{
			k("upstream-vhost"):     "$host\r\nX-Injected: 1",
			k("x-forwarded-prefix"): `/$uri" always; add_header X "`,
		}, problems: []string{"InvalidAnnotation " + k("upstream-vhost"), "InvalidAnnotation " + k("x-forwarded-prefix")}},
		{name: "variable off the list", in: map[string]string{
			k("upstream-vhost"): "$proxy_host",
		}, problems: []string{"InvalidAnnotation " + k("upstream-vhost")}},
		{name: "decoded URI", in: map[string]string{
			k("upstream-vhost"):     "$uri",
			k("x-forwarded-prefix"): "/app${uri}",
		}, problems: []string{"InvalidAnnotation " + k("upstream-vhost"), "InvalidAnnotation " + k("x-forwarded-prefix")}},
	}, func(s Set) Headers { return s.Headers })
}
