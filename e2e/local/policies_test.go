//go:build linux

package local

import (
	"bytes"
	"crypto/md5" //nolint:gosec // the Lua balancer names persistent-affinity endpoints by md5, not for security
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The traffic policies of the Lua balancer on real traffic: canary weights,
// headers and cookies, ewma, consistent hashing, session affinity, the
// default-backend fallback, how fast a new endpoint takes traffic, and the
// fallback to upstream blocks when nginx has no Lua module.
//
// Shares of random choices are checked against binomial bounds: when each
// of n requests goes to the canary with probability p, the count is
// Binomial(n, p), and a correct balancer lands within ±5 standard
// deviations (sqrt(n·p·(1-p))) of n·p except with probability about 6e-7
// (normal approximation). The bounds are computed, not guessed: a failure
// means a wrong share, not bad luck, and they stay far from what a broken
// policy gives (the other weight, 0 % or 100 %).

// annPrefix is the prefix of the annotations withAnnotations writes.
const annPrefix = "nginx.ingress.kubernetes.io/"

// withAnnotations adds annotations (keys without the prefix, values
// unquoted) to an Ingress made by ingressYAML.
func withAnnotations(ingress string, annotations map[string]string) string {
	quoted := make(map[string]string, len(annotations))
	for k, v := range annotations {
		quoted[annPrefix+k] = strconv.Quote(v)
	}
	return annotate(ingress, quoted)
}

// canaryYAML is a canary Ingress for host and path "/" that routes to service.
func canaryYAML(name, host, service string, annotations map[string]string) string {
	all := map[string]string{"canary": "true"}
	for k, v := range annotations {
		all[k] = v
	}
	return withAnnotations(ingressYAML(name, host, route{"/", "Prefix", service}), all)
}

// readyEndpoints lists backends as ready EndpointSlice entries.
func readyEndpoints(bs ...*backend) []endpoint {
	out := make([]endpoint, len(bs))
	for i, b := range bs {
		out[i] = endpoint{addr: b.addr.Addr().String(), ready: true}
	}
	return out
}

// headerTransport adds fixed request headers (a canary header, a cookie)
// to every request it carries.
type headerTransport struct {
	base   http.RoundTripper
	header map[string]string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.header {
		r.Header.Set(k, v)
	}
	return h.base.RoundTrip(r)
}

// getWith sends GET path to host through nginx with extra request headers;
// a transport error fails the test.
func (c *controller) getWith(t *testing.T, host, path string, header map[string]string) response {
	t.Helper()
	client := &http.Client{Transport: headerTransport{base: c.client.Transport, header: header},
		Timeout: c.client.Timeout, CheckRedirect: c.client.CheckRedirect}
	r, err := doGet(client, "http", host, path)
	require.NoError(t, err, "GET http://%s%s %v", host, path, header)
	return r
}

// countBy sends n requests, each of which must be answered 200 by a
// backend, and counts them by key(answer).
func (c *controller) countBy(t *testing.T, host, path string, header map[string]string, n int, key func(*echoReply) string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for range n {
		r := c.getWith(t, host, path, header)
		require.Equal(t, http.StatusOK, r.status, "GET http://%s%s %v: %s", host, path, header, r)
		require.NotNil(t, r.echo, "GET http://%s%s %v: %s", host, path, header, r)
		counts[key(r.echo)]++
	}
	return counts
}

func byService(e *echoReply) string  { return e.Service }
func byEndpoint(e *echoReply) string { return e.Endpoint }

// waitAnswered waits until host+path answers 200 from any backend.
func (c *controller) waitAnswered(t *testing.T, host, path string) {
	t.Helper()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r, err := c.tryGet(host, path)
		require.NoError(ct, err)
		assert.Equal(ct, http.StatusOK, r.status, "GET http://%s%s: %s", host, path, r)
		assert.NotNil(ct, r.echo, "GET http://%s%s: %s", host, path, r)
	}, routeTimeout, pollInterval)
}

