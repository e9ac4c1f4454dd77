package model_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// globalAuthFixture is testdata/configmap-global-auth.yaml with the
// ConfigMap's data replaced (nil keeps the fixture's).
func globalAuthFixture(t *testing.T, data map[string]string) *snapshot.Snapshot {
	t.Helper()
	snap := loadSnapshot(t, "testdata/configmap-global-auth.yaml")
	require.Len(t, snap.ConfigMaps, 1)
	if data != nil {
		cm := snap.ConfigMaps[0].DeepCopy()
		cm.Data = data
		snap.ConfigMaps = []*corev1.ConfigMap{cm}
	}
	return snap
}

// globalAuthOptions are testOptions reading the fixture's ConfigMap.
func globalAuthOptions() model.Options {
	opts := testOptions()
	opts.ConfigMap = "ops/portico"
	return opts
}

// fixtureGlobalAuth is the fixture's global-auth-* data.
var fixtureGlobalAuth = map[string]string{
	"global-auth-url":              "http://oauth2-proxy.auth.svc.cluster.local:4180/oauth2/auth",
	"global-auth-method":           "POST",
	"global-auth-signin":           "https://login.example.com/oauth2/start",
	"global-auth-response-headers": "X-Auth-Request-User, X-Auth-Request-Email",
	// The keys issue 13 added to auth-url's family, read by the same Fields.
	"global-auth-signin-redirect-param": "redirect_to",
	"global-auth-request-redirect":      "https://login.example.com/return",
	"global-auth-cache-key":             "$cookie__oauth2_proxy",
	"global-auth-cache-duration":        "200 202 5m, 401 30s",
	"global-auth-always-set-cookie":     "true",
}

// TestGlobalAuth: a path without its own auth-url asks the global auth
// service through the server's one global internal location, with the
// method, sign-in redirect and response headers of the ConfigMap; an
// Ingress with auth-url keeps its own; enable-global-auth "false" opts
// only that Ingress out, never another namespace's on another host.
func TestGlobalAuth(t *testing.T) {
	cfg, findings := model.Build(globalAuthFixture(t, nil), globalAuthOptions())
	for _, f := range findings {
		assert.NotEqual(t, "ConfigMap", f.Object.Kind, "the fixture's global auth is valid: %v", f)
	}
	require.NotNil(t, cfg.Global.GlobalAuth)
	assert.Empty(t, cfg.Global.GlobalAuth.Refused)

	for _, host := range []string{"app.example.com", "b.example.com"} {
		l, ok := prefixLocation(t, cfg, host, "/")
		require.True(t, ok, host)
		require.NotNil(t, l.ExternalAuth, "%s gets the global auth", host)
		assert.Equal(t, "/_portico_auth_global", l.ExternalAuth.Endpoint)
		assert.Equal(t, "https://login.example.com/oauth2/start?redirect_to=$scheme://$http_host$request_uri", l.ExternalAuth.SignIn)
		assert.True(t, l.ExternalAuth.AlwaysSetCookie, "global-auth-always-set-cookie")
		var names []string
		for _, h := range l.ExternalAuth.Headers {
			names = append(names, h.Name)
		}
		assert.Equal(t, []string{"X-Auth-Request-User", "X-Auth-Request-Email"}, names)
		assert.Len(t, l.SetHeaders, 2, "the auth answer's headers go upstream")
		srv := findServer(cfg, host)
		require.Len(t, srv.AuthEndpoints, 1)
		ep := srv.AuthEndpoints[0]
		require.NotNil(t, ep.Cache, "global-auth-cache-key caches the answers")
		assert.True(t, strings.HasSuffix(ep.Cache.Key, ":${host}:${cookie__oauth2_proxy}"), ep.Cache.Key)
		assert.Equal(t, []model.AuthCacheValid{{Codes: []string{"200", "202"}, Time: "5m"}, {Codes: []string{"401"}, Time: "30s"}}, ep.Cache.Valid)
		ep.Cache = nil
		assert.Equal(t, model.AuthEndpoint{Path: "/_portico_auth_global", URL: fixtureGlobalAuth["global-auth-url"], Method: "POST",
			RequestRedirect: "https://login.example.com/return"}, ep)
		assert.Equal(t, 0, l.Action.Return, "%s proxies", host)
	}

	own, ok := prefixLocation(t, cfg, "own.example.com", "/")
	require.True(t, ok)
	require.NotNil(t, own.ExternalAuth)
	assert.True(t, strings.HasPrefix(own.ExternalAuth.Endpoint, "/_portico_auth_") && own.ExternalAuth.Endpoint != "/_portico_auth_global",
		"an Ingress with auth-url uses its own: %s", own.ExternalAuth.Endpoint)
	assert.Empty(t, own.ExternalAuth.SignIn, "nothing of the global auth mixes into an Ingress's own")
	srv := findServer(cfg, "own.example.com")
	require.Len(t, srv.AuthEndpoints, 1)
	assert.Equal(t, "http://own-auth.default.svc.cluster.local/check", srv.AuthEndpoints[0].URL)

	optout, ok := prefixLocation(t, cfg, "a.example.com", "/")
	require.True(t, ok)
	assert.Nil(t, optout.ExternalAuth, "enable-global-auth false skips the global auth")
	acme := exactLocation(t, cfg, "b.example.com", "/.well-known/acme-challenge/Zm9vYmFy")
	assert.Nil(t, acme.ExternalAuth, "no-auth-locations' default exempts cert-manager's solver")
	assert.Empty(t, findServer(cfg, "a.example.com").AuthEndpoints)
}

