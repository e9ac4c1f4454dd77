//go:build linux

package local

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

// canaryYAML is a canary Ingress for host and path "/" that routes to service.
func canaryYAML(name, host, service string, annotations map[string]string) string {
	all := map[string]string{"canary": "true"}
	for k, v := range annotations {
		all[k] = v
	}
	return withAnnotations(ingressYAML(name, host, route{"/", "Prefix", service}), all)
}

// TestCanaryWeight measures canary-weight and canary-weight-total on real
// traffic: weight 20 (of the default 100) sends about 20 % of requests to
// the canary's Service, weight 1 of a total of 4 about 25 %.
func TestCanaryWeight(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "main", "canary")
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"main.yaml": joinDocs(
			ingressYAML("main-weight", "weight.example.com", route{"/", "Prefix", "main"}),
			ingressYAML("main-total", "total.example.com", route{"/", "Prefix", "main"})),
		"canary.yaml": joinDocs(
			canaryYAML("canary-weight", "weight.example.com", "canary", map[string]string{"canary-weight": "20"}),
			canaryYAML("canary-total", "total.example.com", "canary",
				map[string]string{"canary-weight": "1", "canary-weight-total": "4"})),
	}})
	c.waitAnswered(t, "weight.example.com", "/")
	c.waitAnswered(t, "total.example.com", "/")

	const n = 400
	counts := c.countBy(t, "weight.example.com", "/", nil, n, byService)
	assert.Equal(t, n, counts["main"]+counts["canary"], "only the two Services answer: %v", counts)
	assertBinomial(t, "canary-weight 20", counts["canary"], n, 0.20)

	const nTotal = 300
	counts = c.countBy(t, "total.example.com", "/", nil, nTotal, byService)
	assert.Equal(t, nTotal, counts["main"]+counts["canary"], "only the two Services answer: %v", counts)
	assertBinomial(t, "canary-weight 1 of canary-weight-total 4", counts["canary"], nTotal, 0.25)
}

// TestCanaryWeightChangeNoReload changes a canary's weight from 20 to 80,
// deletes the canary Ingress and creates it again, each time by rewriting
// manifests: traffic follows every change, and nginx never reloads (the
// canary is data pushed to the Lua balancer, not nginx.conf).
func TestCanaryWeightChangeNoReload(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "main", "canary")
	const host = "shift.example.com"
	canary := func(weight string) string {
		return canaryYAML("shift-canary", host, "canary", map[string]string{"canary-weight": weight})
	}
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"main.yaml":     ingressYAML("shift", host, route{"/", "Prefix", "main"}),
		"canary.yaml":   canary("20"),
	}})
	c.waitAnswered(t, host, "/")
	gen := c.Generation(t)

	// 200 requests per share: the 5-sigma intervals of 20 % (12..68) and
	// 80 % (132..188) are far apart, so the test sees which weight is live.
	const n = 200
	counts := c.countBy(t, host, "/", nil, n, byService)
	assertBinomial(t, "canary-weight 20", counts["canary"], n, 0.20)

	c.changeNoReload(t, "canary-weight 20 -> 80", func() { c.writeManifest(t, "canary.yaml", canary("80")) })
	counts = c.countBy(t, host, "/", nil, n, byService)
	assertBinomial(t, "canary-weight 80", counts["canary"], n, 0.80)

	c.changeNoReload(t, "deleting the canary Ingress", func() { c.removeManifest(t, "canary.yaml") })
	assert.Equal(t, map[string]int{"main": 20}, c.countBy(t, host, "/", nil, 20, byService),
		"without the canary Ingress everything goes to the main Service")

	c.changeNoReload(t, "creating a canary Ingress", func() { c.writeManifest(t, "canary.yaml", canary("100")) })
	assert.Equal(t, map[string]int{"canary": 20}, c.countBy(t, host, "/", nil, 20, byService),
		"canary-weight 100 sends everything to the canary")

	assert.Equal(t, gen, c.Generation(t), "no canary change reloads nginx")
}

