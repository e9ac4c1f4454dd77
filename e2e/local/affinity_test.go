//go:build linux

package local

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// setCookie returns the value and the attributes of the Set-Cookie header
// for cookie name in r.
func setCookie(r framework.Response, name string) (value, attributes string, ok bool) {
	for _, h := range r.Header.Values("Set-Cookie") {
		if rest, found := strings.CutPrefix(h, name+"="); found {
			value, attributes, _ = strings.Cut(rest, "; ")
			return value, attributes, true
		}
	}
	return "", "", false
}

// persistentID is how persistent affinity names an endpoint in its cookie:
// the first 16 hex digits of the md5 of "ip:port" (checked on real cookies
// below before the test relies on it).
func persistentID(addr string) string {
	sum := md5.Sum([]byte(addr)) //nolint:gosec // see the import
	return hex.EncodeToString(sum[:])[:16]
}

// startEndpointsAndDead starts n endpoints of service and finds one more
// address on which nothing listens on their port: an endpoint that refuses
// connections.
func startEndpointsAndDead(t *testing.T, service string, n int) ([]*backend, string) {
	t.Helper()
	for range 10 {
		eps := startEndpoints(t, service, n)
		dead := allocIP(t)
		probe, err := net.Listen("tcp", net.JoinHostPort(dead, strconv.Itoa(int(eps[0].addr.Port()))))
		if err != nil {
			continue // something listens there (on a wildcard address): try another port
		}
		require.NoError(t, probe.Close())
		return eps, dead
	}
	t.Fatalf("no port free for a dead endpoint of %s", service)
	return nil, ""
}