// TestGlobalAuthRefused: global-auth-* values that cannot be honoured as
// written never switch the authentication off. With a last accepted global
// auth it stays (a finding on the ConfigMap); with none, the paths that
// would use it answer 503 (fail closed) and the Ingresses are reported
// not served, while those with their own auth-url or opted out serve on.
func TestGlobalAuthRefused(t *testing.T) {
	with := func(k, v string) map[string]string {
		d := maps.Clone(fixtureGlobalAuth)
		d[k] = v
		return d
	}
	cases := []struct {
		name     string
		data     map[string]string
		loopback bool
		message  string
	}{
		{name: "bad url", data: with("global-auth-url", "http://example.com/#;\nload_module /tmp/x.so;"), message: "global-auth-url: value"},
		{name: "client variable in the host", data: with("global-auth-url", "http://$http_x_target/verify"), message: "global-auth-url: value"},
		{name: "bad method", data: with("global-auth-method", "TRACE"), message: "global-auth-method"},
		{name: "bad signin", data: with("global-auth-signin", "javascript:alert(1)"), message: "global-auth-signin"},
		{name: "bad headers", data: with("global-auth-response-headers", "X-A\r\nX-B: 1"), message: "global-auth-response-headers"},
		{name: "a misspelt key", data: with("global-auth-urll", "http://auth.example.com/"), message: "global-auth-urll: is not one of"},
		{name: "a key not implemented", data: with("global-auth-snippet", "proxy_set_header X-A b;"), message: "global-auth-snippet: is not implemented yet"},
		{name: "loopback", data: with("global-auth-url", "http://127.0.0.1:4180/auth"), message: "global-auth-url is refused (loopback)"},
		{name: "the controller's own port even with loopback allowed", data: with("global-auth-url", "http://127.0.0.1:80/auth"), loopback: true, message: "global-auth-url is refused"},
		{name: "localhost", data: with("global-auth-url", "http://localhost:4180/auth"), message: "global-auth-url is refused (it is loopback"},
	}
	last := &model.GlobalAuth{Auth: annotations.ExternalAuth{URL: "http://last-auth.auth.svc.cluster.local/check"}, Exempt: []string{"/.well-known/acme-challenge"}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, withLast := range []bool{false, true} {
				opts := globalAuthOptions()
				opts.AllowLoopbackBackends = tc.loopback
				if withLast {
					opts.LastGlobalAuth = last
				}
				cfg, findings := model.Build(globalAuthFixture(t, tc.data), opts)
				var cmFindings []model.Finding
				unavailable := map[string]bool{}
				for _, f := range findings {
					switch {
					case f.Object.Kind == "ConfigMap":
						cmFindings = append(cmFindings, f)
					case f.Reason == model.ReasonGlobalAuthUnavailable:
						unavailable[f.Object.Namespace+"/"+f.Object.Name] = true
						assert.Equal(t, model.NotServed, f.Severity)
					}
				}
				require.Len(t, cmFindings, 1, "one finding on the ConfigMap: %v", findings)
				assert.Contains(t, cmFindings[0].Message, tc.message)
				assert.Equal(t, model.ReasonInvalidOption, cmFindings[0].Reason)
				require.NotNil(t, cfg.Global.GlobalAuth)
				for _, host := range []string{"app.example.com", "b.example.com"} {
					l, ok := prefixLocation(t, cfg, host, "/")
					require.True(t, ok, host)
					if withLast {
						require.NotNil(t, l.ExternalAuth, "%s keeps the last accepted global auth", host)
						assert.Equal(t, last.Auth.URL, findServer(cfg, host).AuthEndpoints[0].URL)
						continue
					}
					assert.Nil(t, l.ExternalAuth, host)
					assert.Equal(t, 503, l.Action.Return, "%s fails closed", host)
				}
				if withLast {
					assert.Equal(t, model.PartlyServed, cmFindings[0].Severity)
					assert.Contains(t, cmFindings[0].Message, "keeping the last accepted global auth")
					assert.Equal(t, last.Auth, cfg.Global.GlobalAuth.Auth)
					assert.Empty(t, unavailable)
				} else {
					assert.Equal(t, model.NotServed, cmFindings[0].Severity)
					assert.NotEmpty(t, cfg.Global.GlobalAuth.Refused)
					assert.Equal(t, map[string]bool{"default/app": true, "tenant-b/collide": true, "tenant-b/shop": true}, unavailable)
				}
				acme := exactLocation(t, cfg, "b.example.com", "/.well-known/acme-challenge/Zm9vYmFy")
				assert.Nil(t, acme.ExternalAuth, "the ACME solver is exempt")
				assert.Equal(t, 0, acme.Action.Return, "the ACME solver is served while the global auth is refused")
				own, ok := prefixLocation(t, cfg, "own.example.com", "/")
				require.True(t, ok)
				require.NotNil(t, own.ExternalAuth, "an Ingress with its own auth-url is unaffected")
				optout, ok := prefixLocation(t, cfg, "a.example.com", "/")
				require.True(t, ok)
				assert.Equal(t, 0, optout.Action.Return, "an Ingress that opted out is unaffected")
			}
		})
	}
}

