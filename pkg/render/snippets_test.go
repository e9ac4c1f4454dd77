package render_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/ngxconf"
	"github.com/portico-ingress/portico/pkg/render"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/testutil/nginxtest"
)

// Snippets against the real nginx (issue 10, class 6). A snippet the
// checker accepts and nginx -t refuses would stop every later reload,
// other tenants' changes included: each test here runs what the
// allowlist accepts through nginx -t.

// snippetOptions are the golden options with namespace "default" (the
// one annotationSnapshot uses) allowed snippets.
func snippetOptions() model.Options {
	opts := goldenOptions()
	opts.SnippetNamespaces = []string{"default"}
	return opts
}

// renderSnippets builds annotationSnapshot with anns, checks that the
// "fuzz" Ingress has no finding, and runs nginx -t on the config and on
// its check copy (the one the controller checks, without Lua).
func renderSnippets(t *testing.T, anns map[string]string) (*model.Config, []byte) {
	t.Helper()
	nginxtest.Binary(t)
	r, err := render.New("")
	require.NoError(t, err)
	cfg, findings, conf, _ := renderShapedNoBreakCheck(t, r, annotationSnapshot(anns, "/app", "snippets.example.com"), snippetOptions())
	for _, f := range findings {
		if f.Object.Name == "fuzz" {
			assert.NotContains(t, []string{model.ReasonInvalidAnnotation, model.ReasonConflict, model.ReasonSnippetNotAllowed}, f.Reason, f.Message)
		}
	}
	defaultPEM, err := certs.SelfSigned(certs.DefaultCommonName, 24*60*60*1e9)
	require.NoError(t, err)
	out, ok := nginxCheck(t, cfg, conf, defaultPEM)
	require.True(t, ok, "nginx -t rejected accepted snippets:\n%s\n%s", out, conf)
	prepared, err := r.Prepare(cfg)
	require.NoError(t, err)
	check := prepared.RenderCheck(1)
	require.NotNil(t, check)
	out, ok = nginxCheck(t, cfg, check, defaultPEM)
	require.True(t, ok, "nginx -t rejected the check copy:\n%s", out)
	return cfg, conf
}

// renderShapedNoBreakCheck is renderShaped without checkNothingAfterBreak:
// a snippet's own "break" may skip what follows it in the location (a
// location then left without an answer gets 404: nginx's root is /dev/null).
func renderShapedNoBreakCheck(t *testing.T, r *render.Renderer, snap *snapshot.Snapshot, opts model.Options) (*model.Config, []model.Finding, []byte, []*ngxconf.Directive) {
	t.Helper()
	cfg, findings := model.Build(snap, opts)
	conf, err := r.Render(cfg, 1)
	require.NoError(t, err)
	tree, err := ngxconf.Parse(string(conf))
	require.NoError(t, err, "rendered config does not parse:\n%s", conf)
	require.Equal(t, ExpectedShape(cfg), RenderedShape(tree), "rendered config differs from the model:\n%s", conf)
	return cfg, findings, conf, tree
}

// findServer returns the server named host, or nil.
func findServer(cfg *model.Config, host string) *model.Server {
	for i := range cfg.Servers {
		if cfg.Servers[i].Name == host {
			return &cfg.Servers[i]
		}
	}
	return nil
}

// TestSnippetExamplesPassNginx puts every allowed directive, with its
// example arguments, in every context its rule allows, and reads every
// variable a snippet may read: nginx -t must accept all of it.
func TestSnippetExamplesPassNginx(t *testing.T) {
	server, location := annotations.SnippetExamples()
	cfg, _ := renderSnippets(t, map[string]string{
		annotations.DefaultPrefix + "/server-snippet":        server,
		annotations.DefaultPrefix + "/configuration-snippet": location,
	})
	srv := findServer(cfg, "snippets.example.com")
	require.NotNil(t, srv)
	assert.NotEmpty(t, srv.Snippet)
	for _, name := range annotations.SnippetDirectives() {
		found := false
		ngxconf.Walk(srv.Snippet, func(_ []string, d *ngxconf.Directive) { found = found || d.Name == name })
		for _, l := range srv.Locations {
			ngxconf.Walk(l.Snippet, func(_ []string, d *ngxconf.Directive) { found = found || d.Name == name })
		}
		assert.True(t, found, "%s is not exercised", name)
	}
}

