package manifests

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitFor bounds every wait on the file watcher; events normally arrive in
// microseconds, so this only matters on a machine that is badly overloaded.
const waitFor = 10 * time.Second

// startRun runs a Source on dir until the test ends and returns it with the
// number of changed() calls so far. It returns once Run has made its first
// call, which Run makes only when every watch is in place.
// Options change the Source before Run starts.
func startRun(t *testing.T, dir string, options ...func(*Source)) (*Source, *atomic.Int64) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	src := New(dir, logger)
	for _, o := range options {
		o(src)
	}
	calls := &atomic.Int64{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, func() { calls.Add(1) }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "Run returns nil when its context ends")
		case <-time.After(waitFor):
			t.Error("Run did not return after its context ended")
		}
	})
	require.Eventually(t, func() bool { return calls.Load() >= 1 }, waitFor, time.Millisecond,
		"Run did not call changed() once watching")
	return src, calls
}

// configMapVolume lays out dir like the kubelet does for a ConfigMap volume
// whose only key is app.yaml, or swaps in a new version if it exists.
func configMapVolume(t *testing.T, dir, version, content string) {
	t.Helper()
	writeFile(t, dir, filepath.Join(version, "app.yaml"), content)
	tmp := filepath.Join(dir, "..data_tmp")
	require.NoError(t, os.Symlink(version, tmp))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, "..data")))
	link := filepath.Join(dir, "app.yaml")
	if _, err := os.Lstat(link); os.IsNotExist(err) {
		require.NoError(t, os.Symlink(filepath.Join("..data", "app.yaml"), link))
	}
}

func TestRunCallsChanged(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, dir string)
		change func(t *testing.T, dir string)
		want   []string
	}{
		{
			name:   "new file",
			change: func(t *testing.T, dir string) { writeFile(t, dir, "app.yaml", configMap("a", "1")) },
			want:   []string{"ConfigMap default/a"},
		},
		{
			name:   "file rewritten in place",
			setup:  func(t *testing.T, dir string) { writeFile(t, dir, "app.yaml", configMap("a", "1")) },
			change: func(t *testing.T, dir string) { writeFile(t, dir, "app.yaml", configMap("b", "1")) },
			want:   []string{"ConfigMap default/b"},
		},
		{
			name: "new subdirectories with a file in them",
			change: func(t *testing.T, dir string) {
				writeFile(t, dir, filepath.Join("team-a", "web", "app.yaml"), configMap("a", "1"))
			},
			want: []string{"ConfigMap default/a"},
		},
		{
			name:  "atomic rename over an existing file",
			setup: func(t *testing.T, dir string) { writeFile(t, dir, "app.yaml", configMap("a", "1")) },
			change: func(t *testing.T, dir string) {
				// The way editors and `kubectl`-style tools save: write a
				// hidden temporary file, then rename it over the original.
				tmp := writeFile(t, dir, ".app.yaml.tmp", configMap("b", "1"))
				require.NoError(t, os.Rename(tmp, filepath.Join(dir, "app.yaml")))
			},
			want: []string{"ConfigMap default/b"},
		},
		{
			name:   "file removed",
			setup:  func(t *testing.T, dir string) { writeFile(t, dir, "app.yaml", configMap("a", "1")) },
			change: func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, "app.yaml"))) },
		},
		{
			name: "subdirectory removed",
			setup: func(t *testing.T, dir string) {
				writeFile(t, dir, filepath.Join("sub", "app.yaml"), configMap("a", "1"))
			},
			change: func(t *testing.T, dir string) { require.NoError(t, os.RemoveAll(filepath.Join(dir, "sub"))) },
		},
		{
			name:  "file renamed to a hidden name",
			setup: func(t *testing.T, dir string) { writeFile(t, dir, "app.yaml", configMap("a", "1")) },
			change: func(t *testing.T, dir string) {
				require.NoError(t, os.Rename(filepath.Join(dir, "app.yaml"), filepath.Join(dir, ".app.yaml")))
			},
		},
		{
			name:   "mode changed",
			setup:  func(t *testing.T, dir string) { writeFile(t, dir, "app.yaml", configMap("a", "1")) },
			change: func(t *testing.T, dir string) { require.NoError(t, os.Chmod(filepath.Join(dir, "app.yaml"), 0o600)) },
			want:   []string{"ConfigMap default/a"},
		},
		{
			name:   "ConfigMap volume swapped",
			setup:  func(t *testing.T, dir string) { configMapVolume(t, dir, "..v1", configMap("a", "1")) },
			change: func(t *testing.T, dir string) { configMapVolume(t, dir, "..v2", configMap("b", "2")) },
			want:   []string{"ConfigMap default/b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			src, calls := startRun(t, dir)
			before := calls.Load()

			tt.change(t, dir)

			require.Eventually(t, func() bool { return calls.Load() > before }, waitFor, time.Millisecond,
				"changed() was not called")
			snap, problems := src.Load()
			assert.Empty(t, problems)
			assert.Equal(t, tt.want, keys(snap))
		})
	}
}