// TestSessionAffinity shows affinity: cookie on real traffic: the cookie's
// attributes, stickiness in balanced and persistent mode, a persistent
// session moving when its endpoint leaves (no reload), and
// session-cookie-change-on-failure with an endpoint that refuses connections.
func TestSessionAffinity(t *testing.T) {
	t.Parallel()
	web := startEndpoints(t, "web", 3)
	sticky := startEndpoints(t, "sticky", 3)
	flaky, dead := startEndpointsAndDead(t, "flaky", 2)
	stickyPort := int(sticky[0].addr.Port())
	stickySlice := func(bs ...*backend) string {
		return joinDocs(serviceOnlyYAML("sticky"), sliceYAML("sticky", "sticky-1", stickyPort, readyEndpoints(bs...)...))
	}
	flakyPort := int(flaky[0].addr.Port())
	deadAddr := net.JoinHostPort(dead, strconv.Itoa(flakyPort))
	flakySlice := joinDocs(serviceOnlyYAML("flaky"), sliceYAML("flaky", "flaky-1", flakyPort,
		append(readyEndpoints(flaky...), endpoint{addr: dead, ready: true})...))

	affine := func(name, host, path, service string, extra map[string]string) string {
		a := map[string]string{"affinity": "cookie"}
		for k, v := range extra {
			a[k] = v
		}
		return withAnnotations(ingressYAML(name, host, route{path, "Prefix", service}), a)
	}
	attrsYAML := func(name, sameSite string) string {
		return affine("attrs", "attrs.example.com", "/app", "web", map[string]string{
			"session-cookie-name": name, "session-cookie-max-age": "3600", "session-cookie-secure": "true",
			"session-cookie-samesite": sameSite, "session-cookie-path": "/custom"})
	}
	c := startController(t, options{files: map[string]string{
		"attrs.yaml":  attrsYAML("SID", "Strict"),
		"web.yaml":    serviceYAML("web", web...),
		"sticky.yaml": stickySlice(sticky...),
		"flaky.yaml":  flakySlice,
		"ingresses.yaml": joinDocs(
			affine("balanced", "balanced.example.com", "/app", "web", nil),
			affine("persistent", "persistent.example.com", "/", "sticky", map[string]string{"affinity-mode": "persistent"}),
			// Requests pinned to the dead endpoint fail over (proxy-next-upstream
			// error is the default) with and without change-on-failure.
			affine("cof", "cof.example.com", "/", "flaky", map[string]string{"session-cookie-change-on-failure": "true"}),
			affine("nocof", "nocof.example.com", "/", "flaky", nil),
			affine("pcof", "pcof.example.com", "/", "flaky", map[string]string{
				"affinity-mode": "persistent", "session-cookie-change-on-failure": "true"}),
			affine("pnocof", "pnocof.example.com", "/", "flaky", map[string]string{"affinity-mode": "persistent"}),
			// Without retries a cookie pinned to the dead endpoint answers
			// 502: this tells which balanced cookies the dead endpoint owns.
			affine("probe", "probe.example.com", "/", "flaky", map[string]string{"proxy-next-upstream": "off"}),
		),
	}})
	for _, host := range []string{"balanced", "attrs", "persistent", "cof"} {
		c.waitAnswered(t, host+".example.com", "/app")
	}
	cookie := func(name, value string) map[string]string { return map[string]string{"Cookie": name + "=" + value} }

	t.Run("balanced", func(t *testing.T) {
		const host = "balanced.example.com"
		first := c.getWith(t, host, "/app", nil)
		require.NotNil(t, first.Echo, "%s", first)
		value, attrs, ok := setCookie(first, "INGRESSCOOKIE")
		require.True(t, ok, "the first answer sets the affinity cookie: %v", first.Header.Values("Set-Cookie"))
		assert.Regexp(t, `^[0-9a-f]{32}$`, value, "a balanced cookie is a random key")
		assert.Equal(t, "Path=/app; HttpOnly", attrs, "default attributes: the Ingress path, HttpOnly")

		// 50 requests with the cookie: one endpoint, the first answer's, and no new cookie.
		for range 50 {
			r := c.getWith(t, host, "/app/page", cookie("INGRESSCOOKIE", value))
			require.NotNil(t, r.Echo, "%s", r)
			require.Equal(t, first.Echo.Endpoint, r.Echo.Endpoint, "the session stays on its endpoint")
			_, _, again := setCookie(r, "INGRESSCOOKIE")
			require.False(t, again, "a valid cookie is not set again")
		}

		// New clients (no cookie) get new keys, spread over the endpoints.
		used, values := map[string]int{}, map[string]bool{}
		for range 30 {
			r := c.getWith(t, host, "/app", nil)
			require.NotNil(t, r.Echo, "%s", r)
			v, _, ok := setCookie(r, "INGRESSCOOKIE")
			require.True(t, ok, "every new client gets a cookie")
			used[r.Echo.Endpoint]++
			values[v] = true
		}
		t.Logf("30 new clients over 3 endpoints: %v", used)
		assert.Len(t, values, 30, "every new client gets its own key")
		assert.GreaterOrEqual(t, len(used), 2, "new clients spread over the endpoints: %v", used)
	})

	t.Run("attributes", func(t *testing.T) {
		r := c.getWith(t, "attrs.example.com", "/app", nil)
		value, attrs, ok := setCookie(r, "SID")
		require.True(t, ok, "session-cookie-name SID: %v", r.Header.Values("Set-Cookie"))
		assert.Regexp(t, `^[0-9a-f]{32}$`, value)
		assert.Equal(t, "Path=/custom; Max-Age=3600; Secure; SameSite=Strict; HttpOnly", attrs)
		_, _, other := setCookie(r, "INGRESSCOOKIE")
		assert.False(t, other, "only the named cookie is set")

		// Cookie settings are data: changing them needs no reload.
		c.changeNoReload(t, "session-cookie-name and -samesite", func() { c.writeManifest(t, "attrs.yaml", attrsYAML("SID2", "Lax")) })
		r = c.getWith(t, "attrs.example.com", "/app", nil)
		_, attrs, ok = setCookie(r, "SID2")
		require.True(t, ok, "the renamed cookie: %v", r.Header.Values("Set-Cookie"))
		assert.Equal(t, "Path=/custom; Max-Age=3600; Secure; SameSite=Lax; HttpOnly", attrs)
	})

	t.Run("persistent", func(t *testing.T) {
		const host = "persistent.example.com"
		first := c.getWith(t, host, "/", nil)
		require.NotNil(t, first.Echo, "%s", first)
		value, attrs, ok := setCookie(first, "INGRESSCOOKIE")
		require.True(t, ok, "%v", first.Header.Values("Set-Cookie"))
		assert.Equal(t, "Path=/; HttpOnly", attrs)
		require.Equal(t, persistentID(first.Echo.Endpoint), value, "a persistent cookie names its endpoint")
		counts := c.countBy(t, host, "/", cookie("INGRESSCOOKIE", value), 20, byEndpoint)
		assert.Equal(t, map[string]int{first.Echo.Endpoint: 20}, counts, "the session sticks")

		// Its endpoint leaves the EndpointSlice: the next request goes
		// elsewhere and the client gets a cookie for the new endpoint.
		var rest []*backend
		for _, b := range sticky {
			if b.addr.String() != first.Echo.Endpoint {
				rest = append(rest, b)
			}
		}
		require.Len(t, rest, 2)
		c.changeNoReload(t, "removing the session's endpoint", func() { c.writeManifest(t, "sticky.yaml", stickySlice(rest...)) })
		moved := c.getWith(t, host, "/", cookie("INGRESSCOOKIE", value))
		require.Equal(t, http.StatusOK, moved.Status, "%s", moved)
		require.NotNil(t, moved.Echo, "%s", moved)
		assert.NotEqual(t, first.Echo.Endpoint, moved.Echo.Endpoint, "the removed endpoint gets no request")
		newValue, _, ok := setCookie(moved, "INGRESSCOOKIE")
		require.True(t, ok, "the moved session gets a new cookie")
		assert.Equal(t, persistentID(moved.Echo.Endpoint), newValue)
		counts = c.countBy(t, host, "/", cookie("INGRESSCOOKIE", newValue), 10, byEndpoint)
		assert.Equal(t, map[string]int{moved.Echo.Endpoint: 10}, counts, "the new session sticks")
	})

	t.Run("change-on-failure/persistent", func(t *testing.T) {
		pinned := cookie("INGRESSCOOKIE", persistentID(deadAddr))
		// With change-on-failure the retry's endpoint becomes the session's.
		r := c.getWith(t, "pcof.example.com", "/", pinned)
		require.Equal(t, http.StatusOK, r.Status, "the retry reaches a live endpoint: %s", r)
		require.NotNil(t, r.Echo, "%s", r)
		value, _, ok := setCookie(r, "INGRESSCOOKIE")
		require.True(t, ok, "change-on-failure moves the session: %v", r.Header.Values("Set-Cookie"))
		assert.Equal(t, persistentID(r.Echo.Endpoint), value, "the new cookie names the endpoint that answered")
		again := c.getWith(t, "pcof.example.com", "/", cookie("INGRESSCOOKIE", value))
		require.NotNil(t, again.Echo, "%s", again)
		assert.Equal(t, r.Echo.Endpoint, again.Echo.Endpoint)
		_, _, reset := setCookie(again, "INGRESSCOOKIE")
		assert.False(t, reset, "the moved session is settled")

		// Without it the request still succeeds, and the cookie stays.
		r = c.getWith(t, "pnocof.example.com", "/", pinned)
		require.Equal(t, http.StatusOK, r.Status, "the retry reaches a live endpoint: %s", r)
		_, _, reset = setCookie(r, "INGRESSCOOKIE")
		assert.False(t, reset, "without change-on-failure the cookie is not set again: %v", r.Header.Values("Set-Cookie"))
	})

	t.Run("change-on-failure/balanced", func(t *testing.T) {
		// A balanced cookie is a key on the hash ring: find keys the dead
		// endpoint owns, by the 502 they get where nothing retries. It owns
		// about a third of the ring, so 120 random keys miss it with
		// probability (2/3)^120 < 1e-20.
		var deadKeys []string
		for range 120 {
			buf := make([]byte, 16)
			_, _ = rand.Read(buf)
			key := hex.EncodeToString(buf)
			if c.getWith(t, "probe.example.com", "/", cookie("INGRESSCOOKIE", key)).Status == http.StatusBadGateway {
				deadKeys = append(deadKeys, key)
				if len(deadKeys) == 8 {
					break
				}
			}
		}
		require.NotEmpty(t, deadKeys, "no key of the dead endpoint found")
		t.Logf("%d keys owned by the dead endpoint %s", len(deadKeys), deadAddr)

		for _, key := range deadKeys {
			// With change-on-failure the session moves to the endpoint the
			// retry reached: the new key must lead there directly, else
			// every later request pays a failed attempt first.
			r := c.getWith(t, "cof.example.com", "/", cookie("INGRESSCOOKIE", key))
			require.Equal(t, http.StatusOK, r.Status, "the retry reaches a live endpoint: %s", r)
			require.NotNil(t, r.Echo, "%s", r)
			value, _, ok := setCookie(r, "INGRESSCOOKIE")
			require.True(t, ok, "change-on-failure moves the session: %v", r.Header.Values("Set-Cookie"))
			require.NotEqual(t, key, value)
			probe := c.getWith(t, "probe.example.com", "/", cookie("INGRESSCOOKIE", value))
			require.Equal(t, http.StatusOK, probe.Status, "the new key must not lead to the failed endpoint: %s", probe)
			require.NotNil(t, probe.Echo, "%s", probe)
			assert.Equal(t, r.Echo.Endpoint, probe.Echo.Endpoint, "the new key leads to the endpoint that answered")
			again := c.getWith(t, "cof.example.com", "/", cookie("INGRESSCOOKIE", value))
			_, _, reset := setCookie(again, "INGRESSCOOKIE")
			assert.False(t, reset, "the moved session is settled")

			// Without change-on-failure the retry succeeds and the cookie stays.
			r = c.getWith(t, "nocof.example.com", "/", cookie("INGRESSCOOKIE", key))
			require.Equal(t, http.StatusOK, r.Status, "the retry reaches a live endpoint: %s", r)
			_, _, reset = setCookie(r, "INGRESSCOOKIE")
			assert.False(t, reset, "without change-on-failure the cookie is not set again")
		}
	})

	// A client without a valid session gets one on the endpoint that
	// answered, even when its first attempt went to the dead endpoint and
	// change-on-failure is off: there is no session to keep yet.
	t.Run("new sessions avoid the failed endpoint", func(t *testing.T) {
		// Persistent, with a cookie naming no endpoint: round robin over
		// the three endpoints tries the dead one first in at least one of
		// any three consecutive requests.
		for range 6 {
			r := c.getWith(t, "pnocof.example.com", "/", cookie("INGRESSCOOKIE", "0123456789abcdef"))
			require.Equal(t, http.StatusOK, r.Status, "%s", r)
			require.NotNil(t, r.Echo, "%s", r)
			value, _, ok := setCookie(r, "INGRESSCOOKIE")
			require.True(t, ok, "a cookie naming no endpoint is replaced")
			assert.Equal(t, persistentID(r.Echo.Endpoint), value, "the new cookie names the endpoint that answered")
		}
		// Balanced, no cookie: a new random key lands on the dead endpoint a
		// third of the time; its retry's key must lead where it answered.
		for range 24 {
			r := c.getWith(t, "nocof.example.com", "/", nil)
			require.Equal(t, http.StatusOK, r.Status, "%s", r)
			require.NotNil(t, r.Echo, "%s", r)
			value, _, ok := setCookie(r, "INGRESSCOOKIE")
			require.True(t, ok, "a new client gets a cookie")
			probe := c.getWith(t, "probe.example.com", "/", cookie("INGRESSCOOKIE", value))
			require.Equal(t, http.StatusOK, probe.Status, "a new session's key must not lead to the failed endpoint: %s", probe)
			require.NotNil(t, probe.Echo, "%s", probe)
			assert.Equal(t, r.Echo.Endpoint, probe.Echo.Endpoint, "a new session's key leads to the endpoint that answered")
		}
	})
}
