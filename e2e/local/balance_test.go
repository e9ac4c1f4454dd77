//go:build linux

package local

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBalanceAnnotations shows upstream-hash-by on real traffic: each path
// always reaches the same endpoint, and different paths use more than one.
func TestBalanceAnnotations(t *testing.T) {
	t.Parallel()
	eps := startEndpoints(t, "app", 3)
	c := startController(t, options{files: map[string]string{
		"services.yaml": serviceYAML("app", eps...),
		"app.yaml": annotate(ingressYAML("app", "hash.example.com", route{"/", "Prefix", "app"}),
			map[string]string{"nginx.ingress.kubernetes.io/upstream-hash-by": `"$request_uri"`}),
	}})
	c.WaitServed(t, "hash.example.com", "/", "app")
	used := map[string]bool{}
	for i := range 20 {
		path := "/item/" + strconv.Itoa(i)
		first := c.Get(t, "hash.example.com", path)
		require.NotNil(t, first.Echo, "%s", first)
		used[first.Echo.Endpoint] = true
		for range 3 {
			again := c.Get(t, "hash.example.com", path)
			require.NotNil(t, again.Echo, "%s", again)
			assert.Equal(t, first.Echo.Endpoint, again.Echo.Endpoint, "%s must stay on one endpoint", path)
		}
	}
	assert.Greater(t, len(used), 1, "20 different paths should spread over more than one endpoint")
}

// TestLeastConnAnnotation shows load-balance least_conn on real traffic:
// requests over two endpoints all succeed and both endpoints get some, with
// the Lua balancer (which counts requests in flight) and with upstream
// blocks (nginx's least_conn).
func TestLeastConnAnnotation(t *testing.T) {
	t.Parallel()
	for _, balancer := range []string{"lua", "upstreams"} {
		t.Run(balancer, func(t *testing.T) {
			t.Parallel()
			eps := startEndpoints(t, "app", 2)
			c := startController(t, options{args: []string{"--balancer", balancer}, files: map[string]string{
				"services.yaml": serviceYAML("app", eps...),
				"app.yaml": annotate(ingressYAML("app", "lc.example.com", route{"/", "Prefix", "app"}),
					map[string]string{"nginx.ingress.kubernetes.io/load-balance": "least_conn"}),
			}})
			c.WaitServed(t, "lc.example.com", "/", "app")
			if balancer == "upstreams" {
				assert.Contains(t, string(c.MustStatusGet(t, "/debug/config")), "least_conn;", "the upstream uses least_conn")
			}
			used := map[string]int{}
			for range 20 {
				r := c.Get(t, "lc.example.com", "/")
				require.Equal(t, http.StatusOK, r.Status, "%s", r)
				require.NotNil(t, r.Echo, "%s", r)
				used[r.Echo.Endpoint]++
			}
			assert.Len(t, used, 2, "both endpoints get traffic: %v", used)
			for _, b := range eps {
				assert.Positive(t, b.hits.Load(), "endpoint %s", b.addr)
			}
		})
	}
}

// ---- load balancing ------------------------------------------------------------

// listenDelayed is listenBackend with a delay before every answer.
func listenDelayed(t *testing.T, service, ip string, port int, delay time.Duration) (*backend, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	b := &backend{service: service, addr: netip.MustParseAddrPort(ln.Addr().String())}
	serve(t, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sleepOr(r, delay)
		b.ServeHTTP(w, r)
	}))
	return b, nil
}

// startDelayedEndpoints is startEndpoints with one answer delay per endpoint.
func startDelayedEndpoints(t *testing.T, service string, delays ...time.Duration) []*backend {
	t.Helper()
	ips := make([]string, len(delays))
	for i := range ips {
		ips[i] = allocIP(t)
	}
	for range 10 {
		var out []*backend
		port := 0
		for i, ip := range ips {
			b, err := listenDelayed(t, service, ip, port, delays[i])
			if err != nil {
				break // the port is taken on this address: try another port
			}
			out = append(out, b)
			port = int(b.addr.Port())
		}
		if len(out) == len(ips) {
			return out
		}
	}
	t.Fatalf("could not start %d endpoints of %s on one port", len(ips), service)
	return nil
}

