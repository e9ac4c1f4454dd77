package status

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDebugViews: /debug/certs and /debug/ingresses answer JSON with the
// documented snake_case fields, and [] (never null) when there is nothing.
func TestDebugViews(t *testing.T) {
	notAfter := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	full := New(Options{
		Certificates: func() []CertificateView {
			return []CertificateView{{Namespace: "shop", Secret: "shop-tls", Hosts: []string{"shop.example.com"},
				Issuer: "ca", Serial: "1f", NotAfter: notAfter, SHA256Fingerprint: "ab:cd"}}
		},
		Ingresses: func() []IngressView {
			return []IngressView{{Namespace: "shop", Name: "web", Served: true,
				Paths:    []PathView{{Host: "shop.example.com", Path: "/", Match: "prefix", Service: "shop/web:80", Upstream: "shop.web.80"}},
				Findings: []FindingView{{Reason: "ServiceNotFound", Severity: "Served", Message: "m"}}}}
		},
	}).Handler()
	empty := New(Options{}).Handler()

	tests := []struct {
		name string
		h    http.Handler
		path string
		want string
	}{
		{"certs", full, "/debug/certs", `[{"namespace":"shop","secret":"shop-tls","hosts":["shop.example.com"],"subject":"",
			"dns_names":null,"issuer":"ca","serial":"1f","not_before":"0001-01-01T00:00:00Z","not_after":"2030-01-02T03:04:05Z",
			"sha256_fingerprint":"ab:cd"}]`},
		{"ingresses", full, "/debug/ingresses", `[{"namespace":"shop","name":"web","served":true,
			"paths":[{"host":"shop.example.com","path":"/","match":"prefix","service":"shop/web:80","upstream":"shop.web.80"}],
			"findings":[{"reason":"ServiceNotFound","severity":"Served","message":"m"}]}]`},
		{"no certs", empty, "/debug/certs", `[]`},
		{"no ingresses", empty, "/debug/ingresses", `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, hdr, body := do(t, tt.h, http.MethodGet, tt.path)
			require.Equal(t, http.StatusOK, code, body)
			assert.Equal(t, "application/json", hdr.Get("Content-Type"))
			assert.Equal(t, "no-store", hdr.Get("Cache-Control"))
			assert.JSONEq(t, tt.want, body)
			assert.True(t, json.Valid([]byte(body)))
		})
	}
}
