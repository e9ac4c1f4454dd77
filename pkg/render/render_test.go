package render_test

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/ngxconf"
	"github.com/portico-ingress/portico/pkg/render"
	"github.com/portico-ingress/portico/pkg/requestmetrics"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
	"github.com/portico-ingress/portico/pkg/testutil/golden"
	"github.com/portico-ingress/portico/pkg/testutil/nginxtest"
	"github.com/portico-ingress/portico/rootfs"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

// goldenRoot stands in for the runtime directory in golden files; the nginx
// -t test swaps in a real temporary directory.
const goldenRoot = "/PORTICO_ROOT"

func goldenOptions() model.Options {
	g := model.DefaultGlobal()
	g.PIDFile = goldenRoot + "/nginx.pid"
	g.RuntimeDir = goldenRoot
	g.InternalSocket = goldenRoot + "/internal/nginx.sock"
	g.DefaultCertificate = goldenRoot + "/certs/default.pem"
	g.LuaDir = goldenRoot + "/lua"
	g.AccessLog = "off"
	g.Resolvers = []string{"127.0.0.53"}
	// The request metrics are on by default, as the controller has them.
	g.RequestMetrics, g.RequestMetricsMemory = requestmetrics.DefaultOptions().Env(), "32m"
	return model.Options{
		ControllerClass: model.DefaultControllerClass,
		IngressClass:    model.DefaultIngressClass,
		CertificateDir:  goldenRoot + "/certs",
		AuthDir:         goldenRoot + "/auth",
		// Fixtures that hold ops/portico (configmap.yaml) show the options applied.
		ConfigMap: "ops/portico",
		// Fixtures in namespace "trusted" (annotations-snippets.yaml) may use snippets.
		SnippetNamespaces: []string{"trusted"},
		// The Pod's own addresses in backends-refused.yaml.
		OwnAddresses: []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fd00::5")},
		Global:       g,
	}
}

// upstreamsGoldens are the fixtures also rendered for an nginx without Lua
// (an upstream block per Service port), as <name>.upstreams.conf.
var upstreamsGoldens = []string{"backends", "logformat", "backends-refused", "externalname-refused", "annotations-balance", "annotations-default-backend", "annotations-proxyssl", "default-backend", "service-upstream"}

// sharedHostsGoldens are the fixtures also rendered with hosts shared
// between namespaces (--allow-shared-hosts), as <name>.shared.conf.
var sharedHostsGoldens = []string{"tenancy-shared-hosts"}

type goldenCase struct {
	name string
	cfg  *model.Config
	conf []byte
}

// goldenCases renders every model fixture (pkg/model/testdata/*.yaml).
func goldenCases(t *testing.T) []goldenCase {
	t.Helper()
	inputs, err := filepath.Glob("../model/testdata/*.yaml")
	require.NoError(t, err)
	r, err := render.New("")
	require.NoError(t, err)
	var out []goldenCase
	for _, in := range inputs {
		if strings.HasSuffix(in, ".expect.yaml") {
			continue
		}
		snap, err := fixture.LoadFile(in)
		require.NoError(t, err)
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		cfg, _ := model.Build(snap, goldenOptions())
		conf, err := r.Render(cfg, 1)
		require.NoError(t, err)
		out = append(out, goldenCase{name: name, cfg: cfg, conf: conf})
		if slices.Contains(sharedHostsGoldens, name) {
			opts := goldenOptions()
			opts.AllowSharedHosts = true
			cfg, _ := model.Build(snap, opts)
			conf, err := r.Render(cfg, 1)
			require.NoError(t, err)
			out = append(out, goldenCase{name: name + ".shared", cfg: cfg, conf: conf})
		}
		if slices.Contains(upstreamsGoldens, name) {
			opts := goldenOptions()
			opts.Global.Balancer = model.BalancerUpstreams
			cfg, _ := model.Build(snap, opts)
			conf, err := r.Render(cfg, 1)
			require.NoError(t, err)
			out = append(out, goldenCase{name: name + ".upstreams", cfg: cfg, conf: conf})
		}
	}
	require.NotEmpty(t, out)
	return out
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			golden.Check(t, filepath.Join("testdata", c.name+".conf"), string(c.conf), *update,
				"rerun go test ./pkg/render -update and review the diff")
		})
	}
}

