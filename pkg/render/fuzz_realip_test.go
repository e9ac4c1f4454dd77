package render_test

import (
	"net/netip"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/ngxconf"
)

// realIPHeaderArg is what real_ip_header may print: a header name the model
// accepted, or proxy_protocol.
var realIPHeaderArg = regexp.MustCompile(`^(proxy_protocol|[A-Za-z0-9][A-Za-z0-9-]{0,63})$`)

// FuzzRenderRealIP feeds arbitrary values of the client-address ConfigMap
// keys (use-forwarded-headers, enable-real-ip, use-proxy-protocol,
// compute-full-forwarded-for, forwarded-for-header, proxy-real-ip-cidr,
// proxy-protocol-header-timeout) through model and render. The config must
// parse with the model's shape, every set_real_ip_from and trusted geo entry
// must be a canonical network, real_ip_header a header name, and nothing is
// trusted unless proxy-real-ip-cidr listed it. Seed inputs also go through
// the real nginx -t.
func FuzzRenderRealIP(f *testing.F) {
	f.Add("true", "false", "false", "true", "X-Forwarded-For", "10.0.0.0/8, 192.0.2.1", "5s")
	f.Add("false", "true", "true", "false", "CF-Connecting-IP", "::/0,127.0.0.1", "1m30s")
	f.Add("true", "true", "true", "true", "X-Real-IP", "0.0.0.0/0", "5s")
	f.Add("true", "false", "false", "false", "X-Forwarded-For\"; allow all; #", "10.0.0.0/8; allow all", "5s;}")
	f.Add("true", "false", "false", "true", "X-Forwarded-For", "10.0.0.0/8\n}", "${x}")
	f.Add("1", "0", "t", "f", "proxy_protocol", "fe80::1%eth0, 10.0.0.1/33", "0")
	f.Add("true", "false", "false", "true", "X-A$remote_addr", "", "24h")
	r, opts, runNginx, defaultPEM := fuzzSetup(f)
	f.Fuzz(func(t *testing.T, forwarded, realIP, proxyProtocol, full, header, cidrs, timeout string) {
		snap := fuzzSnapshot("lb.example.com", "/", "web", "tls", "x", "198.18.0.2")
		snap.ConfigMaps = []*corev1.ConfigMap{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "portico"},
			Data: map[string]string{
				"use-forwarded-headers": forwarded, "enable-real-ip": realIP, "use-proxy-protocol": proxyProtocol,
				"compute-full-forwarded-for": full, "forwarded-for-header": header,
				"proxy-real-ip-cidr": cidrs, "proxy-protocol-header-timeout": timeout,
			},
		}}
		cfg, _ := model.Build(snap, opts)
		conf, err := r.Render(cfg, 7)
		require.NoError(t, err)
		tree, err := ngxconf.Parse(string(conf))
		require.NoError(t, err, "%s", conf)
		require.Equal(t, ExpectedShape(cfg), RenderedShape(tree), "rendered config differs from the model")
		var from []string
		headers := 0
		ngxconf.Walk(tree, func(p []string, d *ngxconf.Directive) {
			switch {
			case d.Name == "set_real_ip_from":
				from = append(from, d.Args...)
			case d.Name == "real_ip_header":
				headers++
				require.Len(t, d.Args, 1)
				require.Regexp(t, realIPHeaderArg, d.Args[0])
			case len(p) > 0 && p[len(p)-1] == "geo" && d.Name != "default":
				pfx, err := netip.ParsePrefix(d.Name)
				require.NoError(t, err, "geo entry %q", d.Name)
				require.Equal(t, pfx.Masked().String(), d.Name)
			}
		})
		for _, a := range from {
			pfx, err := netip.ParsePrefix(a)
			require.NoError(t, err, "set_real_ip_from %q", a)
			require.Equal(t, pfx.Masked().String(), a)
		}
		if cfg.Global.RealIP == nil {
			require.Empty(t, from, "nothing may be trusted without a real-IP option and proxy-real-ip-cidr")
			require.Zero(t, headers)
		} else {
			require.Equal(t, cfg.Global.RealIPFrom, from)
			require.Equal(t, 1, headers)
		}
		if !runNginx {
			return
		}
		out, ok := nginxCheck(t, cfg, conf, defaultPEM)
		require.True(t, ok, "nginx -t rejected the config:\n%s\n%s", out, conf)
	})
}
