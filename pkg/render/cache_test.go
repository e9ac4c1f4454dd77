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

// patchedTemplate is the default template with each old string of pairs
// (old, new, old, new, ...), which must appear exactly once, replaced.
func patchedTemplate(t *testing.T, pairs ...string) *render.Renderer {
	t.Helper()
	require.Zero(t, len(pairs)%2, "pairs of old and new strings")
	text := templates.NginxTemplate
	for i := 0; i < len(pairs); i += 2 {
		require.Equal(t, 1, strings.Count(text, pairs[i]), pairs[i])
		text = strings.Replace(text, pairs[i], pairs[i+1], 1)
	}
	r, err := render.New(text)
	require.NoError(t, err)
	return r
}

// wholeTemplate is the default template with its server blocks printed by
// a plain range loop, and without a "server" definition, so the renderer
// executes it at once, without its cache: the reference output.
func wholeTemplate(t *testing.T) *render.Renderer {
	t.Helper()
	loop := `{{- template "whole-default-server" (dict "Global" .Config.Global "Server" .Config.DefaultServer "Check" .Check) }}
{{- range .Config.Servers }}{{ template "whole-server" (dict "Global" $.Config.Global "Server" . "RouteMaps" list "Check" $.Check) }}{{ end }}`
	return patchedTemplate(t,
		"{{- .ServerBlocks }}", loop,
		`{{- define "default-server" }}`, `{{- define "whole-default-server" }}`,
		`{{- define "server" }}`, `{{- define "whole-server" }}`)
}

// unsharedTemplate is the default template without its "route-maps"
// definition, under which name the renderer shares server blocks: it prints
// one block per host, as the whole template does, but through the cache.
func unsharedTemplate(t *testing.T) *render.Renderer {
	t.Helper()
	return patchedTemplate(t,
		`{{- define "route-maps" }}`, `{{- define "route-maps-off" }}`,
		`{{- template "route-maps" .RouteMaps }}`, `{{- template "route-maps-off" .RouteMaps }}`)
}

// coldRender renders cfg with a new renderer: an empty cache.
func coldRender(t *testing.T, cfg *model.Config, gen uint64) string {
	t.Helper()
	r, err := render.New("")
	require.NoError(t, err)
	out, err := r.Render(cfg, gen)
	require.NoError(t, err)
	return string(out)
}

// TestCachedEqualsWhole renders every fixture through one renderer, so that
// its cache holds the blocks of the config before, and compares with the
// whole-template output, twice (cold and warm).
func TestCachedEqualsWhole(t *testing.T) {
	whole := wholeTemplate(t)
	unshared := unsharedTemplate(t)
	r, err := render.New("")
	require.NoError(t, err)
	for _, c := range goldenCases(t) {
		want, err := whole.Render(c.cfg, 7)
		require.NoError(t, err)
		// With shared blocks there is no whole-template reference; an
		// empty cache is the reference for a warm one.
		cold := coldRender(t, c.cfg, 7)
		for range 2 {
			got, err := unshared.Render(c.cfg, 7)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got), c.name)
			got, err = r.Render(c.cfg, 7)
			require.NoError(t, err)
			assert.Equal(t, cold, string(got), c.name)
		}
	}
}

func TestCacheSeesChanges(t *testing.T) {
	whole := wholeTemplate(t)
	unshared := unsharedTemplate(t)
	r, err := render.New("")
	require.NoError(t, err)
	// tls has a block per host; in annotations-balance hosts share one.
	bases := map[string]*model.Config{}
	for _, c := range goldenCases(t) {
		if c.name == "tls" || c.name == "annotations-balance" {
			bases[c.name] = c.cfg
		}
	}
	require.Len(t, bases, 2)
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
		"source":        func(c *model.Config) { c.Servers[0].Locations[0].Source = "changed/source" },
		// The route of a host in a shared block is in the block's maps.
		"route": func(c *model.Config) { c.Servers[len(c.Servers)-1].Locations[0].Route = "rchanged" },
	}
	for fixture, base := range bases {
		wantBase, err := whole.Render(base, 3)
		require.NoError(t, err)
		for what, change := range changes {
			name := fixture + ": " + what
			cfg := cloneConfig(base)
			change(cfg)
			// Warm the caches with the base first.
			_, err := r.Render(base, 3)
			require.NoError(t, err)
			_, err = unshared.Render(base, 3)
			require.NoError(t, err)
			want, err := whole.Render(cfg, 3)
			require.NoError(t, err)
			got, err := unshared.Render(cfg, 3)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got), name)
			got, err = r.Render(cfg, 3)
			require.NoError(t, err)
			assert.Equal(t, coldRender(t, cfg, 3), string(got), name)
			// Some changes do nothing to some fixtures (HSTS without TLS).
			baseHash, _, err := r.Hash(base)
			require.NoError(t, err)
			gotHash, _, err := r.Hash(cfg)
			require.NoError(t, err)
			assert.Equal(t, string(want) == string(wantBase), gotHash == baseHash, "%s: the hash must change exactly when the config does", name)
			if fixture == "tls" {
				assert.Equal(t, what == "none", string(want) == string(wantBase), "%s: only none changes nothing", name)
			}
		}
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
	r := unsharedTemplate(t)
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
