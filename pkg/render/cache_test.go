package render_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/render"
	"github.com/portico-ingress/portico/templates"
)

// wholeTemplate is the default template with its server blocks printed by
// a plain range loop, and without a "server" definition, so the renderer
// executes it at once, without its cache: the reference output.
func wholeTemplate(t *testing.T) *render.Renderer {
	t.Helper()
	text := templates.NginxTemplate
	loop := `{{- template "whole-default-server" (dict "Global" .Config.Global "Server" .Config.DefaultServer) }}
{{- range .Config.Servers }}{{ template "whole-server" (dict "Global" $.Config.Global "Server" .) }}{{ end }}`
	require.Equal(t, 1, strings.Count(text, "{{- .ServerBlocks }}"))
	text = strings.Replace(text, "{{- .ServerBlocks }}", loop, 1)
	text = strings.Replace(text, `{{- define "default-server" }}`, `{{- define "whole-default-server" }}`, 1)
	text = strings.Replace(text, `{{- define "server" }}`, `{{- define "whole-server" }}`, 1)
	r, err := render.New(text)
	require.NoError(t, err)
	return r
}

// TestCachedEqualsWhole renders every fixture through one renderer, so that
// its cache holds the blocks of the config before, and compares with the
// whole-template output, twice (cold and warm).
func TestCachedEqualsWhole(t *testing.T) {
	whole := wholeTemplate(t)
	r, err := render.New("")
	require.NoError(t, err)
	for _, c := range goldenCases(t) {
		want, err := whole.Render(c.cfg, 7)
		require.NoError(t, err)
		for range 2 {
			got, err := r.Render(c.cfg, 7)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got), c.name)
		}
		want1, err := whole.Render(c.cfg, 1)
		require.NoError(t, err)
		assert.Equal(t, string(want1), string(c.conf), c.name)
	}
}

// TestCacheSeesChanges changes one thing at a time, each a field the server
// templates read, and checks that the warm renderer prints the change.
func TestCacheSeesChanges(t *testing.T) {
	whole := wholeTemplate(t)
	r, err := render.New("")
	require.NoError(t, err)
	var base *model.Config
	for _, c := range goldenCases(t) {
		if c.name == "tls" {
			base = c.cfg
		}
	}
	require.NotNil(t, base, "the tls fixture")
	require.NotEmpty(t, base.Servers)
	changes := map[string]func(c *model.Config){
		"none":          func(*model.Config) {},
		"hsts":          func(c *model.Config) { c.Global.HSTS = "max-age=1" },
		"http2":         func(c *model.Config) { c.Global.HTTP2 = !c.Global.HTTP2 },
		"https listen":  func(c *model.Config) { c.Global.HTTPSListen = "8443" },
		"http listen":   func(c *model.Config) { c.Global.HTTPListen = "8080" },
		"server name":   func(c *model.Config) { c.Servers[0].ServerName = "changed.example" },
		"location path": func(c *model.Config) { c.Servers[0].Locations[0].Path = "/changed" },
		"default path":  func(c *model.Config) { c.DefaultServer.Locations[0].Path = "/changed" },
		"no tls":        func(c *model.Config) { c.Servers[0].TLS = nil },
		"alias":         func(c *model.Config) { c.Servers[0].Aliases = append(c.Servers[0].Aliases, "alias.example") },
	}
	for name, change := range changes {
		cfg := cloneConfig(base)
		change(cfg)
		// Warm the cache with the base first.
		_, err := r.Render(base, 3)
		require.NoError(t, err)
		want, err := whole.Render(cfg, 3)
		require.NoError(t, err)
		got, err := r.Render(cfg, 3)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), name)
		wantHash, _, err := whole.Hash(cfg)
		require.NoError(t, err)
		baseHash, _, err := r.Hash(base)
		require.NoError(t, err)
		gotHash, _, err := r.Hash(cfg)
		require.NoError(t, err)
		assert.Equal(t, name == "none", gotHash == baseHash, "%s: the hash must change exactly when the config does", name)
		assert.NotEmpty(t, wantHash)
	}
}

// cloneConfig copies what the changes above touch.
func cloneConfig(c *model.Config) *model.Config {
	out := *c
	out.Global.SSLProtocols = append([]string(nil), c.Global.SSLProtocols...)
	out.Servers = append([]model.Server(nil), c.Servers...)
	for i := range out.Servers {
		out.Servers[i].Locations = append([]model.Location(nil), c.Servers[i].Locations...)
		out.Servers[i].Aliases = append([]string(nil), c.Servers[i].Aliases...)
	}
	out.DefaultServer.Locations = append([]model.Location(nil), c.DefaultServer.Locations...)
	return &out
}

func TestPrepareRendersAnyGeneration(t *testing.T) {
	whole := wholeTemplate(t)
	r, err := render.New("")
	require.NoError(t, err)
	c := goldenCases(t)[0]
	out, err := r.Prepare(c.cfg)
	require.NoError(t, err)
	for _, gen := range []uint64{0, 1, 42, 1 << 40, ^uint64(0)} {
		want, err := whole.Render(c.cfg, gen)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(out.Render(gen)))
	}
	h, _, err := r.Hash(c.cfg)
	require.NoError(t, err)
	assert.Equal(t, h, out.Hash())
}

func TestCacheConcurrentUse(t *testing.T) {
	r, err := render.New("")
	require.NoError(t, err)
	cases := goldenCases(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, c := range cases {
				got, err := r.Render(c.cfg, 1)
				if assert.NoError(t, err) {
					assert.Equal(t, string(c.conf), string(got), c.name)
				}
			}
		})
	}
	wg.Wait()
}

func TestServerTemplateNeedsServerBlocks(t *testing.T) {
	_, err := render.New(`{{ define "server" }}x{{ end }}`)
	assert.ErrorContains(t, err, `"default-server"`)
	r, err := render.New(`{{ .Generation }}{{ define "server" }}x{{ end }}{{ define "default-server" }}d{{ end }}`)
	require.NoError(t, err)
	_, err = r.Render(&model.Config{}, 1)
	assert.ErrorContains(t, err, "ServerBlocks")
	r, err = render.New(`# {{ .Generation }}{{ .ServerBlocks }}{{ define "server" }}s{{ end }}{{ define "default-server" }}d{{ end }}`)
	require.NoError(t, err)
	got, err := r.Render(&model.Config{Servers: []model.Server{{}, {}}}, 5)
	require.NoError(t, err)
	assert.Equal(t, "# 5dss", string(got))
}
