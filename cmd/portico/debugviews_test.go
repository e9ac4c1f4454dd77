package main

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/status"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// indent prefixes every line of s with n spaces, for PEM in YAML block scalars.
func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pad) + "\n"
}

// certNotAfter is when the fixture's certificate expires.
var certNotAfter = time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)

// debugViewsFixture builds the model of a TLS Ingress (Secret shop/shop-tls)
// and an Ingress whose Service is missing, and returns views of it with
// the key pair.
func debugViewsFixture(t *testing.T) (*debugViews, []byte, []byte) {
	t.Helper()
	notAfter := certNotAfter
	certPEM, keyPEM, err := certs.SelfSignedBetween([]string{"shop.example.com"}, time.Now().Add(-time.Hour), notAfter)
	require.NoError(t, err)
	yaml := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {namespace: shop, name: shop-tls}
type: kubernetes.io/tls
stringData:
  tls.crt: |
%s  tls.key: |
%s---
apiVersion: v1
kind: Service
metadata: {namespace: shop, name: web}
spec: {ports: [{port: 80}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {namespace: shop, name: web}
spec:
  ingressClassName: portico
  tls: [{hosts: [shop.example.com], secretName: shop-tls}]
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {namespace: blog, name: lost}
spec:
  ingressClassName: portico
  rules:
  - host: blog.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: gone, port: {number: 80}}}}
`, indent(string(certPEM), 4), indent(string(keyPEM), 4))
	snap, err := fixture.Parse([]byte(yaml))
	require.NoError(t, err)
	g := model.DefaultGlobal()
	g.DefaultCertificate = "/certs/default.pem"
	cfg, findings := model.Build(snap, model.Options{ControllerClass: model.DefaultControllerClass,
		IngressClass: model.DefaultIngressClass, CertificateDir: "/certs", Global: g})
	v := &debugViews{}
	v.Findings(findings)
	v.Live(cfg)
	return v, certPEM, keyPEM
}

func TestDebugCertificates(t *testing.T) {
	v, certPEM, _ := debugViewsFixture(t)
	list := v.Certificates()
	require.Len(t, list, 1)
	c := list[0]
	block, _ := pem.Decode(certPEM)
	assert.Equal(t, "shop", c.Namespace)
	assert.Equal(t, "shop-tls", c.Secret)
	assert.Equal(t, []string{"shop.example.com"}, c.Hosts)
	assert.Equal(t, "shop.example.com", c.Issuer)
	assert.Equal(t, certNotAfter, c.NotAfter)
	assert.False(t, c.NotBefore.IsZero())
	assert.Len(t, c.SHA256Fingerprint, 95)
	assert.Empty(t, c.Error)
	assert.NotEmpty(t, block.Bytes)
}

// TestDebugCertsHoldNoKeyMaterial is the tenant's view of /debug/certs: a
// served TLS Secret shows up as names, dates and a fingerprint, and no
// byte of its PEM (certificate or key, in any encoding) is in the JSON.
func TestDebugCertsHoldNoKeyMaterial(t *testing.T) {
	v, certPEM, keyPEM := debugViewsFixture(t)
	srv := httptest.NewServer(status.New(status.Options{Serve: status.Debug, Certificates: v.Certificates, Ingresses: v.Ingresses}).Handler())
	defer srv.Close()
	for _, path := range []string{"/debug/certs", "/debug/ingresses"} {
		resp, err := srv.Client().Get(srv.URL + path)
		require.NoError(t, err)
		var raw json.RawMessage
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&raw))
		require.NoError(t, resp.Body.Close())
		body := string(raw)
		require.Contains(t, body, "shop-tls", path)
		assert.NotContains(t, body, "BEGIN", path)
		assert.NotContains(t, body, "PRIVATE", path)
		for _, p := range [][]byte{certPEM, keyPEM} {
			block, _ := pem.Decode(p)
			der := block.Bytes
			// Any 12-byte run of the DER, as base64 or hex, would be a leak.
			for i := 0; i+12 <= len(der); i += 12 {
				assert.NotContains(t, body, base64.StdEncoding.EncodeToString(der[i:i+12]), path)
				assert.NotContains(t, strings.ReplaceAll(body, ":", ""), fmt.Sprintf("%x", der[i:i+12]), path)
			}
		}
	}
}

func TestDebugIngresses(t *testing.T) {
	v, _, _ := debugViewsFixture(t)
	list := v.Ingresses()
	require.Len(t, list, 2)
	lost, web := list[0], list[1]
	assert.Equal(t, "blog/lost", lost.Namespace+"/"+lost.Name)
	assert.Equal(t, "shop/web", web.Namespace+"/"+web.Name)
	assert.True(t, web.Served)
	assert.Empty(t, web.Findings)
	require.NotEmpty(t, web.Paths)
	byPath := map[string]status.PathView{}
	for _, p := range web.Paths {
		byPath[p.Path+" "+p.Match] = p
	}
	root, ok := byPath["/ prefix"]
	require.True(t, ok, "%+v", web.Paths)
	assert.Equal(t, "shop.example.com", root.Host)
	assert.Equal(t, "shop/web:80", root.Service)
	assert.Equal(t, "shop/shop-tls", root.TLSSecret)
	_, ok = byPath["/api exact"]
	assert.True(t, ok, "%+v", web.Paths)

	require.NotEmpty(t, lost.Findings, "%+v", lost)
	assert.Contains(t, lost.Findings[0].Reason, "Service")
	t.Logf("lost: served=%v paths=%+v findings=%+v", lost.Served, lost.Paths, lost.Findings)
}

// TestDebugViewsBeforeLive: before the first config is live there is
// nothing to show, and nothing panics.
func TestDebugViewsBeforeLive(t *testing.T) {
	v := &debugViews{}
	assert.Empty(t, v.Certificates())
	assert.Empty(t, v.Ingresses())
	rec := httptest.NewRecorder()
	status.New(status.Options{Certificates: v.Certificates}).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/certs", nil))
	assert.Equal(t, "[]\n", rec.Body.String())
}
