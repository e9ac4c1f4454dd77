package model_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
)

// TestCustomHeadersValues: the entries of a custom-headers ConfigMap become
// the location's response headers, variables of the allowlist printed back
// in brace form from their parsed parts; the entries the fixture's
// comment lists are skipped; and an Ingress naming another namespace's
// ConfigMap gets none of its entries (tenants stay apart).
func TestCustomHeadersValues(t *testing.T) {
	cfg, _ := model.Build(loadSnapshot(t, "testdata/annotations-custom-headers.yaml"), testOptions())
	cases := []struct {
		host string
		want []model.HeaderValue
	}{
		{"app.example.com", []model.HeaderValue{
			{Name: "X-Frame-Options", Value: "DENY"},
			{Name: "X-Injected", Value: `${host}"; add_header X-Evil 1; #`},
			{Name: "X-Request-Start", Value: "t=${msec}"},
			{Name: "X-Seen-Host", Value: "${host}"},
			{Name: "X-Seen-Uri", Value: "${request_uri} at ${scheme}://${host}:${server_port}"},
			{Name: "X-Team", Value: `platform; "quoted"`},
		}},
		{"cross.example.com", nil},
		{"nothing.example.com", nil},
	}
	for _, c := range cases {
		t.Run(c.host, func(t *testing.T) {
			l, ok := prefixLocation(t, cfg, c.host, "/")
			require.True(t, ok)
			assert.Equal(t, c.want, l.ResponseHeaders)
		})
	}
}
