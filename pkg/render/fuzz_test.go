package render_test

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/ngxconf"
	"github.com/portico-ingress/portico/pkg/render"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/testutil/nginxtest"
)

// fuzzSnapshot builds one Ingress whose user-controlled strings all come
// from the fuzzer, plus the Service, EndpointSlice and Secret it names.
func fuzzSnapshot(host, path, service, secret, certData, address string) *snapshot.Snapshot {
	class := "portico"
	prefix := networkingv1.PathTypePrefix
	exact := networkingv1.PathTypeExact
	backend := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
		Name: service, Port: networkingv1.ServiceBackendPort{Number: 80}}}
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "fuzz"},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			DefaultBackend:   &backend,
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: secret}},
			Rules: []networkingv1.IngressRule{{
				Host: host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{
						{Path: path, PathType: &prefix, Backend: backend},
						{Path: path, PathType: &exact, Backend: backend},
					},
				}},
			}},
		},
	}
	port := int32(8080)
	return &snapshot.Snapshot{
		Ingresses: []*networkingv1.Ingress{ing},
		Services: []*corev1.Service{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: service},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: service + "-ext"},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: host}},
		},
		EndpointSlices: []*discoveryv1.EndpointSlice{{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "s", Labels: map[string]string{discoveryv1.LabelServiceName: service}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Port: &port}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{address, "198.18.0.1"}}},
		}},
		Secrets: []*corev1.Secret{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: secret},
			Data:       map[string][]byte{"tls.crt": []byte(certData), "tls.key": []byte(certData)},
		}},
	}
}

func isFuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// FuzzRenderIngress feeds arbitrary hosts, paths, Service names, Secret
// names and Secret data through model and render. The rendered config must
// parse, and its servers, locations and directive names must be exactly the
// ones the model intended: no injected directive, no escaped block. Seed
// inputs (testdata/fuzz/FuzzRenderIngress) also go through the real nginx -t.
func FuzzRenderIngress(f *testing.F) {
	f.Add("foo.example.com", "/app", "web", "tls", "x", "198.18.0.2")
	f.Add("*.example.com", "/", "web", "tls", "", "198.18.0.2")
	f.Add("a.com;\n}", "/x;} location / { return 200 pwned; }#", "svc\"", "s\\\"", "-----BEGIN", "1.1.1.1;evil")
	f.Add("evil.com\" ; error_log /tmp/x", "/${host}", "a{b", "$secret", "\x00", "::1")
	r, opts, runNginx, defaultPEM := fuzzSetup(f)
	f.Fuzz(func(t *testing.T, host, path, service, secret, certData, address string) {
		cfg, _ := model.Build(fuzzSnapshot(host, path, service, secret, certData, address), opts)
		conf, err := r.Render(cfg, 7)
		if err != nil {
			t.Fatalf("render failed: %v", err)
		}
		tree, err := ngxconf.Parse(string(conf))
		if err != nil {
			t.Fatalf("rendered config does not parse: %v\n%s", err, conf)
		}
		want, got := ExpectedShape(cfg), RenderedShape(tree)
		require.Equal(t, want, got, "rendered config differs from the model")
		if !runNginx {
			return
		}
		out, ok := nginxCheck(t, cfg, conf, defaultPEM)
		require.True(t, ok, "nginx -t rejected the config:\n%s\n%s", out, conf)
	})
}

// FuzzRenderModelStrings bypasses the model's validators and puts arbitrary
// strings straight into every string field the template prints, to prove
// that the template quotes them all: the directive tree must still be
// exactly the intended one.
func FuzzRenderModelStrings(f *testing.F) {
	f.Add("a.example.com", "/x", "default.web.80", "/certs/a.pem", "ns/ing", "198.18.0.1:80", "ext.example.com")
	f.Add("a\";}", "/x\" { return 200; } #", "u\n}", "p\\\"", "s;}", "e;", "h\"")
	r, err := render.New("")
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, name, path, upstream, certPath, source, endpoint, external string) {
		cfg, _ := model.Build(nil, goldenOptions())
		cfg.Global.Balancer = model.BalancerUpstreams
		cfg.Servers = []model.Server{{
			Name: name, ServerName: name,
			TLS: &model.ServerTLS{CertificatePath: certPath, RedirectHTTP: true},
			Locations: []model.Location{
				{Modifier: "=", Path: path, Source: source, Action: model.Action{Upstream: upstream, Pass: "proxy_pass", ProxyPass: "http://" + upstream},
					Vars: &model.LocationVars{Namespace: source, Ingress: name, Service: upstream, ServicePort: endpoint, Upstream: external}},
				{Path: path, Source: source, Action: model.Action{Upstream: upstream, ExternalHost: external, Pass: "proxy_pass", ProxyPass: "https://" + upstream},
					ProxySSL: &model.ProxySSL{Module: "proxy", Verify: "on", Name: external, ServerName: "on"}},
				{Path: "/", Action: model.Action{Return: 404}},
			},
		}}
		cfg.Upstreams = []model.Upstream{{Name: upstream, Endpoints: []string{endpoint}}}
		conf, err := r.Render(cfg, 1)
		require.NoError(t, err)
		tree, err := ngxconf.Parse(string(conf))
		require.NoError(t, err, "%s", conf)
		require.Equal(t, ExpectedShape(cfg), RenderedShape(tree))
		var upstreams, servers []string
		ngxconf.Walk(tree, func(p []string, d *ngxconf.Directive) {
			if d.Name == "upstream" {
				upstreams = append(upstreams, d.Args...)
			}
			if d.Name == "server" && len(p) > 0 && p[len(p)-1] == "upstream" {
				servers = append(servers, d.Args[0])
			}
		})
		require.Equal(t, []string{upstream}, upstreams)
		require.Equal(t, []string{endpoint}, servers)

		// With the Lua balancer the route ID is the printed string instead.
		cfg.Global.Balancer = model.BalancerLua
		cfg.Servers[0].Locations[0].Route = upstream
		conf, err = r.Render(cfg, 1)
		require.NoError(t, err)
		tree, err = ngxconf.Parse(string(conf))
		require.NoError(t, err, "%s", conf)
		require.Equal(t, ExpectedShape(cfg), RenderedShape(tree))
		var routes [][]string
		ngxconf.Walk(tree, func(_ []string, d *ngxconf.Directive) {
			if d.Name == "set" && len(d.Args) > 0 && d.Args[0] == "$portico_route" {
				routes = append(routes, d.Args)
			}
		})
		var want [][]string
		if upstream != "" { // an empty route prints nothing (with .Route)
			want = [][]string{{"$portico_route", upstream}}
		}
		require.Equal(t, want, routes)
	})
}

// fuzzSetup is what every render fuzz target starts from: a renderer of the
// built-in template, the golden options, and, outside fuzzing (seeds run
// by go test), the real nginx and a default certificate for nginx -t.
func fuzzSetup(f *testing.F) (r *render.Renderer, opts model.Options, runNginx bool, defaultPEM []byte) {
	f.Helper()
	r, err := render.New("")
	require.NoError(f, err)
	runNginx = !isFuzzing()
	if runNginx {
		nginxtest.Binary(f)
		defaultPEM, err = certs.SelfSigned(certs.DefaultCommonName, 24*60*60*1e9)
		require.NoError(f, err)
	}
	return r, goldenOptions(), runNginx, defaultPEM
}
