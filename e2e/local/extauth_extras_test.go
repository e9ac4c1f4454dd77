//go:build linux

package local

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// authRequest sends GET host+path with headers through the controller's
// nginx and returns the answer (redirects are not followed), with the echo
// backend's reply when it answered.
func authRequest(t *testing.T, c *controller, host, path string, header map[string]string) framework.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://placeholder.invalid"+path, nil)
	require.NoError(t, err)
	req.Host = host
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Client.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	r := framework.Response{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
	var e framework.EchoReply
	if json.Unmarshal(body, &e) == nil && e.Service != "" {
		r.Echo = &e
	}
	return r
}

// TestAuthExtrasSignInFlow is the oauth2-proxy set-up with the keys issue 13
// added, on real nginx: auth-signin-redirect-param renames rd in the sign-in
// redirect; auth-proxy-set-headers' ConfigMap entries and
// auth-request-redirect's X-Auth-Request-Redirect reach the auth service;
// the auth answer's Set-Cookie reaches the client on the redirect and on a
// 200, and on a bare 401 only with auth-always-set-cookie. A header
// ConfigMap of another namespace refuses its Ingress (503), and editing the
// ConfigMap changes what the auth service receives.
func TestAuthExtrasSignInFlow(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	var mu sync.Mutex
	seen := map[string][]string{} // header name -> values the auth service received
	auth := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		for _, h := range []string{"X-Tenant", "X-Auth-Request-Redirect"} {
			seen[h] = append(seen[h], r.Header.Get(h))
		}
		mu.Unlock()
		w.Header().Set("Set-Cookie", "_auth_refresh=1; Path=/")
		if c, err := r.Cookie("_oauth2_proxy"); err == nil && c.Value == "ok" {
			w.Header().Set("X-Auth-Request-User", "alice")
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	last := func(h string) string {
		mu.Lock()
		defer mu.Unlock()
		v := seen[h]
		if len(v) == 0 {
			return ""
		}
		return v[len(v)-1]
	}

	const p = "nginx.ingress.kubernetes.io/"
	authURL := strconv.Quote("http://" + auth.String() + "/oauth2/auth")
	headers := func(tenant string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: auth-headers}\ndata:\n  X-Tenant: " + strconv.Quote(tenant) + "\n"
	}
	c := startController(t, options{files: map[string]string{
		"services.yaml":     servicesYAML(b),
		"auth-headers.yaml": headers("shop"),
		"other.yaml":        inNamespace("other", headers("stolen")),
		"app.yaml": annotate(ingressYAML("app", "app.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-url":                   authURL,
			p + "auth-signin":                "https://login.example.com/start",
			p + "auth-signin-redirect-param": "redirect_to",
			p + "auth-response-headers":      "X-Auth-Request-User",
			p + "auth-proxy-set-headers":     "auth-headers",
			p + "auth-request-redirect":      strconv.Quote("https://$host/after"),
		}),
		"always.yaml": annotate(ingressYAML("always", "always.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-url":               authURL,
			p + "auth-always-set-cookie": `"true"`,
		}),
		"plain.yaml": annotate(ingressYAML("plain", "plain.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-url": authURL,
		}),
		"thief.yaml": annotate(ingressYAML("thief", "thief.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-url":               authURL,
			p + "auth-proxy-set-headers": "other/auth-headers",
		}),
	}})
	session := map[string]string{"Cookie": "_oauth2_proxy=ok"}
	require.Eventually(t, func() bool { return authRequest(t, c, "app.example.com", "/", session).Status == http.StatusOK },
		framework.RouteTimeout, framework.PollInterval)

	anon := authRequest(t, c, "app.example.com", "/page?x=1", nil)
	assert.Equal(t, http.StatusFound, anon.Status, "%s", anon)
	assert.Equal(t, "https://login.example.com/start?redirect_to=http://app.example.com/page?x=1", anon.Header.Get("Location"),
		"auth-signin-redirect-param names the parameter that carries the original URL")
	assert.Equal(t, "_auth_refresh=1; Path=/", anon.Header.Get("Set-Cookie"), "the auth answer's cookie comes with the sign-in redirect")
	assert.Equal(t, "shop", last("X-Tenant"), "auth-proxy-set-headers: the ConfigMap's header reaches the auth service")
	assert.Equal(t, "https://app.example.com/after", last("X-Auth-Request-Redirect"), "auth-request-redirect sets X-Auth-Request-Redirect")

	ok := authRequest(t, c, "app.example.com", "/deep", session)
	assert.Equal(t, http.StatusOK, ok.Status, "%s", ok)
	assert.Contains(t, ok.Body, `"X-Auth-Request-User":"alice"`, "the auth answer's header reaches the backend")
	assert.Equal(t, "_auth_refresh=1; Path=/", ok.Header.Get("Set-Cookie"), "the auth answer's cookie comes with a 200")

	// A bare 401: the cookie only with auth-always-set-cookie.
	always := authRequest(t, c, "always.example.com", "/", nil)
	assert.Equal(t, http.StatusUnauthorized, always.Status, "%s", always)
	assert.Equal(t, "_auth_refresh=1; Path=/", always.Header.Get("Set-Cookie"), "auth-always-set-cookie passes Set-Cookie on a 401")
	plain := authRequest(t, c, "plain.example.com", "/", nil)
	assert.Equal(t, http.StatusUnauthorized, plain.Status, "%s", plain)
	assert.Empty(t, plain.Header.Get("Set-Cookie"), "without auth-always-set-cookie no cookie on a 401, as in ingress-nginx")

	// The attack: another namespace's ConfigMap. The Ingress fails closed.
	mu.Lock()
	calls := len(seen["X-Tenant"])
	mu.Unlock()
	thief := authRequest(t, c, "thief.example.com", "/", session)
	assert.Equal(t, http.StatusServiceUnavailable, thief.Status, "a header ConfigMap of another namespace refuses the Ingress: %s", thief)
	mu.Lock()
	assert.Len(t, seen["X-Tenant"], calls, "the refused Ingress never asks the auth service")
	assert.NotContains(t, seen["X-Tenant"], "stolen", "no other namespace's ConfigMap is read")
	mu.Unlock()

	// Editing the ConfigMap re-renders.
	c.update(t, "auth-headers.yaml", headers("shop-v2"))
	require.Equal(t, http.StatusFound, authRequest(t, c, "app.example.com", "/", nil).Status)
	assert.Equal(t, "shop-v2", last("X-Tenant"), "a ConfigMap change reaches the auth service")
}