// binomialBounds is the ±5 standard deviation interval of Binomial(n, p),
// widened to whole counts.
func binomialBounds(n int, p float64) (lo, hi int) {
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return int(math.Floor(mean - 5*sd)), int(math.Ceil(mean + 5*sd))
}

// assertBinomial checks that got of n requests is within ±5 sigma of a
// share p, and logs the measured share.
func assertBinomial(t *testing.T, what string, got, n int, p float64) {
	t.Helper()
	lo, hi := binomialBounds(n, p)
	t.Logf("%s: %d of %d (%.1f%%), expected %.0f%% (5-sigma bounds %d..%d)",
		what, got, n, 100*float64(got)/float64(n), 100*p, lo, hi)
	assert.GreaterOrEqual(t, got, lo, "%s: %d of %d is below the 5-sigma bound of a %.0f%% share", what, got, n, 100*p)
	assert.LessOrEqual(t, got, hi, "%s: %d of %d is above the 5-sigma bound of a %.0f%% share", what, got, n, 100*p)
}

// pushes is the number of successful pushes of balancer data so far.
func (c *controller) pushes(t *testing.T) float64 {
	t.Helper()
	v, ok := c.metric(t, "portico_balancer_pushes_total", map[string]string{"result": "success"})
	require.True(t, ok, "no portico_balancer_pushes_total metric")
	return v
}

// changeNoReload makes a change that must reach nginx as balancer data:
// it waits until the controller has pushed new data (every worker uses it
// from its next request on) and checks that nginx did not reload.
func (c *controller) changeNoReload(t *testing.T, what string, change func()) {
	t.Helper()
	gen, before := c.generation(t), c.pushes(t)
	change()
	deadline := time.Now().Add(reloadTimeout)
	for c.pushes(t) <= before {
		require.True(t, time.Now().Before(deadline), "%s: no balancer push within %s", what, reloadTimeout)
		time.Sleep(pollInterval)
	}
	assert.Equal(t, gen, c.generation(t), "%s must not reload nginx", what)
}

// ---- canary -------------------------------------------------------------------

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
	gen := c.generation(t)

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

	assert.Equal(t, gen, c.generation(t), "no canary change reloads nginx")
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
	c.waitServed(t, "app.example.com", "/app", "main")

	c.waitStatus(t, "orphan.example.com", "/", http.StatusNotFound, "")
	c.waitStatus(t, "app.example.com", "/beta", http.StatusNotFound, "")
	assert.Zero(t, b["canary"].hits.Load(), "a canary without a main Ingress gets no traffic")
	c.waitLog(t, `"level":"WARN"`, `has no main Ingress; its rules get no traffic`, "orphan.example.com",
		`"reason":"IneffectiveAnnotation"`, `"object":"Ingress default/orphan-host"`)
	c.waitLog(t, `"level":"WARN"`, `has no main Ingress; it gets no traffic`, "/beta", "app.example.com",
		`"reason":"IneffectiveAnnotation"`, `"object":"Ingress default/orphan-path"`)

	// The host gets a main Ingress (a new host: a reload): the canary,
	// weight 100, now takes its traffic.
	c.update(t, "orphan-main.yaml", ingressYAML("orphan-main", "orphan.example.com", route{"/", "Prefix", "main"}))
	c.waitServed(t, "orphan.example.com", "/", "canary")
	c.waitLog(t, `resolved: canary host`, "orphan.example.com")
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

// ---- session affinity ---------------------------------------------------------

// setCookie returns the value and the attributes of the Set-Cookie header
// for cookie name in r.
func setCookie(r response, name string) (value, attributes string, ok bool) {
	for _, h := range r.header.Values("Set-Cookie") {
		if rest, found := strings.CutPrefix(h, name+"="); found {
			value, attributes, _ = strings.Cut(rest, "; ")
			return value, attributes, true
		}
	}
	return "", "", false
}

// persistentID is how persistent affinity names an endpoint in its cookie:
// the first 16 hex digits of the md5 of "ip:port" (checked on real cookies
// below before the test relies on it).
func persistentID(addr string) string {
	sum := md5.Sum([]byte(addr)) //nolint:gosec // see the import
	return hex.EncodeToString(sum[:])[:16]
}