// TestGlobalAuthKeys: keys without global-auth-url (or with empty values)
// give no global auth, and only a non-empty one is reported; a loopback
// auth service passes with --allow-loopback-backends, as a backend does.
func TestGlobalAuthKeys(t *testing.T) {
	cases := []struct {
		name     string
		data     map[string]string
		loopback bool
		auth     bool
		findings int
	}{
		{name: "none", data: map[string]string{}},
		{name: "empty url", data: map[string]string{"global-auth-url": ""}},
		{name: "signin without url", data: map[string]string{"global-auth-signin": "https://login.example.com/"}, findings: 1},
		{name: "loopback allowed", data: map[string]string{"global-auth-url": "http://127.0.0.1:4180/auth"}, loopback: true, auth: true},
		{name: "url alone", data: map[string]string{"global-auth-url": "https://auth.example.com/check?u=$request_uri"}, auth: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := globalAuthOptions()
			opts.AllowLoopbackBackends = tc.loopback
			cfg, findings := model.Build(globalAuthFixture(t, tc.data), opts)
			var cm []model.Finding
			for _, f := range findings {
				if f.Object.Kind == "ConfigMap" {
					cm = append(cm, f)
				}
			}
			assert.Len(t, cm, tc.findings, "%v", cm)
			l, ok := prefixLocation(t, cfg, "app.example.com", "/")
			require.True(t, ok)
			assert.Equal(t, tc.auth, l.ExternalAuth != nil)
			assert.Equal(t, tc.auth, cfg.Global.GlobalAuth != nil)
		})
	}
}

// exactLocation returns the "=" location of path on host.
func exactLocation(t *testing.T, cfg *model.Config, host, path string) model.Location {
	t.Helper()
	srv := findServer(cfg, host)
	require.NotNil(t, srv, host)
	for _, l := range srv.Locations {
		if l.Modifier == "=" && l.Path == path {
			return l
		}
	}
	require.Failf(t, "no location", "= %s on %s", path, host)
	return model.Location{}
}

// TestNoAuthLocations: the locations under no-auth-locations skip the
// global auth and the others of the same Ingress keep it; "" exempts
// nothing; a bad list refuses the global auth (fail closed), and without
// global auth it is only reported.
func TestNoAuthLocations(t *testing.T) {
	mixed := func(t *testing.T, snap *snapshot.Snapshot) {
		ing := snap.Ingresses[0]
		require.Equal(t, "app", ing.Name)
		prefix := ing.Spec.Rules[0].HTTP.Paths[0]
		prefix.Path = "/public"
		ing.Spec.Rules[0].HTTP.Paths = append(ing.Spec.Rules[0].HTTP.Paths, prefix)
	}
	cases := []struct {
		name      string
		noAuth    *string
		url       bool
		exempt    bool
		refused   bool
		cmFinding bool
	}{
		{name: "default", url: true},
		{name: "listed", noAuth: ptr("/public, /.well-known/acme-challenge"), url: true, exempt: true},
		{name: "none", noAuth: ptr(""), url: true},
		{name: "bad", noAuth: ptr("/public;"), url: true, refused: true, cmFinding: true},
		{name: "bad without global auth", noAuth: ptr("/a b"), cmFinding: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := map[string]string{}
			if tc.url {
				data = maps.Clone(fixtureGlobalAuth)
			}
			if tc.noAuth != nil {
				data["no-auth-locations"] = *tc.noAuth
			}
			snap := globalAuthFixture(t, data)
			mixed(t, snap)
			cfg, findings := model.Build(snap, globalAuthOptions())
			cm := 0
			for _, f := range findings {
				if f.Object.Kind == "ConfigMap" {
					cm++
					assert.Contains(t, f.Message, "no-auth-locations")
				}
			}
			assert.Equal(t, tc.cmFinding, cm == 1, "%v", findings)
			root, ok := prefixLocation(t, cfg, "app.example.com", "/")
			require.True(t, ok)
			public, ok := prefixLocation(t, cfg, "app.example.com", "/public/")
			require.True(t, ok)
			switch {
			case !tc.url:
				assert.Nil(t, root.ExternalAuth)
				assert.Nil(t, public.ExternalAuth)
			case tc.refused:
				assert.Equal(t, 503, root.Action.Return)
				assert.Equal(t, 503, public.Action.Return, "a refused list exempts nothing")
			default:
				assert.NotNil(t, root.ExternalAuth)
				assert.Equal(t, tc.exempt, public.ExternalAuth == nil)
				assert.Equal(t, tc.exempt, len(public.SetHeaders) == 0, "no auth headers where there is no auth")
			}
		})
	}
}

func ptr(s string) *string { return &s }
