//go:build linux

package local

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// TestUnavailableBackends checks that a backend nginx cannot reach answers
// 503 while the other routes of the same host keep working.
func TestUnavailableBackends(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "ok")
	unready := startBackends(t, "unready")["unready"]
	const host = "svc.example.com"
	c := startController(t, options{files: map[string]string{
		"ok.yaml": serviceYAML("ok", b["ok"]),
		// Endpoints that exist but are not ready get no traffic.
		"unready.yaml": joinDocs(serviceOnlyYAML("unready"),
			sliceYAML("unready", "unready-1", int(unready.addr.Port()), endpoint{unready.addr.Addr().String(), false})),
		// A Service whose slice lists no endpoints at all.
		"empty.yaml": joinDocs(serviceOnlyYAML("empty"), sliceYAML("empty", "empty-1", 8080)),
		// A Service without any EndpointSlice.
		"no-slice.yaml": serviceOnlyYAML("no-slice"),
		"ingress.yaml": ingressYAML("svc", host,
			route{"/ok", "Prefix", "ok"},
			route{"/unready", "Prefix", "unready"},
			route{"/empty", "Prefix", "empty"},
			route{"/no-slice", "Prefix", "no-slice"},
			route{"/missing", "Prefix", "missing"}, // no such Service
		),
	}})

	for _, path := range []string{"/unready", "/empty", "/no-slice", "/missing"} {
		t.Run(path, func(t *testing.T) {
			r := c.Get(t, host, path)
			assert.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r)
			assert.Empty(t, r.Served(), "%s", r)
		})
	}
	r := c.Get(t, host, "/ok")
	assert.Equal(t, http.StatusOK, r.Status, "%s", r)
	assert.Equal(t, "ok", r.Served(), "%s", r)
	assert.Zero(t, unready.hits.Load(), "an endpoint that is not ready got requests")

	// The missing Service appears: its route starts working.
	missing := startBackends(t, "missing")["missing"]
	c.update(t, "missing.yaml", serviceYAML("missing", missing))
	c.WaitServed(t, host, "/missing", "missing")
}

// TestLoadBalancing scales a Service's endpoints down, up and unready, with
// each balancer. With the Lua balancer the changes reach nginx without a
// reload (the generation stays the same); with upstream blocks each one is
// a reload.
func TestLoadBalancing(t *testing.T) {
	t.Parallel()
	for _, balancer := range []string{"lua", "upstreams"} {
		t.Run(balancer, func(t *testing.T) {
			t.Parallel()
			testLoadBalancing(t, balancer)
		})
	}
}

func testLoadBalancing(t *testing.T, balancer string) {
	eps := startEndpoints(t, "web", 3)
	const host = "lb.example.com"
	port := int(eps[0].addr.Port())
	slice := func(list ...endpoint) string {
		return joinDocs(serviceOnlyYAML("web"), sliceYAML("web", "web-1", port, list...))
	}
	ready := func(bs ...*backend) []endpoint {
		list := make([]endpoint, len(bs))
		for i, b := range bs {
			list[i] = endpoint{b.addr.Addr().String(), true}
		}
		return list
	}
	c := startController(t, options{args: []string{"--balancer", balancer}, files: map[string]string{
		"web.yaml":     slice(ready(eps...)...),
		"ingress.yaml": ingressYAML("web", host, route{"/", "Prefix", "web"}),
	}})

	served := func(t *testing.T, n int) map[string]int {
		t.Helper()
		counts, err := c.spread(host, "/", "web", n)
		require.NoError(t, err)
		return counts
	}
	addrs := func(bs ...*backend) []string {
		out := make([]string, len(bs))
		for i, b := range bs {
			out[i] = b.addr.String()
		}
		return out
	}
	// change writes the endpoints and waits until exactly want serve; it
	// checks that nginx reloaded only with upstream blocks.
	change := func(t *testing.T, content string, want ...*backend) {
		t.Helper()
		before := c.Generation(t)
		start := time.Now()
		if balancer == "upstreams" {
			c.update(t, "web.yaml", content)
		} else {
			c.writeManifest(t, "web.yaml", content)
		}
		c.waitOnly(t, host, "web", addrs(want...))
		t.Logf("%s: %v serving %s after the change", balancer, addrs(want...), time.Since(start).Round(time.Millisecond))
		if balancer == "lua" {
			assert.Equal(t, before, c.Generation(t), "an endpoint change must not reload nginx")
			// The controller records a push once nginx has acknowledged it,
			// which can be just after the traffic already shows it.
			holds := func(pushed string) bool {
				for _, addr := range addrs(want...) {
					if !strings.Contains(pushed, `"`+addr+`"`) {
						return false
					}
				}
				return true
			}
			pushed := string(c.MustStatusGet(t, "/debug/balancer"))
			for deadline := time.Now().Add(5 * time.Second); !holds(pushed) && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
				pushed = string(c.MustStatusGet(t, "/debug/balancer"))
			}
			for _, addr := range addrs(want...) {
				assert.Contains(t, pushed, `"`+addr+`"`, "/debug/balancer shows the endpoints nginx holds")
			}
		} else {
			assert.Greater(t, c.Generation(t), before, "upstream blocks need a reload")
		}
	}

	counts := served(t, 60)
	t.Logf("60 requests over 3 endpoints: %v", counts)
	assert.ElementsMatch(t, addrs(eps...), keys(counts), "every endpoint gets traffic")

	// Scale down to one endpoint: only it gets traffic.
	change(t, slice(ready(eps[2])...), eps[2])
	assert.Equal(t, map[string]int{eps[2].addr.String(): 20}, served(t, 20))

	// Scale up to two: both get traffic, the removed one none.
	change(t, slice(ready(eps[0], eps[2])...), eps[0], eps[2])
	counts = served(t, 40)
	assert.ElementsMatch(t, addrs(eps[0], eps[2]), keys(counts), "40 requests over 2 endpoints: %v", counts)

	// An endpoint that turns unready leaves the rotation.
	change(t, slice(endpoint{eps[0].addr.Addr().String(), false}, endpoint{eps[2].addr.Addr().String(), true}), eps[2])
	assert.Equal(t, map[string]int{eps[2].addr.String(): 20}, served(t, 20))
}

