//go:build linux

package local

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestPathMatching runs the Kubernetes path matching rules through real
// nginx: which Service answers each request path.
func TestPathMatching(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "root", "exact-foo", "prefix-foo", "aaa-bbb", "aaa-bbb-ccc", "exact-slash", "upper-case", "app")
	const host, bare = "paths.example.com", "bare.example.com"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"paths.yaml": ingressYAML("paths", host,
			route{"/", "Prefix", "root"},
			route{"/foo", "Exact", "exact-foo"},
			route{"/foo", "Prefix", "prefix-foo"},
			route{"/aaa/bbb/", "Prefix", "aaa-bbb"}, // trailing slash ignored
			route{"/aaa/bbb/ccc", "Prefix", "aaa-bbb-ccc"},
			route{"/exact/", "Exact", "exact-slash"},
			route{"/Case", "Prefix", "upper-case"},
		),
		// A host with no "/" rule: unmatched paths must not fall through to
		// nginx's html directory or another host.
		"bare.yaml": ingressYAML("bare", bare, route{"/app", "Prefix", "app"}, route{"/dir/", "Exact", "app"}),
	}})

	tests := []struct {
		host, path string
		status     int
		service    string // "" means nginx answered itself
	}{
		{host, "/", 200, "root"},
		{host, "/anything", 200, "root"},
		{host, "/foo", 200, "exact-foo"}, // Exact wins over Prefix for the same path
		{host, "/foo?x=1", 200, "exact-foo"},
		{host, "/foo/", 200, "prefix-foo"},
		{host, "/foo/bar", 200, "prefix-foo"},
		{host, "/foobar", 200, "root"}, // Prefix matches whole path elements only
		{host, "/aaa/bbb", 200, "aaa-bbb"},
		{host, "/aaa/bbb/", 200, "aaa-bbb"},
		{host, "/aaa/bbbxyz", 200, "root"},
		{host, "/aaa/bbb/ccc", 200, "aaa-bbb-ccc"}, // longest prefix wins
		{host, "/aaa/bbb/ccc/ddd", 200, "aaa-bbb-ccc"},
		{host, "/aaa/bbb/cccxyz", 200, "aaa-bbb"},
		{host, "/exact/", 200, "exact-slash"},
		// Exact "/exact/" does not match "/exact", which falls to Prefix "/".
		// nginx alone would answer 301 to /exact/ (its trailing-slash redirect
		// for proxying locations); the model adds a companion location.
		{host, "/exact", 200, "root"},
		{host, "/exact/x", 200, "root"},
		{host, "/Case", 200, "upper-case"},
		{host, "/Case/x", 200, "upper-case"},
		{host, "/case", 200, "root"}, // matching is case sensitive
		{host, "/CASE", 200, "root"},
		{bare, "/app", 200, "app"},
		{bare, "/app/x", 200, "app"},
		{bare, "/", http.StatusNotFound, ""},
		{bare, "/apple", http.StatusNotFound, ""},
		{bare, "/index.html", http.StatusNotFound, ""},
		{bare, "/dir/", 200, "app"},
		{bare, "/dir", http.StatusNotFound, ""}, // no 301 to "/dir/", as for "/exact"
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.path, func(t *testing.T) {
			r := c.Get(t, tt.host, tt.path)
			assert.Equal(t, tt.status, r.Status, "%s", r)
			assert.Equal(t, tt.service, r.Served(), "%s", r)
			if r.Echo != nil {
				assert.Equal(t, tt.path, r.Echo.Path, "the backend sees the request path unchanged")
				assert.Equal(t, tt.host, r.Echo.Host, "the backend sees the Host header")
			}
		})
	}
}