// TestRunWatchesNewSubdirectories checks that a directory created while Run
// runs is itself watched, not only noticed.
func TestRunWatchesNewSubdirectories(t *testing.T) {
	dir := t.TempDir()
	src, calls := startRun(t, dir)

	before := calls.Load()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "new", "deeper"), 0o755))
	require.Eventually(t, func() bool { return calls.Load() > before }, waitFor, time.Millisecond)

	// Write twice: by the second write the events of the mkdir are long
	// handled, so a call can only come from a watch on the new directory.
	for _, name := range []string{"a", "b"} {
		before := calls.Load()
		writeFile(t, dir, filepath.Join("new", "deeper", "app.yaml"), configMap(name, "1"))
		require.Eventually(t, func() bool { return calls.Load() > before }, waitFor, time.Millisecond,
			"no call after writing %s", name)
	}
	snap, _ := src.Load()
	assert.Equal(t, []string{"ConfigMap default/b"}, keys(snap))
}

func TestRunMissingDirectory(t *testing.T) {
	src := New(filepath.Join(t.TempDir(), "missing"), nil)
	err := src.Run(t.Context(), func() { t.Error("changed() must not be called") })
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestLoadWhileRunning is for the race detector: the controller calls Load
// from its own goroutine while Run delivers events, and may overlap Loads.
func TestLoadWhileRunning(t *testing.T) {
	dir := t.TempDir()
	src, calls := startRun(t, dir)
	const files = 20
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range files {
				src.Load()
			}
		})
	}
	before := calls.Load()
	for i := range files {
		writeFile(t, dir, fmt.Sprintf("f%02d.yaml", i), configMap(fmt.Sprintf("f%02d", i), "1"))
	}
	wg.Wait()
	require.Eventually(t, func() bool { return calls.Load() > before }, waitFor, time.Millisecond)
	snap, problems := src.Load()
	assert.Empty(t, problems)
	assert.Equal(t, files, snap.Len())
}

// TestRelevant checks which events Run passes on, without timing: events
// for files Load would never read must not cause reloads.
func TestRelevant(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(root, "sub"), 0o755))
	tests := []struct {
		path string
		op   fsnotify.Op
		want bool
	}{
		{"app.yaml", fsnotify.Write, true},
		{"app.yml", fsnotify.Create, true},
		{"app.json", fsnotify.Remove, true},
		{"APP.YAML", fsnotify.Rename, true},
		{"sub/app.yaml", fsnotify.Chmod, true},
		{"..data", fsnotify.Create, true},
		{"..2026_01_01_00_00_00.000000001", fsnotify.Remove, true},
		{"sub", fsnotify.Create, true},
		{"", fsnotify.Remove, true}, // the directory itself
		{"notes.txt", fsnotify.Write, false},
		{".app.yaml.swp", fsnotify.Write, false},
		{".app.yaml.tmp", fsnotify.Create, false},
		{".#app.yaml", fsnotify.Create, false},
		{"#app.yaml#", fsnotify.Write, false},
		{"app.yaml~", fsnotify.Create, false},
		{"4913", fsnotify.Create, false}, // vim's write test
		{".hidden.yaml", fsnotify.Write, false},
		{"../sibling.yaml", fsnotify.Write, false}, // the parent is watched for the root's own name
		{"../manifests.new", fsnotify.Create, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s", tt.op, tt.path), func(t *testing.T) {
			w, err := fsnotify.NewWatcher()
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, w.Close()) })
			tree := &watchTree{root: root, w: w, logger: slog.New(slog.DiscardHandler), watched: map[string]bool{}}
			ev := fsnotify.Event{Name: filepath.Join(root, tt.path), Op: tt.op}
			assert.Equal(t, tt.want, tree.relevant(ev))
		})
	}
}