// spread sends n requests to host+path, which must all be answered 200 by
// service, and counts the answers per endpoint.
func (c *controller) spread(host, path, service string, n int) (map[string]int, error) {
	counts := map[string]int{}
	for range n {
		r, err := c.Request(host, path)
		if err != nil {
			return counts, err
		}
		if r.Status != http.StatusOK || r.Served() != service {
			return counts, fmt.Errorf("GET http://%s%s: %s, want 200 from %s", host, path, r, service)
		}
		counts[r.Echo.Endpoint]++
	}
	return counts, nil
}

// waitOnly waits until a batch of 10 requests to host goes to exactly the endpoints want.
func (c *controller) waitOnly(t *testing.T, host, service string, want []string) {
	t.Helper()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		counts, err := c.spread(host, "/", service, 10)
		require.NoError(ct, err)
		assert.ElementsMatch(ct, want, keys(counts))
	}, framework.RouteTimeout, framework.PollInterval)
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestNoEndpointsAnswer503 sends a request for each backend protocol to a
// Service without ready endpoints and requires nginx's 503 every time. With
// the Lua balancer a plain-HTTP location learns that in the balancer phase
// and is answered by the loopback 503 server; one whose backend speaks TLS
// or gRPC, which that server cannot answer, decides in its own rewrite
// hook, so the config must give exactly those locations one.
func TestNoEndpointsAnswer503(t *testing.T) {
	t.Parallel()
	protocols := []string{"HTTP", "HTTPS", "GRPC", "GRPCS"}
	hosts := make([]string, 0, len(protocols))
	for _, p := range protocols {
		hosts = append(hosts, strings.ToLower(p)+".empty.example.com")
	}
	kp := framework.NewKeyPair(t, hosts...)
	files := map[string]string{
		"empty.yaml": joinDocs(serviceOnlyYAML("empty"), sliceYAML("empty", "empty-1", 8080)),
		"tls.yaml":   secretYAML("tls", kp),
	}
	for i, p := range protocols {
		name := strings.ToLower(p)
		ing := annotate(ingressYAML(name, hosts[i], route{"/", "Prefix", "empty"}),
			map[string]string{"nginx.ingress.kubernetes.io/backend-protocol": p})
		files[name+".yaml"] = withTLS(ing, hosts[i], "tls")
	}
	c := startController(t, options{files: files})

	conf := string(c.MustStatusGet(t, "/debug/config"))
	assert.Equal(t, 3, strings.Count(conf, "hooks/rewrite.lua"), "a rewrite hook in the HTTPS, GRPC and GRPCS locations only:\n%s", conf)
	roots := x509.NewCertPool()
	roots.AddCert(kp.Leaf)
	for i, p := range protocols {
		t.Run(p, func(t *testing.T) {
			host := hosts[i]
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				var status int
				if strings.HasPrefix(p, "GRPC") {
					resp, _, err := grpcCall(grpcClient(t, c, host, roots), host)
					require.NoError(ct, err)
					status = resp.StatusCode
				} else {
					r, err := framework.DoGet(c.HTTPSClient(host, roots), "https", host, "/")
					require.NoError(ct, err)
					status = r.Status
				}
				assert.Equal(ct, http.StatusServiceUnavailable, status)
			}, framework.RouteTimeout, framework.PollInterval)
		})
	}
}

