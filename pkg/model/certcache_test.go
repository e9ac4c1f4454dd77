package model_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
)

// TestKeyPairCacheKeepsBuildPure builds every fixture without the cache and
// twice with one shared cache (cold, then warm after other fixtures): the
// configs and findings must be the same.
func TestKeyPairCacheKeepsBuildPure(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	require.NoError(t, err)
	cache := model.NewKeyPairCache()
	for round := range 2 {
		for _, file := range files {
			if strings.HasSuffix(file, ".expect.yaml") {
				continue
			}
			snap := loadSnapshot(t, file)
			want, wantFindings := model.Build(snap, testOptions())
			opts := testOptions()
			opts.KeyPairs = cache
			got, gotFindings := model.Build(snap, opts)
			assert.Equal(t, want, got, "%s, round %d", file, round)
			assert.Equal(t, wantFindings, gotFindings, "%s, round %d", file, round)
		}
	}
	// Only the key pairs the last build checked stay.
	snap := loadSnapshot(t, "testdata/tls.yaml")
	opts := testOptions()
	opts.KeyPairs = cache
	model.Build(snap, opts)
	assert.NotZero(t, cache.Len())
	assert.LessOrEqual(t, cache.Len(), len(snap.Secrets))
}
