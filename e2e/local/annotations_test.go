//go:build linux

package local

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// annotate adds annotations to an Ingress made by ingressYAML, whose
// metadata is the flow mapping "{name: NAME}".
func annotate(ingress string, annotations map[string]string) string {
	var b strings.Builder
	for k, v := range annotations {
		b.WriteString(", " + k + ": " + v)
	}
	start := strings.Index(ingress, "metadata: {name: ")
	end := strings.Index(ingress[start:], "}") + start
	return ingress[:end] + ", annotations: {" + strings.TrimPrefix(b.String(), ", ") + "}" + ingress[end:]
}

// post sends a body of n bytes to host+path through nginx and returns the status.
func (c *controller) post(t *testing.T, host, path string, n int) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://placeholder.invalid"+path, bytes.NewReader(make([]byte, n)))
	require.NoError(t, err)
	req.Host = host
	resp, err := c.client.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestProxyBodySizeAnnotation shows proxy-body-size on real traffic: it
// limits the Ingress that carries it and no other; an invalid edit keeps
// the last accepted version serving, with the problem in the log; an
// unknown annotation is reported and ignored.
func TestProxyBodySizeAnnotation(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "small", "big")
	const small, big = "small.example.com", "big.example.com"
	limited := func(value string) string {
		return annotate(ingressYAML("small", small, route{"/", "Prefix", "small"}),
			map[string]string{"nginx.ingress.kubernetes.io/proxy-body-size": value})
	}
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"small.yaml":    limited("1k"),
		"big.yaml": annotate(ingressYAML("big", big, route{"/", "Prefix", "big"}),
			map[string]string{"nginx.ingress.kubernetes.io/enable-magic": `"true"`}),
	}})
	c.waitServed(t, small, "/", "small")
	c.waitServed(t, big, "/", "big")

	assert.Equal(t, http.StatusOK, c.post(t, small, "/", 512))
	assert.Equal(t, http.StatusRequestEntityTooLarge, c.post(t, small, "/", 4096), "proxy-body-size 1k must refuse 4 KiB")
	assert.Equal(t, http.StatusOK, c.post(t, big, "/", 4096), "another Ingress keeps the global limit")
	require.Eventually(t, func() bool {
		return strings.Contains(c.logs.String(), "enable-magic is not supported")
	}, routeTimeout, pollInterval, "an unknown annotation is reported")

	// An invalid value (an injection attempt) is refused: the last accepted
	// version keeps serving, limit included, and the log says why.
	gen := c.generation(t)
	c.writeManifest(t, "small.yaml", limited(`"1m; return 200 pwned"`))
	require.Eventually(t, func() bool {
		return strings.Contains(c.logs.String(), "still serving the last accepted version")
	}, routeTimeout, pollInterval)
	assert.Equal(t, gen, c.generation(t), "a refused edit must not reload nginx")
	assert.Equal(t, http.StatusRequestEntityTooLarge, c.post(t, small, "/", 4096))
	assert.NotContains(t, string(c.mustGet(t, "/debug/config")), "pwned")

	// A valid edit applies.
	c.update(t, "small.yaml", limited("8k"))
	assert.Equal(t, http.StatusOK, c.post(t, small, "/", 4096))
	assert.Equal(t, http.StatusRequestEntityTooLarge, c.post(t, small, "/", 16384))
}

// TestAccessAnnotations shows the access annotations on real traffic from
// 127.0.0.1: an allow list without it refuses, a deny list with it
// refuses, a rate limit answers 503 past its burst, and limit-whitelist
// exempts the client from the limit.
func TestAccessAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	ing := func(name string, ann map[string]string) string {
		return annotate(ingressYAML(name, name+".example.com", route{"/", "Prefix", "app"}), ann)
	}
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"allowed.yaml":  ing("allowed", map[string]string{p + "whitelist-source-range": `"127.0.0.0/8"`}),
		"walled.yaml":   ing("walled", map[string]string{p + "whitelist-source-range": `"192.0.2.0/24"`}),
		"denied.yaml":   ing("denied", map[string]string{p + "denylist-source-range": `"127.0.0.1"`}),
		"limited.yaml": ing("limited", map[string]string{p + "limit-rps": `"1"`,
			p + "limit-burst-multiplier": `"1"`}),
		"exempt.yaml": ing("exempt", map[string]string{p + "limit-rps": `"1"`,
			p + "limit-burst-multiplier": `"1"`, p + "limit-whitelist": `"127.0.0.1"`}),
	}})
	c.waitServed(t, "allowed.example.com", "/", "app")
	assert.Equal(t, http.StatusForbidden, c.getHTTP(t, "walled.example.com", "/").status)
	assert.Equal(t, http.StatusForbidden, c.getHTTP(t, "denied.example.com", "/").status)

	// 1 r/s with a burst of 1: among 10 immediate requests most are refused.
	count := func(host string) (ok, limited int) {
		for range 10 {
			switch c.getHTTP(t, host, "/").status {
			case http.StatusOK:
				ok++
			case http.StatusServiceUnavailable:
				limited++
			}
		}
		return ok, limited
	}
	ok, limited := count("limited.example.com")
	assert.GreaterOrEqual(t, limited, 5, "limit-rps must refuse requests past the burst (%d ok)", ok)
	ok, limited = count("exempt.example.com")
	assert.Equal(t, 10, ok, "limit-whitelist exempts 127.0.0.1 (%d limited)", limited)
}

