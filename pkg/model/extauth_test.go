package model_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// authIngress is an Ingress ns/name on host with external auth annotations
// (keys without the prefix), its Service app and a ready endpoint.
func authIngress(ns, name, host string, anns map[string]string) string {
	var b strings.Builder
	for k, v := range anns {
		fmt.Fprintf(&b, "    nginx.ingress.kubernetes.io/%s: %q\n", k, v)
	}
	return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  namespace: %[1]s
  name: %[2]s
  annotations:
%[4]sspec:
  ingressClassName: portico
  rules:
  - host: %[3]s
    http: {paths: [{path: /%[1]s, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}
---
apiVersion: v1
kind: Service
metadata: {namespace: %[1]s, name: app}
spec: {ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: %[1]s, name: app-1, labels: {kubernetes.io/service-name: app}}
addressType: IPv4
ports: [{port: 8080}]
endpoints: [{addresses: [198.18.0.10]}]
`, ns, name, host, b.String())
}

// authEndpoint returns the only auth endpoint of host's server.
func authEndpoint(t *testing.T, cfg *model.Config, host string) *model.AuthEndpoint {
	t.Helper()
	srv := findServer(cfg, host)
	require.NotNil(t, srv, "server %s", host)
	require.Len(t, srv.AuthEndpoints, 1, "auth endpoints of %s", host)
	return &srv.AuthEndpoints[0]
}

// TestAuthCacheKeyPerIngress is the attack on the shared auth cache in the
// model: two namespaces on one host (shared hosts allowed) with the same
// auth-cache-key get different nginx keys, each starting with a hash of
// its own Ingress; the same Ingress keeps its key from build to build.
func TestAuthCacheKeyPerIngress(t *testing.T) {
	anns := map[string]string{"auth-url": "http://198.18.0.20/verify", "auth-cache-key": "$http_authorization"}
	snap, err := fixture.Parse([]byte(authIngress("team-a", "portal", "shared.example.com", anns) + "---\n" +
		authIngress("team-b", "portal", "shared.example.com", anns)))
	require.NoError(t, err)
	opts := testOptions()
	opts.AllowSharedHosts = true
	cfg, findings := model.Build(snap, opts)
	require.Empty(t, findings)
	srv := findServer(cfg, "shared.example.com")
	require.NotNil(t, srv)
	require.Len(t, srv.AuthEndpoints, 2)
	keys := map[string]bool{}
	for _, e := range srv.AuthEndpoints {
		require.NotNil(t, e.Cache, "%s caches", e.Path)
		assert.Regexp(t, `^[0-9a-f]{64}:\$\{host\}:\$\{http_authorization\}$`, e.Cache.Key)
		assert.Equal(t, []model.AuthCacheValid{{Codes: []string{"200", "202", "401"}, Time: "5m"}}, e.Cache.Valid, "ingress-nginx's default duration")
		keys[e.Cache.Key] = true
	}
	assert.Len(t, keys, 2, "the same auth-cache-key in two namespaces gives two keys")
	assert.True(t, cfg.AuthCacheZone, "the http block has the zone")
	again, _ := model.Build(snap, opts)
	assert.Equal(t, cfg.Servers, again.Servers, "keys are stable")
}

// TestAuthKeepaliveRefusedStaysRefused: auth-keepalive never gives a
// refused auth-url a way in. An address of the controller's own Pod
// (loopback here) is refused before any upstream is made, so the http
// block names no pool for it; an IP address elsewhere gets its own pool;
// a name keeps a connection per request, with a warning.
func TestAuthKeepaliveRefusedStaysRefused(t *testing.T) {
	ka := func(url string) map[string]string {
		return map[string]string{"auth-url": url, "auth-keepalive": "8", "auth-keepalive-timeout": "10"}
	}
	snap, err := fixture.Parse([]byte(authIngress("a", "loop", "loop.example.com", ka("http://127.0.0.1:10254/healthz")) + "---\n" +
		authIngress("b", "mapped", "mapped.example.com", ka("http://[::ffff:127.0.0.1]:10254/healthz")) + "---\n" +
		authIngress("c", "ok", "ok.example.com", ka("https://198.18.0.20/verify?u=$request_uri")) + "---\n" +
		authIngress("d", "named", "named.example.com", ka("http://auth.d.svc:4180/verify"))))
	require.NoError(t, err)
	cfg, findings := model.Build(snap, testOptions())

	for ns, host := range map[string]string{"a": "loop.example.com", "b": "mapped.example.com"} {
		srv := findServer(cfg, host)
		require.NotNil(t, srv)
		assert.Empty(t, srv.AuthEndpoints, "%s: a refused auth-url has no endpoint", host)
		got, _ := Route(cfg, host, "/"+ns)
		assert.Equal(t, "503", got, "%s fails closed", host)
	}
	require.Len(t, cfg.AuthUpstreams, 1, "only the IP address elsewhere gets a pool: %+v", cfg.AuthUpstreams)
	up := cfg.AuthUpstreams[0]
	assert.Equal(t, "198.18.0.20:443", up.Server)
	assert.Equal(t, model.AuthUpstream{Name: up.Name, Server: "198.18.0.20:443", Keepalive: 8, Requests: 1000, Timeout: "10s"}, up)
	ep := authEndpoint(t, cfg, "ok.example.com")
	assert.Equal(t, "https://"+up.Name+"/verify?u=${request_uri}", ep.URL)
	assert.Equal(t, "198.18.0.20", ep.Host, "the auth service sees its own host, not the pool's name")
	named := authEndpoint(t, cfg, "named.example.com")
	assert.Nil(t, named.Upstream)
	assert.Equal(t, "http://auth.d.svc:4180/verify", named.URL)

	var reasons []string
	for _, f := range findings {
		reasons = append(reasons, f.Object.Namespace+"/"+f.Object.Name+" "+f.Reason+" "+string(f.Severity))
	}
	assert.ElementsMatch(t, []string{
		"a/loop BackendAddressRefused NotServed",
		"b/mapped BackendAddressRefused NotServed",
		"d/named IneffectiveAnnotation PartlyServed",
	}, reasons)
}

// TestAuthProxySetHeadersEntries: the ConfigMap's entries are sent as
// they are (sorted, quoted by the template); an entry nginx would expand,
// one with a control character and one naming a header Portico sets make
// the Ingress fail closed, as do a map of another namespace and a missing
// one.
func TestAuthProxySetHeadersEntries(t *testing.T) {
	cm := func(ns, data string) string {
		return "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: " + ns + ", name: h}\ndata:\n" + data
	}
	cases := []struct {
		name, ref, data string
		want            []model.HeaderValue
		reason          string
	}{
		{name: "plain", ref: "h", data: "  X-Tenant: shop\n  X-Auth-Key: \"k; \\\"q\\\"\"\n",
			want: []model.HeaderValue{{Name: "X-Auth-Key", Value: `k; "q"`}, {Name: "X-Tenant", Value: "shop"}}},
		{name: "variable", ref: "h", data: "  X-Leak: $http_authorization\n", reason: model.ReasonIneffectiveAnnotation},
		{name: "control character", ref: "h", data: "  X-A: \"a\\r\\nHost: evil\"\n", reason: model.ReasonIneffectiveAnnotation},
		{name: "bad name", ref: "h", data: "  \"X A\": b\n", reason: model.ReasonIneffectiveAnnotation},
		{name: "content-length", ref: "h", data: "  content-length: \"5\"\n", reason: model.ReasonIneffectiveAnnotation},
		{name: "x-original-url", ref: "h", data: "  X-Original-URL: https://admin.example.com/\n", reason: model.ReasonIneffectiveAnnotation},
		{name: "traceparent", ref: "h", data: "  traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n", reason: model.ReasonIneffectiveAnnotation},
		{name: "other namespace", ref: "other/h", data: "  X-Tenant: shop\n", reason: model.ReasonIneffectiveAnnotation},
		{name: "missing", ref: "nope", data: "  X-Tenant: shop\n", reason: model.ReasonConfigMapNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := authIngress("app", "a", "a.example.com", map[string]string{"auth-url": "http://198.18.0.20/verify", "auth-proxy-set-headers": c.ref}) +
				cm("app", c.data) + cm("other", c.data)
			snap, err := fixture.Parse([]byte(doc))
			require.NoError(t, err)
			cfg, findings := model.Build(snap, testOptions())
			if c.reason == "" {
				require.Empty(t, findings)
				assert.Equal(t, c.want, authEndpoint(t, cfg, "a.example.com").SetHeaders)
				return
			}
			require.Len(t, findings, 1)
			assert.Equal(t, c.reason, findings[0].Reason)
			assert.Equal(t, model.NotServed, findings[0].Severity)
			assert.Empty(t, findServer(cfg, "a.example.com").AuthEndpoints, "nothing calls the auth service")
			got, _ := Route(cfg, "a.example.com", "/app")
			assert.Equal(t, "503", got, "the paths fail closed")
		})
	}
}
