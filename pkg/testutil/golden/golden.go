// Package golden compares generated text with a file checked into the
// repository, rewriting the file when the test runs with its update flag.
package golden

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Check writes got to path when update is set, then asserts the file holds
// exactly got. hint tells the reader how to refresh the file.
func Check(t testing.TB, path, got string, update bool, hint string) {
	t.Helper()
	if update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, hint)
	assert.Equal(t, string(want), got, "%s is stale: %s", path, hint)
}
