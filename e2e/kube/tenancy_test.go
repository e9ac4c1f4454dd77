//go:build linux

package kube

// The tenant isolation suite (docs/security.md). Two tenants, each in its
// own namespace, share one controller and one nginx: the victim serves a
// host with an allowlisted admin path; the attacker can create Ingresses,
// Services and EndpointSlices in its namespace (and, where a test says so,
// use snippets there). Every attack of issue 10 is tried in several
// variants; each test asserts that the victim's traffic, access rules and
// config are what they were, that a change of the victim's still goes live,
// and that the attacker's object gets a finding (a Warning Event).

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/e2e/framework"
)

// tenants is one controller and the namespaces of the two tenants it
// serves. The controller has an IngressClass of its own, so it serves both
// namespaces and nothing of the tests running beside it.
type tenants struct {
	c                *controller
	class            string
	victim, attacker string
	// victimHost is the victim's host; /admin on it allows only 198.51.100.0/24.
	victimHost string
}

// newTenants starts the controller (with extra flags, where "{attacker}"
// stands for the attacker's namespace) and the victim's Services and
// Ingresses; attacker is the attacker's namespace, with one Service "evil"
// that has a backend.
func newTenants(t *testing.T, args ...string) *tenants {
	t.Helper()
	victim, attacker := newNamespace(t), newNamespace(t)
	class := rtName("tenancy")
	ctx, cancel := apiContext()
	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: class},
		Spec:       networkingv1.IngressClassSpec{Controller: "portico.dev/" + class},
	}
	_, err := env.client.NetworkingV1().IngressClasses().Create(ctx, ic, metav1.CreateOptions{})
	cancel()
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := apiContext()
		defer cancel()
		if err := env.client.NetworkingV1().IngressClasses().Delete(ctx, class, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting IngressClass %s: %v", class, err)
		}
	})
	rtServices(t, victim, "shop")
	rtServices(t, attacker, "evil")
	ts := &tenants{class: class, victim: victim, attacker: attacker, victimHost: "shop." + victim + ".example"}
	flags := []string{"--watch-namespace", "", "--controller-class", "portico.dev/" + class, "--ingress-class", class}
	for _, a := range args {
		flags = append(flags, strings.ReplaceAll(a, "{attacker}", attacker))
	}
	ts.c = startController(t, victim, flags...)

	ts.create(t, ts.ingress(victim, "shop", ts.victimHost, nil, route{path: "/", service: "shop"}))
	ts.create(t, ts.ingress(victim, "admin", ts.victimHost,
		map[string]string{"nginx.ingress.kubernetes.io/whitelist-source-range": "198.51.100.0/24"},
		route{path: "/admin", service: "shop"}))
	ts.c.WaitServed(t, ts.victimHost, "/", "shop")
	ts.c.WaitStatus(t, ts.victimHost, "/admin", http.StatusForbidden, "")
	return ts
}

// ingress is an Ingress of the tenants' class with annotations.
func (ts *tenants) ingress(namespace, name, host string, annotations map[string]string, routes ...route) *networkingv1.Ingress {
	ing := ingress(namespace, name, host, routes...)
	class := ts.class
	ing.Spec.IngressClassName = &class
	ing.Annotations = annotations
	return ing
}

func (ts *tenants) create(t *testing.T, ing *networkingv1.Ingress) *networkingv1.Ingress {
	t.Helper()
	return createIngress(t, ing)
}

// victimUnchanged checks the victim's traffic and access rules: its host
// reaches its backend with its own Host header, /admin is still refused to
// a client outside the allowlist, and a change of the victim's goes live.
func (ts *tenants) victimUnchanged(t *testing.T) {
	t.Helper()
	for range 20 {
		r := ts.c.Get(t, ts.victimHost, "/")
		require.Equal(t, http.StatusOK, r.Status, "victim's / : %s", r)
		require.Equal(t, "shop", r.Served(), "victim's / : %s", r)
		assert.Equal(t, ts.victimHost, r.Echo.Host, "the backend gets the victim's Host header")
		r = ts.c.Get(t, ts.victimHost, "/admin/users")
		require.Equal(t, http.StatusForbidden, r.Status, "victim's allowlisted /admin from outside it: %s", r)
	}
	path := "/" + randomHex(4)
	updateIngress(t, ts.victim, "shop", func(ing *networkingv1.Ingress) {
		pt := networkingv1.PathTypeExact
		ing.Spec.Rules[0].HTTP.Paths = append(ing.Spec.Rules[0].HTTP.Paths, networkingv1.HTTPIngressPath{
			Path: path, PathType: &pt, Backend: rtBackend("shop")})
	})
	ts.c.WaitServed(t, ts.victimHost, path, "shop")
}