// startEndpointsAndDead starts n endpoints of service and finds one more
// address on which nothing listens on their port: an endpoint that refuses
// connections.
func startEndpointsAndDead(t *testing.T, service string, n int) ([]*backend, string) {
	t.Helper()
	for range 10 {
		eps := startEndpoints(t, service, n)
		dead := allocIP(t)
		probe, err := net.Listen("tcp", net.JoinHostPort(dead, strconv.Itoa(int(eps[0].addr.Port()))))
		if err != nil {
			continue // something listens there (on a wildcard address): try another port
		}
		require.NoError(t, probe.Close())
		return eps, dead
	}
	t.Fatalf("no port free for a dead endpoint of %s", service)
	return nil, ""
}

// TestSessionAffinity shows affinity: cookie on real traffic: the cookie's
// attributes, stickiness in balanced and persistent mode, a persistent
// session moving when its endpoint leaves (no reload), and
// session-cookie-change-on-failure with an endpoint that refuses connections.
func TestSessionAffinity(t *testing.T) {
	t.Parallel()
	web := startEndpoints(t, "web", 3)
	sticky := startEndpoints(t, "sticky", 3)
	flaky, dead := startEndpointsAndDead(t, "flaky", 2)
	stickyPort := int(sticky[0].addr.Port())
	stickySlice := func(bs ...*backend) string {
		return joinDocs(serviceOnlyYAML("sticky"), sliceYAML("sticky", "sticky-1", stickyPort, readyEndpoints(bs...)...))
	}
	flakyPort := int(flaky[0].addr.Port())
	deadAddr := net.JoinHostPort(dead, strconv.Itoa(flakyPort))
	flakySlice := joinDocs(serviceOnlyYAML("flaky"), sliceYAML("flaky", "flaky-1", flakyPort,
		append(readyEndpoints(flaky...), endpoint{addr: dead, ready: true})...))

	affine := func(name, host, path, service string, extra map[string]string) string {
		a := map[string]string{"affinity": "cookie"}
		for k, v := range extra {
			a[k] = v
		}
		return withAnnotations(ingressYAML(name, host, route{path, "Prefix", service}), a)
	}
	attrsYAML := func(name, sameSite string) string {
		return affine("attrs", "attrs.example.com", "/app", "web", map[string]string{
			"session-cookie-name": name, "session-cookie-max-age": "3600", "session-cookie-secure": "true",
			"session-cookie-samesite": sameSite, "session-cookie-path": "/custom"})
	}
	c := startController(t, options{files: map[string]string{
		"attrs.yaml":  attrsYAML("SID", "Strict"),
		"web.yaml":    serviceYAML("web", web...),
		"sticky.yaml": stickySlice(sticky...),
		"flaky.yaml":  flakySlice,
		"ingresses.yaml": joinDocs(
			affine("balanced", "balanced.example.com", "/app", "web", nil),
			affine("persistent", "persistent.example.com", "/", "sticky", map[string]string{"affinity-mode": "persistent"}),
			// Requests pinned to the dead endpoint fail over (proxy-next-upstream
			// error is the default) with and without change-on-failure.
			affine("cof", "cof.example.com", "/", "flaky", map[string]string{"session-cookie-change-on-failure": "true"}),
			affine("nocof", "nocof.example.com", "/", "flaky", nil),
			affine("pcof", "pcof.example.com", "/", "flaky", map[string]string{
				"affinity-mode": "persistent", "session-cookie-change-on-failure": "true"}),
			affine("pnocof", "pnocof.example.com", "/", "flaky", map[string]string{"affinity-mode": "persistent"}),
			// Without retries a cookie pinned to the dead endpoint answers
			// 502: this tells which balanced cookies the dead endpoint owns.
			affine("probe", "probe.example.com", "/", "flaky", map[string]string{"proxy-next-upstream": "off"}),
		),
	}})
	for _, host := range []string{"balanced", "attrs", "persistent", "cof"} {
		c.waitAnswered(t, host+".example.com", "/app")
	}
	cookie := func(name, value string) map[string]string { return map[string]string{"Cookie": name + "=" + value} }

	t.Run("balanced", func(t *testing.T) {
		const host = "balanced.example.com"
		first := c.getWith(t, host, "/app", nil)
		require.NotNil(t, first.echo, "%s", first)
		value, attrs, ok := setCookie(first, "INGRESSCOOKIE")
		require.True(t, ok, "the first answer sets the affinity cookie: %v", first.header.Values("Set-Cookie"))
		assert.Regexp(t, `^[0-9a-f]{32}$`, value, "a balanced cookie is a random key")
		assert.Equal(t, "Path=/app; HttpOnly", attrs, "default attributes: the Ingress path, HttpOnly")

		// 50 requests with the cookie: one endpoint, the first answer's, and no new cookie.
		for range 50 {
			r := c.getWith(t, host, "/app/page", cookie("INGRESSCOOKIE", value))
			require.NotNil(t, r.echo, "%s", r)
			require.Equal(t, first.echo.Endpoint, r.echo.Endpoint, "the session stays on its endpoint")
			_, _, again := setCookie(r, "INGRESSCOOKIE")
			require.False(t, again, "a valid cookie is not set again")
		}

		// New clients (no cookie) get new keys, spread over the endpoints.
		used, values := map[string]int{}, map[string]bool{}
		for range 30 {
			r := c.getWith(t, host, "/app", nil)
			require.NotNil(t, r.echo, "%s", r)
			v, _, ok := setCookie(r, "INGRESSCOOKIE")
			require.True(t, ok, "every new client gets a cookie")
			used[r.echo.Endpoint]++
			values[v] = true
		}
		t.Logf("30 new clients over 3 endpoints: %v", used)
		assert.Len(t, values, 30, "every new client gets its own key")
		assert.GreaterOrEqual(t, len(used), 2, "new clients spread over the endpoints: %v", used)
	})

	t.Run("attributes", func(t *testing.T) {
		r := c.getWith(t, "attrs.example.com", "/app", nil)
		value, attrs, ok := setCookie(r, "SID")
		require.True(t, ok, "session-cookie-name SID: %v", r.header.Values("Set-Cookie"))
		assert.Regexp(t, `^[0-9a-f]{32}$`, value)
		assert.Equal(t, "Path=/custom; Max-Age=3600; Secure; SameSite=Strict; HttpOnly", attrs)
		_, _, other := setCookie(r, "INGRESSCOOKIE")
		assert.False(t, other, "only the named cookie is set")

		// Cookie settings are data: changing them needs no reload.
		c.changeNoReload(t, "session-cookie-name and -samesite", func() { c.writeManifest(t, "attrs.yaml", attrsYAML("SID2", "Lax")) })
		r = c.getWith(t, "attrs.example.com", "/app", nil)
		_, attrs, ok = setCookie(r, "SID2")
		require.True(t, ok, "the renamed cookie: %v", r.header.Values("Set-Cookie"))
		assert.Equal(t, "Path=/custom; Max-Age=3600; Secure; SameSite=Lax; HttpOnly", attrs)
	})

	t.Run("persistent", func(t *testing.T) {
		const host = "persistent.example.com"
		first := c.getWith(t, host, "/", nil)
		require.NotNil(t, first.echo, "%s", first)
		value, attrs, ok := setCookie(first, "INGRESSCOOKIE")
		require.True(t, ok, "%v", first.header.Values("Set-Cookie"))
		assert.Equal(t, "Path=/; HttpOnly", attrs)
		require.Equal(t, persistentID(first.echo.Endpoint), value, "a persistent cookie names its endpoint")
		counts := c.countBy(t, host, "/", cookie("INGRESSCOOKIE", value), 20, byEndpoint)
		assert.Equal(t, map[string]int{first.echo.Endpoint: 20}, counts, "the session sticks")

		// Its endpoint leaves the EndpointSlice: the next request goes
		// elsewhere and the client gets a cookie for the new endpoint.
		var rest []*backend
		for _, b := range sticky {
			if b.addr.String() != first.echo.Endpoint {
				rest = append(rest, b)
			}
		}
		require.Len(t, rest, 2)
		c.changeNoReload(t, "removing the session's endpoint", func() { c.writeManifest(t, "sticky.yaml", stickySlice(rest...)) })
		moved := c.getWith(t, host, "/", cookie("INGRESSCOOKIE", value))
		require.Equal(t, http.StatusOK, moved.status, "%s", moved)
		require.NotNil(t, moved.echo, "%s", moved)
		assert.NotEqual(t, first.echo.Endpoint, moved.echo.Endpoint, "the removed endpoint gets no request")
		newValue, _, ok := setCookie(moved, "INGRESSCOOKIE")
		require.True(t, ok, "the moved session gets a new cookie")
		assert.Equal(t, persistentID(moved.echo.Endpoint), newValue)
		counts = c.countBy(t, host, "/", cookie("INGRESSCOOKIE", newValue), 10, byEndpoint)
		assert.Equal(t, map[string]int{moved.echo.Endpoint: 10}, counts, "the new session sticks")
	})

	t.Run("change-on-failure/persistent", func(t *testing.T) {
		pinned := cookie("INGRESSCOOKIE", persistentID(deadAddr))
		// With change-on-failure the retry's endpoint becomes the session's.
		r := c.getWith(t, "pcof.example.com", "/", pinned)
		require.Equal(t, http.StatusOK, r.status, "the retry reaches a live endpoint: %s", r)
		require.NotNil(t, r.echo, "%s", r)
		value, _, ok := setCookie(r, "INGRESSCOOKIE")
		require.True(t, ok, "change-on-failure moves the session: %v", r.header.Values("Set-Cookie"))
		assert.Equal(t, persistentID(r.echo.Endpoint), value, "the new cookie names the endpoint that answered")
		again := c.getWith(t, "pcof.example.com", "/", cookie("INGRESSCOOKIE", value))
		require.NotNil(t, again.echo, "%s", again)
		assert.Equal(t, r.echo.Endpoint, again.echo.Endpoint)
		_, _, reset := setCookie(again, "INGRESSCOOKIE")
		assert.False(t, reset, "the moved session is settled")

		// Without it the request still succeeds, and the cookie stays.
		r = c.getWith(t, "pnocof.example.com", "/", pinned)
		require.Equal(t, http.StatusOK, r.status, "the retry reaches a live endpoint: %s", r)
		_, _, reset = setCookie(r, "INGRESSCOOKIE")
		assert.False(t, reset, "without change-on-failure the cookie is not set again: %v", r.header.Values("Set-Cookie"))
	})

	t.Run("change-on-failure/balanced", func(t *testing.T) {
		// A balanced cookie is a key on the hash ring: find keys the dead
		// endpoint owns, by the 502 they get where nothing retries. It owns
		// about a third of the ring, so 120 random keys miss it with
		// probability (2/3)^120 < 1e-20.
		var deadKeys []string
		for range 120 {
			buf := make([]byte, 16)
			_, _ = rand.Read(buf)
			key := hex.EncodeToString(buf)
			if c.getWith(t, "probe.example.com", "/", cookie("INGRESSCOOKIE", key)).status == http.StatusBadGateway {
				deadKeys = append(deadKeys, key)
				if len(deadKeys) == 8 {
					break
				}
			}
		}
		require.NotEmpty(t, deadKeys, "no key of the dead endpoint found")
		t.Logf("%d keys owned by the dead endpoint %s", len(deadKeys), deadAddr)

		for _, key := range deadKeys {
			// With change-on-failure the session moves to the endpoint the
			// retry reached: the new key must lead there directly, else
			// every later request pays a failed attempt first.
			r := c.getWith(t, "cof.example.com", "/", cookie("INGRESSCOOKIE", key))
			require.Equal(t, http.StatusOK, r.status, "the retry reaches a live endpoint: %s", r)
			require.NotNil(t, r.echo, "%s", r)
			value, _, ok := setCookie(r, "INGRESSCOOKIE")
			require.True(t, ok, "change-on-failure moves the session: %v", r.header.Values("Set-Cookie"))
			require.NotEqual(t, key, value)
			probe := c.getWith(t, "probe.example.com", "/", cookie("INGRESSCOOKIE", value))
			require.Equal(t, http.StatusOK, probe.status, "the new key must not lead to the failed endpoint: %s", probe)
			require.NotNil(t, probe.echo, "%s", probe)
			assert.Equal(t, r.echo.Endpoint, probe.echo.Endpoint, "the new key leads to the endpoint that answered")
			again := c.getWith(t, "cof.example.com", "/", cookie("INGRESSCOOKIE", value))
			_, _, reset := setCookie(again, "INGRESSCOOKIE")
			assert.False(t, reset, "the moved session is settled")

			// Without change-on-failure the retry succeeds and the cookie stays.
			r = c.getWith(t, "nocof.example.com", "/", cookie("INGRESSCOOKIE", key))
			require.Equal(t, http.StatusOK, r.status, "the retry reaches a live endpoint: %s", r)
			_, _, reset = setCookie(r, "INGRESSCOOKIE")
			assert.False(t, reset, "without change-on-failure the cookie is not set again")
		}
	})

	// A client without a valid session gets one on the endpoint that
	// answered, even when its first attempt went to the dead endpoint and
	// change-on-failure is off: there is no session to keep yet.
	t.Run("new sessions avoid the failed endpoint", func(t *testing.T) {
		// Persistent, with a cookie naming no endpoint: round robin over
		// the three endpoints tries the dead one first in at least one of
		// any three consecutive requests.
		for range 6 {
			r := c.getWith(t, "pnocof.example.com", "/", cookie("INGRESSCOOKIE", "0123456789abcdef"))
			require.Equal(t, http.StatusOK, r.status, "%s", r)
			require.NotNil(t, r.echo, "%s", r)
			value, _, ok := setCookie(r, "INGRESSCOOKIE")
			require.True(t, ok, "a cookie naming no endpoint is replaced")
			assert.Equal(t, persistentID(r.echo.Endpoint), value, "the new cookie names the endpoint that answered")
		}
		// Balanced, no cookie: a new random key lands on the dead endpoint a
		// third of the time; its retry's key must lead where it answered.
		for range 24 {
			r := c.getWith(t, "nocof.example.com", "/", nil)
			require.Equal(t, http.StatusOK, r.status, "%s", r)
			require.NotNil(t, r.echo, "%s", r)
			value, _, ok := setCookie(r, "INGRESSCOOKIE")
			require.True(t, ok, "a new client gets a cookie")
			probe := c.getWith(t, "probe.example.com", "/", cookie("INGRESSCOOKIE", value))
			require.Equal(t, http.StatusOK, probe.status, "a new session's key must not lead to the failed endpoint: %s", probe)
			require.NotNil(t, probe.echo, "%s", probe)
			assert.Equal(t, r.echo.Endpoint, probe.echo.Endpoint, "a new session's key leads to the endpoint that answered")
		}
	})
}

