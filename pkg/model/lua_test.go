package model_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// routeOf returns the route of the location host+match ("= /x", " /x/").
func routeOf(t *testing.T, cfg *model.Config, host, modifier, path string) (model.Location, model.Route) {
	t.Helper()
	srv := findServer(cfg, host)
	require.NotNil(t, srv, host)
	for _, l := range srv.Locations {
		if l.Modifier == modifier && l.Path == path {
			require.NotEmpty(t, l.Route, "location %s %s %s has no route", host, modifier, path)
			r, ok := cfg.Routes[l.Route]
			require.True(t, ok, "route %s of %s %s is not in Config.Routes", l.Route, host, path)
			return l, r
		}
	}
	t.Fatalf("no location %q %q on %s", modifier, path, host)
	return model.Location{}, model.Route{}
}

func TestLuaRoutesCarryPolicies(t *testing.T) {
	snap, err := fixture.LoadFile("testdata/annotations-balance.yaml")
	require.NoError(t, err)
	cfg, _ := model.Build(snap, testOptions())

	tests := []struct {
		host, modifier, path string
		want                 model.Route
	}{
		{"plain.example.com", "", "/", model.Route{Backend: "default.app.80"}},
		{"least.example.com", "", "/", model.Route{Backend: "default.app.80", Balance: "least_conn"}},
		{"ewma.example.com", "", "/", model.Route{Backend: "default.app.80", Balance: "ewma"}},
		{"sticky.example.com", "", "/", model.Route{Backend: "default.app.80", HashBy: "$request_uri"}},
		// The cookie is scoped to the Ingress path on both locations of a Prefix rule.
		{"cookie.example.com", "=", "/shop", model.Route{Backend: "default.app.80", Affinity: &model.RouteAffinity{
			Mode: "persistent", Name: "route", Path: "/shop", MaxAge: 3600, SameSite: "Lax"}}},
		{"cookie.example.com", "", "/shop/", model.Route{Backend: "default.app.80", Affinity: &model.RouteAffinity{
			Mode: "persistent", Name: "route", Path: "/shop", MaxAge: 3600, SameSite: "Lax"}}},
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.path, func(t *testing.T) {
			loc, route := routeOf(t, cfg, tt.host, tt.modifier, tt.path)
			assert.Equal(t, tt.want, route)
			assert.Equal(t, "http://portico_balancer", loc.Action.ProxyPass, "every method shares the one balancer upstream")
		})
	}
	// One pool per Service port, whatever the methods: no variants.
	require.Len(t, cfg.Upstreams, 1)
	assert.Equal(t, "default.app.80", cfg.Upstreams[0].Name)
}

func TestLuaRouteIDsDependOnlyOnHostAndMatch(t *testing.T) {
	snap, err := fixture.LoadFile("testdata/annotations-balance.yaml")
	require.NoError(t, err)
	opts := testOptions()
	before, _ := model.Build(snap, opts)

	// Switch an Ingress to ewma and drop all endpoints: the pushed data
	// changes, what the template prints of each location does not.
	for _, ing := range snap.Ingresses {
		if ing.Name == "plain" {
			ing.Annotations = map[string]string{"nginx.ingress.kubernetes.io/load-balance": "ewma"}
		}
	}
	snap.EndpointSlices = nil
	after, _ := model.Build(snap, opts)

	assert.Equal(t, printed(before), printed(after))
	assert.NotEqual(t, before.Dynamic(), after.Dynamic())
	for _, u := range after.Upstreams {
		assert.Empty(t, u.Endpoints, "pools stay, empty, so that endpoints coming back need no reload")
	}
	d, err := json.Marshal(after.Dynamic())
	require.NoError(t, err)
	assert.Contains(t, string(d), `"backends":{"default.app.80":[]}`)
}

// printed lists, per location, the fields the template prints for proxying.
func printed(cfg *model.Config) []string {
	var out []string
	for _, s := range cfg.Servers {
		for _, l := range s.Locations {
			out = append(out, s.Name+" "+l.Modifier+" "+l.Path+" "+l.Route+" "+l.Action.ProxyPass)
		}
	}
	return out
}

func TestCanaryAttachesToMainRoutes(t *testing.T) {
	snap, err := fixture.LoadFile("testdata/annotations-canary.yaml")
	require.NoError(t, err)
	cfg, _ := model.Build(snap, testOptions())

	want := &model.RouteCanary{Backend: "default.app-v2.80", Source: "default/canary", Weight: 20, WeightTotal: 100,
		Header: "X-Canary", Cookie: "canary"}
	_, root := routeOf(t, cfg, "shop.example.com", "", "/")
	assert.Equal(t, want, root.Canary)
	_, api := routeOf(t, cfg, "shop.example.com", "", "/api/")
	assert.Nil(t, api.Canary, "the too-heavy canary is refused, and the canary Ingress does not name /api")
	assert.Equal(t, "default.app.80", api.Backend)

	// Both Ingresses are served (status goes to both); the canary's pool is pushed.
	names := []string{}
	for _, ref := range cfg.Ingresses {
		names = append(names, ref.Name)
	}
	assert.ElementsMatch(t, []string{"main", "canary", "too-heavy"}, names)
	assert.Contains(t, cfg.Dynamic().Backends, "default.app-v2.80")
}

func TestUpstreamsBalancerReportsLuaOnlyPolicies(t *testing.T) {
	for _, file := range []string{"testdata/annotations-balance.yaml", "testdata/annotations-canary.yaml"} {
		snap, err := fixture.LoadFile(file)
		require.NoError(t, err)
		opts := testOptions()
		opts.Global.Balancer = model.BalancerUpstreams
		cfg, findings := model.Build(snap, opts)
		assert.Empty(t, cfg.Routes, file)
		var ineffective []string
		for _, f := range findings {
			if f.Reason == model.ReasonIneffectiveAnnotation {
				ineffective = append(ineffective, f.Object.Name+": "+f.Message)
			}
		}
		switch file {
		case "testdata/annotations-balance.yaml":
			assert.Len(t, ineffective, 2, "ewma and affinity: %v", ineffective)
		default:
			assert.Len(t, ineffective, 2, "both canaries: %v", ineffective)
		}
	}
}

func TestLuaFallbackToDefaultBackend(t *testing.T) {
	snap, err := fixture.LoadFile("testdata/annotations-default-backend.yaml")
	require.NoError(t, err)
	cfg, _ := model.Build(snap, testOptions())
	var fallbacks int
	for _, r := range cfg.Routes {
		if r.Fallback != "" {
			fallbacks++
			assert.NotEqual(t, r.Backend, r.Fallback)
		}
	}
	assert.Positive(t, fallbacks, "a Service without endpoints keeps its route and falls back to the default backend in Lua")
}
