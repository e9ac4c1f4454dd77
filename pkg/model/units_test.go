package model_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// unitCase is a fixture with its options. Each fixture also comes without
// the Ingresses that make a snapshot build whole (model/units.go), so that
// the unit path runs on every feature the fixtures have.
type unitCase struct {
	name string
	snap *snapshot.Snapshot
	opts model.Options
}

func unitCases(t testing.TB) []unitCase {
	t.Helper()
	files, err := filepath.Glob("testdata/*.expect.yaml")
	require.NoError(t, err)
	var out []unitCase
	for _, expectFile := range files {
		name := strings.TrimSuffix(filepath.Base(expectFile), ".expect.yaml")
		exp := loadExpectation(t, expectFile)
		snap := loadSnapshot(t, filepath.Join("testdata", name+".yaml"))
		out = append(out, unitCase{name, snap, exp.options()})
		local := *snap
		local.Ingresses = slices.DeleteFunc(slices.Clone(snap.Ingresses), func(ing *networkingv1.Ingress) bool {
			return !hostLocal(ing)
		})
		out = append(out, unitCase{name + " (host-local)", &local, exp.options()})
	}
	out = append(out, unitCase{"synthetic", fixture.Synthetic(200), testOptions()})
	return out
}

// hostLocal mirrors the rule of model/units.go, to make snapshots the unit
// path takes; the test checks that it does take them.
func hostLocal(ing *networkingv1.Ingress) bool {
	if ing.Spec.DefaultBackend != nil {
		return false
	}
	for _, r := range ing.Spec.Rules {
		if r.Host == "" {
			return false
		}
	}
	for k := range ing.Annotations {
		if strings.HasSuffix(k, "/server-alias") || strings.HasSuffix(k, "/from-to-www-redirect") {
			return false
		}
	}
	return true
}

// requireSameBuild builds snap whole and with the cache, and requires the
// same Config and findings. It reports whether the cache holds units
// afterwards (the unit path ran).
func requireSameBuild(t *testing.T, what string, snap *snapshot.Snapshot, opts model.Options, cache *model.UnitCache) bool {
	t.Helper()
	want, wantFindings := model.Build(snap, opts)
	opts.Units = cache
	got, gotFindings := model.Build(snap, opts)
	require.Equal(t, want, got, "%s: the config built by units differs from the whole build", what)
	require.Equal(t, wantFindings, gotFindings, "%s: the findings differ", what)
	return cache.Len() > 0
}

// TestUnitsEqualWhole is the property the unit path rests on: for every
// fixture, and after every one of a series of random changes (Ingresses
// edited, added and deleted, Services replaced or removed, EndpointSlices
// and Secrets removed), a build that reuses the units of the builds before
// it gives exactly what a build from scratch gives.
func TestUnitsEqualWhole(t *testing.T) {
	unitPath := 0
	for _, c := range unitCases(t) {
		t.Run(c.name, func(t *testing.T) {
			cache := model.NewUnitCache()
			if requireSameBuild(t, "first build", c.snap, c.opts, cache) {
				unitPath++
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(c.name))))
			snap := c.snap
			for step := range 40 {
				var what string
				snap, what = randomChange(rng, snap, step)
				requireSameBuild(t, fmt.Sprintf("step %d: %s", step, what), snap, c.opts, cache)
			}
		})
	}
	assert.Greater(t, unitPath, 10, "the unit path runs on most host-local fixtures")
}

