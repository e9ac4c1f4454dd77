//go:build linux

package local

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
			c.WaitServed(t, "id.example.com", "/", "app")

			own := c.getWith(t, "id.example.com", "/", map[string]string{"X-Request-Id": "client-chosen-1"})
			require.NotNil(t, own.Echo, "%s", own)
			assert.Equal(t, "client-chosen-1", own.Echo.Headers["X-Request-Id"], "a client's X-Request-ID is passed on")

			first, second := c.Get(t, "id.example.com", "/"), c.Get(t, "id.example.com", "/")
			require.NotNil(t, first.Echo, "%s", first)
			require.NotNil(t, second.Echo, "%s", second)
			id, has := first.Echo.Headers["X-Request-Id"]
			if !generate {
				assert.False(t, has, "generate-request-id off: no X-Request-ID, got %q", id)
				return
			}
			assert.Regexp(t, hexID, id)
			assert.NotEqual(t, id, second.Echo.Headers["X-Request-Id"], "every request gets its own ID")
		})
	}
}