// TestLoadBalanceEwma shows load-balance ewma on real traffic: over two
// endpoints, one answering at once and one after 100 ms, ewma sends most
// requests to the fast one, while round robin over the same endpoints
// splits them evenly.
func TestLoadBalanceEwma(t *testing.T) {
	t.Parallel()
	eps := startDelayedEndpoints(t, "app", 0, 100*time.Millisecond)
	fast, slow := eps[0].addr.String(), eps[1].addr.String()
	c := startController(t, options{files: map[string]string{
		"services.yaml": serviceYAML("app", eps...),
		"ewma.yaml": withAnnotations(ingressYAML("ewma", "ewma.example.com", route{"/", "Prefix", "app"}),
			map[string]string{"load-balance": "ewma"}),
		"rr.yaml": ingressYAML("rr", "rr.example.com", route{"/", "Prefix", "app"}),
	}})
	c.waitAnswered(t, "ewma.example.com", "/")

	// Warm-up: ewma tries endpoints it has no time for first, so both get
	// measured here.
	warm := c.countBy(t, "ewma.example.com", "/", nil, 10, byEndpoint)
	t.Logf("ewma warm-up, 10 requests: fast %d, slow %d", warm[fast], warm[slow])

	// ewma compares the two smoothed answer times (about 1 ms against
	// 100 ms) on every request, and an idle endpoint's time decays to the
	// other's only after about 10 s·ln(100) ≈ 45 s: nearly every request of
	// these few seconds goes to the fast endpoint. 70 % leaves room for a
	// loaded machine and is still far from round robin's 50 %.
	const n = 200
	counts := c.countBy(t, "ewma.example.com", "/", nil, n, byEndpoint)
	t.Logf("ewma, %d requests: fast %d (%.0f%%), slow %d", n, counts[fast], 100*float64(counts[fast])/n, counts[slow])
	assert.Greater(t, counts[fast], n*70/100, "ewma sends most requests to the fast endpoint: %v", counts)

	// Round robin alternates with one worker; the binomial bound of a fair
	// coin is looser than that, and still excludes what ewma does. 100
	// requests: half of them wait 100 ms.
	const nRR = 100
	counts = c.countBy(t, "rr.example.com", "/", nil, nRR, byEndpoint)
	assertBinomial(t, "round robin, fast endpoint", counts[fast], nRR, 0.5)

	// Switching the round robin Ingress to ewma reloads nginx: ewma needs
	// the log hook, which only locations that use it run (docs/balancer.md).
	// The new worker learns the answer times anew, so warm up again.
	c.update(t, "rr.yaml", withAnnotations(ingressYAML("rr", "rr.example.com", route{"/", "Prefix", "app"}),
		map[string]string{"load-balance": "ewma"}))
	c.countBy(t, "rr.example.com", "/", nil, 10, byEndpoint)
	const nSwitched = 50
	counts = c.countBy(t, "rr.example.com", "/", nil, nSwitched, byEndpoint)
	t.Logf("after the switch to ewma, %d requests: fast %d, slow %d", nSwitched, counts[fast], counts[slow])
	assert.Greater(t, counts[fast], nSwitched*70/100, "the switched Ingress balances with ewma: %v", counts)
}