// TestRoutingAnnotations shows redirects on real traffic: permanent and
// temporal redirects, app-root, ssl-redirect turned off for one Ingress on
// a TLS host, and force-ssl-redirect on a host without TLS.
func TestRoutingAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	ing := func(name, host, path string, ann map[string]string) string {
		return annotate(ingressYAML(name, host, route{path, "Prefix", "app"}), ann)
	}
	kp := newKeyPair(t, "tls.example.com")
	secure := ingressYAML("secure", "tls.example.com", route{"/", "Prefix", "app"})
	secure = withTLS(secure, "tls.example.com", "tls")
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"secret.yaml":   secretYAML("tls", kp),
		"secure.yaml":   secure,
		"open.yaml":     ing("open", "tls.example.com", "/.well-known", map[string]string{p + "ssl-redirect": `"false"`}),
		"forced.yaml":   ing("forced", "forced.example.com", "/", map[string]string{p + "force-ssl-redirect": `"true"`}),
		"moved.yaml": ing("moved", "old.example.com", "/", map[string]string{
			p + "permanent-redirect": "https://new.example.com/landing", p + "permanent-redirect-code": `"308"`}),
		"temp.yaml":   ing("temp", "temp.example.com", "/", map[string]string{p + "temporal-redirect": "https://elsewhere.example.com/"}),
		"rooted.yaml": ing("rooted", "root.example.com", "/", map[string]string{p + "app-root": "/app"}),
	}})
	c.waitServed(t, "root.example.com", "/app", "app")
	cases := []struct {
		host, path string
		status     int
		location   string
	}{
		{"old.example.com", "/x", http.StatusPermanentRedirect, "https://new.example.com/landing"},
		{"temp.example.com", "/x", http.StatusFound, "https://elsewhere.example.com/"},
		{"root.example.com", "/", http.StatusFound, "/app"},
		{"tls.example.com", "/page?q=1", http.StatusPermanentRedirect, "https://tls.example.com:" + strconv.Itoa(c.httpsPort) + "/page?q=1"},
		{"forced.example.com", "/", http.StatusPermanentRedirect, "https://forced.example.com:" + strconv.Itoa(c.httpsPort) + "/"},
	}
	for _, tc := range cases {
		r := c.getHTTP(t, tc.host, tc.path)
		assert.Equal(t, tc.status, r.status, "%s%s: %s", tc.host, tc.path, r)
		assert.True(t, strings.HasSuffix(r.header.Get("Location"), tc.location), "%s%s: Location %q, want %q",
			tc.host, tc.path, r.header.Get("Location"), tc.location)
	}
	r := c.getHTTP(t, "tls.example.com", "/.well-known/acme-challenge/x")
	assert.Equal(t, http.StatusOK, r.status, "ssl-redirect: false serves plain HTTP: %s", r)
	assert.Equal(t, "app", r.served())
}

// startCORSAPI serves api.example.com from Service "api" with enable-cors
// and the given cors-* annotations (keys without the prefix), and waits
// until it is served.
func startCORSAPI(t *testing.T, cors map[string]string) *controller {
	t.Helper()
	b := startBackends(t, "api")
	ann := map[string]string{"nginx.ingress.kubernetes.io/enable-cors": `"true"`}
	for k, v := range cors {
		ann["nginx.ingress.kubernetes.io/"+k] = v
	}
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"api.yaml":      annotate(ingressYAML("api", "api.example.com", route{"/", "Prefix", "api"}), ann),
	}})
	c.waitServed(t, "api.example.com", "/", "api")
	return c
}