// TestCanaryByHeader checks the order of the canary decision on real
// traffic, as ingress-nginx has it: canary-by-header ("always", "never",
// canary-by-header-value, canary-by-header-pattern), then canary-by-cookie
// ("always", "never"), then the weight. Weights of 0 and 100 make every
// answer deterministic, so each case expects all of its requests on one side.
func TestCanaryByHeader(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "main", "canary")
	hosts := map[string]map[string]string{
		"header.example.com":        {"canary-by-header": "X-Canary", "canary-weight": "0"},
		"header-all.example.com":    {"canary-by-header": "X-Canary", "canary-weight": "100"},
		"value.example.com":         {"canary-by-header": "X-Canary", "canary-by-header-value": "v2", "canary-weight": "0"},
		"value-all.example.com":     {"canary-by-header": "X-Canary", "canary-by-header-value": "v2", "canary-weight": "100"},
		"pattern.example.com":       {"canary-by-header": "X-Canary", "canary-by-header-pattern": "^v2-(beta|rc)[0-9]+$", "canary-weight": "0"},
		"cookie.example.com":        {"canary-by-cookie": "canary", "canary-weight": "0"},
		"cookie-all.example.com":    {"canary-by-cookie": "canary", "canary-weight": "100"},
		"header-cookie.example.com": {"canary-by-header": "X-Canary", "canary-by-cookie": "canary", "canary-weight": "0"},
	}
	files := map[string]string{"services.yaml": servicesYAML(b)}
	i := 0
	for host, annotations := range hosts {
		i++
		files[fmt.Sprintf("main-%d.yaml", i)] = ingressYAML(fmt.Sprintf("main-%d", i), host, route{"/", "Prefix", "main"})
		files[fmt.Sprintf("canary-%d.yaml", i)] = canaryYAML(fmt.Sprintf("canary-%d", i), host, "canary", annotations)
	}
	c := startController(t, options{files: files})
	for host := range hosts {
		c.waitAnswered(t, host, "/")
	}

	cases := []struct {
		name   string
		host   string
		header map[string]string
		canary bool
	}{
		{"header always", "header.example.com", map[string]string{"X-Canary": "always"}, true},
		{"header never", "header.example.com", map[string]string{"X-Canary": "never"}, false},
		{"no header, weight 0", "header.example.com", nil, false},
		{"other header value, weight 0", "header.example.com", map[string]string{"X-Canary": "maybe"}, false},
		{"header never beats weight 100", "header-all.example.com", map[string]string{"X-Canary": "never"}, false},
		{"no header, weight 100", "header-all.example.com", nil, true},
		{"other header value, weight 100", "header-all.example.com", map[string]string{"X-Canary": "maybe"}, true},

		{"header value equal", "value.example.com", map[string]string{"X-Canary": "v2"}, true},
		{"header value different, weight 0", "value.example.com", map[string]string{"X-Canary": "v3"}, false},
		{"always is just another value with header-value", "value.example.com", map[string]string{"X-Canary": "always"}, false},
		{"header value different, weight 100", "value-all.example.com", map[string]string{"X-Canary": "v3"}, true},
		{"never is just another value with header-value", "value-all.example.com", map[string]string{"X-Canary": "never"}, true},

		{"pattern matches beta", "pattern.example.com", map[string]string{"X-Canary": "v2-beta1"}, true},
		{"pattern matches rc", "pattern.example.com", map[string]string{"X-Canary": "v2-rc12"}, true},
		{"pattern does not match", "pattern.example.com", map[string]string{"X-Canary": "v2-stable"}, false},
		{"pattern is anchored", "pattern.example.com", map[string]string{"X-Canary": "xv2-beta1"}, false},

		{"cookie always", "cookie.example.com", map[string]string{"Cookie": "session=abc; canary=always"}, true},
		{"cookie never, weight 0", "cookie.example.com", map[string]string{"Cookie": "canary=never"}, false},
		{"other cookie, weight 0", "cookie.example.com", map[string]string{"Cookie": "other=always"}, false},
		{"cookie never beats weight 100", "cookie-all.example.com", map[string]string{"Cookie": "canary=never"}, false},
		{"no cookie, weight 100", "cookie-all.example.com", nil, true},

		{"header never beats cookie always", "header-cookie.example.com",
			map[string]string{"X-Canary": "never", "Cookie": "canary=always"}, false},
		{"header always beats cookie never", "header-cookie.example.com",
			map[string]string{"X-Canary": "always", "Cookie": "canary=never"}, true},
		{"cookie decides without the header", "header-cookie.example.com",
			map[string]string{"Cookie": "canary=always"}, true},
	}
	// Each case is deterministic: 10 requests show it is not luck.
	const n = 10
	for _, tc := range cases {
		want := map[string]int{"main": n}
		if tc.canary {
			want = map[string]int{"canary": n}
		}
		got := c.countBy(t, tc.host, "/", tc.header, n, byService)
		assert.Equal(t, want, got, "%s (%s, %v)", tc.name, tc.host, tc.header)
	}
}

// TestCanaryWithoutMainIsIgnored checks that a canary Ingress for a host or
// a path no main Ingress serves creates nothing: nginx answers 404 there,
// the canary's Service gets no request, and the controller reports the
// finding. Once a main Ingress serves the host, the canary takes effect and
// the finding is resolved.
func TestCanaryWithoutMainIsIgnored(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "main", "canary")
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"main.yaml":     ingressYAML("app", "app.example.com", route{"/app", "Prefix", "main"}),
		"canary.yaml": joinDocs(
			// A host nobody serves.
			canaryYAML("orphan-host", "orphan.example.com", "canary", map[string]string{"canary-weight": "100"}),
			// A served host, on a path the main Ingress does not have.
			withAnnotations(ingressYAML("orphan-path", "app.example.com", route{"/beta", "Prefix", "canary"}),
				map[string]string{"canary": "true", "canary-weight": "100"})),
	}})
	c.WaitServed(t, "app.example.com", "/app", "main")

	c.WaitStatus(t, "orphan.example.com", "/", http.StatusNotFound, "")
	c.WaitStatus(t, "app.example.com", "/beta", http.StatusNotFound, "")
	assert.Zero(t, b["canary"].hits.Load(), "a canary without a main Ingress gets no traffic")
	c.waitLog(t, `"level":"WARN"`, `has no main Ingress; its rules get no traffic`, "orphan.example.com",
		`"reason":"IneffectiveAnnotation"`, `"object":"Ingress default/orphan-host"`)
	c.waitLog(t, `"level":"WARN"`, `has no main Ingress; it gets no traffic`, "/beta", "app.example.com",
		`"reason":"IneffectiveAnnotation"`, `"object":"Ingress default/orphan-path"`)

	// The host gets a main Ingress (a new host: a reload): the canary,
	// weight 100, now takes its traffic.
	c.update(t, "orphan-main.yaml", ingressYAML("orphan-main", "orphan.example.com", route{"/", "Prefix", "main"}))
	c.WaitServed(t, "orphan.example.com", "/", "canary")
	c.waitLog(t, `resolved: canary host`, "orphan.example.com")
}