// randomChange returns a copy of snap with one change; objects are
// replaced, never modified, as sources do.
func randomChange(rng *rand.Rand, snap *snapshot.Snapshot, step int) (*snapshot.Snapshot, string) {
	next := *snap
	next.Ingresses = slices.Clone(snap.Ingresses)
	next.Services = slices.Clone(snap.Services)
	next.EndpointSlices = slices.Clone(snap.EndpointSlices)
	next.Secrets = slices.Clone(snap.Secrets)
	pick := func(n int) int { return rng.IntN(max(n, 1)) }
	switch k := rng.IntN(10); {
	case k < 3 && len(next.Ingresses) > 0: // edit an Ingress: a new path on its first rule with paths
		i := pick(len(next.Ingresses))
		ing := next.Ingresses[i].DeepCopy()
		for r := range ing.Spec.Rules {
			if h := ing.Spec.Rules[r].HTTP; h != nil && len(h.Paths) > 0 {
				exact := networkingv1.PathTypeExact
				h.Paths = append(h.Paths, networkingv1.HTTPIngressPath{Path: fmt.Sprintf("/step-%d", step), PathType: &exact, Backend: h.Paths[0].Backend})
				break
			}
		}
		next.Ingresses[i] = ing
		return &next, "edit Ingress " + ing.Name
	case k == 3 && len(next.Ingresses) > 0:
		i := pick(len(next.Ingresses))
		name := next.Ingresses[i].Name
		next.Ingresses = slices.Delete(next.Ingresses, i, i+1)
		return &next, "delete Ingress " + name
	case k == 4 && len(snap.Ingresses) > 0: // a copy of an Ingress under a new name and hosts
		ing := snap.Ingresses[pick(len(snap.Ingresses))].DeepCopy()
		ing.Name = fmt.Sprintf("%s-copy-%d", ing.Name, step)
		for r := range ing.Spec.Rules {
			if h := ing.Spec.Rules[r].Host; h != "" {
				ing.Spec.Rules[r].Host = fmt.Sprintf("copy-%d.%s", step, strings.TrimPrefix(h, "*."))
			}
		}
		next.Ingresses = append(next.Ingresses, ing)
		return &next, "add Ingress " + ing.Name
	case k == 5 && len(next.Services) > 0: // the same Service, a new object
		i := pick(len(next.Services))
		next.Services[i] = next.Services[i].DeepCopy()
		return &next, "replace Service " + next.Services[i].Name
	case k == 6 && len(next.Services) > 0:
		i := pick(len(next.Services))
		name := next.Services[i].Name
		next.Services = slices.Delete(next.Services, i, i+1)
		return &next, "delete Service " + name
	case k == 7 && len(next.EndpointSlices) > 0:
		i := pick(len(next.EndpointSlices))
		name := next.EndpointSlices[i].Name
		next.EndpointSlices = slices.Delete(next.EndpointSlices, i, i+1)
		return &next, "delete EndpointSlice " + name
	case k == 8 && len(next.Secrets) > 0:
		i := pick(len(next.Secrets))
		name := next.Secrets[i].Name
		next.Secrets = slices.Delete(next.Secrets, i, i+1)
		return &next, "delete Secret " + name
	case k == 9: // the resolver's answers for an ExternalName change: a new map, as the controller hands it
		var names []string
		for _, svc := range snap.Services {
			if n := strings.ToLower(strings.TrimSuffix(svc.Spec.ExternalName, ".")); n != "" {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			break
		}
		slices.Sort(names)
		name := names[pick(len(names))]
		next.Resolved = maps.Clone(snap.Resolved)
		if next.Resolved == nil {
			next.Resolved = map[string][]netip.Addr{}
		}
		switch rng.IntN(3) {
		case 0:
			delete(next.Resolved, name)
		case 1:
			next.Resolved[name] = []netip.Addr{netip.AddrFrom4([4]byte{198, 18, 9, byte(step)})}
		default: // rebinding to loopback, beside a good answer
			next.Resolved[name] = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.AddrFrom4([4]byte{198, 18, 9, byte(step)})}
		}
		return &next, "new answers for " + name
	}
	return &next, "no change"
}

