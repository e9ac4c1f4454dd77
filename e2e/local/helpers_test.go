//go:build linux

package local

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// ---- backends -------------------------------------------------------------

// Backends listen on 127.0.0.2 to 127.0.0.250, each address given to one
// test only, so the endpoint in a reply names the backend unambiguously.
var (
	ipMu   sync.Mutex
	nextIP = 2
)

// allocIP returns a loopback address no other test of this run uses.
func allocIP(t *testing.T) string {
	t.Helper()
	ipMu.Lock()
	defer ipMu.Unlock()
	require.LessOrEqual(t, nextIP, 250, "out of 127.0.0.x backend addresses")
	ip := fmt.Sprintf("127.0.0.%d", nextIP)
	nextIP++
	return ip
}

// backend is an in-process HTTP server standing for one endpoint of a Service.
type backend struct {
	service string
	addr    netip.AddrPort
	hits    atomic.Int64
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.hits.Add(1)
	reply := framework.EchoReply{Service: b.service, Endpoint: b.addr.String(), Method: r.Method,
		Path: r.URL.RequestURI(), Host: r.Host, Headers: map[string]string{}}
	for k, v := range r.Header {
		reply.Headers[k] = strings.Join(v, ", ")
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(reply)
}

// listenBackend starts a backend for service on ip:port (port 0: any).
func listenBackend(t *testing.T, service, ip string, port int) (*backend, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	b := &backend{service: service, addr: netip.MustParseAddrPort(ln.Addr().String())}
	serve(t, ln, b)
	return b, nil
}

// serve serves handler on ln until the test ends.
func serve(t *testing.T, ln net.Listener, handler http.Handler) {
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// serveLoopback serves handler on a fresh loopback address until the test
// ends, and returns the address.
func serveLoopback(t *testing.T, handler http.Handler) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(allocIP(t), "0"))
	require.NoError(t, err)
	serve(t, ln, handler)
	return ln.Addr().(*net.TCPAddr)
}

// startBackends starts one backend per service name, all on one fresh
// address, each on its own port.
func startBackends(t *testing.T, services ...string) map[string]*backend {
	t.Helper()
	ip := allocIP(t)
	out := make(map[string]*backend, len(services))
	for _, s := range services {
		b, err := listenBackend(t, s, ip, 0)
		require.NoError(t, err)
		out[s] = b
	}
	return out
}

// startEndpoints starts n endpoints of one service on n fresh addresses and
// one shared port, as the endpoints of an EndpointSlice share their ports.
func startEndpoints(t *testing.T, service string, n int) []*backend {
	t.Helper()
	ips := make([]string, n)
	for i := range ips {
		ips[i] = allocIP(t)
	}
	for range 10 {
		first, err := listenBackend(t, service, ips[0], 0)
		require.NoError(t, err)
		out := []*backend{first}
		for _, ip := range ips[1:] {
			b, err := listenBackend(t, service, ip, int(first.addr.Port()))
			if err != nil {
				break // the port is taken on this address: try another port
			}
			out = append(out, b)
		}
		if len(out) == n {
			return out
		}
	}
	t.Fatalf("could not start %d endpoints of %s on one port", n, service)
	return nil
}

// ---- manifests -------------------------------------------------------------

// endpoint is one entry of an EndpointSlice.
type endpoint struct {
	addr  string
	ready bool
}

// serviceYAML is a Service (port 80) and one EndpointSlice listing the
// backends as ready endpoints; the backends must share one port.
func serviceYAML(name string, backends ...*backend) string {
	if len(backends) == 0 {
		return serviceOnlyYAML(name)
	}
	eps := make([]endpoint, len(backends))
	for i, b := range backends {
		eps[i] = endpoint{addr: b.addr.Addr().String(), ready: true}
		if b.addr.Port() != backends[0].addr.Port() {
			panic("serviceYAML: backends of one slice must share a port")
		}
	}
	return serviceOnlyYAML(name) + "---\n" + sliceYAML(name, name+"-1", int(backends[0].addr.Port()), eps...)
}