// corsRequest sends method for api.example.com/data with the given headers
// and returns the answer (body closed).
func (c *controller) corsRequest(t *testing.T, method string, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, "http://placeholder.invalid/data", nil)
	require.NoError(t, err)
	req.Host = "api.example.com"
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.client.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp
}

// TestCORSAnnotations shows enable-cors on real traffic: a preflight is
// answered by nginx with 204 and the CORS headers, and a request from an
// allowed origin gets it echoed while another origin gets no header.
func TestCORSAnnotations(t *testing.T) {
	t.Parallel()
	c := startCORSAPI(t, map[string]string{"cors-allow-origin": `"https://app.example.com, https://admin.example.com"`})
	do := func(method, origin string) *http.Response {
		return c.corsRequest(t, method, map[string]string{"Origin": origin, "Access-Control-Request-Method": "PUT"})
	}
	pre := do(http.MethodOptions, "https://app.example.com")
	assert.Equal(t, http.StatusNoContent, pre.StatusCode, "nginx answers the preflight")
	assert.Equal(t, "https://app.example.com", pre.Header.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, pre.Header.Get("Access-Control-Allow-Methods"), "PUT")
	assert.Equal(t, "true", pre.Header.Get("Access-Control-Allow-Credentials"))

	get := do(http.MethodGet, "https://admin.example.com")
	assert.Equal(t, http.StatusOK, get.StatusCode)
	assert.Equal(t, "https://admin.example.com", get.Header.Get("Access-Control-Allow-Origin"))
	other := do(http.MethodGet, "https://evil.example.net")
	assert.Equal(t, http.StatusOK, other.StatusCode)
	assert.Empty(t, other.Header.Get("Access-Control-Allow-Origin"), "an origin not listed gets no CORS header")
}

// TestHeadersAnnotations shows upstream-vhost and x-forwarded-prefix as the
// backend receives them, and server-alias answering for an extra name.
func TestHeadersAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"app.yaml": annotate(ingressYAML("app", "app.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "upstream-vhost":     "internal.example.svc",
			p + "x-forwarded-prefix": "/app",
			p + "server-alias":       "www.app.example.com",
		}),
	}})
	c.waitServed(t, "app.example.com", "/", "app")
	r := c.getHTTP(t, "app.example.com", "/x")
	require.NotNil(t, r.echo, "%s", r)
	assert.Equal(t, "internal.example.svc", r.echo.Host, "upstream-vhost sets the Host the backend sees")
	assert.Equal(t, "/app", r.echo.Headers["X-Forwarded-Prefix"])
	assert.Equal(t, "app.example.com", r.echo.Headers["X-Forwarded-Host"], "the other proxy headers are kept")
	alias := c.getHTTP(t, "www.app.example.com", "/")
	assert.Equal(t, http.StatusOK, alias.status, "server-alias answers: %s", alias)
	assert.Equal(t, "app", alias.served())
}

// TestRewriteAnnotations shows rewrite-target with use-regex on real
// traffic: the backend receives the rewritten path, and the other paths of
// the host keep longest-match routing.
func TestRewriteAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "api", "web", "static")
	const p = "nginx.ingress.kubernetes.io/"
	rewrite := annotate(ingressYAML("rewrite", "rw.example.com", route{"/api(/|$)(.*)", "ImplementationSpecific", "api"}),
		map[string]string{p + "use-regex": `"true"`, p + "rewrite-target": "/$2"})
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"rewrite.yaml":  rewrite,
		"plain.yaml": ingressYAML("plain", "rw.example.com",
			route{"/", "Prefix", "web"}, route{"/static", "Prefix", "static"}),
	}})
	c.waitServed(t, "rw.example.com", "/api/users", "api")
	cases := []struct{ path, service, seen string }{
		{"/api/users?id=7", "api", "/users?id=7"},
		{"/api", "api", "/"},
		{"/static/app.js", "static", "/static/app.js"},
		{"/staticfile", "web", "/staticfile"},
	}
	for _, tc := range cases {
		r := c.getHTTP(t, "rw.example.com", tc.path)
		require.NotNil(t, r.echo, "%s: %s", tc.path, r)
		assert.Equal(t, tc.service, r.served(), tc.path)
		assert.Equal(t, tc.seen, r.echo.Path, "path the backend received for %s", tc.path)
	}
}