// TestGoldenFilesPassNginx runs the real nginx -t on every golden file, with
// the placeholder root swapped for a directory holding the certificates.
func TestGoldenFilesPassNginx(t *testing.T) {
	nginxtest.Binary(t)
	files, err := filepath.Glob("testdata/*.conf")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	cases := map[string]goldenCase{}
	for _, c := range goldenCases(t) {
		cases[c.name] = c
	}
	defaultPEM, err := certs.SelfSigned(certs.DefaultCommonName, 24*60*60*1e9)
	require.NoError(t, err)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".conf")
		t.Run(name, func(t *testing.T) {
			c, ok := cases[name]
			require.True(t, ok, "golden file %s has no fixture; delete it", file)
			dir := checkDir(t, defaultPEM)
			require.NoError(t, rootfs.InstallLua(filepath.Join(dir, "lua")))
			for _, cert := range c.cfg.Certificates {
				p := strings.Replace(cert.Path, goldenRoot, dir, 1)
				require.NoError(t, os.WriteFile(p, cert.PEM, 0o600))
			}
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			conf := filepath.Join(dir, "nginx.conf")
			require.NoError(t, os.WriteFile(conf, []byte(strings.ReplaceAll(string(raw), goldenRoot, dir)), 0o644))
			out, ok := nginxtest.Check(t, conf)
			assert.True(t, ok, "nginx -t rejected %s:\n%s", file, out)
		})
	}
}

// TestRenderedTreeMatchesModel parses each rendered config and checks that
// its servers and locations are exactly those of the model.
func TestRenderedTreeMatchesModel(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			tree, err := ngxconf.Parse(string(c.conf))
			require.NoError(t, err)
			assert.Equal(t, ExpectedShape(c.cfg), RenderedShape(tree))
		})
	}
}

func TestDeterministic(t *testing.T) {
	a := goldenCases(t)
	b := goldenCases(t)
	for i := range a {
		assert.Equal(t, string(a[i].conf), string(b[i].conf), a[i].name)
	}
}

func TestHashIgnoresGeneration(t *testing.T) {
	r, err := render.New("")
	require.NoError(t, err)
	c := goldenCases(t)[0]
	h1, _, err := r.Hash(c.cfg)
	require.NoError(t, err)
	h2, _, err := r.Hash(c.cfg)
	require.NoError(t, err)
	assert.Equal(t, h1, h2)
	g1, err := r.Render(c.cfg, 1)
	require.NoError(t, err)
	g2, err := r.Render(c.cfg, 2)
	require.NoError(t, err)
	assert.NotEqual(t, g1, g2, "the generation must reach the config")
}

func TestTemplateHasNoUnsafeFunctions(t *testing.T) {
	for _, fn := range []string{"env", "expandenv", "getHostByName", "now", "randAlpha", "uuidv4"} {
		_, err := render.New(`{{ ` + fn + ` "x" }}`)
		assert.Error(t, err, "template function %s must not be available", fn)
	}
}

func TestBadTemplate(t *testing.T) {
	_, err := render.New("{{ .Nope")
	assert.ErrorContains(t, err, "parsing nginx template")
	r, err := render.New("{{ .Nope }}")
	require.NoError(t, err)
	_, err = r.Render(&model.Config{}, 1)
	assert.ErrorContains(t, err, "rendering nginx.conf")
}

func replaceRoot(conf, dir string) string { return strings.ReplaceAll(conf, goldenRoot, dir) }