// ---- endpoint changes ------------------------------------------------------------

// pushLogTimes returns the times of the controller's "balancer data pushed"
// debug lines, oldest first.
func (c *controller) pushLogTimes(t *testing.T) []time.Time {
	t.Helper()
	var out []time.Time
	for line := range strings.Lines(c.logs.String()) {
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
	c.waitServed(t, host, "/", "app")
	gen := c.generation(t)

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
			r := c.getHTTP(t, host, "/")
			require.Equal(t, http.StatusOK, r.status, "%s", r)
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
		}, reloadTimeout, pollInterval, "try %d: no push logged", i)
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
	assert.Equal(t, gen, c.generation(t), "new endpoints need no reload")
}

// TestDefaultBackendFallbackNoReload shows the default-backend annotation
// with the Lua balancer: while the Service has no ready endpoints its paths
// are served by the default backend, and when they come back the Service
// serves again, all without a reload.
func TestDefaultBackendFallbackNoReload(t *testing.T) {
	t.Parallel()
	eps := startEndpoints(t, "app", 2)
	fallback := startBackends(t, "fallback")["fallback"]
	port := int(eps[0].addr.Port())
	slice := func(bs ...*backend) string {
		return joinDocs(serviceOnlyYAML("app"), sliceYAML("app", "app-1", port, readyEndpoints(bs...)...))
	}
	const host = "db.example.com"
	c := startController(t, options{files: map[string]string{
		"app.yaml":      slice(eps...),
		"fallback.yaml": serviceYAML("fallback", fallback),
		"ingress.yaml": withAnnotations(ingressYAML("db", host, route{"/", "Prefix", "app"}),
			map[string]string{"default-backend": "fallback"}),
	}})
	c.waitServed(t, host, "/", "app")
	gen := c.generation(t)
	assert.Equal(t, map[string]int{"app": 20}, c.countBy(t, host, "/", nil, 20, byService))

	c.changeNoReload(t, "removing every endpoint", func() { c.writeManifest(t, "app.yaml", slice()) })
	assert.Equal(t, map[string]int{"fallback": 20}, c.countBy(t, host, "/", nil, 20, byService),
		"without endpoints the default backend answers")

	c.changeNoReload(t, "endpoints coming back", func() { c.writeManifest(t, "app.yaml", slice(eps...)) })
	assert.Equal(t, map[string]int{"app": 20}, c.countBy(t, host, "/", nil, 20, byService),
		"with endpoints again the Service answers")
	assert.Equal(t, gen, c.generation(t), "the fallback needs no reload")
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
exec ` + nginxBinary + ` "$@"
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
		v, ok := c.metric(t, "portico_balancer_info", map[string]string{"balancer": "upstreams"})
		assert.True(t, ok && v == 1, `portico_balancer_info{balancer="upstreams"} is %v (present: %t), want 1`, v, ok)
		_, ok = c.metric(t, "portico_balancer_info", map[string]string{"balancer": "lua"})
		assert.False(t, ok, "the Lua balancer is not in use")
		conf := string(c.mustGet(t, "/debug/config"))
		assert.NotContains(t, conf, "by_lua", "the live config does not use Lua")
		assert.Contains(t, conf, `upstream "default.app.80" {`, "an upstream block per Service port")

		assert.Equal(t, map[string]int{eps[0].addr.String(): 10}, c.countBy(t, host, "/", nil, 10, byEndpoint),
			"traffic is served, and the canary gets none")
		c.waitLog(t, "canary needs the Lua balancer", `"object":"Ingress default/nolua-canary"`)

		gen := c.generation(t)
		ev := c.update(t, "app.yaml", slice(eps...))
		assert.Greater(t, ev.Generation, gen, "without Lua an endpoint change reloads")
		c.waitOnly(t, host, "app", []string{eps[0].addr.String(), eps[1].addr.String()})
	})

	t.Run("lua", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		require.NoError(t, os.Chmod(filepath.Dir(root), 0o711))
		manifests := filepath.Join(root, "manifests")
		require.NoError(t, os.Mkdir(manifests, 0o755))
		var out bytes.Buffer
		cmd := exec.Command(porticoBinary, "controller",
			"--manifests", manifests,
			"--start-nginx",
			"--nginx-binary", wrapper,
			"--balancer", "lua",
			"--bind-address", "127.0.0.1",
			"--http-port", strconv.Itoa(freePort(t)),
			"--https-port", strconv.Itoa(freePort(t)),
			"--internal-port", strconv.Itoa(freePort(t)),
			"--status-address", "127.0.0.1:"+strconv.Itoa(freePort(t)),
			"--config-dir", filepath.Join(root, "conf"),
			"--runtime-dir", filepath.Join(root, "run"),
			"--log-format", "json",
			"--resolver", "127.0.0.1",
			"--allow-loopback-backends",
		)
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		require.NoError(t, spawn(cmd))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(readyTimeout):
			// It started after all: stop it (it stops its nginx) and fail.
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-done
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