// TestBasicAuthAnnotations shows auth-type basic on real traffic: no or
// wrong credentials get 401 with the realm, the right ones reach the
// backend; the htpasswd file is mode 0600, owned by the nginx workers.
func TestBasicAuthAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	// alice / s3cret (openssl passwd -apr1 -salt abcdefgh s3cret)
	secret := "apiVersion: v1\nkind: Secret\nmetadata: {name: users}\nstringData:\n  auth: \"alice:$apr1$abcdefgh$M2T3erDstkD7SsE2QQnfH0\"\n"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"secret.yaml":   secret,
		"app.yaml": annotate(ingressYAML("app", "private.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-type": "basic", p + "auth-secret": "users", p + "auth-realm": `"Staff only"`,
		}),
	}})
	// nginx workers run as nobody and open the htpasswd file per request;
	// t.TempDir's directories are 0700, so let other users traverse them as
	// /etc/portico (0711) allows in a real deployment.
	for dir := c.configDir; dir != os.TempDir() && dir != "/"; dir = filepath.Dir(dir) {
		require.NoError(t, os.Chmod(dir, 0o711))
	}
	get := func(user, pass string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, "http://placeholder.invalid/", nil)
		require.NoError(t, err)
		req.Host = "private.example.com"
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := c.client.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp
	}
	require.Eventually(t, func() bool { return get("", "").StatusCode == http.StatusUnauthorized }, routeTimeout, pollInterval)
	assert.Contains(t, get("", "").Header.Get("WWW-Authenticate"), `realm="Staff only"`)
	assert.Equal(t, http.StatusUnauthorized, get("alice", "wrong").StatusCode)
	assert.Equal(t, http.StatusOK, get("alice", "s3cret").StatusCode)

	files, err := filepath.Glob(filepath.Join(c.configDir, "auth", "*.htpasswd"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	fi, err := os.Stat(files[0])
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.NotContains(t, c.logs.String(), "$apr1$", "password hashes stay out of the logs")
	assert.NotContains(t, string(c.mustGet(t, "/debug/config")), "$apr1$")
}

// TestSnippetAnnotations shows snippets on real traffic where the operator
// allows them, and ignored (with a warning) where it does not.
func TestSnippetAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	snippet := map[string]string{p + "configuration-snippet": `"add_header X-Snippet yes always;"`}
	tenant := strings.Replace(annotate(ingressYAML("tenant", "tenant.example.com", route{"/", "Prefix", "app"}), snippet),
		"metadata: {name: tenant", "metadata: {namespace: tenant, name: tenant", 1)
	c := startController(t, options{
		files: map[string]string{
			"services.yaml": servicesYAML(b),
			"tenant-svc.yaml": strings.ReplaceAll(strings.ReplaceAll(servicesYAML(b),
				"metadata: {name:", "metadata: {namespace: tenant, name:"), "metadata:\n  name:", "metadata:\n  namespace: tenant\n  name:"),
			"trusted.yaml": annotate(ingressYAML("trusted", "trusted.example.com", route{"/", "Prefix", "app"}), snippet),
			"tenant.yaml":  tenant,
		},
		args: []string{"--allow-snippet-annotations", "--snippet-namespaces", "default"},
	})
	c.waitServed(t, "trusted.example.com", "/", "app")
	c.waitServed(t, "tenant.example.com", "/", "app")
	assert.Equal(t, "yes", c.getHTTP(t, "trusted.example.com", "/").header.Get("X-Snippet"))
	assert.Empty(t, c.getHTTP(t, "tenant.example.com", "/").header.Get("X-Snippet"), "namespace tenant is not allowed snippets")
	assert.Contains(t, c.logs.String(), "snippet annotations are ignored")
}

