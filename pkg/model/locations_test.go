package model

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLocationSetMatchesMap drives a locationSet and a plain map with the
// same random puts, replacements and rekeys, across the size where the set
// starts keeping an index, and requires that both always agree.
func TestLocationSetMatchesMap(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed))
		var ls locationSet
		want := map[locKey]Location{}
		wantPolicy := map[locKey]located{}
		modifiers := []string{"", "=", "~", "~*"}
		for step := range 3 * indexFrom {
			k := locKey{modifier: modifiers[rng.IntN(len(modifiers))], path: fmt.Sprintf("/p%d", rng.IntN(2*indexFrom))}
			if rng.IntN(5) == 0 && len(ls.list) > 0 {
				// rekey the i-th location to a free key, as prefixesToRegex does
				i := rng.IntN(len(ls.list))
				old := keyOf(&ls.list[i])
				nk := locKey{modifier: "~", path: fmt.Sprintf("^/r%d", step)}
				ls.rekey(i, nk)
				l, p := want[old], wantPolicy[old]
				delete(want, old)
				delete(wantPolicy, old)
				l.Modifier, l.Path = nk.modifier, nk.path
				want[nk], wantPolicy[nk] = l, p
				continue
			}
			l := Location{Modifier: k.modifier, Path: k.path, Source: fmt.Sprintf("step %d", step)}
			p := located{forceSSLRedirect: step%2 == 0}
			ls.put(l, p)
			want[k], wantPolicy[k] = l, p
			require.Len(t, ls.list, len(want), "seed %d step %d", seed, step)
			for wk, wl := range want {
				got, ok := ls.get(wk)
				require.True(t, ok, "seed %d step %d: %v missing", seed, step, wk)
				assert.Equal(t, wl, *got, "seed %d step %d", seed, step)
				assert.Equal(t, wantPolicy[wk], ls.policies[ls.find(wk)], "seed %d step %d", seed, step)
			}
			assert.False(t, ls.has(locKey{modifier: "=", path: "/never"}))
		}
		assert.NotNil(t, ls.index, "seed %d: more than %d locations and no index", seed, indexFrom)
		list, policies := ls.take()
		assert.Len(t, list, len(want))
		assert.Len(t, policies, len(want))
		assert.Empty(t, ls.list, "take empties the set")
		assert.False(t, ls.has(keyOf(&list[0])), "take empties the index")
	}
}
