//go:build linux

package local

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// TestGlobalAuth shows the ConfigMap's global external auth on real
// traffic: a path without auth-url asks the global auth service (401
// redirects to global-auth-signin with rd= the original URL, 200 passes
// with global-auth-response-headers sent upstream); an Ingress with its
// own auth-url asks only its own; enable-global-auth "false" skips it, and
// an ACME HTTP-01 challenge path (no-auth-locations) needs no token.
// An edit that makes global-auth-url invalid is a finding on the
// ConfigMap, and the previous global auth keeps applying.
func TestGlobalAuth(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	var mu sync.Mutex
	asked := map[string][]string{} // by auth service: the X-Original-URL of each subrequest
	authService := func(name, user string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			asked[name] = append(asked[name], r.Header.Get("X-Original-URL"))
			mu.Unlock()
			if r.Header.Get("Authorization") != "Bearer good" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Header().Set("X-Auth-Request-User", user)
			w.WriteHeader(http.StatusOK)
		}
	}
	global := serveLoopback(t, authService("global", "alice"))
	own := serveLoopback(t, authService("own", "bob"))
	askedOf := func(name string) []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), asked[name]...)
	}

	configMap := func(url string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico, namespace: default}\ndata:\n" +
			fmt.Sprintf("  global-auth-url: %q\n", url) +
			"  global-auth-signin: https://login.example.com/start\n" +
			"  global-auth-response-headers: X-Auth-Request-User\n"
	}
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{
		args: []string{"--configmap", "default/portico"},
		files: map[string]string{
			"services.yaml":  servicesYAML(b),
			"configmap.yaml": configMap("http://" + global.String() + "/verify"),
			"app.yaml":       ingressYAML("app", "app.example.com", route{"/", "Prefix", "app"}),
			"own.yaml": annotate(ingressYAML("own", "own.example.com", route{"/", "Prefix", "app"}), map[string]string{
				p + "auth-url":              "http://" + own.String() + "/check",
				p + "auth-response-headers": "X-Auth-Request-User",
			}),
			"optout.yaml": annotate(ingressYAML("optout", "optout.example.com", route{"/", "Prefix", "app"}), map[string]string{
				p + "enable-global-auth": `"false"`,
			}),
			// cert-manager's HTTP-01 solver: no-auth-locations' default.
			"solver.yaml": ingressYAML("cm-acme-http-solver-x7k2p", "app.example.com", route{"/.well-known/acme-challenge/tok3n", "Exact", "app"}),
		},
	})
	get := func(host, token string) framework.Response {
		h := map[string]string{}
		if token != "" {
			h["Authorization"] = "Bearer " + token
		}
		return c.getWith(t, host, "/page?x=1", h)
	}
	require.Eventually(t, func() bool { return get("app.example.com", "good").Status == http.StatusOK }, framework.RouteTimeout, framework.PollInterval)

	checkGlobal := func(t *testing.T) {
		t.Helper()
		ok := get("app.example.com", "good")
		require.NotNil(t, ok.Echo, "%s", ok)
		assert.Equal(t, "alice", ok.Echo.Headers["X-Auth-Request-User"], "the global auth answer's header reaches the backend")
		anon := get("app.example.com", "")
		assert.Equal(t, http.StatusFound, anon.Status, "%s", anon)
		assert.Equal(t, "https://login.example.com/start?rd=http://app.example.com/page?x=1", anon.Header.Get("Location"))
		assert.Nil(t, anon.Echo, "a refused request never reaches the backend")
	}
	checkGlobal(t)

	// The Ingress with its own auth-url asks its own service, never the global one.
	ownOK := get("own.example.com", "good")
	require.NotNil(t, ownOK.Echo, "%s", ownOK)
	assert.Equal(t, "bob", ownOK.Echo.Headers["X-Auth-Request-User"])
	assert.Equal(t, http.StatusUnauthorized, get("own.example.com", "").Status, "its own auth has no sign-in URL: a plain 401")
	assert.NotEmpty(t, askedOf("own"))
	for _, u := range askedOf("global") {
		assert.NotContains(t, u, "own.example.com", "the global auth service is not asked for an Ingress with its own auth-url")
		assert.NotContains(t, u, "optout.example.com", "nor for one that opted out")
	}

	// The ACME challenge on the protected host passes without a token.
	challenge := c.Get(t, "app.example.com", "/.well-known/acme-challenge/tok3n")
	require.NotNil(t, challenge.Echo, "%s", challenge)
	assert.Equal(t, http.StatusOK, challenge.Status)

	// The opted-out Ingress is served without any auth.
	free := get("optout.example.com", "")
	require.NotNil(t, free.Echo, "%s", free)
	assert.Equal(t, http.StatusOK, free.Status)
	assert.Empty(t, free.Echo.Headers["X-Auth-Request-User"])

	// A bad global-auth-url (a client-chosen host) is refused: a finding
	// on the ConfigMap, and the previous global auth keeps applying.
	c.writeManifest(t, "configmap.yaml", configMap("http://$http_x_target/verify"))
	require.Eventually(t, func() bool {
		logs := c.Logs.String()
		return strings.Contains(logs, "global auth refused") && strings.Contains(logs, "keeping the last accepted global auth")
	}, framework.ReloadTimeout, framework.PollInterval, "a finding for the refused global-auth-url")
	before := len(askedOf("global"))
	checkGlobal(t)
	assert.Greater(t, len(askedOf("global")), before, "the previous global auth service is still asked")
	evil := c.getWith(t, "app.example.com", "/page", map[string]string{"X-Target": "198.18.0.66"})
	assert.Equal(t, http.StatusFound, evil.Status, "no client chooses the auth service: %s", evil)

	// Later builds keep it too (the live config passes it back), while
	// the ConfigMap stays refused: an unrelated change reloads nginx.
	c.update(t, "later.yaml", ingressYAML("later", "later.example.com", route{"/", "Prefix", "app"}))
	checkGlobal(t)
	assert.Equal(t, http.StatusFound, get("later.example.com", "").Status, "a new Ingress gets the kept global auth")
}

