//go:build linux

package local

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// TestAuthSigninVariables is the oauth2-proxy setup on real nginx:
// auth-signin https://$host/oauth2/start?rd=$escaped_request_uri sends an
// unauthenticated request (the auth service answers 401) to the sign-in URL
// with the original URL escaped in rd; with the session cookie the request
// reaches the backend with the auth answer's header; auth-url's variable in
// its query reaches the auth service. An Ingress whose auth-url takes its
// host from a header is not served, and nginx never calls that host.
func TestAuthSigninVariables(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	var mu sync.Mutex
	var uris []string
	auth := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		uris = append(uris, r.URL.Query().Get("uri"))
		mu.Unlock()
		if c, err := r.Cookie("_oauth2_proxy"); err == nil && c.Value == "ok" {
			w.Header().Set("X-Auth-Request-User", "alice")
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	var steered atomic.Int64
	target := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		steered.Add(1)
		w.WriteHeader(http.StatusOK)
	}))

	// The values are quoted: annotate writes a YAML flow map.
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"app.yaml": annotate(ingressYAML("app", "app.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-url":              strconv.Quote("http://" + auth.String() + "/oauth2/auth?uri=$request_uri"),
			p + "auth-signin":           strconv.Quote("https://$host/oauth2/start?rd=$escaped_request_uri"),
			p + "auth-response-headers": "X-Auth-Request-User",
		}),
		"steer.yaml": annotate(ingressYAML("steer", "steer.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-url": strconv.Quote("http://$http_x_target/verify"),
		}),
	}})
	get := func(host, path string, header map[string]string) framework.Response {
		return authRequest(t, c, host, path, header)
	}
	session := map[string]string{"Cookie": "_oauth2_proxy=ok"}
	require.Eventually(t, func() bool { return get("app.example.com", "/", session).Status == http.StatusOK },
		framework.RouteTimeout, framework.PollInterval)

	anon := get("app.example.com", "/page/a?x=1&y=b%20c", nil)
	assert.Equal(t, http.StatusFound, anon.Status, "%s", anon)
	assert.Equal(t, "https://app.example.com/oauth2/start?rd=%2Fpage%2Fa%3Fx%3D1%26y%3Db%2520c", anon.Header.Get("Location"),
		"the original URL is escaped in rd, and no second rd= is added")

	ok := get("app.example.com", "/deep/path", session)
	require.NotNil(t, ok.Echo, "%s", ok)
	assert.Equal(t, "alice", ok.Echo.Headers["X-Auth-Request-User"], "the auth answer's header reaches the backend")
	mu.Lock()
	assert.True(t, slices.Contains(uris, "/deep/path"), "auth-url's $request_uri reaches the auth service: %v", uris)
	mu.Unlock()

	// The attack: the client names the host nginx would ask. The Ingress is
	// refused, so its host is not served and nothing calls the target.
	for range 3 {
		r := get("steer.example.com", "/", map[string]string{"X-Target": target.String()})
		assert.Equal(t, http.StatusNotFound, r.Status, "an Ingress with a client-chosen auth host is not served: %s", r)
	}
	assert.Zero(t, steered.Load(), "nginx never connects to a host a header chose")
}
