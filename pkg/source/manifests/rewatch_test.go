package manifests

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunFollowsReplacedRoot replaces the watched directory while Run runs
// and checks that edits in the new tree (down to a subdirectory) still reach
// changed, and that Load serves them.
func TestRunFollowsReplacedRoot(t *testing.T) {
	tests := []struct {
		name    string
		symlink bool // the root is a symlink to the directory
		// ancestor: the root is base/current/manifests, current a symlink
		// to the release; only the periodic root check can see it change.
		ancestor bool
		// swap puts next (a filled directory) in place of root, whose
		// directory is old.
		swap func(t *testing.T, root, old, next string)
	}{
		{
			name: "deleted, then a new one renamed into place",
			swap: func(t *testing.T, root, _, next string) {
				require.NoError(t, os.RemoveAll(root))
				require.NoError(t, os.Rename(next, root))
			},
		},
		{
			name: "renamed away, then a new one renamed into place",
			swap: func(t *testing.T, root, _, next string) {
				require.NoError(t, os.Rename(root, root+".old"))
				require.NoError(t, os.Rename(next, root))
			},
		},
		{
			name: "deleted, then created again",
			swap: func(t *testing.T, root, _, _ string) {
				require.NoError(t, os.RemoveAll(root))
				writeFile(t, root, filepath.Join("sub", "b.yaml"), configMap("b", "2"))
			},
		},
		{
			name:    "symlink pointed elsewhere at once",
			symlink: true,
			swap: func(t *testing.T, root, _, next string) {
				require.NoError(t, os.Symlink(next, root+".tmp"))
				require.NoError(t, os.Rename(root+".tmp", root))
			},
		},
		{
			name:    "symlink removed, then pointed elsewhere",
			symlink: true,
			swap: func(t *testing.T, root, _, next string) {
				require.NoError(t, os.Remove(root))
				require.NoError(t, os.Symlink(next, root))
			},
		},
		{
			name:     "a symlink above the root pointed elsewhere",
			ancestor: true,
			swap: func(t *testing.T, root, _, next string) {
				current := filepath.Dir(root)
				require.NoError(t, os.Symlink(filepath.Dir(next), current+".tmp"))
				require.NoError(t, os.Rename(current+".tmp", current))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			root := filepath.Join(base, "manifests")
			old, next := root, filepath.Join(base, "v2")
			switch {
			case tt.symlink:
				old = filepath.Join(base, "v1")
				require.NoError(t, os.Symlink(old, root))
			case tt.ancestor:
				root = filepath.Join(base, "current", "manifests")
				old, next = filepath.Join(base, "v1", "manifests"), filepath.Join(base, "v2", "manifests")
				require.NoError(t, os.Symlink(filepath.Join(base, "v1"), filepath.Join(base, "current")))
			}
			writeFile(t, old, filepath.Join("sub", "b.yaml"), configMap("b", "1"))
			writeFile(t, next, filepath.Join("sub", "b.yaml"), configMap("b", "2"))
			// Only the case that needs it gets the periodic check, so the
			// others prove the parent watch.
			rootCheck := time.Hour
			if tt.ancestor {
				rootCheck = 10 * time.Millisecond
			}
			src, calls := startRun(t, root, func(s *Source) { s.rootCheck = rootCheck })
			snap, _ := src.Load()
			require.Equal(t, []string{"ConfigMap default/b"}, keys(snap))

			before := calls.Load()
			tt.swap(t, root, old, next)
			require.Eventually(t, func() bool { return calls.Load() > before }, waitFor, time.Millisecond,
				"the swap did not call changed()")

			// Write twice: by the second write the events of the swap are
			// long handled, so a call can only come from a watch on the
			// new tree's subdirectory.
			for _, name := range []string{"c", "d"} {
				before := calls.Load()
				writeFile(t, root, filepath.Join("sub", name+".yaml"), configMap(name, "1"))
				require.Eventually(t, func() bool { return calls.Load() > before }, waitFor, time.Millisecond,
					"no call after writing %s in the new directory", name)
			}
			snap, problems := src.Load()
			assert.Empty(t, problems)
			assert.Equal(t, []string{"ConfigMap default/b", "ConfigMap default/c", "ConfigMap default/d"}, keys(snap))
			assert.Equal(t, "2", snap.ConfigMaps[0].Data["value"], "the new directory's version")
		})
	}
}

