package manifests

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoadHoldsRemovals: a change that removes objects from the directory is
// what a non-atomic writer shows half way, so the removed objects stay until
// the change has lasted the settle window, while additions and changes go
// live at once. The clock is the test's, so nothing here depends on timing.
func TestLoadHoldsRemovals(t *testing.T) {
	const (
		a, b, c, d = "ConfigMap default/a", "ConfigMap default/b", "ConfigMap default/c", "ConfigMap default/d"
	)
	tests := []struct {
		name   string
		change func(t *testing.T, dir string)
		// during is what Load serves within the window, after once it is over.
		during, after []string
		// held lists the warnings that say what is held back (empty: nothing is).
		held []string
	}{
		{
			name:   "file emptied (what a shell > redirection does first)",
			change: func(t *testing.T, dir string) { writeFile(t, dir, "app.yaml", "") },
			during: []string{a, b, c}, after: []string{c},
			held: []string{"app.yaml: warning: the new version, applied, no longer holds ConfigMap default/a, ConfigMap default/b; they stay in use until the removal has lasted 1s, in case a writer is half way"},
		},
		{
			name:   "only a comment left",
			change: func(t *testing.T, dir string) { writeFile(t, dir, "app.yaml", "# nothing here yet\n") },
			during: []string{a, b, c}, after: []string{c},
			held: []string{"no longer holds ConfigMap default/a, ConfigMap default/b"},
		},
		{
			name:   "cut at a document boundary (a writer in two chunks)",
			change: func(t *testing.T, dir string) { writeFile(t, dir, "app.yaml", configMap("a", "2")+"---\n") },
			during: []string{a, b, c}, after: []string{a, c},
			held: []string{"no longer holds ConfigMap default/b; they stay"},
		},
		{
			name:   "file deleted",
			change: func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, "app.yaml"))) },
			during: []string{a, b, c}, after: []string{c},
			held: []string{"app.yaml: warning: the file is gone; its objects ConfigMap default/a, ConfigMap default/b stay in use until the removal has lasted 1s"},
		},
		{
			name: "directory replaced by an empty one",
			change: func(t *testing.T, dir string) {
				require.NoError(t, os.RemoveAll(dir))
				require.NoError(t, os.Mkdir(dir, 0o755))
			},
			during: []string{a, b, c}, after: nil,
			held: []string{"app.yaml: warning: the file is gone", "other.yaml: warning: the file is gone"},
		},
		{
			name: "object renamed: the new name at once, the old one after the window",
			change: func(t *testing.T, dir string) {
				writeFile(t, dir, "app.yaml", configMap("a", "1")+"---\n"+configMap("d", "1"))
			},
			during: []string{a, d, b, c}, after: []string{a, d, c},
			held: []string{"no longer holds ConfigMap default/b;"},
		},
		{
			name: "object moved to another file is not a removal",
			change: func(t *testing.T, dir string) {
				writeFile(t, dir, "app.yaml", configMap("a", "1"))
				writeFile(t, dir, "other.yaml", configMap("c", "1")+"---\n"+configMap("b", "1"))
			},
			during: []string{a, c, b}, after: []string{a, c, b},
		},
		{
			name: "object added",
			change: func(t *testing.T, dir string) {
				writeFile(t, dir, "app.yaml", configMap("a", "1")+"---\n"+configMap("b", "1")+"---\n"+configMap("d", "1"))
			},
			during: []string{a, b, d, c}, after: []string{a, b, d, c},
		},
		{
			name:   "object changed",
			change: func(t *testing.T, dir string) { writeFile(t, dir, "other.yaml", configMap("c", "2")) },
			during: []string{a, b, c}, after: []string{a, b, c},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "manifests")
			writeFile(t, dir, "app.yaml", configMap("a", "1")+"---\n"+configMap("b", "1"))
			writeFile(t, dir, "other.yaml", configMap("c", "1"))
			src, clock := newWithClock(dir)
			snap, problems := src.Load()
			require.Empty(t, problems)
			require.Equal(t, []string{a, b, c}, keys(snap))

			tt.change(t, dir)
			changedAt := clock.now()
			snap, problems = src.Load()
			assert.Equal(t, tt.during, keys(snap), "within the window")
			requireHeld(t, dir, tt.held, problems)
			if len(tt.held) > 0 {
				assert.Equal(t, changedAt.Add(DefaultSettle), src.recheckDue(), "Run is asked to call changed when the window is over")
			} else {
				assert.True(t, src.recheckDue().IsZero(), "nothing to recheck")
			}

			clock.advance(DefaultSettle - time.Nanosecond)
			snap, problems = src.Load()
			assert.Equal(t, tt.during, keys(snap), "at the last instant of the window")
			assert.Len(t, problems, len(tt.held))

			clock.advance(time.Nanosecond)
			snap, problems = src.Load()
			assert.Equal(t, tt.after, keys(snap), "once the change has lasted the window")
			assert.Empty(t, problems)
			assert.True(t, src.recheckDue().IsZero())
		})
	}
}