// TestSnippetNextToAnnotationsPassesNginx: with every annotation that
// prints directives into a location, a configuration-snippet that sets
// one of those directives again is either refused (the model would print
// a duplicate) or passes nginx -t. It keeps the clash list of
// pkg/annotations in step with the template.
func TestSnippetNextToAnnotationsPassesNginx(t *testing.T) {
	p := annotations.DefaultPrefix + "/"
	anns := map[string]string{
		p + "proxy-connect-timeout": "5", p + "proxy-read-timeout": "30", p + "proxy-send-timeout": "30",
		p + "proxy-body-size": "2m", p + "client-body-buffer-size": "16k", p + "proxy-buffering": "on",
		p + "proxy-buffer-size": "8k", p + "proxy-request-buffering": "off", p + "proxy-http-version": "1.1",
		p + "proxy-next-upstream": "error timeout", p + "proxy-next-upstream-tries": "2", p + "proxy-next-upstream-timeout": "10",
		p + "default-backend": "web", p + "custom-http-errors": "503",
		p + "backend-protocol": "HTTPS", p + "proxy-ssl-server-name": "on", p + "proxy-ssl-name": "backend.example.com",
		p + "enable-cors": "true", p + "upstream-vhost": "backend.example.com",
	}
	r, err := render.New("")
	require.NoError(t, err)
	cfg, _ := model.Build(annotationSnapshot(anns, "/app", "snippets.example.com"), snippetOptions())
	conf, err := r.Render(cfg, 1)
	require.NoError(t, err)
	tree, err := ngxconf.Parse(string(conf))
	require.NoError(t, err)
	printed := map[string]bool{}
	ngxconf.Walk(tree, func(path []string, d *ngxconf.Directive) {
		if len(path) == 3 && path[2] == "location" && annotations.SnippetExample(d.Name) != "" {
			printed[d.Name] = true
		}
	})
	require.Contains(t, printed, "proxy_read_timeout", "the location prints the annotations' directives")

	parser := annotations.NewParser("")
	var accepted []string
	for name := range printed {
		ex := annotations.SnippetExample(name)
		with := map[string]string{p + "configuration-snippet": ex}
		for k, v := range anns {
			with[k] = v
		}
		if _, problems := parser.Parse(with); len(problems) == 0 {
			accepted = append(accepted, ex)
		}
	}
	assert.NotContains(t, accepted, annotations.SnippetExample("proxy_read_timeout"))
	require.NotEmpty(t, accepted, "repeatable directives (add_header, proxy_set_header) are accepted")
	anns[p+"configuration-snippet"] = strings.Join(accepted, "\n")
	renderSnippets(t, anns)
}

// FuzzSnippetNginx: a snippet the checker accepts, in either annotation,
// passes nginx -t. Seeds run in plain go test; with -fuzz it looks for
// accepted snippets nginx refuses.
func FuzzSnippetNginx(f *testing.F) {
	server, location := annotations.SnippetExamples()
	f.Add(false, location)
	f.Add(true, server)
	for _, s := range []string{
		`if ($http_x ~* "^(a|b)[0-9]{2,4}$") { return 403 "$1"; }`,
		`rewrite ^/(.*)/(.*)$ /$2/$1 last; set $v "$request_uri$is_args$args"; add_header X-V $v;`,
		`location ~* ^/assets/(.+)\.(css|js)$ { expires 30d; return 404 "$1"; }`,
		`more_set_headers -s "200 404" -t "text/html text/plain" "X-Frame-Options: DENY" "X-Req: ${req_id}" X-Powered-By;`,
		`more_clear_headers "X-Hidden-*" Server; more_set_input_headers -r "X-Tenant: $host"; more_clear_input_headers "X-Debug-*";`,
		`if ($arg_debug) { more_set_headers "X-Debug: $arg_debug"; more_clear_input_headers Cookie2; }`,
		`error_page 404 =200 @fallback; location @fallback { return 200 "fallback"; }`,
		`proxy_cookie_flags ~ secure;`,
		`expires @15h30m; limit_rate 0;`,
	} {
		f.Add(false, s)
		f.Add(true, s)
	}
	nginxtest.Binary(f)
	r, err := render.New("")
	require.NoError(f, err)
	defaultPEM, err := certs.SelfSigned(certs.DefaultCommonName, 24*60*60*1e9)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, server bool, value string) {
		key := annotations.DefaultPrefix + "/configuration-snippet"
		if server {
			key = annotations.DefaultPrefix + "/server-snippet"
		}
		if _, problems := annotations.NewParser("").Parse(map[string]string{key: value}); len(problems) > 0 {
			return
		}
		cfg, _, conf, _ := renderShapedNoBreakCheck(t, r, annotationSnapshot(map[string]string{key: value}, "/app", "snippets.example.com"), snippetOptions())
		out, ok := nginxCheck(t, cfg, conf, defaultPEM)
		require.True(t, ok, "nginx -t rejected an accepted snippet %q:\n%s", value, out)
	})
}