// TestUpstreamHashBy shows upstream-hash-by "$arg_user" on real traffic:
// every request of a user reaches the same endpoint, users spread over the
// endpoints, and removing an endpoint (no reload) moves only the users it
// had; putting it back restores the first placement exactly.
func TestUpstreamHashBy(t *testing.T) {
	t.Parallel()
	eps := startEndpoints(t, "app", 3)
	port := int(eps[0].addr.Port())
	slice := func(bs ...*backend) string {
		return joinDocs(serviceOnlyYAML("app"), sliceYAML("app", "app-1", port, readyEndpoints(bs...)...))
	}
	const host = "hash.example.com"
	c := startController(t, options{files: map[string]string{
		"app.yaml": slice(eps...),
		"ingress.yaml": withAnnotations(ingressYAML("hash", host, route{"/", "Prefix", "app"}),
			map[string]string{"upstream-hash-by": "$arg_user"}),
	}})
	c.waitAnswered(t, host, "/")

	const users = 20
	// placement sends each user's requests and returns where each user
	// landed; all requests of one user must land on one endpoint.
	placement := func(perUser int) map[string]string {
		t.Helper()
		out := map[string]string{}
		for u := range users {
			user := fmt.Sprintf("user-%d", u)
			got := c.countBy(t, host, "/page?user="+user, nil, perUser, byEndpoint)
			require.Len(t, got, 1, "every request of %s reaches the same endpoint: %v", user, got)
			out[user] = keys(got)[0]
		}
		return out
	}
	perEndpoint := func(p map[string]string) map[string]int {
		n := map[string]int{}
		for _, ep := range p {
			n[ep]++
		}
		return n
	}

	before := placement(5)
	spread := perEndpoint(before)
	t.Logf("%d users over 3 endpoints: %v", users, spread)
	assert.GreaterOrEqual(t, len(spread), 2, "users spread over the endpoints: %v", spread)

	// Remove the endpoint with the most users, so that some must move.
	var victim *backend
	for _, b := range eps {
		if victim == nil || spread[b.addr.String()] > spread[victim.addr.String()] {
			victim = b
		}
	}
	var rest []*backend
	for _, b := range eps {
		if b != victim {
			rest = append(rest, b)
		}
	}
	c.changeNoReload(t, "removing an endpoint", func() { c.writeManifest(t, "app.yaml", slice(rest...)) })
	after := placement(3)
	moved := 0
	for user, was := range before {
		if was == victim.addr.String() {
			assert.NotEqual(t, was, after[user], "%s was on the removed endpoint", user)
			moved++
			continue
		}
		assert.Equal(t, was, after[user], "%s was on an endpoint that stayed: consistent hashing keeps it there", user)
	}
	t.Logf("removing %s (%d users) moved those users only: %v", victim.addr, moved, perEndpoint(after))

	c.changeNoReload(t, "adding the endpoint back", func() { c.writeManifest(t, "app.yaml", slice(eps...)) })
	assert.Equal(t, before, placement(3), "the same endpoints give the same placement")

	// A new hash key is data too: hashing on an argument no request has
	// gives every request the same (empty) key, so one endpoint for all.
	c.changeNoReload(t, "upstream-hash-by $arg_user -> $arg_none", func() {
		c.writeManifest(t, "ingress.yaml", withAnnotations(ingressYAML("hash", host, route{"/", "Prefix", "app"}),
			map[string]string{"upstream-hash-by": "$arg_none"}))
	})
	all := map[string]int{}
	for u := range users {
		for ep, n := range c.countBy(t, host, fmt.Sprintf("/page?user=user-%d", u), nil, 1, byEndpoint) {
			all[ep] += n
		}
	}
	assert.Len(t, all, 1, "hashing on an absent argument puts every user on one endpoint: %v", all)
}

// TestServiceUpstream: with service-upstream an Ingress reaches its
// Service's cluster IP (here a backend standing in for kube-proxy or a mesh
// proxy) instead of the EndpointSlice's Pods, with either balancer; an
// Ingress of the same Service without it keeps going to the Pods.
func TestServiceUpstream(t *testing.T) {
	t.Parallel()
	for _, balancer := range []string{"lua", "upstreams"} {
		t.Run(balancer, func(t *testing.T) {
			t.Parallel()
			b := startBackends(t, "cluster-ip", "pod")
			proxy, pod := b["cluster-ip"].addr, b["pod"].addr
			ingress := func(name, host string, annotations string) string {
				return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: %s, annotations: {%s}}
spec:
  ingressClassName: portico
  rules:
  - host: %s
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: app, port: {number: %d}}}}]}
`, name, annotations, host, proxy.Port())
			}
			c := startController(t, options{args: []string{"--balancer", balancer}, files: map[string]string{
				"app.yaml": fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {name: app}\nspec: {clusterIP: %s, ports: [{port: %d}]}\n---\n",
					proxy.Addr(), proxy.Port()) + sliceYAML("app", "app-1", int(pod.Port()), endpoint{pod.Addr().String(), true}),
				"mesh.yaml":   ingress("mesh", "mesh.example.com", `nginx.ingress.kubernetes.io/service-upstream: "true"`),
				"direct.yaml": ingress("direct", "direct.example.com", ""),
			}})
			c.WaitServed(t, "mesh.example.com", "/", "cluster-ip")
			c.WaitServed(t, "direct.example.com", "/", "pod")
			for range 5 {
				assert.Equal(t, "cluster-ip", c.Get(t, "mesh.example.com", "/").Served())
				assert.Equal(t, "pod", c.Get(t, "direct.example.com", "/").Served())
			}
		})
	}
}