// config is the live nginx.conf.
func (ts *tenants) config(t *testing.T) string {
	t.Helper()
	return string(ts.c.MustStatusGet(t, "/debug/config"))
}

// waitConfig waits until the live nginx.conf holds want and returns it:
// nginx serves a new config a little before the controller counts it live.
func (ts *tenants) waitConfig(t *testing.T, want string) string {
	t.Helper()
	var conf string
	framework.Eventually(t, func() bool {
		conf = ts.config(t)
		return strings.Contains(conf, want)
	}, "the live nginx.conf holds %q", want)
	return conf
}

// TestTenancyRegexCannotWriteVariables: named groups in regex paths, which
// nginx would turn into variables set for every request (the route a
// request takes, the 503 server, the Host header sent, the request ID), are
// refused; nothing of them reaches nginx.conf (class 1).
func TestTenancyRegexCannotWriteVariables(t *testing.T) {
	t.Parallel()
	ts := newTenants(t)
	var paths []route
	names := []string{"portico_route", "portico_unavailable", "best_http_host", "connection_upgrade", "req_id", "host", "uri"}
	for i, name := range names {
		group := "(?<" + name + ">.*)"
		if i%2 == 1 {
			group = "(?P<" + name + ">.*)"
		}
		paths = append(paths, route{path: fmt.Sprintf("/x%d/%s", i, group), pathType: networkingv1.PathTypeImplementationSpecific, service: "evil"})
	}
	paths = append(paths, route{path: "/ok/(.*)", pathType: networkingv1.PathTypeImplementationSpecific, service: "evil"})
	evilHost := "evil." + ts.attacker + ".example"
	ts.create(t, ts.ingress(ts.attacker, "groups", evilHost, map[string]string{"nginx.ingress.kubernetes.io/use-regex": "true"}, paths...))
	ts.c.WaitServed(t, evilHost, "/ok/anything", "evil")
	for _, name := range names {
		rtWaitEvent(t, ts.attacker, "groups", "InvalidPath", fmt.Sprintf("named group %q is not allowed", name))
	}
	conf := ts.waitConfig(t, "/ok/")
	assert.False(t, strings.Contains(conf, "(?<"), "no named group in nginx.conf")
	assert.False(t, strings.Contains(conf, "(?P<"), "no named group in nginx.conf")
	for i := range names {
		r := ts.c.Get(t, evilHost, fmt.Sprintf("/x%d/y", i))
		assert.Equal(t, "", r.Served(), "a refused regex path is not served: %s", r)
	}
	ts.victimUnchanged(t)
}

// TestTenancyHostBelongsToItsNamespace: another namespace's Ingress for the
// victim's host (a regex that would swallow every path, its own TLS section,
// client certificates, a server-snippet redirect) and its canary with
// weight 100 are not served (classes 3 and 4).
func TestTenancyHostBelongsToItsNamespace(t *testing.T) {
	t.Parallel()
	ts := newTenants(t, "--allow-snippet-annotations", "--snippet-namespaces", "{attacker}")
	takeover := ts.ingress(ts.attacker, "takeover", ts.victimHost, map[string]string{
		"nginx.ingress.kubernetes.io/use-regex":      "true",
		"nginx.ingress.kubernetes.io/server-snippet": "return 302 https://evil.example/;",
	}, route{path: "/.*", pathType: networkingv1.PathTypeImplementationSpecific, service: "evil"})
	takeover.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{ts.victimHost}, SecretName: "stolen"}}
	ts.create(t, takeover)
	ts.create(t, ts.ingress(ts.attacker, "canary", ts.victimHost, map[string]string{
		"nginx.ingress.kubernetes.io/canary":        "true",
		"nginx.ingress.kubernetes.io/canary-weight": "100",
	}, route{path: "/", service: "evil"}))
	rtWaitEvent(t, ts.attacker, "takeover", "HostNotOwned", "rules for host", "are not served", "namespace "+ts.victim+" owns the host")
	rtWaitEvent(t, ts.attacker, "takeover", "HostNotOwned", "spec.tls for host")
	rtWaitEvent(t, ts.attacker, "canary", "HostNotOwned", "canary for host")
	r := ts.c.Get(t, ts.victimHost, "/")
	assert.Equal(t, http.StatusOK, r.Status, "no redirect to HTTPS was added to the victim's host: %s", r)
	assert.False(t, strings.Contains(ts.config(t), ts.attacker+"/takeover"), "nothing of the takeover Ingress in nginx.conf")
	ts.victimUnchanged(t)
}