// TestAuthCacheTenantIsolation: auth-cache-key caches answers
// (auth-cache-duration's window: a second request does not reach the auth
// service), and two Ingresses of two namespaces on one host (shared hosts
// allowed) with the same auth-cache-key never share an entry. The auth
// service admits the token for team-a's path only: were the entry shared,
// team-b would be let in on team-a's cached 200 without any call.
func TestAuthCacheTenantIsolation(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	var calls sync.Map // auth path -> *atomic.Int64
	count := func(path string) int64 {
		v, _ := calls.LoadOrStore(path, new(atomic.Int64))
		return v.(*atomic.Int64).Load()
	}
	auth := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := calls.LoadOrStore(r.URL.Path, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		if r.URL.Path == "/verify/a" && r.Header.Get("Authorization") == "Bearer shared" {
			w.Header().Set("X-Auth-Request-User", "alice")
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))

	const p = "nginx.ingress.kubernetes.io/"
	tenant := func(ns, path string) string {
		return inNamespace(ns, annotate(ingressYAML("portal", "shared.example.com", route{"/" + ns, "Prefix", "app"}), map[string]string{
			p + "auth-url":              strconv.Quote("http://" + auth.String() + path),
			p + "auth-cache-key":        strconv.Quote("$http_authorization"),
			p + "auth-cache-duration":   strconv.Quote("200 401 10m"),
			p + "auth-response-headers": "X-Auth-Request-User",
		}))
	}
	c := startController(t, options{
		files: map[string]string{
			"a.yaml": joinDocs(inNamespace("team-a", servicesYAML(b)), tenant("team-a", "/verify/a")),
			"b.yaml": joinDocs(inNamespace("team-b", servicesYAML(b)), tenant("team-b", "/verify/b")),
		},
		args: []string{"--allow-shared-hosts"},
	})
	token := map[string]string{"Authorization": "Bearer shared"}
	require.Eventually(t, func() bool { return authRequest(t, c, "shared.example.com", "/team-a", token).Status == http.StatusOK },
		framework.RouteTimeout, framework.PollInterval)
	a := count("/verify/a")
	for range 5 {
		r := authRequest(t, c, "shared.example.com", "/team-a", token)
		assert.Equal(t, http.StatusOK, r.Status, "%s", r)
		assert.Contains(t, r.Body, `"X-Auth-Request-User":"alice"`, "a cached answer still passes its headers to the backend")
	}
	assert.Equal(t, a, count("/verify/a"), "cached 200s: the auth service is not asked again within the window")

	for range 3 {
		r := authRequest(t, c, "shared.example.com", "/team-b", token)
		assert.Equal(t, http.StatusUnauthorized, r.Status, "team-b never gets team-a's cached answer: %s", r)
	}
	assert.Equal(t, int64(1), count("/verify/b"), "team-b's first request asks its own auth service, then its own cached 401 answers")
	assert.Equal(t, a, count("/verify/a"), "team-b's requests never reach team-a's auth service")
}

