package render_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/ngxconf"
)

// FuzzRenderGlobalAuth feeds arbitrary values of the global-auth-* ConfigMap
// keys (url, method, signin, response-headers, and one more key chosen by
// its suffix, misspelt ones included), of no-auth-locations and of the Ingress's
// enable-global-auth through model and render, with and without a last
// accepted global auth. The config must parse with the model's shape; the
// only auth_request target is the global internal location, whose
// proxy_pass target and error_page are exactly the model's, quoted; and the
// global auth never fails open: global-auth-* values that are set but
// refused leave every path of the Ingress (unless it opted out) either
// asking an auth service or answering 503. Seed inputs also go through the
// real nginx -t.
func FuzzRenderGlobalAuth(f *testing.F) {
	f.Add("http://oauth2-proxy.auth.svc.cluster.local:4180/oauth2/auth", "POST", "https://login.example.com/start", "X-Auth-Request-User, X-Auth-Request-Email", "cache-key", "", "/.well-known/acme-challenge", "true", false)
	f.Add("https://auth.example.com/check?u=$request_uri&s=$cookie_s", "GET", "https://$host/oauth2/start?rd=$escaped_request_uri", "X-User", "method", "head", "/app, /public", "false", true)
	f.Add("http://example.com/#;\nload_module /tmp/x.so;", "GET", "https://x/\"; return 200 pwned; #", "X-A\r\nX-B", "snippet", "proxy_set_header X-A b;", "/app;\n}", "true", true)
	f.Add("http://$http_x_target/verify", "TRACE", "javascript:alert(1)", "X-A", "urll", "http://typo.example.com/", "/a b,$x", "yes", false)
	f.Add("http://127.0.0.1:4180/auth", "GET", "", "", "signin-redirect-param", "rd", "", "", false)
	f.Add("", "POST", "https://login.example.com/", "", "request-redirect", "", "/ , /x", "0", true)
	f.Add("http://auth.example.com/v?a=${arg_a}", "PATCH", "http://login.example.com/?rd=1", "X-A,X-B,X-C,X-D,X-E,X-F,X-G,X-H,X-I,X-J,X-K,X-L,X-M,X-N,X-O,X-P,X-Q", "always-set-cookie", "true", "/app", "TRUE", false)
	f.Add("http://[::1]:80/x", "GET", "", "X-A", "response-headers", "X-B", "/.well-known/acme-challenge,/app/", "false", true)
	r, opts, runNginx, defaultPEM := fuzzSetup(f)
	f.Fuzz(func(t *testing.T, url, method, signIn, headers, suffix, value, noAuth, enable string, withLast bool) {
		snap := fuzzSnapshot("ga.example.com", "/app", "web", "tls", "x", "198.18.0.2")
		if enable != "" {
			snap.Ingresses[0].Annotations = map[string]string{annotations.DefaultPrefix + "/enable-global-auth": enable}
		}
		data := map[string]string{
			"global-auth-url": url, "global-auth-method": method, "global-auth-signin": signIn,
			"global-auth-response-headers": headers,
		}
		data[annotations.GlobalAuthPrefix+suffix] = value
		if noAuth != "/.well-known/acme-challenge" {
			data["no-auth-locations"] = noAuth // else the key stays absent: its default
		}
		snap.ConfigMaps = []*corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "portico"}, Data: data}}
		o := opts
		if withLast {
			o.LastGlobalAuth = &model.GlobalAuth{Auth: annotations.ExternalAuth{URL: "http://last.auth.svc.cluster.local/check"}}
		}
		cfg, _ := model.Build(snap, o)
		conf, err := r.Render(cfg, 7)
		require.NoError(t, err)
		tree, err := ngxconf.Parse(string(conf))
		require.NoError(t, err, "%s", conf)
		require.Equal(t, ExpectedShape(cfg), RenderedShape(tree), "rendered config differs from the model")

		ga := cfg.Global.GlobalAuth
		_, errs := annotations.ParseGlobalAuth(data)
		if len(errs) > 0 {
			require.NotNil(t, ga, "refused global-auth values must never leave no global auth: %v", errs)
		}
		var targets, pages []string
		ngxconf.Walk(tree, func(p []string, d *ngxconf.Directive) {
			switch d.Name {
			case "auth_request":
				require.Equal(t, []string{"/_portico_auth_global"}, d.Args, "the Ingress has no auth-url of its own")
			case "set":
				if len(d.Args) == 2 && d.Args[0] == "$portico_auth_target" {
					targets = append(targets, d.Args[1])
				}
			case "error_page":
				if len(d.Args) == 2 && d.Args[0] == "401" {
					pages = append(pages, d.Args[1])
				}
			}
		})
		optedOut := false
		if enable != "" {
			set, probs := annotations.NewParser("").Parse(snap.Ingresses[0].Annotations)
			optedOut = len(probs) == 0 && set.GlobalAuthOff
		}
		for _, s := range cfg.Servers {
			for _, l := range s.Locations {
				if l.Source != "default/fuzz" || optedOut || ga == nil {
					continue
				}
				if l.ExternalAuth == nil && l.Action.Return != 503 {
					exempt := false
					for _, e := range ga.Exempt {
						exempt = exempt || strings.HasPrefix(l.Path, e)
					}
					require.True(t, exempt, "location %s %s skips the global auth without being under no-auth-locations %q", s.Name, l.Path, ga.Exempt)
					continue
				}
				require.True(t, l.ExternalAuth != nil || l.Action.Return == 503,
					"location %s %s neither asks the global auth nor answers 503", s.Name, l.Path)
			}
		}
		if ga == nil || ga.Refused != "" || optedOut {
			require.Empty(t, targets, "no auth service without an accepted global auth")
		} else if slices.ContainsFunc(cfg.Ingresses, func(o model.ObjectRef) bool { return o.Name == "fuzz" }) {
			require.NotEmpty(t, targets, "an accepted global auth is asked")
		}
		for _, tg := range targets {
			require.Equal(t, ga.Auth.URL, tg)
			require.Contains(t, string(conf), "set $portico_auth_target "+ngxconf.Quote(tg)+";")
		}
		for _, pg := range pages {
			require.True(t, strings.HasPrefix(pg, ga.Auth.SignIn), "error_page %q is not the sign-in URL %q", pg, ga.Auth.SignIn)
		}
		if !runNginx {
			return
		}
		out, ok := nginxCheck(t, cfg, conf, defaultPEM)
		require.True(t, ok, "nginx -t rejected the config:\n%s\n%s", out, conf)
	})
}
