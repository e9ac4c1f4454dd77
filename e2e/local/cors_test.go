//go:build linux

package local

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
	c.WaitServed(t, "api.example.com", "/", "api")
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
	resp, err := c.Client.Do(req)
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

// TestCORSValueAnnotations shows cors-allow-methods, cors-allow-headers,
// cors-max-age and cors-expose-headers on real traffic: the first three in
// the preflight answer, the last on the proxied response.
func TestCORSValueAnnotations(t *testing.T) {
	t.Parallel()
	c := startCORSAPI(t, map[string]string{
		"cors-allow-origin":   `"https://app.example.com"`,
		"cors-allow-methods":  `"GET, POST"`,
		"cors-allow-headers":  `"X-Custom-Header,Content-Type"`,
		"cors-max-age":        `"600"`,
		"cors-expose-headers": `"X-Total-Count,X-Page"`,
	})
	do := func(method string) *http.Response {
		return c.corsRequest(t, method, map[string]string{"Origin": "https://app.example.com",
			"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "X-Custom-Header"})
	}
	pre := do(http.MethodOptions)
	assert.Equal(t, http.StatusNoContent, pre.StatusCode, "nginx answers the preflight")
	assert.Equal(t, "https://app.example.com", pre.Header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "GET, POST", pre.Header.Get("Access-Control-Allow-Methods"))
	assert.Equal(t, "X-Custom-Header,Content-Type", pre.Header.Get("Access-Control-Allow-Headers"))
	assert.Equal(t, "600", pre.Header.Get("Access-Control-Max-Age"))

	get := do(http.MethodGet)
	assert.Equal(t, http.StatusOK, get.StatusCode)
	assert.Equal(t, "https://app.example.com", get.Header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "X-Total-Count,X-Page", get.Header.Get("Access-Control-Expose-Headers"))
}

// TestCORSAllowCredentialsFalse shows cors-allow-credentials false on real
// traffic: the preflight answer has no Access-Control-Allow-Credentials.
func TestCORSAllowCredentialsFalse(t *testing.T) {
	t.Parallel()
	c := startCORSAPI(t, map[string]string{
		"cors-allow-origin":      `"https://app.example.com"`,
		"cors-allow-credentials": `"false"`,
	})
	do := func(method string) *http.Response {
		return c.corsRequest(t, method, map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"})
	}
	pre := do(http.MethodOptions)
	assert.Equal(t, http.StatusNoContent, pre.StatusCode, "nginx answers the preflight")
	assert.Equal(t, "https://app.example.com", pre.Header.Get("Access-Control-Allow-Origin"))
	assert.Empty(t, pre.Header.Values("Access-Control-Allow-Credentials"), "cors-allow-credentials false: no credentials header")
	get := do(http.MethodGet)
	assert.Equal(t, http.StatusOK, get.StatusCode)
	assert.Empty(t, get.Header.Values("Access-Control-Allow-Credentials"))
}