// TestTenancySharedHosts: with --allow-shared-hosts another namespace
// serves its own Prefix path on the host, which the owner's regex cannot
// take; its regex paths and its TLS section for the host are not served.
func TestTenancySharedHosts(t *testing.T) {
	t.Parallel()
	ts := newTenants(t, "--allow-shared-hosts")
	// A regex of the owner's that would otherwise take the guest's path.
	ts.create(t, ts.ingress(ts.victim, "g-regex", ts.victimHost, map[string]string{"nginx.ingress.kubernetes.io/use-regex": "true"},
		route{path: "/g.*", pathType: networkingv1.PathTypeImplementationSpecific, service: "shop"}))
	ts.create(t, ts.ingress(ts.attacker, "guest", ts.victimHost, nil, route{path: "/guest", service: "evil"}))
	guestRegex := ts.ingress(ts.attacker, "guest-regex", ts.victimHost, map[string]string{"nginx.ingress.kubernetes.io/use-regex": "true"},
		route{path: "/admin.*", pathType: networkingv1.PathTypeImplementationSpecific, service: "evil"})
	guestRegex.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{ts.victimHost}, SecretName: "stolen"}}
	ts.create(t, guestRegex)
	ts.c.WaitServed(t, ts.victimHost, "/guest/x", "evil")
	rtWaitEvent(t, ts.attacker, "guest-regex", "HostNotOwned", "regex paths")
	rtWaitEvent(t, ts.attacker, "guest-regex", "HostNotOwned", "spec.tls for host")
	rtCheck(t, ts.c, []rtCase{
		{ts.victimHost, "/guest", "evil"},
		{ts.victimHost, "/guest/a/b", "evil"},
		{ts.victimHost, "/guests", "shop"},
		{ts.victimHost, "/gone", "shop"},
		{ts.victimHost, "/other", "shop"},
	})
	ts.victimUnchanged(t)
}

// TestTenancyRegexDenialOfService: regex shapes with exponential
// backtracking are refused; an accepted polynomial one is bounded by the
// match limit, so requests that make it backtrack get a 500 from nginx
// instead of holding a worker, and the victim keeps being served (class 5).
func TestTenancyRegexDenialOfService(t *testing.T) {
	t.Parallel()
	ts := newTenants(t)
	evilHost := "evil." + ts.attacker + ".example"
	regex := map[string]string{"nginx.ingress.kubernetes.io/use-regex": "true"}
	shapes := []string{`/^(a|aa)+$`, `/(.*a){12}`, `/(x+x+)+y`, `/(\w+\s?)+$`, `/(a*a*/)+z`}
	var paths []route
	for _, s := range shapes {
		paths = append(paths, route{path: s, pathType: networkingv1.PathTypeImplementationSpecific, service: "evil"})
	}
	ts.create(t, ts.ingress(ts.attacker, "redos", evilHost, regex, paths...))
	ts.create(t, ts.ingress(ts.attacker, "slow", evilHost, regex,
		route{path: "/(.*)(.*)(.*)q$", pathType: networkingv1.PathTypeImplementationSpecific, service: "evil"}))
	ts.c.WaitServed(t, evilHost, "/abcq", "evil")
	rtWaitEvent(t, ts.attacker, "redos", "InvalidPath", "more than one way")
	conf := ts.waitConfig(t, "(*LIMIT_MATCH=")
	for _, s := range []string{"(a|aa)", ".*a){12}", "(x+x+)+"} {
		assert.False(t, strings.Contains(conf, s), "a refused shape (%s) is not in nginx.conf", s)
	}
	slow := "/q" + strings.Repeat("a", 4000)
	for range 20 { // bounded: 20 requests, each at most the host's step budget
		r := ts.c.Get(t, evilHost, slow)
		assert.Equal(t, http.StatusInternalServerError, r.Status, "the match limit ends the backtracking: %s", r)
		v := ts.c.Get(t, ts.victimHost, "/")
		assert.Equal(t, "shop", v.Served(), "the victim is served between the attacker's requests: %s", v)
	}
	ts.victimUnchanged(t)
}

