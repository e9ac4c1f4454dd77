package model_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// snippetIngress is an Ingress of namespace "trusted" created at minute
// age, with a Prefix path and the given annotations (a YAML flow map).
func snippetIngress(name string, minute int, path, annotations string) string {
	return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: %s
  namespace: trusted
  creationTimestamp: "2026-01-01T00:%02d:00Z"
  annotations: %s
spec:
  ingressClassName: portico
  tls: [{hosts: [s.example.com], secretName: missing}]
  rules:
  - host: s.example.com
    http: {paths: [{path: %s, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}
---
`, name, minute, annotations, path)
}

const snippetService = `apiVersion: v1
kind: Service
metadata: {name: app, namespace: trusted}
spec: {ports: [{port: 80}]}
`

func buildSnippets(t *testing.T, docs string) (*model.Config, []model.Finding) {
	t.Helper()
	snap, err := fixture.Parse([]byte(docs + snippetService))
	require.NoError(t, err)
	opts := testOptions()
	opts.SnippetNamespaces = []string{"trusted"}
	return model.Build(snap, opts)
}

func findingsOf(findings []model.Finding, reason string) []string {
	var out []string
	for _, f := range findings {
		if f.Reason == reason {
			out = append(out, f.Object.Name+": "+f.Message)
		}
	}
	return out
}

// TestServerSnippetLocationsNeverDuplicate: nginx -t refuses a server block
// with two locations of one match, which would stop every later reload. A
// server-snippet whose location the host already has is ignored, and a
// path whose location the snippet already has is ignored, the older claim
// winning either way.
func TestServerSnippetLocationsNeverDuplicate(t *testing.T) {
	t.Run("newer snippet meets an older path", func(t *testing.T) {
		cfg, findings := buildSnippets(t,
			snippetIngress("paths", 1, "/api", `{}`)+
				snippetIngress("snip", 2, "/other", `{nginx.ingress.kubernetes.io/server-snippet: "location /api/ { return 200; }"}`))
		assert.Equal(t, []string{`snip: server-snippet for host "s.example.com" is ignored: its location /api/ is already a location of the host (from an Ingress path or annotation)`},
			findingsOf(findings, model.ReasonConflict))
		srv := findServer(cfg, "s.example.com")
		require.NotNil(t, srv)
		assert.Empty(t, srv.Snippet)
		assert.Contains(t, cfg.Ingresses, model.ObjectRef{Kind: "Ingress", Namespace: "trusted", Name: "snip"}, "the rest of the Ingress is served")
	})
	t.Run("newer path meets an older snippet", func(t *testing.T) {
		cfg, findings := buildSnippets(t,
			snippetIngress("snip", 1, "/other", `{nginx.ingress.kubernetes.io/server-snippet: "location /api/ { return 200; }"}`)+
				snippetIngress("paths", 2, "/api", `{}`))
		assert.Equal(t, []string{`paths: path "/api" (Prefix) on host "s.example.com" is ignored: the host's server-snippet (Ingress trusted/snip) defines location /api/`},
			findingsOf(findings, model.ReasonConflict))
		srv := findServer(cfg, "s.example.com")
		require.NotNil(t, srv)
		assert.NotEmpty(t, srv.Snippet)
		for _, l := range srv.Locations {
			assert.NotEqual(t, "/api/", l.Path)
		}
	})
	t.Run("snippet keeps the weak exact location", func(t *testing.T) {
		cfg, findings := buildSnippets(t,
			snippetIngress("snip", 1, "/other", `{nginx.ingress.kubernetes.io/server-snippet: "location = /api { return 200; }"}`)+
				snippetIngress("paths", 2, "/api", `{}`))
		assert.Empty(t, findingsOf(findings, model.ReasonConflict))
		srv := findServer(cfg, "s.example.com")
		require.NotNil(t, srv)
		for _, l := range srv.Locations {
			assert.False(t, l.Modifier == "=" && l.Path == "/api", "the snippet's = /api stays the only one")
		}
	})
	t.Run("snippet location / replaces the fallback", func(t *testing.T) {
		cfg, findings := buildSnippets(t,
			snippetIngress("snip", 1, "/other", `{nginx.ingress.kubernetes.io/server-snippet: "location / { return 404; }"}`))
		assert.Empty(t, findingsOf(findings, model.ReasonConflict))
		for _, l := range findServer(cfg, "s.example.com").Locations {
			assert.NotEqual(t, "/", l.Path)
		}
	})
	t.Run("app-root meets an older snippet", func(t *testing.T) {
		_, findings := buildSnippets(t,
			snippetIngress("snip", 1, "/other", `{nginx.ingress.kubernetes.io/server-snippet: "location = / { return 200; }"}`)+
				snippetIngress("root", 2, "/app", `{nginx.ingress.kubernetes.io/app-root: /app}`))
		assert.Equal(t, []string{`root: app-root on host "s.example.com" is ignored: the host's server-snippet (Ingress trusted/snip) defines location = /`},
			findingsOf(findings, model.ReasonConflict))
	})
	t.Run("one server-snippet per host", func(t *testing.T) {
		cfg, findings := buildSnippets(t,
			snippetIngress("first", 1, "/a", `{nginx.ingress.kubernetes.io/server-snippet: "gzip on;"}`)+
				snippetIngress("second", 2, "/b", `{nginx.ingress.kubernetes.io/server-snippet: "gzip off;"}`))
		assert.Equal(t, []string{`second: server-snippet for host "s.example.com" is ignored: the older Ingress trusted/first already sets the host's server-snippet (one per host)`},
			findingsOf(findings, model.ReasonConflict))
		srv := findServer(cfg, "s.example.com")
		require.Len(t, srv.Snippet, 1)
		assert.Equal(t, []string{"on"}, srv.Snippet[0].Args)
	})
}

// TestConfigurationSnippetKeepsPorticoHeaders: a location whose snippet has
// proxy_set_header, grpc_set_header or add_header inherits none of them
// from the levels above in nginx, so the model has it repeat Portico's
// request headers (the trace context ones for gRPC) and the host's HSTS
// header.
func TestConfigurationSnippetKeepsPorticoHeaders(t *testing.T) {
	cfg, findings := buildSnippets(t,
		snippetIngress("headers", 1, "/a", `{nginx.ingress.kubernetes.io/configuration-snippet: "proxy_set_header X-Tenant blue; add_header X-Frame-Options DENY;"}`)+
			snippetIngress("plain", 2, "/b", `{nginx.ingress.kubernetes.io/configuration-snippet: "expires 1h;"}`)+
			snippetIngress("grpc", 3, "/c", `{nginx.ingress.kubernetes.io/configuration-snippet: "grpc_set_header X-Tenant blue;"}`))
	assert.Empty(t, findingsOf(findings, model.ReasonInvalidAnnotation))
	srv := findServer(cfg, "s.example.com")
	require.NotNil(t, srv)
	for _, l := range srv.Locations {
		switch l.Source {
		case "trusted/headers":
			assert.True(t, l.SnippetProxyHeaders, l.Path)
			assert.False(t, l.SnippetGRPCHeaders, l.Path)
			assert.NotEmpty(t, l.HSTS, l.Path)
		case "trusted/plain":
			assert.False(t, l.SnippetProxyHeaders, l.Path)
			assert.False(t, l.SnippetGRPCHeaders, l.Path)
			assert.Empty(t, l.HSTS, l.Path)
		case "trusted/grpc":
			assert.False(t, l.SnippetProxyHeaders, l.Path)
			assert.True(t, l.SnippetGRPCHeaders, l.Path)
		}
	}
}