// TestGlobalAuthFailsClosed: a controller that starts with a global auth
// it cannot honour (a misspelt global-auth key) and has none to keep
// answers 503 on the paths that would use it, never serves them
// unchecked, and reports it; opted-out Ingresses serve on. Fixing the
// ConfigMap puts the global auth in place.
func TestGlobalAuthFailsClosed(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	auth := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	configMap := func(key string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico, namespace: default}\ndata:\n" +
			fmt.Sprintf("  %s: %q\n", key, "http://"+auth.String()+"/verify")
	}
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{
		args: []string{"--configmap", "default/portico"},
		files: map[string]string{
			"services.yaml":  servicesYAML(b),
			"configmap.yaml": configMap("global-auth-urll"),
			"app.yaml":       ingressYAML("app", "app.example.com", route{"/", "Prefix", "app"}),
			"optout.yaml": annotate(ingressYAML("optout", "optout.example.com", route{"/", "Prefix", "app"}), map[string]string{
				p + "enable-global-auth": `"false"`,
			}),
		},
	})
	c.WaitServed(t, "optout.example.com", "/", "app")
	for _, token := range []string{"", "good"} {
		r := c.getWith(t, "app.example.com", "/", map[string]string{"Authorization": "Bearer " + token})
		assert.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r)
		assert.Nil(t, r.Echo, "nothing reaches the backend unchecked")
	}
	logs := c.Logs.String()
	assert.Contains(t, logs, "global-auth-urll: is not one of ingress-nginx's global-auth keys")
	assert.Contains(t, logs, "GlobalAuthUnavailable")

	c.update(t, "configmap.yaml", configMap("global-auth-url"))
	assert.Equal(t, http.StatusUnauthorized, c.Get(t, "app.example.com", "/").Status)
	ok := c.getWith(t, "app.example.com", "/", map[string]string{"Authorization": "Bearer good"})
	require.NotNil(t, ok.Echo, "%s", ok)
}

// TestGlobalAuthTenants: a namespace can opt only its own Ingress out of
// the global auth, and cannot change it for others. tenant-a's
// enable-global-auth "false" on its host leaves tenant-b's host asking the
// global auth service, and tenant-a's global-auth-url annotation (an
// allow-all service of its own) is refused: its Ingress is not served and
// the allow-all service is never asked.
func TestGlobalAuthTenants(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	var mu sync.Mutex
	asked := map[string]int{}
	count := func(name string, status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			asked[name]++
			mu.Unlock()
			w.WriteHeader(status)
		}
	}
	global := serveLoopback(t, count("global", http.StatusUnauthorized))
	allowAll := serveLoopback(t, count("allow-all", http.StatusOK))
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{
		args: []string{"--configmap", "default/portico"},
		files: map[string]string{
			"configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico, namespace: default}\ndata:\n" +
				fmt.Sprintf("  global-auth-url: %q\n", "http://"+global.String()+"/verify"),
			"tenant-a.yaml": inNamespace("tenant-a", joinDocs(servicesYAML(b),
				annotate(ingressYAML("optout", "a.example.com", route{"/", "Prefix", "app"}), map[string]string{
					p + "enable-global-auth": `"false"`,
				}),
				annotate(ingressYAML("sneaky", "sneaky.example.com", route{"/", "Prefix", "app"}), map[string]string{
					p + "global-auth-url":    "http://" + allowAll.String() + "/ok",
					p + "enable-global-auth": `"false"`,
				}))),
			"tenant-b.yaml": inNamespace("tenant-b", joinDocs(servicesYAML(b),
				ingressYAML("shop", "b.example.com", route{"/", "Prefix", "app"}))),
		},
	})
	c.WaitServed(t, "a.example.com", "/", "app")
	require.Eventually(t, func() bool { return c.Get(t, "b.example.com", "/").Status == http.StatusUnauthorized },
		framework.RouteTimeout, framework.PollInterval, "tenant-b's host asks the global auth")
	for range 5 {
		shop := c.Get(t, "b.example.com", "/")
		assert.Equal(t, http.StatusUnauthorized, shop.Status, "tenant-b keeps the global auth: %s", shop)
		assert.Nil(t, shop.Echo, "nothing reaches tenant-b's backend unchecked")
		assert.Equal(t, http.StatusOK, c.Get(t, "a.example.com", "/").Status, "tenant-a opted its own Ingress out")
		assert.Equal(t, http.StatusNotFound, c.Get(t, "sneaky.example.com", "/").Status, "a global-auth-* annotation refuses the Ingress")
	}
	assert.Contains(t, c.Logs.String(), "UnsupportedSecurityAnnotation")
	mu.Lock()
	defer mu.Unlock()
	assert.Positive(t, asked["global"])
	assert.Zero(t, asked["allow-all"], "no Ingress's annotation chooses an auth service for others")
}