// TestBalanceAnnotations shows upstream-hash-by on real traffic: each path
// always reaches the same endpoint, and different paths use more than one.
func TestBalanceAnnotations(t *testing.T) {
	t.Parallel()
	eps := startEndpoints(t, "app", 3)
	c := startController(t, options{files: map[string]string{
		"services.yaml": serviceYAML("app", eps...),
		"app.yaml": annotate(ingressYAML("app", "hash.example.com", route{"/", "Prefix", "app"}),
			map[string]string{"nginx.ingress.kubernetes.io/upstream-hash-by": `"$request_uri"`}),
	}})
	c.waitServed(t, "hash.example.com", "/", "app")
	used := map[string]bool{}
	for i := range 20 {
		path := "/item/" + strconv.Itoa(i)
		first := c.getHTTP(t, "hash.example.com", path)
		require.NotNil(t, first.echo, "%s", first)
		used[first.echo.Endpoint] = true
		for range 3 {
			again := c.getHTTP(t, "hash.example.com", path)
			require.NotNil(t, again.echo, "%s", again)
			assert.Equal(t, first.echo.Endpoint, again.echo.Endpoint, "%s must stay on one endpoint", path)
		}
	}
	assert.Greater(t, len(used), 1, "20 different paths should spread over more than one endpoint")
}

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
	get := func(token string) response {
		req, err := http.NewRequest(http.MethodGet, "http://placeholder.invalid/page?x=1", nil)
		require.NoError(t, err)
		req.Host = "app.example.com"
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.client.Do(req)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		r := response{status: resp.StatusCode, header: resp.Header, body: string(body)}
		var e echoReply
		if json.Unmarshal(body, &e) == nil && e.Service != "" {
			r.echo = &e
		}
		return r
	}
	require.Eventually(t, func() bool { return get("good").status == http.StatusOK }, routeTimeout, pollInterval)
	ok := get("good")
	require.NotNil(t, ok.echo, "%s", ok)
	assert.Equal(t, "alice", ok.echo.Headers["X-Auth-Request-User"], "the auth answer's header reaches the backend")
	assert.Equal(t, http.StatusForbidden, get("banned").status)
	anon := get("")
	assert.Equal(t, http.StatusFound, anon.status)
	assert.Equal(t, "https://login.example.com/start?rd=http://app.example.com/page?x=1", anon.header.Get("Location"))
	internal := regexp.MustCompile(`location = "(/_portico_auth_[0-9a-f]+)"`).FindStringSubmatch(string(c.mustGet(t, "/debug/config")))
	require.Len(t, internal, 2, "the config has an internal auth location")
	assert.Equal(t, http.StatusNotFound, c.getHTTP(t, "app.example.com", internal[1]).status,
		"the internal auth location is not reachable from outside")
	assert.Positive(t, calls.Load())
}

// TestCustomHeadersAnnotation shows custom-headers on real traffic: the
// ConfigMap's entries are added to responses, and editing it changes them.
func TestCustomHeadersAnnotation(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	cm := func(value string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-headers}\ndata:\n  X-Frame-Options: " + value + "\n"
	}
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"headers.yaml":  cm("DENY"),
		"app.yaml": annotate(ingressYAML("app", "app.example.com", route{"/", "Prefix", "app"}),
			map[string]string{"nginx.ingress.kubernetes.io/custom-headers": "app-headers"}),
	}})
	c.waitServed(t, "app.example.com", "/", "app")
	assert.Equal(t, "DENY", c.getHTTP(t, "app.example.com", "/").header.Get("X-Frame-Options"))
	c.update(t, "headers.yaml", cm("SAMEORIGIN"))
	assert.Equal(t, "SAMEORIGIN", c.getHTTP(t, "app.example.com", "/").header.Get("X-Frame-Options"))
}

// TestRequestID shows X-Request-ID as the backend receives it: a client's
// own is passed on, a request without one gets 32 random hex digits, and
// with generate-request-id off it gets none.
func TestRequestID(t *testing.T) {
	t.Parallel()
	hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, generate := range []bool{true, false} {
		t.Run(fmt.Sprintf("generate=%v", generate), func(t *testing.T) {
			t.Parallel()
			b := startBackends(t, "app")
			cm := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico, namespace: default}\ndata:\n  generate-request-id: %q\n", strconv.FormatBool(generate))
			c := startController(t, options{
				args: []string{"--configmap", "default/portico"},
				files: map[string]string{
					"services.yaml":  servicesYAML(b),
					"app.yaml":       ingressYAML("app", "id.example.com", route{"/", "Prefix", "app"}),
					"configmap.yaml": cm,
				},
			})
			c.waitServed(t, "id.example.com", "/", "app")

			own := c.getWith(t, "id.example.com", "/", map[string]string{"X-Request-Id": "client-chosen-1"})
			require.NotNil(t, own.echo, "%s", own)
			assert.Equal(t, "client-chosen-1", own.echo.Headers["X-Request-Id"], "a client's X-Request-ID is passed on")

			first, second := c.getHTTP(t, "id.example.com", "/"), c.getHTTP(t, "id.example.com", "/")
			require.NotNil(t, first.echo, "%s", first)
			require.NotNil(t, second.echo, "%s", second)
			id, has := first.echo.Headers["X-Request-Id"]
			if !generate {
				assert.False(t, has, "generate-request-id off: no X-Request-ID, got %q", id)
				return
			}
			assert.Regexp(t, hexID, id)
			assert.NotEqual(t, id, second.echo.Headers["X-Request-Id"], "every request gets its own ID")
		})
	}
}