// requireHeld checks that problems are exactly the warnings in want, in
// order, each containing its text (file names relative to dir).
func requireHeld(t *testing.T, dir string, want []string, problems []Problem) {
	t.Helper()
	require.Len(t, problems, len(want), "problems: %v", problems)
	for i, w := range want {
		assert.Equal(t, SeverityWarning, problems[i].Severity)
		assert.Contains(t, problems[i].Error(), w)
		assert.Contains(t, problems[i].Error(), "write manifests atomically (docs/manifests.md)")
		_, err := filepath.Rel(dir, problems[i].File)
		assert.NoError(t, err)
	}
}

// TestLoadHeldChangeRestartsWhenTheFileChanges: the window counts from the
// last version seen, so a writer still at work is waited for, and a writer
// that finishes within the window removes nothing.
func TestLoadHeldChangeRestartsWhenTheFileChanges(t *testing.T) {
	const a, b, c = "ConfigMap default/a", "ConfigMap default/b", "ConfigMap default/c"
	tests := []struct {
		name string
		// second is what the writer writes 600ms after emptying the file.
		second string
		// due is when the removal (if any) is applied, after the emptying.
		due   time.Duration
		after []string
	}{
		{name: "rewritten in full", second: configMap("a", "2") + "---\n" + configMap("b", "2"), after: []string{a, b, c}},
		{name: "first chunk written", second: configMap("a", "2"), due: 1600 * time.Millisecond, after: []string{a, c}},
		{name: "emptied again (same content)", second: "", due: time.Second, after: []string{c}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "app.yaml", configMap("a", "1")+"---\n"+configMap("b", "1"))
			writeFile(t, dir, "other.yaml", configMap("c", "1"))
			src, clock := newWithClock(dir)
			start := clock.now()
			_, problems := src.Load()
			require.Empty(t, problems)

			writeFile(t, dir, "app.yaml", "")
			snap, problems := src.Load()
			require.Len(t, problems, 1)
			require.Equal(t, []string{a, b, c}, keys(snap))

			clock.advance(600 * time.Millisecond)
			writeFile(t, dir, "app.yaml", tt.second)
			snap, problems = src.Load()
			if tt.due == 0 {
				assert.Empty(t, problems, "the writer finished: nothing is removed")
				assert.Equal(t, tt.after, keys(snap))
				assert.Equal(t, "2", snap.ConfigMaps[0].Data["value"], "and its new content is served")
				assert.True(t, src.recheckDue().IsZero())
				return
			}
			assert.Equal(t, []string{a, b, c}, keys(snap))
			assert.Equal(t, start.Add(tt.due), src.recheckDue())

			clock.set(start.Add(tt.due - time.Nanosecond))
			snap, _ = src.Load()
			assert.Equal(t, []string{a, b, c}, keys(snap), "still within the window of the last version")
			clock.set(start.Add(tt.due))
			snap, problems = src.Load()
			assert.Empty(t, problems)
			assert.Equal(t, tt.after, keys(snap))
		})
	}
}