// TestTenancySizeAndRefusedLines: an Ingress over a bound, one with a
// snippet nginx -t would refuse, and one whose lines nginx -t does refuse
// are left out with a finding; the victim's changes keep going live
// (class 9, and no object freezes everyone's changes).
func TestTenancySizeAndRefusedLines(t *testing.T) {
	t.Parallel()
	ts := newTenants(t, "--max-paths-per-ingress", "50", "--allow-snippet-annotations", "--snippet-namespaces", "{attacker}",
		"--template", brokenTemplate(t))
	var many []route
	for i := range 60 {
		many = append(many, route{path: fmt.Sprintf("/p%d", i), service: "evil"})
	}
	ts.create(t, ts.ingress(ts.attacker, "huge", "huge."+ts.attacker+".example", nil, many...))
	rtWaitEvent(t, ts.attacker, "huge", "OverLimit", "it has 60 paths, more than the 50", "--max-paths-per-ingress")

	// A snippet reading a variable this nginx lacks is refused before nginx
	// -t sees it: nginx would refuse the whole config.
	ts.create(t, ts.ingress(ts.attacker, "unknown-var", "var."+ts.attacker+".example",
		map[string]string{"nginx.ingress.kubernetes.io/configuration-snippet": "add_header X-Evil $no_such_variable_here;"},
		route{path: "/", service: "evil"}))
	rtWaitEvent(t, ts.attacker, "unknown-var", "InvalidAnnotation", "no_such_variable_here")

	// Should anything of an Ingress still make nginx -t refuse the config
	// (here the test's template writes a directive nginx lacks into the
	// locations of Ingresses named breaks-nginx), that Ingress is left out
	// and the rest goes live.
	ts.create(t, ts.ingress(ts.attacker, "breaks-nginx", "breaks."+ts.attacker+".example", nil, route{path: "/", service: "evil"}))
	rtWaitEvent(t, ts.attacker, "breaks-nginx", "NginxRejected", `unknown directive "no_such_directive_for_the_test"`)
	assert.False(t, strings.Contains(ts.config(t), "breaks."+ts.attacker), "the refused Ingress is not live")
	ts.victimUnchanged(t)
}

// brokenTemplate writes the built-in template with one change: locations
// of Ingresses named breaks-nginx get a directive nginx does not know. It
// stands for whatever of an Ingress the model lets through and nginx -t
// still refuses.
func brokenTemplate(t *testing.T) string {
	t.Helper()
	root, err := framework.ModuleRoot()
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(root, "templates", "nginx.tmpl"))
	require.NoError(t, err)
	const at = "{{- with .Source }}\n            # {{ q . }}\n{{- end }}"
	require.Contains(t, string(raw), at)
	broken := strings.Replace(string(raw), at, at+"\n{{- if hasSuffix \"/breaks-nginx\" .Source }}\n            no_such_directive_for_the_test on;\n{{- end }}", 1)
	path := filepath.Join(t.TempDir(), "nginx.tmpl")
	require.NoError(t, os.WriteFile(path, []byte(broken), 0o644))
	return path
}