// TestUnitsAfterWholeBuild: units cached by one build must not be trusted
// after a build that fell back to a whole build while the other objects
// changed (here a Service the units read is deleted in that build).
func TestUnitsAfterWholeBuild(t *testing.T) {
	opts := testOptions()
	base := fixture.Synthetic(20)
	cache := model.NewUnitCache()
	require.True(t, requireSameBuild(t, "host-local", base, opts, cache))
	assert.Equal(t, model.BuildStats{Units: 20, Translated: 20}, cache.LastBuild())
	requireSameBuild(t, "the same snapshot", base, opts, cache)
	assert.Equal(t, model.BuildStats{Units: 20, Patched: true}, cache.LastBuild(), "nothing translated, the last config patched")

	// A host-less Ingress makes the snapshot build whole.
	wide := *base
	hostless := base.Ingresses[0].DeepCopy()
	hostless.Name = "host-less"
	hostless.Spec.Rules[0].Host = ""
	wide.Ingresses = append(slices.Clone(base.Ingresses), hostless)
	wide.Services = slices.Clone(base.Services[1:])
	requireSameBuild(t, "with a host-less Ingress, one Service fewer", &wide, opts, cache)
	assert.True(t, cache.LastBuild().Whole)

	// The same objects again, without the host-less Ingress: by units.
	narrow := wide
	narrow.Ingresses = base.Ingresses
	requireSameBuild(t, "host-local again", &narrow, opts, cache)
}

// TestUnitsAfterNewAnswers: units cached by one build must not be trusted
// after the DNS answers they read changed, even when the build with the
// new answers went whole and the next one has the same objects again.
func TestUnitsAfterNewAnswers(t *testing.T) {
	exp := loadExpectation(t, "testdata/externalname-refused.expect.yaml")
	opts := exp.options()
	base := loadSnapshot(t, "testdata/externalname-refused.yaml")
	cache := model.NewUnitCache()
	require.True(t, requireSameBuild(t, "host-local", base, opts, cache))
	requireSameBuild(t, "the same snapshot", base, opts, cache)
	assert.True(t, cache.LastBuild().Patched, "nothing changed: the last config patched")

	// New answers, and a host-less Ingress that makes the build whole.
	wide := *base
	wide.Resolved = maps.Clone(base.Resolved)
	wide.Resolved["good.example.net"] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	hostless := base.Ingresses[0].DeepCopy()
	hostless.Name = "host-less"
	hostless.Spec.Rules[0].Host = ""
	wide.Ingresses = append(slices.Clone(base.Ingresses), hostless)
	requireSameBuild(t, "new answers, with a host-less Ingress", &wide, opts, cache)
	assert.True(t, cache.LastBuild().Whole)

	// The same answers and objects, by units again: the units built with
	// the old answers are checked, not trusted.
	narrow := wide
	narrow.Ingresses = base.Ingresses
	requireSameBuild(t, "host-local again", &narrow, opts, cache)
	assert.False(t, cache.LastBuild().Whole)

	// Only the answers change: by units, the unit that read them again.
	again := narrow
	again.Resolved = maps.Clone(narrow.Resolved)
	again.Resolved["good.example.net"] = []netip.Addr{netip.MustParseAddr("198.18.6.9")}
	requireSameBuild(t, "new answers only", &again, opts, cache)
	assert.Equal(t, 1, cache.LastBuild().Translated, "only tenant-b's unit read good.example.net")
}

// FuzzUnitsEqualWhole is TestUnitsEqualWhole with the fixture, the random
// seed and the number of changes chosen by the fuzzer: more sequences of
// edits, additions and deletions than the test's fixed seeds.
func FuzzUnitsEqualWhole(f *testing.F) {
	cases := unitCases(f)
	f.Add(uint64(1), uint8(0), uint8(10))
	f.Add(uint64(7), uint8(len(cases)-1), uint8(31))
	f.Fuzz(func(t *testing.T, seed uint64, which, steps uint8) {
		c := cases[int(which)%len(cases)]
		cache := model.NewUnitCache()
		rng := rand.New(rand.NewPCG(seed, uint64(which)))
		snap := c.snap
		requireSameBuild(t, c.name+": first build", snap, c.opts, cache)
		for step := range int(steps % 32) {
			var what string
			snap, what = randomChange(rng, snap, step)
			requireSameBuild(t, fmt.Sprintf("%s: step %d: %s", c.name, step, what), snap, c.opts, cache)
		}
	})
}