// TestLoadDirectorySwap replaces the whole directory the ways operators and
// tools do; the objects keep serving throughout, and the new directory's
// content is what is served afterwards.
func TestLoadDirectorySwap(t *testing.T) {
	const a, b, c = "ConfigMap default/a", "ConfigMap default/b", "ConfigMap default/c"
	// fill writes the new version of the directory: a changed, c added.
	fill := func(t *testing.T, dir string) {
		writeFile(t, dir, "app.yaml", configMap("a", "2"))
		writeFile(t, dir, "sub/b.yaml", configMap("b", "1"))
		writeFile(t, dir, "c.yaml", configMap("c", "1"))
	}
	tests := []struct {
		name    string
		symlink bool // the root is a symlink to the directory, as with a ConfigMap volume's ..data
		// remove takes the old directory away; swap puts the new one (at
		// next, already filled) in place.
		remove func(t *testing.T, root, old string)
		swap   func(t *testing.T, root, next string)
	}{
		{
			name:   "deleted, then a new one renamed into place",
			remove: func(t *testing.T, root, _ string) { require.NoError(t, os.RemoveAll(root)) },
			swap:   func(t *testing.T, root, next string) { require.NoError(t, os.Rename(next, root)) },
		},
		{
			name:   "renamed away, then a new one renamed into place",
			remove: func(t *testing.T, root, _ string) { require.NoError(t, os.Rename(root, root+".old")) },
			swap:   func(t *testing.T, root, next string) { require.NoError(t, os.Rename(next, root)) },
		},
		{
			name:   "deleted, then created again file by file",
			remove: func(t *testing.T, root, _ string) { require.NoError(t, os.RemoveAll(root)) },
			swap:   func(t *testing.T, root, _ string) { fill(t, root) },
		},
		{
			name:    "symlink pointed elsewhere at once (ln -s tmp; mv -T tmp root)",
			symlink: true,
			swap: func(t *testing.T, root, next string) {
				require.NoError(t, os.Symlink(next, root+".tmp"))
				require.NoError(t, os.Rename(root+".tmp", root))
			},
		},
		{
			name:    "symlink removed, then pointed elsewhere",
			symlink: true,
			remove:  func(t *testing.T, root, _ string) { require.NoError(t, os.Remove(root)) },
			swap:    func(t *testing.T, root, next string) { require.NoError(t, os.Symlink(next, root)) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			root := filepath.Join(base, "manifests")
			old := root
			if tt.symlink {
				old = filepath.Join(base, "v1")
				require.NoError(t, os.Symlink(old, root))
			}
			writeFile(t, old, "app.yaml", configMap("a", "1"))
			writeFile(t, old, "sub/b.yaml", configMap("b", "1"))
			next := filepath.Join(base, "v2")
			fill(t, next)
			src, clock := newWithClock(root)
			snap, problems := src.Load()
			require.Empty(t, problems)
			require.Equal(t, []string{a, b}, keys(snap))

			if tt.remove != nil {
				tt.remove(t, root, old)
				clock.advance(time.Minute)
				snap, problems = src.Load()
				assert.Equal(t, []string{a, b}, keys(snap), "the objects stay while the directory is missing")
				require.Len(t, problems, 1)
				assert.Contains(t, problems[0].Error(), "the manifests directory is missing")
				assert.Equal(t, "1", snap.ConfigMaps[0].Data["value"])
			}
			tt.swap(t, root, next)
			snap, problems = src.Load()
			assert.Empty(t, problems, "the new directory holds everything the old one did")
			require.Equal(t, []string{a, c, b}, keys(snap), "in path order: app.yaml, c.yaml, sub/b.yaml")
			assert.Equal(t, "2", snap.ConfigMaps[0].Data["value"], "the new directory's version is served")
		})
	}
}

// TestLoadSettleZero: with no settle window removals apply at once.
func TestLoadSettleZero(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "app.yaml", configMap("a", "1"))
	writeFile(t, dir, "other.yaml", configMap("c", "1"))
	src := New(dir, nil)
	src.settle = 0
	_, _ = src.Load()
	writeFile(t, dir, "app.yaml", "")
	snap, problems := src.Load()
	assert.Empty(t, problems)
	assert.Equal(t, []string{"ConfigMap default/c"}, keys(snap))
	assert.True(t, src.recheckDue().IsZero())
}
