//go:build linux

package local

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestHostMatching checks exact hosts, wildcards (one DNS label only), the
// rule without host for unknown hosts, and two Ingresses merging on one host.
func TestHostMatching(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "exact", "wildcard", "catch-all", "shared-a", "shared-b")
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"exact.yaml":    ingressYAML("exact", "exact.example.com", route{"/", "Prefix", "exact"}),
		"wildcard.yaml": ingressYAML("wildcard", "*.foo.com", route{"/", "Prefix", "wildcard"}),
		"no-host.yaml":  ingressYAML("no-host", "", route{"/", "Prefix", "catch-all"}),
		"shared-a.yaml": ingressYAML("shared-a", "shared.example.com", route{"/a", "Prefix", "shared-a"}),
		"shared-b.yaml": ingressYAML("shared-b", "shared.example.com", route{"/b", "Prefix", "shared-b"}),
	}})

	tests := []struct {
		host, path string
		service    string
	}{
		{"exact.example.com", "/", "exact"},
		{"exact.example.com", "/x", "exact"},
		{"EXACT.Example.COM", "/", "exact"},      // host names are case-insensitive
		{"exact.example.com:8080", "/", "exact"}, // the port in Host is not part of the name
		{"other.example.com", "/", "catch-all"},
		{"bar.foo.com", "/", "wildcard"},
		{"Bar.Foo.com", "/", "wildcard"},
		{"foo.com", "/", "catch-all"},         // a wildcard needs one label in front
		{"baz.bar.foo.com", "/", "catch-all"}, // and covers exactly one
		{"barfoo.com", "/", "catch-all"},
		{"unknown.test", "/anything", "catch-all"},
		{"shared.example.com", "/a", "shared-a"},
		{"shared.example.com", "/b/x", "shared-b"},
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.path, func(t *testing.T) {
			r := c.Get(t, tt.host, tt.path)
			assert.Equal(t, http.StatusOK, r.Status, "%s", r)
			assert.Equal(t, tt.service, r.Served(), "%s", r)
		})
	}
	// Two Ingresses on one host share one server: an unmatched path of that
	// host must not be answered by the catch-all rule of a third Ingress.
	t.Run("shared.example.com/c", func(t *testing.T) {
		r := c.Get(t, "shared.example.com", "/c")
		assert.Equal(t, http.StatusNotFound, r.Status, "%s", r)
		assert.Empty(t, r.Served(), "%s", r)
	})
}

// TestDefaultBackends checks who answers requests no rule matches: an
// Ingress's spec.defaultBackend, the --default-backend-service flag, or, with
// neither, nginx with 404.
func TestDefaultBackends(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// defaultBackend adds spec.defaultBackend: fallback to the Ingress.
		defaultBackend bool
		args           []string
		want           string // service answering unmatched requests; "" for 404
	}{
		{name: "spec.defaultBackend", defaultBackend: true, want: "fallback"},
		{name: "--default-backend-service", args: []string{"--default-backend-service", "default/global"}, want: "global"},
		{name: "--default-backend-service with port", args: []string{"--default-backend-service", "default/global:80"}, want: "global"},
		{name: "none", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := startBackends(t, "app", "fallback", "global")
			ing := ingressYAML("app", "app.example.com", route{"/app", "Prefix", "app"})
			if tt.defaultBackend {
				ing += "  defaultBackend: {service: {name: fallback, port: {number: 80}}}\n"
			}
			c := startController(t, options{args: tt.args, files: map[string]string{
				"services.yaml": servicesYAML(b),
				"app.yaml":      ing,
			}})

			wantStatus := http.StatusOK
			if tt.want == "" {
				wantStatus = http.StatusNotFound
			}
			for _, req := range []struct{ host, path string }{
				{"unknown.example.net", "/"},     // unknown host
				{"unknown.example.net", "/app"},  // unknown host, known path
				{"app.example.com", "/other"},    // known host, unmatched path
				{"app.example.com", "/"},         // known host, no "/" rule
				{"app.example.com", "/appendix"}, // not a path element match
			} {
				r := c.Get(t, req.host, req.path)
				assert.Equal(t, wantStatus, r.Status, "http://%s%s: %s", req.host, req.path, r)
				assert.Equal(t, tt.want, r.Served(), "http://%s%s: %s", req.host, req.path, r)
			}
			r := c.Get(t, "app.example.com", "/app/x")
			assert.Equal(t, http.StatusOK, r.Status, "%s", r)
			assert.Equal(t, "app", r.Served(), "matched requests still go to their rule: %s", r)
		})
	}
}

// TestSharedServerBlock checks hosts that share one server block (Lua
// balancer, one shape): each host still reaches its own Service, a host
// added later joins the block, and a host that gets an annotation of its own
// leaves it and keeps being served.
func TestSharedServerBlock(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "one", "two", "three", "four")
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"one.yaml":      ingressYAML("one", "one.example.com", route{"/", "Prefix", "one"}),
		"two.yaml":      ingressYAML("two", "two.example.com", route{"/", "Prefix", "two"}),
		"three.yaml":    ingressYAML("three", "three.example.com", route{"/", "Prefix", "three"}),
	}})
	serverNames := func() []string {
		var names []string
		for _, line := range strings.Split(string(c.MustStatusGet(t, "/debug/config")), "\n") {
			if l := strings.TrimSpace(line); strings.HasPrefix(l, "server_name ") && l != "server_name _;" {
				names = append(names, l)
			}
		}
		return names
	}
	check := func(t *testing.T, hosts ...string) {
		for _, h := range hosts {
			r := c.Get(t, h+".example.com", "/x")
			assert.Equal(t, http.StatusOK, r.Status, "%s", r)
			assert.Equal(t, h, r.Served(), "%s", r)
		}
		r := c.Get(t, "nobody.example.com", "/")
		assert.Equal(t, http.StatusNotFound, r.Status, "an unknown host gets the default server: %s", r)
	}

	assert.Equal(t, []string{`server_name "one.example.com" "three.example.com" "two.example.com";`}, serverNames())
	check(t, "one", "two", "three")

	c.update(t, "four.yaml", ingressYAML("four", "four.example.com", route{"/", "Prefix", "four"}))
	assert.Equal(t, []string{`server_name "four.example.com" "one.example.com" "three.example.com" "two.example.com";`}, serverNames())
	check(t, "one", "two", "three", "four")

	c.update(t, "two.yaml", annotate(ingressYAML("two", "two.example.com", route{"/", "Prefix", "two"}),
		map[string]string{"nginx.ingress.kubernetes.io/proxy-read-timeout": `"30"`}))
	assert.Equal(t, []string{
		`server_name "four.example.com" "one.example.com" "three.example.com";`,
		`server_name "two.example.com";`,
	}, serverNames())
	check(t, "one", "two", "three", "four")
}