// TestRunRechecksHeldRemoval: once a held-back removal is due, Run calls
// changed by itself (no file event comes), and Load then applies it. Load's
// clock is the test's, so the removal is held however slow the machine is;
// Run's timer waits the (short) window in real time.
func TestRunRechecksHeldRemoval(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "app.yaml", configMap("a", "1"))
	writeFile(t, dir, "other.yaml", configMap("c", "1"))
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	const settle = 20 * time.Millisecond
	src, calls := startRun(t, dir, func(s *Source) { s.now, s.settle = clock.now, settle })
	snap, _ := src.Load()
	require.Len(t, snap.ConfigMaps, 2)

	before := calls.Load()
	writeFile(t, dir, "app.yaml", "")
	require.Eventually(t, func() bool { return calls.Load() > before }, waitFor, time.Millisecond)
	held := calls.Load()
	snap, problems := src.Load()
	require.Len(t, problems, 1)
	require.Equal(t, []string{"ConfigMap default/a", "ConfigMap default/c"}, keys(snap), "held")

	require.Eventually(t, func() bool { return calls.Load() > held }, waitFor, time.Millisecond,
		"Run did not call changed() when the held removal was due")
	clock.advance(settle)
	snap, problems = src.Load()
	assert.Empty(t, problems)
	assert.Equal(t, []string{"ConfigMap default/c"}, keys(snap))
}

// TestRewatchRoot drives the watch tree through a delete and re-create of
// the root, event by event: the old watches go, and the new tree is watched
// down to its subdirectories.
func TestRewatchRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "manifests")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "sub"), 0o755))
	w, err := fsnotify.NewWatcher()
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, w.Close()) })
	tree := &watchTree{root: root, w: w, logger: slog.New(slog.DiscardHandler), watched: map[string]bool{}}
	require.NoError(t, tree.add(root))
	require.Equal(t, map[string]bool{root: true, filepath.Join(root, "sub"): true}, tree.watched)

	require.NoError(t, os.RemoveAll(root))
	assert.True(t, tree.relevant(fsnotify.Event{Name: root, Op: fsnotify.Remove}))
	assert.Empty(t, tree.watched, "the deleted tree's watches are gone")
	assert.True(t, tree.missing)

	require.NoError(t, os.MkdirAll(filepath.Join(root, "other"), 0o755))
	assert.True(t, tree.relevant(fsnotify.Event{Name: root, Op: fsnotify.Create}))
	assert.Equal(t, map[string]bool{root: true, filepath.Join(root, "other"): true}, tree.watched)
	assert.False(t, tree.missing)
	assert.ElementsMatch(t, []string{root, filepath.Join(root, "other")}, w.WatchList())

	path := writeFile(t, root, filepath.Join("other", "app.yaml"), configMap("a", "1"))
	timeout := time.After(waitFor)
	for {
		select {
		case ev := <-w.Events:
			if ev.Name == path {
				return
			}
		case err := <-w.Errors:
			t.Fatalf("watcher error: %v", err)
		case <-timeout:
			t.Fatalf("no event for %s: the new tree is not watched", path)
		}
	}
}

// TestCheckRoot drives the periodic root check by hand: it sees a symlink
// above the root re-pointed and the root gone and back, watches the new tree,
// and does nothing (and logs nothing) while nothing changes.
func TestCheckRoot(t *testing.T) {
	base := t.TempDir()
	current := filepath.Join(base, "current")
	root := filepath.Join(current, "manifests")
	for _, v := range []string{"v1", "v2"} {
		require.NoError(t, os.MkdirAll(filepath.Join(base, v, "manifests", "sub-"+v), 0o755))
	}
	require.NoError(t, os.Symlink(filepath.Join(base, "v1"), current))
	w, err := fsnotify.NewWatcher()
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, w.Close()) })
	tree := &watchTree{root: root, w: w, logger: slog.New(slog.DiscardHandler), watched: map[string]bool{}}
	require.NoError(t, tree.add(root))
	assert.False(t, tree.checkRoot(), "nothing changed")

	require.NoError(t, os.Symlink(filepath.Join(base, "v2"), current+".tmp"))
	require.NoError(t, os.Rename(current+".tmp", current))
	assert.True(t, tree.checkRoot(), "the name leads to v2 now")
	assert.Equal(t, map[string]bool{root: true, filepath.Join(root, "sub-v2"): true}, tree.watched)
	assert.False(t, tree.checkRoot())

	require.NoError(t, os.Remove(current))
	assert.True(t, tree.checkRoot(), "the root is gone")
	assert.True(t, tree.missing)
	assert.Empty(t, tree.watched)
	assert.False(t, tree.checkRoot(), "still gone: nothing to do")

	require.NoError(t, os.Symlink(filepath.Join(base, "v1"), current))
	assert.True(t, tree.checkRoot(), "back")
	assert.False(t, tree.missing)
	assert.Equal(t, map[string]bool{root: true, filepath.Join(root, "sub-v1"): true}, tree.watched)
}
