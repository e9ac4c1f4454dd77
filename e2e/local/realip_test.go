//go:build linux

package local

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// realClient is the address a trusted balancer reports for the client: the
// only one the allowlists of these tests let in.
const realClient = "203.0.113.7"

// rawGet sends one GET from the loopback address src to nginx's HTTP port
// on a fresh connection, preceded by proxyLine when it is not empty (a
// PROXY protocol v1 header written by hand), and returns the answer.
func rawGet(t *testing.T, c *controller, src, proxyLine, host, path string, header map[string]string) (framework.Response, error) {
	t.Helper()
	dst := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.HTTPPort))
	require.NoError(t, framework.AllowedTarget(dst))
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	conn, err := d.Dial("tcp", dst)
	if err != nil {
		return framework.Response{}, fmt.Errorf("dial from %s: %w", src, err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	b.WriteString(proxyLine)
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", path, host)
	for k, v := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return framework.Response{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return framework.Response{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return framework.Response{}, err
	}
	r := framework.Response{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
	var e framework.EchoReply
	if json.Unmarshal(body, &e) == nil && e.Service != "" {
		r.Echo = &e
	}
	return r, nil
}

// mustRawGet is rawGet that fails the test on a transport error.
func mustRawGet(t *testing.T, c *controller, src, proxyLine, host, path string, header map[string]string) framework.Response {
	t.Helper()
	r, err := rawGet(t, c, src, proxyLine, host, path, header)
	require.NoError(t, err, "GET http://%s%s from %s", host, path, src)
	return r
}

// waitRaw polls with rawGet until host answers from a backend (bounded).
func waitRaw(t *testing.T, c *controller, src, proxyLine, host string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := rawGet(t, c, src, proxyLine, host, "/", nil)
		if err == nil && r.Echo != nil {
			return
		}
		require.True(t, time.Now().Before(deadline), "%s never served: %v %s", host, err, r)
		time.Sleep(100 * time.Millisecond)
	}
}

// realIPManifests are an Ingress walled to realClient, one open Ingress
// that shows the headers its backend receives, one with
// force-ssl-redirect and one limited to 1 request/s per client, with the
// ConfigMap data given.
func realIPManifests(t *testing.T, cmData string) map[string]string {
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	return map[string]string{
		"services.yaml": servicesYAML(b),
		"walled.yaml": annotate(ingressYAML("walled", "walled.example.com", route{"/", "Prefix", "app"}),
			map[string]string{p + "whitelist-source-range": `"` + realClient + `/32"`}),
		"open.yaml": ingressYAML("open", "open.example.com", route{"/", "Prefix", "app"}),
		"secure.yaml": annotate(ingressYAML("secure", "secure.example.com", route{"/", "Prefix", "app"}),
			map[string]string{p + "force-ssl-redirect": `"true"`}),
		"limited.yaml": annotate(ingressYAML("limited", "limited.example.com", route{"/", "Prefix", "app"}),
			map[string]string{p + "limit-rps": `"1"`, p + "limit-burst-multiplier": `"1"`}),
		"configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico, namespace: default}\ndata:\n" + cmData,
	}
}

// TestRealIPForwardedHeaders runs nginx behind a "load balancer" at one
// loopback address (trusted by proxy-real-ip-cidr) while another address
// (untrusted) sends the same headers. The trusted forwarder's
// X-Forwarded-For gets realClient through the allowlist and becomes
// X-Real-IP and X-Forwarded-For upstream; its X-Forwarded-Proto: https
// stops the HTTPS redirect (no loop). The untrusted sender's spoofed
// X-Forwarded-For and X-Forwarded-Proto change nothing: refused by the
// allowlist, redirected, and its own address is what the backend sees.
func TestRealIPForwardedHeaders(t *testing.T) {
	t.Parallel()
	trusted, untrusted := allocIP(t), allocIP(t)
	c := startController(t, options{
		args:  []string{"--configmap", "default/portico"},
		files: realIPManifests(t, "  use-forwarded-headers: \"true\"\n  proxy-real-ip-cidr: \""+trusted+"/32\"\n"),
	})
	waitRaw(t, c, trusted, "", "open.example.com")
	spoof := map[string]string{"X-Forwarded-For": realClient, "X-Forwarded-Proto": "https",
		"X-Forwarded-Port": "443", "X-Forwarded-Host": "public.example.com"}

	t.Run("trusted forwarder", func(t *testing.T) {
		assert.Equal(t, http.StatusOK, mustRawGet(t, c, trusted, "", "walled.example.com", "/", spoof).Status,
			"the allowlist sees the client address the trusted balancer reports")
		r := mustRawGet(t, c, trusted, "", "open.example.com", "/", spoof)
		require.NotNil(t, r.Echo, "%s", r)
		h := r.Echo.Headers
		assert.Equal(t, realClient, h["X-Real-Ip"])
		assert.Equal(t, realClient, h["X-Forwarded-For"], "the client address, not the received list with it appended")
		assert.Equal(t, "https", h["X-Forwarded-Proto"])
		assert.Equal(t, "443", h["X-Forwarded-Port"])
		assert.Equal(t, "public.example.com", h["X-Forwarded-Host"])
		assert.Equal(t, "open.example.com", r.Echo.Host, "the Host header stays the routed host")

		// real_ip_recursive: the rightmost address the trusted balancer did
		// not add itself is the client; what the client wrote before it is not.
		r = mustRawGet(t, c, trusted, "", "open.example.com", "/", map[string]string{"X-Forwarded-For": "192.0.2.99, " + realClient})
		require.NotNil(t, r.Echo, "%s", r)
		assert.Equal(t, realClient, r.Echo.Headers["X-Real-Ip"])
	})

	t.Run("rate limit per real client", func(t *testing.T) {
		// 1 r/s with a burst of 1, keyed on the client address: one client
		// behind the balancer uses up its own bucket, not the balancer's.
		limited := 0
		for range 6 {
			if mustRawGet(t, c, trusted, "", "limited.example.com", "/", map[string]string{"X-Forwarded-For": realClient}).Status == http.StatusServiceUnavailable {
				limited++
			}
		}
		assert.GreaterOrEqual(t, limited, 3, "limit-rps must refuse one client's requests past the burst")
		other := mustRawGet(t, c, trusted, "", "limited.example.com", "/", map[string]string{"X-Forwarded-For": "203.0.113.8"})
		assert.Equal(t, http.StatusOK, other.Status, "another client behind the same balancer has its own bucket: %s", other)
	})

	t.Run("untrusted sender spoofing", func(t *testing.T) {
		assert.Equal(t, http.StatusForbidden, mustRawGet(t, c, untrusted, "", "walled.example.com", "/", spoof).Status,
			"a spoofed X-Forwarded-For from outside proxy-real-ip-cidr must not pass the allowlist")
		r := mustRawGet(t, c, untrusted, "", "open.example.com", "/", spoof)
		require.NotNil(t, r.Echo, "%s", r)
		h := r.Echo.Headers
		assert.Equal(t, untrusted, h["X-Real-Ip"])
		assert.Equal(t, untrusted, h["X-Forwarded-For"])
		assert.Equal(t, "http", h["X-Forwarded-Proto"], "an untrusted X-Forwarded-Proto is replaced")
		assert.Equal(t, strconv.Itoa(c.HTTPPort), h["X-Forwarded-Port"])
		assert.Equal(t, "open.example.com", h["X-Forwarded-Host"])
	})

	t.Run("redirect loop", func(t *testing.T) {
		https := map[string]string{"X-Forwarded-Proto": "https"}
		r := mustRawGet(t, c, trusted, "", "secure.example.com", "/a?b=1", https)
		assert.Equal(t, http.StatusOK, r.Status, "a request that reached the balancer over HTTPS is not redirected again: %s", r)
		r = mustRawGet(t, c, trusted, "", "secure.example.com", "/a?b=1", map[string]string{"X-Forwarded-Proto": "http"})
		assert.Equal(t, http.StatusPermanentRedirect, r.Status, "%s", r)
		assert.Equal(t, fmt.Sprintf("https://secure.example.com:%d/a?b=1", c.HTTPSPort), r.Header.Get("Location"))
		r = mustRawGet(t, c, untrusted, "", "secure.example.com", "/a?b=1", https)
		assert.Equal(t, http.StatusPermanentRedirect, r.Status, "an untrusted X-Forwarded-Proto must not skip the redirect: %s", r)
	})
}

// TestRealIPComputeFullForwardedFor shows compute-full-forwarded-for: the
// backend gets the received chain plus the balancer's own address, while
// X-Real-IP is the client.
func TestRealIPComputeFullForwardedFor(t *testing.T) {
	t.Parallel()
	trusted := allocIP(t)
	c := startController(t, options{
		args:  []string{"--configmap", "default/portico"},
		files: realIPManifests(t, "  use-forwarded-headers: \"true\"\n  compute-full-forwarded-for: \"true\"\n  proxy-real-ip-cidr: \""+trusted+"\"\n"),
	})
	waitRaw(t, c, trusted, "", "open.example.com")
	r := mustRawGet(t, c, trusted, "", "open.example.com", "/", map[string]string{"X-Forwarded-For": "192.0.2.99, " + realClient})
	require.NotNil(t, r.Echo, "%s", r)
	assert.Equal(t, realClient, r.Echo.Headers["X-Real-Ip"])
	assert.Equal(t, "192.0.2.99, "+realClient+", "+trusted, r.Echo.Headers["X-Forwarded-For"])
}

// TestRealIPProxyProtocol runs nginx behind a PROXY protocol sender: the
// header is written by hand on a raw TCP connection. From the trusted
// sender the client address in the header passes the allowlist and reaches
// the backend; from another address the same header is not believed; a
// connection without the header is not served.
func TestRealIPProxyProtocol(t *testing.T) {
	t.Parallel()
	trusted, untrusted := allocIP(t), allocIP(t)
	c := startController(t, options{
		args:  []string{"--configmap", "default/portico"},
		files: realIPManifests(t, "  use-proxy-protocol: \"true\"\n  proxy-real-ip-cidr: \""+trusted+"/32\"\n"),
	})
	proxyLine := func(src string) string {
		return fmt.Sprintf("PROXY TCP4 %s 127.0.0.1 40000 %d\r\n", src, c.HTTPPort)
	}
	waitRaw(t, c, trusted, proxyLine(realClient), "open.example.com")

	assert.Equal(t, http.StatusOK, mustRawGet(t, c, trusted, proxyLine(realClient), "walled.example.com", "/", nil).Status)
	r := mustRawGet(t, c, trusted, proxyLine(realClient), "open.example.com", "/", nil)
	require.NotNil(t, r.Echo, "%s", r)
	assert.Equal(t, realClient, r.Echo.Headers["X-Real-Ip"])
	assert.Equal(t, realClient, r.Echo.Headers["X-Forwarded-For"])

	assert.Equal(t, http.StatusForbidden, mustRawGet(t, c, untrusted, proxyLine(realClient), "walled.example.com", "/", nil).Status,
		"a PROXY header from outside proxy-real-ip-cidr must not pass the allowlist")
	r = mustRawGet(t, c, untrusted, proxyLine(realClient), "open.example.com", "/", map[string]string{"X-Forwarded-For": realClient})
	require.NotNil(t, r.Echo, "%s", r)
	assert.Equal(t, untrusted, r.Echo.Headers["X-Real-Ip"])

	r, err := rawGet(t, c, trusted, "", "open.example.com", "/", nil)
	assert.True(t, err != nil || r.Echo == nil, "a connection without a PROXY header must not be served: %s", r)
}