func serviceOnlyYAML(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %s}
spec:
  ports: [{port: 80}]
`, name)
}

func sliceYAML(service, slice string, port int, eps ...endpoint) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %s
  labels: {kubernetes.io/service-name: %s}
addressType: IPv4
ports: [{port: %d}]
`, slice, service, port)
	if len(eps) == 0 {
		b.WriteString("endpoints: []\n")
		return b.String()
	}
	b.WriteString("endpoints:\n")
	for _, e := range eps {
		fmt.Fprintf(&b, "- addresses: [%q]\n  conditions: {ready: %t}\n", e.addr, e.ready)
	}
	return b.String()
}

// servicesYAML joins serviceYAML for every backend in a map, sorted by name.
func servicesYAML(backends map[string]*backend) string {
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	docs := make([]string, len(names))
	for i, n := range names {
		docs[i] = serviceYAML(n, backends[n])
	}
	return strings.Join(docs, "---\n")
}

// route is one path of an Ingress rule.
type route struct {
	path, pathType, service string
}

// ingressYAML is an Ingress of class portico with one rule for host ("" for
// a rule without host).
func ingressYAML(name, host string, routes ...route) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: %s}
spec:
  ingressClassName: portico
  rules:
`, name)
	if host == "" {
		b.WriteString("  - http:\n")
	} else {
		fmt.Fprintf(&b, "  - host: %q\n    http:\n", host)
	}
	b.WriteString("      paths:\n")
	for _, r := range routes {
		fmt.Fprintf(&b, "      - {path: %q, pathType: %s, backend: {service: {name: %s, port: {number: 80}}}}\n",
			r.path, r.pathType, r.service)
	}
	return b.String()
}

// inNamespace moves the objects of YAML made by the helpers (flow or block
// metadata) into namespace ns.
func inNamespace(ns, doc string) string {
	doc = strings.ReplaceAll(doc, "metadata: {name:", "metadata: {namespace: "+ns+", name:")
	return strings.ReplaceAll(doc, "metadata:\n  name:", "metadata:\n  namespace: "+ns+"\n  name:")
}

// joinDocs joins YAML documents into one multi-document file.
// growingIngress is Ingress name on host with "/" going to service and n+1
// more Prefix paths /p0../pN going to added: each n is a config that needs
// a reload, while requests for "/" route the same in every one.
func growingIngress(name, host, service, added string, n int) string {
	routes := []route{{"/", "Prefix", service}}
	for i := range n + 1 {
		routes = append(routes, route{fmt.Sprintf("/p%d", i), "Prefix", added})
	}
	return ingressYAML(name, host, routes...)
}

func joinDocs(docs ...string) string { return strings.Join(docs, "---\n") }

// ---- certificates ------------------------------------------------------------

// withTLS adds a spec.tls entry for host with Secret secret to an Ingress
// made by ingressYAML.
func withTLS(ing, host, secret string) string {
	return strings.Replace(ing, "  rules:\n", "  tls: [{hosts: ["+host+"], secretName: "+secret+"}]\n  rules:\n", 1)
}

// caSecretYAML is a Secret holding caPEM as ca.crt (for auth-tls-secret).
func caSecretYAML(name, caPEM string) string {
	return "apiVersion: v1\nkind: Secret\nmetadata: {name: " + name + "}\nstringData:\n  ca.crt: |\n" +
		"    " + strings.ReplaceAll(strings.TrimSpace(caPEM), "\n", "\n    ") + "\n"
}

// secretYAML is a kubernetes.io/tls Secret holding kp under stringData.
func secretYAML(name string, kp framework.KeyPair) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: %s}
type: kubernetes.io/tls
stringData:
  tls.crt: |
%s  tls.key: |
%s`, name, indent(string(kp.CertPEM), "    "), indent(string(kp.KeyPEM), "    "))
}

func indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(prefix)
		b.WriteString(line)
	}
	return b.String()
}

// ---- annotations and traffic policies ---------------------------------------

// annotate adds annotations to an Ingress made by ingressYAML, whose
// metadata is the flow mapping "{name: NAME}".
func annotate(ingress string, annotations map[string]string) string {
	var b strings.Builder
	for k, v := range annotations {
		b.WriteString(", " + k + ": " + v)
	}
	start := strings.Index(ingress, "metadata: {name: ")
	end := strings.Index(ingress[start:], "}") + start
	return ingress[:end] + ", annotations: {" + strings.TrimPrefix(b.String(), ", ") + "}" + ingress[end:]
}

// startHandlerBackend starts one endpoint of service on a fresh loopback
// address that answers with handler, and returns the Service and its
// EndpointSlice as YAML.
func startHandlerBackend(t *testing.T, service string, handler http.HandlerFunc) string {
	t.Helper()
	addr := serveLoopback(t, handler)
	return serviceOnlyYAML(service) + "---\n" + sliceYAML(service, service+"-1", addr.Port, endpoint{addr: addr.IP.String(), ready: true})
}

// sleepOr waits d or until the request is given up, whichever comes first.
func sleepOr(r *http.Request, d time.Duration) {
	select {
	case <-time.After(d):
	case <-r.Context().Done():
	}
}

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
func (c *controller) getWith(t *testing.T, host, path string, header map[string]string) framework.Response {
	t.Helper()
	client := &http.Client{Transport: headerTransport{base: c.Client.Transport, header: header},
		Timeout: c.Client.Timeout, CheckRedirect: c.Client.CheckRedirect}
	r, err := framework.DoGet(client, "http", host, path)
	require.NoError(t, err, "GET http://%s%s %v", host, path, header)
	return r
}

// countBy sends n requests, each of which must be answered 200 by a
// backend, and counts them by key(answer).
func (c *controller) countBy(t *testing.T, host, path string, header map[string]string, n int, key func(*framework.EchoReply) string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for range n {
		r := c.getWith(t, host, path, header)
		require.Equal(t, http.StatusOK, r.Status, "GET http://%s%s %v: %s", host, path, header, r)
		require.NotNil(t, r.Echo, "GET http://%s%s %v: %s", host, path, header, r)
		counts[key(r.Echo)]++
	}
	return counts
}

func byService(e *framework.EchoReply) string  { return e.Service }
func byEndpoint(e *framework.EchoReply) string { return e.Endpoint }

// waitAnswered waits until host+path answers 200 from any backend.
func (c *controller) waitAnswered(t *testing.T, host, path string) {
	t.Helper()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r, err := c.Request(host, path)
		require.NoError(ct, err)
		assert.Equal(ct, http.StatusOK, r.Status, "GET http://%s%s: %s", host, path, r)
		assert.NotNil(ct, r.Echo, "GET http://%s%s: %s", host, path, r)
	}, framework.RouteTimeout, framework.PollInterval)
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
	v, ok := c.Metric(t, "portico_balancer_pushes_total", map[string]string{"result": "success"})
	require.True(t, ok, "no portico_balancer_pushes_total metric")
	return v
}

// changeNoReload makes a change that must reach nginx as balancer data:
// it waits until the controller has pushed new data (every worker uses it
// from its next request on) and checks that nginx did not reload.
func (c *controller) changeNoReload(t *testing.T, what string, change func()) {
	t.Helper()
	gen, before := c.Generation(t), c.pushes(t)
	change()
	deadline := time.Now().Add(framework.ReloadTimeout)
	for c.pushes(t) <= before {
		require.True(t, time.Now().Before(deadline), "%s: no balancer push within %s", what, framework.ReloadTimeout)
		time.Sleep(framework.PollInterval)
	}
	assert.Equal(t, gen, c.Generation(t), "%s must not reload nginx", what)
}