// checkDir is a runtime directory for nginx -t of a config rendered with
// goldenOptions: the default certificate and the internal socket's
// directory (nginx -t needs it to exist) in place.
func checkDir(t testing.TB, defaultPEM []byte) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "certs"), 0o700))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "internal"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "certs", "default.pem"), defaultPEM, 0o600))
	return dir
}

// TestLuaConfigIgnoresEndpoints backs the controller's endpoint-only path:
// with the Lua balancer, nginx.conf is the same whatever the EndpointSlices
// say, and refreshing the pools of a model built without any endpoints
// gives exactly the balancer data of a full build.
func TestLuaConfigIgnoresEndpoints(t *testing.T) {
	r, err := render.New("")
	require.NoError(t, err)
	inputs, err := filepath.Glob("../model/testdata/*.yaml")
	require.NoError(t, err)
	for _, in := range inputs {
		if strings.HasSuffix(in, ".expect.yaml") {
			continue
		}
		t.Run(filepath.Base(in), func(t *testing.T) {
			snap, err := fixture.LoadFile(in)
			require.NoError(t, err)
			full, _ := model.Build(snap, goldenOptions())
			bare := *snap
			bare.EndpointSlices = nil
			without, _ := model.Build(&bare, goldenOptions())

			a, _, err := r.Hash(full)
			require.NoError(t, err)
			b, _, err := r.Hash(without)
			require.NoError(t, err)
			assert.Equal(t, a, b, "nginx.conf must not depend on endpoints with the Lua balancer")
			refreshed, _ := model.RefreshEndpoints(without, snap, goldenOptions())
			assert.Equal(t, full.Dynamic(), refreshed)
		})
	}
}

// TestCheckCopy: with the Lua balancer, the copy nginx -t checks is the live
// config with the Lua module's lines commented out, line for line (so
// nginx's error messages point at the live file's lines), and it passes
// nginx -t without the Lua code; with upstream blocks there is no copy. The
// ModSecurity module stays loaded: nginx -t must check its rules.
func TestCheckCopy(t *testing.T) {
	nginxtest.Binary(t)
	r, err := render.New("")
	require.NoError(t, err)
	defaultPEM, err := certs.SelfSigned(certs.DefaultCommonName, 24*60*60*1e9)
	require.NoError(t, err)
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			out, err := r.Prepare(c.cfg)
			require.NoError(t, err)
			check := out.RenderCheck(1)
			if c.cfg.Global.Balancer != model.BalancerLua {
				assert.Nil(t, check)
				return
			}
			require.NotNil(t, check)
			live := out.Render(1)
			assert.Equal(t, bytes.Count(live, []byte("\n")), bytes.Count(check, []byte("\n")), "line numbers must match")
			tree, err := ngxconf.Parse(string(check))
			require.NoError(t, err)
			ngxconf.Walk(tree, func(_ []string, d *ngxconf.Directive) {
				assert.NotContains(t, d.Name, "lua", "the copy for nginx -t loads no Lua")
				if d.Name == "load_module" {
					// Only ModSecurity's (nginx -t must read the rules it
					// checks) and headers-more's (snippets name its directives).
					assert.Contains(t, []string{c.cfg.LoadModSecurity, c.cfg.LoadHeadersMore}, d.Args[0],
						"the copy for nginx -t loads only the ModSecurity and headers-more modules")
				}
			})
			dir := checkDir(t, defaultPEM)
			for _, cert := range c.cfg.Certificates {
				require.NoError(t, os.WriteFile(strings.Replace(cert.Path, goldenRoot, dir, 1), cert.PEM, 0o600))
			}
			conf := filepath.Join(dir, "nginx.conf")
			require.NoError(t, os.WriteFile(conf, []byte(replaceRoot(string(check), dir)), 0o644))
			msg, ok := nginxtest.Check(t, conf)
			assert.True(t, ok, "nginx -t rejected the check copy: %s", msg)
		})
	}
}