// TestAuthKeepalive: with auth-keepalive and an IP-address auth-url the
// auth service sees one TCP connection reused across checks; without it a
// connection per check. An auth-url whose host name does not resolve, with
// auth-keepalive, falls back to a connection per request instead of an
// upstream block: nginx loads the configuration and every other Ingress is
// served.
func TestAuthKeepalive(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	type authService struct {
		addr        *net.TCPAddr
		conns, hits atomic.Int64
		host        atomic.Value // the last Host header
	}
	start := func() *authService {
		s := &authService{}
		ln, err := net.Listen("tcp", net.JoinHostPort(allocIP(t), "0"))
		require.NoError(t, err)
		srv := &http.Server{
			ReadHeaderTimeout: 10 * time.Second,
			ConnState: func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					s.conns.Add(1)
				}
			},
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s.hits.Add(1)
				s.host.Store(r.Host)
				w.WriteHeader(http.StatusOK) // no body: nginx can keep the connection
			}),
		}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		s.addr = ln.Addr().(*net.TCPAddr)
		return s
	}
	kept, fresh := start(), start()

	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"kept.yaml": annotate(ingressYAML("kept", "kept.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-url":                strconv.Quote("http://" + kept.addr.String() + "/verify"),
			p + "auth-keepalive":          `"4"`,
			p + "auth-keepalive-requests": `"1000"`,
			p + "auth-keepalive-timeout":  `"60"`,
		}),
		"fresh.yaml": annotate(ingressYAML("fresh", "fresh.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-url": strconv.Quote("http://" + fresh.addr.String() + "/verify"),
		}),
		"named.yaml": annotate(ingressYAML("named", "named.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-url":       strconv.Quote("http://auth.portico-test.invalid:4180/verify"),
			p + "auth-keepalive": `"4"`,
		}),
		"bystander.yaml": ingressYAML("bystander", "bystander.example.com", route{"/", "Prefix", "app"}),
	}})
	c.WaitServed(t, "bystander.example.com", "/", "app")
	c.WaitServed(t, "kept.example.com", "/", "app")
	c.WaitServed(t, "fresh.example.com", "/", "app")
	keptConns, keptHits, freshConns, freshHits := kept.conns.Load(), kept.hits.Load(), fresh.conns.Load(), fresh.hits.Load()

	const n = 20
	for i := range n {
		for _, host := range []string{"kept.example.com", "fresh.example.com"} {
			r := c.Get(t, host, fmt.Sprintf("/r%d", i))
			require.Equal(t, http.StatusOK, r.Status, "%s: %s", host, r)
		}
	}
	assert.Equal(t, int64(n), kept.hits.Load()-keptHits, "every request is checked")
	assert.Equal(t, int64(n), fresh.hits.Load()-freshHits, "every request is checked")
	// One client connection reaches one worker, whose pool keeps the
	// connection: at most one new one (if the first check of the warm-up
	// was on another worker).
	assert.LessOrEqual(t, kept.conns.Load()-keptConns, int64(1), "auth-keepalive: the checks reuse one connection")
	assert.Equal(t, int64(n), fresh.conns.Load()-freshConns, "without auth-keepalive: a connection per check")
	assert.Equal(t, kept.addr.String(), kept.host.Load(), "the auth service sees auth-url's host, not the pool's name")

	assert.Contains(t, string(c.MustStatusGet(t, "/debug/config")), `upstream "portico_auth_`, "the IP-address auth-url has its upstream")
	assert.NotContains(t, string(c.MustStatusGet(t, "/debug/config")), "portico-test.invalid:4180;", "no upstream names the unresolvable host")
}
