//go:build linux

package local

import (
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// TestExternalAuthAnnotations shows auth-url on real traffic with an auth
// service on loopback: requests with the right token reach the backend
// with the user header the auth service set, others are refused, and a 401
// redirects to auth-signin with rd= the original URL.
func TestExternalAuthAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	var calls atomic.Int64
	auth := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		switch r.Header.Get("Authorization") {
		case "Bearer good":
			w.Header().Set("X-Auth-Request-User", "alice")
			w.WriteHeader(http.StatusOK)
		case "Bearer banned":
			w.WriteHeader(http.StatusForbidden)
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))

	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"app.yaml": annotate(ingressYAML("app", "app.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-url":              "http://" + auth.String() + "/verify",
			p + "auth-signin":           "https://login.example.com/start",
			p + "auth-response-headers": "X-Auth-Request-User",
		}),
	}})
	get := func(token string) framework.Response {
		var header map[string]string
		if token != "" {
			header = map[string]string{"Authorization": "Bearer " + token}
		}
		return authRequest(t, c, "app.example.com", "/page?x=1", header)
	}
	require.Eventually(t, func() bool { return get("good").Status == http.StatusOK }, framework.RouteTimeout, framework.PollInterval)
	ok := get("good")
	require.NotNil(t, ok.Echo, "%s", ok)
	assert.Equal(t, "alice", ok.Echo.Headers["X-Auth-Request-User"], "the auth answer's header reaches the backend")
	assert.Equal(t, http.StatusForbidden, get("banned").Status)
	anon := get("")
	assert.Equal(t, http.StatusFound, anon.Status)
	assert.Equal(t, "https://login.example.com/start?rd=http://app.example.com/page?x=1", anon.Header.Get("Location"))
	internal := regexp.MustCompile(`location = "(/_portico_auth_[0-9a-f]+)"`).FindStringSubmatch(string(c.MustStatusGet(t, "/debug/config")))
	require.Len(t, internal, 2, "the config has an internal auth location")
	assert.Equal(t, http.StatusNotFound, c.Get(t, "app.example.com", internal[1]).Status,
		"the internal auth location is not reachable from outside")
	assert.Positive(t, calls.Load())
}

// TestAuthMethodAnnotation shows auth-method on real traffic: with
// auth-method POST the external auth service receives a POST for a client's
// GET, and the request then reaches the backend.
func TestAuthMethodAnnotation(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	var mu sync.Mutex
	var methods []string
	auth := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))

	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"app.yaml": annotate(ingressYAML("app", "app.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-url":    "http://" + auth.String() + "/verify",
			p + "auth-method": "POST",
		}),
	}})
	c.WaitServed(t, "app.example.com", "/", "app")
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, methods, "the auth service must be called")
	for _, m := range methods {
		assert.Equal(t, http.MethodPost, m, "auth-method POST: the auth service sees POST")
	}
}