// ---- endpoint changes ------------------------------------------------------------

// pushLogTimes returns the times of the controller's "balancer data pushed"
// debug lines, oldest first.
func (c *controller) pushLogTimes(t *testing.T) []time.Time {
	t.Helper()
	var out []time.Time
	for line := range strings.Lines(c.Logs.String()) {
		if !strings.Contains(line, `"msg":"balancer data pushed"`) {
			continue
		}
		var entry struct {
			Time time.Time `json:"time"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &entry), "log line %q", line)
		out = append(out, entry.Time)
	}
	return out
}

// TestNewEndpointTakesTrafficFast measures how long a new endpoint takes to
// get traffic: ten times, an EndpointSlice manifest is rewritten with a new
// endpoint beside a fixed one, and requests (every 10 ms) go out until one
// reaches it. Figures from the file write include the controller's 200 ms
// hold-off; figures from the push (its debug log line) are the balancer's
// own delay. Only generous bounds are asserted: the figures are in the log.
func TestNewEndpointTakesTrafficFast(t *testing.T) {
	t.Parallel()
	const tries = 10
	eps := startEndpoints(t, "app", tries+1)
	port := int(eps[0].addr.Port())
	slice := func(bs ...*backend) string {
		return joinDocs(serviceOnlyYAML("app"), sliceYAML("app", "app-1", port, readyEndpoints(bs...)...))
	}
	const host = "new.example.com"
	c := startController(t, options{args: []string{"--log-level", "debug"}, files: map[string]string{
		"app.yaml":     slice(eps[0]),
		"ingress.yaml": ingressYAML("new", host, route{"/", "Prefix", "app"}),
	}})
	c.WaitServed(t, host, "/", "app")
	gen := c.Generation(t)

	const bound = 5 * time.Second
	var fromWrite, fromPush []time.Duration
	requests := 0
	for i := 1; i <= tries; i++ {
		fresh := eps[i]
		pushed := len(c.pushLogTimes(t))
		c.writeManifest(t, "app.yaml", slice(eps[0], fresh))
		written := time.Now()
		for fresh.hits.Load() == 0 {
			require.Less(t, time.Since(written), bound, "try %d: %s got no request", i, fresh.addr)
			r := c.Get(t, host, "/")
			require.Equal(t, http.StatusOK, r.Status, "%s", r)
			requests++
			if fresh.hits.Load() == 0 {
				time.Sleep(10 * time.Millisecond)
			}
		}
		reached := time.Now()
		var times []time.Time
		require.Eventually(t, func() bool {
			times = c.pushLogTimes(t)
			return len(times) > pushed
		}, framework.ReloadTimeout, framework.PollInterval, "try %d: no push logged", i)
		fromWrite = append(fromWrite, reached.Sub(written))
		fromPush = append(fromPush, reached.Sub(times[pushed]))
	}
	stats := func(d []time.Duration) string {
		s := slices.Clone(d)
		slices.Sort(s)
		return fmt.Sprintf("median %s, max %s", s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
	}
	t.Logf("new endpoint reached, %d tries, %d requests: from the file write %s; from the push %s (requests every 10 ms)",
		tries, requests, stats(fromWrite), stats(fromPush))
	for i := range tries {
		assert.Less(t, fromWrite[i], bound, "try %d", i+1)
		assert.Less(t, fromPush[i], bound, "try %d", i+1)
	}
	assert.Equal(t, gen, c.Generation(t), "new endpoints need no reload")
}

// ---- without Lua -------------------------------------------------------------------

// noLuaNginx writes a wrapper that stands for an nginx built without the
// Lua module: it refuses any configuration that uses a *_by_lua directive
// with the error such an nginx gives, and runs the real nginx otherwise.
func noLuaNginx(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nginx-without-lua")
	script := `#!/bin/sh
# nginx without the Lua module: a configuration using it does not parse.
conf=""
prev=""
for arg in "$@"; do
	if [ "$prev" = "-c" ]; then conf="$arg"; fi
	prev="$arg"
done
if [ -n "$conf" ] && grep -q "by_lua" "$conf" 2>/dev/null; then
	echo "nginx: [emerg] unknown directive \"lua_package_path\" in $conf" >&2
	echo "nginx: configuration file $conf test failed" >&2
	exit 1
fi
exec ` + suite.Nginx + ` "$@"
`
	require.NoError(t, os.WriteFile(path, []byte(script), 0o755))
	require.NoError(t, os.Chmod(path, 0o755))
	return path
}

// TestBalancerWithoutLua runs the controller with an nginx that cannot load
// the Lua balancer. With --balancer auto it falls back to upstream blocks:
// a warning, portico_balancer_info{balancer="upstreams"}, traffic served,
// an endpoint change reloads, and a canary is reported as ineffective.
// With --balancer lua it refuses to start and says how to fix it.
func TestBalancerWithoutLua(t *testing.T) {
	t.Parallel()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	wrapper := noLuaNginx(t)

	t.Run("auto", func(t *testing.T) {
		t.Parallel()
		eps := startEndpoints(t, "app", 2)
		canary := startBackends(t, "canary")["canary"]
		port := int(eps[0].addr.Port())
		slice := func(bs ...*backend) string {
			return joinDocs(serviceOnlyYAML("app"), sliceYAML("app", "app-1", port, readyEndpoints(bs...)...))
		}
		const host = "nolua.example.com"
		c := startController(t, options{args: []string{"--nginx-binary", wrapper}, files: map[string]string{
			"app.yaml":    slice(eps[0]),
			"canary.yaml": serviceYAML("canary", canary),
			"ingress.yaml": joinDocs(ingressYAML("nolua", host, route{"/", "Prefix", "app"}),
				canaryYAML("nolua-canary", host, "canary", map[string]string{"canary-weight": "100"})),
		}})
		c.waitLog(t, `"level":"WARN"`, "nginx cannot run the Lua balancer", "lua_package_path")
		v, ok := c.Metric(t, "portico_balancer_info", map[string]string{"balancer": "upstreams"})
		assert.True(t, ok && v == 1, `portico_balancer_info{balancer="upstreams"} is %v (present: %t), want 1`, v, ok)
		_, ok = c.Metric(t, "portico_balancer_info", map[string]string{"balancer": "lua"})
		assert.False(t, ok, "the Lua balancer is not in use")
		conf := string(c.MustStatusGet(t, "/debug/config"))
		assert.NotContains(t, conf, "by_lua", "the live config does not use Lua")
		assert.Contains(t, conf, `upstream "default.app.80" {`, "an upstream block per Service port")

		assert.Equal(t, map[string]int{eps[0].addr.String(): 10}, c.countBy(t, host, "/", nil, 10, byEndpoint),
			"traffic is served, and the canary gets none")
		c.waitLog(t, "canary needs the Lua balancer", `"object":"Ingress default/nolua-canary"`)

		gen := c.Generation(t)
		ev := c.update(t, "app.yaml", slice(eps...))
		assert.Greater(t, ev.Generation, gen, "without Lua an endpoint change reloads")
		c.waitOnly(t, host, "app", []string{eps[0].addr.String(), eps[1].addr.String()})
	})

	t.Run("lua", func(t *testing.T) {
		t.Parallel()
		root := framework.ControllerDir(t)
		manifests := filepath.Join(root, "manifests")
		require.NoError(t, os.Mkdir(manifests, 0o755))
		cmd := exec.Command(suite.Portico, "controller",
			"--manifests", manifests,
			"--start-nginx",
			"--nginx-binary", wrapper,
			"--balancer", "lua",
			"--bind-address", "127.0.0.1",
			"--http-port", strconv.Itoa(suite.Ports.MustFree(t)),
			"--https-port", strconv.Itoa(suite.Ports.MustFree(t)),
			"--internal-port", strconv.Itoa(suite.Ports.MustFree(t)),
			"--status-address", "127.0.0.1:"+strconv.Itoa(suite.Ports.MustFree(t)),
			"--config-dir", filepath.Join(root, "conf"),
			"--runtime-dir", filepath.Join(root, "run"),
			"--log-format", "json",
			"--resolver", "127.0.0.1",
			"--allow-loopback-backends",
		)
		p, err := suite.Children.Start("portico controller", cmd)
		require.NoError(t, err)
		out := p.Logs
		select {
		case <-p.Exited():
			err = p.Err()
		case <-time.After(framework.ReadyTimeout):
			// It started after all: stop it (it stops its nginx) and fail.
			_ = p.Stop()
			t.Fatalf("--balancer lua with an nginx without Lua kept running:\n%s", out.String())
		}
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "the controller must fail: %v\n%s", err, out.String())
		assert.Equal(t, 1, exit.ExitCode(), "%s", out.String())
		msg := out.String()
		t.Logf("--balancer lua without Lua: exit %d: %s", exit.ExitCode(), strings.TrimSpace(msg))
		assert.Contains(t, msg, "--balancer lua")
		assert.Contains(t, msg, "install nginx's Lua module and lua-cjson", "the error says how to fix it")
		assert.Contains(t, msg, `unknown directive "lua_package_path"`, "the error carries nginx's own")
		assert.NoFileExists(t, filepath.Join(root, "conf", "nginx.conf"), "no configuration was written")
	})
}
