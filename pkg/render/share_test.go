package render_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/render"
)

// TestSharedHostsPrintAlike checks the claim sharing rests on: hosts whose
// model.Shape is equal would print the same server block but for their
// names, their locations' sources and their route IDs. Each such host of
// every fixture is printed alone, one block per host, with those three made
// equal; any field model.Shape clears that the template does print makes
// the blocks differ. Shapes are compared with reflect.DeepEqual here, not
// with the renderer's keys, and printed by the whole template: the cache
// keys rest on model.Shape and would hide what this looks for.
func TestSharedHostsPrintAlike(t *testing.T) {
	whole := wholeTemplate(t)
	groups := 0
	for _, c := range goldenCases(t) {
		type shapeGroup struct {
			shape   model.Server
			members []model.Server
		}
		var byShape []shapeGroup
		for _, s := range c.cfg.Servers {
			if !model.Shareable(&s) {
				continue
			}
			shape := model.Shape(&s)
			i := slices.IndexFunc(byShape, func(g shapeGroup) bool { return reflect.DeepEqual(g.shape, shape) })
			if i < 0 {
				i = len(byShape)
				byShape = append(byShape, shapeGroup{shape: shape})
			}
			byShape[i].members = append(byShape[i].members, s)
		}
		for _, g := range byShape {
			members := g.members
			if len(members) < 2 {
				continue
			}
			groups++
			var first string
			for _, m := range members {
				text := printAlone(t, whole, c.cfg, m)
				if first == "" {
					first = text
					continue
				}
				assert.Equal(t, first, text, "%s: %s prints differently from %s", c.name, m.Name, members[0].Name)
			}
		}
	}
	assert.Positive(t, groups, "some fixture has hosts that share a block")
}

// printAlone prints cfg with srv, made any host, as its only server.
func printAlone(t *testing.T, whole *render.Renderer, cfg *model.Config, srv model.Server) string {
	t.Helper()
	alone := *cfg
	alone.Servers = []model.Server{asAnyHost(srv)}
	text, err := whole.Render(&alone, 1)
	require.NoError(t, err)
	return string(text)
}

// asAnyHost gives s the name, sources, per-location variables and route
// IDs every host gets here.
func asAnyHost(s model.Server) model.Server {
	s.Name, s.ServerName = "any.example", "any.example"
	s.Locations = append([]model.Location(nil), s.Locations...)
	for i := range s.Locations {
		s.Locations[i].Source = ""
		if s.Locations[i].Vars != nil {
			s.Locations[i].Vars = &model.LocationVars{Namespace: "ns", Ingress: "any"}
		}
		if s.Locations[i].Route != "" {
			s.Locations[i].Route = "rany"
		}
	}
	s.ErrorLocations = append([]model.ErrorLocation(nil), s.ErrorLocations...)
	for i := range s.ErrorLocations {
		if s.ErrorLocations[i].Route != "" {
			s.ErrorLocations[i].Route = "rany"
		}
	}
	return s
}

// TestShapeKeepsWhatIsPrinted changes one field at a time, anywhere in each
// shareable server of every fixture, and checks that a change model.Shape
// does not see (the shapes stay equal) is not printed either: the field
// must be one a shared block takes from elsewhere. Fixtures alone rarely
// hold two hosts that differ in just one field. Printed by the whole
// template, without the cache, whose keys rest on model.Shape.
func TestShapeKeepsWhatIsPrinted(t *testing.T) {
	whole := wholeTemplate(t)
	hidden := 0
	for _, c := range goldenCases(t) {
		for _, s := range c.cfg.Servers {
			if !model.Shareable(&s) {
				continue
			}
			want := printAlone(t, whole, c.cfg, s)
			shape := model.Shape(&s)
			for k := 0; ; k++ {
				n := 0
				v := reflect.New(reflect.TypeOf(s)).Elem()
				copyChanging(v, reflect.ValueOf(s), k, &n)
				if n <= k {
					break // k is past the last field
				}
				changed := v.Interface().(model.Server)
				if !model.Shareable(&changed) {
					continue
				}
				if cs := model.Shape(&changed); reflect.DeepEqual(shape, cs) {
					hidden++
					assert.Equal(t, want, printAlone(t, whole, c.cfg, changed), "%s: %s: change %d is hidden from Shape but printed", c.name, s.Name, k)
				}
			}
		}
	}
	assert.Positive(t, hidden, "some changes are hidden from Shape (names, routes, sources, balancer data)")
}

// copyChanging deep-copies src into dst, changing the k-th leaf value (a
// string, number or bool; *n counts the leaves seen) on the way.
func copyChanging(dst, src reflect.Value, k int, n *int) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.New(src.Type().Elem()))
		copyChanging(dst.Elem(), src.Elem(), k, n)
	case reflect.Struct:
		for i := range src.NumField() {
			if dst.Field(i).CanSet() {
				copyChanging(dst.Field(i), src.Field(i), k, n)
			}
		}
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.MakeSlice(src.Type(), src.Len(), src.Len()))
		for i := range src.Len() {
			copyChanging(dst.Index(i), src.Index(i), k, n)
		}
	case reflect.Map:
		dst.Set(src) // no maps in servers today; shared, not changed
	case reflect.String:
		dst.SetString(src.String())
		if *n == k {
			dst.SetString(src.String() + "x")
		}
		*n++
	case reflect.Bool:
		dst.SetBool(src.Bool() != (*n == k))
		*n++
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		dst.SetInt(src.Int())
		if *n == k {
			dst.SetInt(src.Int() + 1)
		}
		*n++
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		dst.SetUint(src.Uint())
		if *n == k {
			dst.SetUint(src.Uint() + 1)
		}
		*n++
	default:
		dst.Set(src)
	}
}
