package annotations

import "testing"

// TestExternalAuthExtras: the auth keys oauth2-proxy, Authelia, Pomerium and
// Keycloak gatekeeper setups use parse into ExternalAuth, and every value
// outside its allowlist is refused (the auth keys fail closed); the
// keepalive keys, a performance option, fall back to their defaults.
func TestExternalAuthExtras(t *testing.T) {
	runValueCases(t, []valueCase[ExternalAuth]{
		{key: "auth-signin-redirect-param", valid: map[string]ExternalAuth{
			"rd":          {SignInRedirectParam: "rd"},
			"redirect_to": {SignInRedirectParam: "redirect_to"},
			"return.url~": {SignInRedirectParam: "return.url~"},
		}, bad: []string{"rd=x", "a b", "$host", "r&d", "x\";"}},
		{key: "auth-cache-key", valid: map[string]ExternalAuth{
			"$cookie__oauth2_proxy":         {CacheKey: "${cookie__oauth2_proxy}"},
			"$http_authorization":           {CacheKey: "${http_authorization}"},
			"user:${http_authorization}|v1": {CacheKey: "user:${http_authorization}|v1"},
		}, bad: []string{"fixed-key", "$remote_user", "$request_body", "a b$host", "$host\"", "${escaped_request_uri}", "$host}"}},
		{key: "auth-cache-duration", valid: map[string]ExternalAuth{
			"200 202 401 5m":            {CacheDuration: []string{"200 202 401 5m"}},
			"200 202 10m, 401  1m":      {CacheDuration: []string{"200 202 10m", "401 1m"}},
			"30s":                       {CacheDuration: []string{"30s"}},
			"any 1h":                    {CacheDuration: []string{"any 1h"}},
			"200 500ms, 401 2d, 403 1w": {CacheDuration: []string{"200 500ms", "401 2d", "403 1w"}},
		}, bad: []string{"200", "5m 200", "200 1h 30m", "600 5m", "200 5x", "200 5m; proxy_cache off", ","}},
		{key: "auth-proxy-set-headers", valid: map[string]ExternalAuth{
			"auth-headers":         {ProxySetHeaders: "auth-headers"},
			"default/auth-headers": {ProxySetHeaders: "default/auth-headers"},
		}, bad: []string{"Bad_Name", "a/b/c", "x;y"}},
		{key: "auth-request-redirect", valid: map[string]ExternalAuth{
			"https://app.example.com/after": {RequestRedirect: "https://app.example.com/after"},
			"$scheme://$host$request_uri":   {RequestRedirect: "${scheme}://${host}${request_uri}"},
			"/welcome?from=$args":           {RequestRedirect: "/welcome?from=${args}"},
			"$request_uri":                  {RequestRedirect: "${request_uri}"},
		}, bad: []string{"https://$http_x_to/", "//evil.example.com/", "https://$host/?r=$escaped_request_uri",
			"https://$host/?c=$http_cookie", "/a b", "/x\r\nX-Evil: 1", "welcome",
			"/welcome?from=$uri"}}, // nginx percent-decodes $uri: a client's CR LF would end the header
		{key: "auth-always-set-cookie", valid: map[string]ExternalAuth{
			"true": {AlwaysSetCookie: true}, "false": {},
		}, bad: []string{"yes please"}},
	}, func(s Set) ExternalAuth { return s.ExternalAuth })

	k := func(s string) string { return DefaultPrefix + "/" + s }
	runGroupCases(t, []groupCase[ExternalAuth]{
		{name: "keepalive", in: map[string]string{
			k("auth-keepalive"): "10", k("auth-keepalive-requests"): "200",
			k("auth-keepalive-timeout"): "30", k("auth-keepalive-share-vars"): "true",
		}, want: ExternalAuth{Keepalive: 10, KeepaliveRequests: 200, KeepaliveTimeout: 30, KeepaliveShareVars: true}},
		{name: "keepalive off", in: map[string]string{k("auth-keepalive"): "0"}, want: ExternalAuth{}},
		{name: "keepalive values out of range fall back", in: map[string]string{
			k("auth-keepalive"): "-1", k("auth-keepalive-requests"): "0", k("auth-keepalive-timeout"): "99999999",
		}, want: ExternalAuth{}, problems: []string{
			"IgnoredAnnotationValue " + k("auth-keepalive"),
			"IgnoredAnnotationValue " + k("auth-keepalive-requests"),
			"IgnoredAnnotationValue " + k("auth-keepalive-timeout"),
		}},
		{name: "keepalive with nginx syntax is refused", in: map[string]string{
			k("auth-keepalive"): "10; keepalive_timeout 1d",
		}, want: ExternalAuth{}, problems: []string{"InvalidAnnotation " + k("auth-keepalive")}},
		{name: "auth-keepalive-connections is not an ingress-nginx key", in: map[string]string{
			k("auth-keepalive-connections"): "10",
		}, want: ExternalAuth{}, problems: []string{"UnsupportedSecurityAnnotation " + k("auth-keepalive-connections")}},
	}, func(s Set) ExternalAuth { return s.ExternalAuth })
}