// TestTenancySnippetsCannotEscape: where snippets are allowed, directives
// that run code, read files, proxy to internal addresses or write the
// variables routing relies on are refused (class 6).
func TestTenancySnippetsCannotEscape(t *testing.T) {
	t.Parallel()
	ts := newTenants(t, "--allow-snippet-annotations", "--snippet-namespaces", "{attacker}")
	attacks := map[string][2]string{
		// name: annotation key, value
		"lua-block":     {"configuration-snippet", `access_by_lua_block { local f = io.popen("id") ngx.say(f:read("*a")) }`},
		"lua-loadstr":   {"configuration-snippet", `content_by_lua_block { loadstring(ngx.var.arg_c)() }`},
		"set-route":     {"configuration-snippet", `set $portico_route "r0";`},
		"set-host":      {"configuration-snippet", `set $best_http_host "shop.example";`},
		"proxy-pass":    {"configuration-snippet", `proxy_pass http://127.0.0.1:10254;`},
		"grpc-pass":     {"configuration-snippet", `grpc_pass grpc://127.0.0.1:10255;`},
		"key-file":      {"server-snippet", `ssl_certificate_key /etc/shadow;`},
		"htpasswd-file": {"configuration-snippet", `auth_basic_user_file /etc/shadow;`},
		"include":       {"server-snippet", `include /etc/passwd;`},
		"code-cache":    {"server-snippet", `lua_code_cache off;`},
		"alias":         {"configuration-snippet", `alias /;`},
		"named-group":   {"configuration-snippet", `rewrite "^/(?<portico_route>.*)$" /x;`},
	}
	for name, a := range attacks {
		ts.create(t, ts.ingress(ts.attacker, name, name+"."+ts.attacker+".example",
			map[string]string{"nginx.ingress.kubernetes.io/" + a[0]: a[1]}, route{path: "/", service: "evil"}))
	}
	for name := range attacks {
		rtWaitEvent(t, ts.attacker, name, "InvalidAnnotation")
	}
	conf := ts.config(t)
	for _, s := range []string{"_by_lua_block", "/etc/shadow", "/etc/passwd", "lua_code_cache", "127.0.0.1:1025"} {
		assert.False(t, strings.Contains(conf, s), "%s is not in nginx.conf", s)
	}
	// An allowed snippet of the same namespace is served.
	ts.create(t, ts.ingress(ts.attacker, "fine", "fine."+ts.attacker+".example",
		map[string]string{"nginx.ingress.kubernetes.io/configuration-snippet": `add_header X-Fine "yes";`}, route{path: "/", service: "evil"}))
	r := ts.c.WaitServed(t, "fine."+ts.attacker+".example", "/", "evil")
	assert.Equal(t, "yes", r.Header.Get("X-Fine"))
	ts.victimUnchanged(t)
}

// TestTenancyBackendsCannotReachThePod: ExternalName Services that name
// loopback, unspecified or link-local addresses, or localhost, are refused:
// requests through the attacker's Ingress never reach the controller's
// status or debug servers or nginx itself (class 2; a name that resolves
// there is TestExternalNameCannotReachTheController's).
func TestTenancyBackendsCannotReachThePod(t *testing.T) {
	t.Parallel()
	ts := newTenants(t)
	targets := map[string]string{
		"loopback":    "127.0.0.1",
		"loopback2":   "127.1.2.3",
		"unspecified": "0.0.0.0",
		"metadata":    "169.254.169.254",
		"localhost":   "localhost",
		"sublocal":    "status.localhost",
	}
	evilHost := "evil." + ts.attacker + ".example"
	var routes []route
	for svc, name := range targets {
		createExternalName(t, ts.attacker, svc, name)
		routes = append(routes, route{path: "/" + svc, service: svc})
	}
	ing := ts.ingress(ts.attacker, "inward", evilHost, nil, routes...)
	ports := map[string]int{}
	for _, r := range routes {
		ports[r.path] = ts.c.StatusPort
	}
	ports["/loopback2"] = ts.c.DebugPort
	ports["/unspecified"] = ts.c.HTTPPort
	ts.create(t, onPort(ing, ports))
	ts.c.WaitStatus(t, evilHost, "/loopback", http.StatusServiceUnavailable, "")
	for svc := range targets {
		rtWaitEvent(t, ts.attacker, "inward", "BackendAddressRefused", ts.attacker+"/"+svc)
		r := ts.c.Get(t, evilHost, "/"+svc+"/metrics")
		assert.Equal(t, http.StatusServiceUnavailable, r.Status, "%s: %s", svc, r)
		assert.False(t, strings.Contains(r.Body, "portico_"), "%s: no metrics through nginx", svc)
	}
	ts.victimUnchanged(t)
}

// TestTenancyDebugViewsAreNotOnTheStatusPort: the status port (every
// interface in a Pod) answers probes and metrics, never the debug views
// with every route and Pod IP (class 7).
func TestTenancyDebugViewsAreNotOnTheStatusPort(t *testing.T) {
	t.Parallel()
	ts := newTenants(t)
	for _, path := range []string{"/debug/config", "/debug/reloads", "/debug/balancer", "/debug/certs", "/debug/ingresses"} {
		resp, err := ts.c.StatusClient.Get(fmt.Sprintf("http://127.0.0.1:%d%s", ts.c.StatusPort, path))
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s on the status port", path)
	}
	code, _, err := ts.c.StatusGet("/readyz")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code)
}
