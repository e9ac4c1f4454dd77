package manifests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shellBlock matches a ```sh block of a Markdown file.
var shellBlock = regexp.MustCompile("(?s)```sh\n(.*?)```")

// TestDocsAtomicWriteExamples runs the shell examples of docs/manifests.md,
// so the way the docs tell operators to write manifests keeps working: the
// first replaces one file, the second swaps a whole directory.
func TestDocsAtomicWriteExamples(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not found")
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "manifests.md"))
	require.NoError(t, err)
	blocks := shellBlock.FindAllStringSubmatch(string(doc), -1)
	require.Len(t, blocks, 2, "docs/manifests.md has the file and the directory example")
	run := func(t *testing.T, script string, env ...string) {
		t.Helper()
		cmd := exec.Command(bash, "-euo", "pipefail", "-c", script)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	greeting := func(t *testing.T, src *Source) string {
		t.Helper()
		snap, problems := src.Load()
		require.Empty(t, problems)
		require.Len(t, snap.ConfigMaps, 1)
		return snap.ConfigMaps[0].Data["greeting"]
	}

	t.Run("one file", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "cafe.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cafe-settings\ndata:\n  greeting: old\n")
		src := New(dir, nil)
		require.Equal(t, "old", greeting(t, src))
		run(t, blocks[0][1], "DIR="+dir)
		assert.Equal(t, "hello", greeting(t, src))
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, entries, 1, "no temporary file is left behind")
		fi, err := entries[0].Info()
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
	})

	t.Run("whole directory", func(t *testing.T) {
		base := t.TempDir()
		first := filepath.Join(base, "release.first")
		writeFile(t, first, "cafe.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cafe-settings\ndata:\n  greeting: old\n")
		require.NoError(t, os.Symlink(first, filepath.Join(base, "current")))
		src := New(filepath.Join(base, "current"), nil)
		require.Equal(t, "old", greeting(t, src))
		run(t, blocks[1][1], "BASE="+base)
		assert.Equal(t, "hello again", greeting(t, src))
		_, err := os.Lstat(filepath.Join(base, ".current.tmp"))
		assert.ErrorIs(t, err, os.ErrNotExist, "the temporary link was renamed")
	})
}
