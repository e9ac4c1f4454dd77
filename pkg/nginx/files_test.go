package nginx

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRemoveStaleTemps checks that the candidates a killed run left next to
// nginx.conf are removed at start, and nothing else is.
func TestRemoveStaleTemps(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		stale  bool
		subdir bool // a directory of that name, not a file
	}{
		{name: "candidate", file: ".nginx.conf.7.tmp", stale: true},
		{name: "copy for nginx -t", file: ".nginx.conf.12.check", stale: true},
		{name: "the live file", file: "nginx.conf"},
		{name: "another file's temp", file: ".other.conf.7.tmp"},
		{name: "no generation", file: ".nginx.conf..tmp"},
		{name: "not a number", file: ".nginx.conf.abc.tmp"},
		{name: "another suffix", file: ".nginx.conf.7.bak"},
		{name: "user file", file: "nginx.conf.7.tmp"},
		{name: "a directory of the pattern", file: ".nginx.conf.8.tmp", subdir: true},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		p := filepath.Join(dir, tt.file)
		if tt.subdir {
			require.NoError(t, os.Mkdir(p, 0o700))
			continue
		}
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o600))
	}
	// Temps in a subdirectory (certs) are not this function's business.
	require.NoError(t, os.Mkdir(filepath.Join(dir, "certs"), 0o700))
	nested := filepath.Join(dir, "certs", ".nginx.conf.9.tmp")
	require.NoError(t, os.WriteFile(nested, nil, 0o600))

	d := NewDriver(Options{ConfigPath: filepath.Join(dir, "nginx.conf")}, nil)
	removed, err := d.RemoveStaleTemps()
	require.NoError(t, err)
	slices.Sort(removed)
	assert.Equal(t, []string{filepath.Join(dir, ".nginx.conf.12.check"), filepath.Join(dir, ".nginx.conf.7.tmp")}, removed)
	for _, tt := range tests {
		_, err := os.Stat(filepath.Join(dir, tt.file))
		if tt.stale {
			assert.ErrorIs(t, err, os.ErrNotExist, tt.name)
		} else {
			assert.NoError(t, err, tt.name)
		}
	}
	_, err = os.Stat(nested)
	assert.NoError(t, err)

	removed, err = d.RemoveStaleTemps()
	require.NoError(t, err)
	assert.Empty(t, removed, "nothing left on a second run")

	gone := NewDriver(Options{ConfigPath: filepath.Join(dir, "missing", "nginx.conf")}, nil)
	removed, err = gone.RemoveStaleTemps()
	require.NoError(t, err, "a config dir not created yet is not an error")
	assert.Empty(t, removed)
}
