package render_test

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/ngxconf"
	"github.com/portico-ingress/portico/pkg/ngxvar"
)

// customHeaderName is what a custom-headers entry may name.
var customHeaderName = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// FuzzRenderCustomHeaders feeds arbitrary entries of a custom-headers
// ConfigMap through model and render. The config must parse with the
// model's shape; each add_header the entries make must name a header that
// does not frame the response, and its value must parse back (ngxvar) to
// itself with only allowlisted variables, none that nginx decodes nor the
// client's credentials. Seed inputs also go through the real nginx -t.
func FuzzRenderCustomHeaders(f *testing.F) {
	for _, s := range [][2]string{
		{"X-Request-Start", "t=${msec}"},
		{"X-Seen", "$host $request_uri ${HTTP_X_Y}${arg_a}$server_port"},
		{"X-Quote", `${host}"; add_header X-Evil 1; #`},
		{"X-Brace", "a}\n}\nlocation / {"},
		{"X-Open", "${host"},
		{"X-Dollar", "$$host"},
		{"X-Space", "${ host }"},
		{"X-Semi", "$request_uri;}"},
		{"X-Decoded", "$uri"},
		{"X-Cookie", "$cookie_session"},
		{"Content-Length", "0"},
		{"Transfer-Encoding", "chunked"},
		{"X-Crlf", "a\r\nX-Injected: yes"},
		{"X Bad", "x"},
		{"X-Unknown", "$request_id$document_root"},
	} {
		f.Add(s[0], s[1])
	}
	r, opts, runNginx, defaultPEM := fuzzSetup(f)
	f.Fuzz(func(t *testing.T, name, value string) {
		snap := fuzzSnapshot("headers.example.com", "/", "web", "tls", "x", "198.18.0.2")
		snap.Ingresses[0].Annotations = map[string]string{annotations.DefaultPrefix + "/custom-headers": "fuzz-headers"}
		snap.ConfigMaps = []*corev1.ConfigMap{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "fuzz-headers"},
			Data:       map[string]string{name: value, "X-Fixed": "fixed"},
		}}
		cfg, _ := model.Build(snap, opts)
		conf, err := r.Render(cfg, 7)
		require.NoError(t, err)
		tree, err := ngxconf.Parse(string(conf))
		require.NoError(t, err, "%s", conf)
		require.Equal(t, ExpectedShape(cfg), RenderedShape(tree), "rendered config differs from the model")
		seen := 0
		ngxconf.Walk(tree, func(_ []string, d *ngxconf.Directive) {
			if d.Name != "add_header" || len(d.Args) != 3 || d.Args[0] == "Strict-Transport-Security" {
				return
			}
			seen++
			require.Regexp(t, customHeaderName, d.Args[0])
			require.False(t, annotations.FramingHeader(d.Args[0]), "add_header %s", d.Args[0])
			v, err := ngxvar.Parse(d.Args[1])
			require.NoError(t, err, "add_header %s %q", d.Args[0], d.Args[1])
			require.Equal(t, d.Args[1], v.String(), "the value is printed from its parts")
			for _, n := range v.Vars() {
				require.True(t, ngxvar.Allowed(n) && !ngxvar.Decoded(n) && !ngxvar.Credential(n), "$%s", n)
			}
			require.Equal(t, "always", d.Args[2])
		})
		require.GreaterOrEqual(t, seen, 1, "X-Fixed is always added")
		if !runNginx {
			return
		}
		out, ok := nginxCheck(t, cfg, conf, defaultPEM)
		require.True(t, ok, "nginx -t rejected the config:\n%s\n%s", out, conf)
	})
}
