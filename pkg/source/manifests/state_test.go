package manifests

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// configMap returns a ConfigMap manifest with one data entry.
func configMap(name, value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  value: \"" + value + "\"\n"
}

// fakeClock is a clock tests move by hand, so that the settle window is
// tested without sleeping.
// Run reads it from its own goroutine, hence the lock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) { c.set(c.now().Add(d)) }

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// newWithClock returns a Source for dir whose clock the test moves.
func newWithClock(dir string) (*Source, *fakeClock) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	src := New(dir, nil)
	src.now = clock.now
	return src, clock
}

// writeFile writes a file below dir, creating directories as needed.
func writeFile(t testing.TB, dir, rel, content string) string {
	t.Helper()
	path := filepath.Join(dir, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func TestLoadKeepsLastGoodVersionOfBrokenFile(t *testing.T) {
	tests := []struct {
		name     string
		broken   string
		wantLine int
		wantMsg  string
	}{
		{
			name:     "YAML syntax error",
			broken:   configMap("one", "1") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: two\n data: {}\n",
			wantLine: 12,
			wantMsg:  "invalid YAML",
		},
		{
			name:     "object without a name",
			broken:   configMap("one", "1") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
			wantLine: 8,
			wantMsg:  "has no metadata.name",
		},
		{
			name:     "document that does not decode",
			broken:   "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: 80\n",
			wantLine: 1,
			wantMsg:  "cannot decode v1 Service",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, "app.yaml", configMap("one", "1")+"---\n"+configMap("two", "2"))
			writeFile(t, dir, "other.yaml", configMap("other", "x"))
			src, clock := newWithClock(dir)

			snap, problems := src.Load()
			require.Empty(t, problems)
			want := []string{"ConfigMap default/one", "ConfigMap default/two", "ConfigMap default/other"}
			require.Equal(t, want, keys(snap))

			writeFile(t, dir, "app.yaml", tt.broken)
			snap, problems = src.Load()
			assert.Equal(t, want, keys(snap), "the previous objects stay")
			assert.Equal(t, "1", snap.ConfigMaps[0].Data["value"], "with their previous content")
			require.Len(t, problems, 1)
			assert.Equal(t, path, problems[0].File)
			assert.Equal(t, tt.wantLine, problems[0].Line, problems[0].Error())
			assert.Equal(t, SeverityError, problems[0].Severity)
			assert.Contains(t, problems[0].Error(), tt.wantMsg)
			assert.Contains(t, problems[0].Error(), "the 2 object(s) of its last good version stay in use")

			// Loading again while still broken must neither lose the
			// objects nor the report.
			snap, problems = src.Load()
			assert.Equal(t, want, keys(snap))
			assert.Len(t, problems, 1)

			// The fix replaces one and two by three: three is served at
			// once, one and two only go once the removal has settled.
			writeFile(t, dir, "app.yaml", configMap("three", "3"))
			snap, problems = src.Load()
			assert.Equal(t, []string{"ConfigMap default/three", "ConfigMap default/one", "ConfigMap default/two", "ConfigMap default/other"}, keys(snap))
			require.Len(t, problems, 1)
			assert.Equal(t, SeverityWarning, problems[0].Severity)
			clock.advance(DefaultSettle)
			snap, problems = src.Load()
			assert.Empty(t, problems)
			assert.Equal(t, []string{"ConfigMap default/three", "ConfigMap default/other"}, keys(snap))
		})
	}
}

func TestLoadDropsDeletedFiles(t *testing.T) {
	tests := []struct {
		name       string
		breakFirst bool // the file is broken (so only its last good version is in use) when deleted
	}{
		{name: "good file"},
		{name: "broken file", breakFirst: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "a.yaml", configMap("a", "1"))
			gone := writeFile(t, dir, "sub/b.yaml", configMap("b", "2"))
			src, clock := newWithClock(dir)
			snap, _ := src.Load()
			require.Equal(t, []string{"ConfigMap default/a", "ConfigMap default/b"}, keys(snap))

			if tt.breakFirst {
				writeFile(t, dir, "sub/b.yaml", "kind: [")
				snap, problems := src.Load()
				require.Len(t, problems, 1)
				require.Equal(t, []string{"ConfigMap default/a", "ConfigMap default/b"}, keys(snap))
			}

			require.NoError(t, os.Remove(gone))
			snap, problems := src.Load()
			assert.Equal(t, []string{"ConfigMap default/a", "ConfigMap default/b"}, keys(snap),
				"a deletion waits for the settle window")
			require.Len(t, problems, 1)
			assert.Equal(t, SeverityWarning, problems[0].Severity)
			assert.Contains(t, problems[0].Error(), "the file is gone; its objects ConfigMap default/b stay in use")

			clock.advance(DefaultSettle)
			snap, problems = src.Load()
			assert.Empty(t, problems)
			assert.Equal(t, []string{"ConfigMap default/a"}, keys(snap), "and is applied once it has lasted it")
		})
	}
}

func TestLoadDuplicateResolvedWhenFirstFileBreaks(t *testing.T) {
	// The last good version of a broken file still takes part in duplicate
	// detection: otherwise a typo in a.yaml would silently switch the
	// running object to the copy in b.yaml.
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", configMap("web", "from-a"))
	writeFile(t, dir, "b.yaml", configMap("web", "from-b"))
	src := New(dir, nil)
	snap, problems := src.Load()
	require.Len(t, problems, 1)
	require.Equal(t, "from-a", snap.ConfigMaps[0].Data["value"])

	writeFile(t, dir, "a.yaml", "kind: [")
	snap, problems = src.Load()
	assert.Len(t, problems, 2, "the syntax error and the duplicate")
	require.Len(t, snap.ConfigMaps, 1)
	assert.Equal(t, "from-a", snap.ConfigMaps[0].Data["value"])
}

// TestLoadKeepsObjectsOfUnchangedFiles: like an informer, the source hands
// the same objects to every snapshot while their file is unchanged (the
// model reuses what it built from them), and new ones after an edit.
func TestLoadKeepsObjectsOfUnchangedFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "app.yaml", configMap("a", "1"))
	writeFile(t, dir, "other.yaml", configMap("b", "1"))
	src := New(dir, nil)

	first, _ := src.Load()
	second, _ := src.Load()
	require.Len(t, second.ConfigMaps, 2)
	assert.Same(t, first.ConfigMaps[0], second.ConfigMaps[0])
	assert.Same(t, first.ConfigMaps[1], second.ConfigMaps[1])

	writeFile(t, dir, "app.yaml", configMap("a", "2"))
	third, _ := src.Load()
	assert.NotSame(t, second.ConfigMaps[0], third.ConfigMaps[0], "an edited file gives new objects")
	assert.Equal(t, "2", third.ConfigMaps[0].Data["value"])
	assert.Equal(t, "1", second.ConfigMaps[0].Data["value"], "and leaves the earlier snapshot as it was")
	assert.Same(t, second.ConfigMaps[1], third.ConfigMaps[1], "the other file's objects stay")
}

// TestLoadMissingDirectory: a directory that is gone is what a directory
// swap looks like half way, so every object stays until it is back.
func TestLoadMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "manifests")
	writeFile(t, dir, "app.yaml", configMap("a", "1"))
	src, clock := newWithClock(dir)
	snap, _ := src.Load()
	require.Equal(t, 1, snap.Len())

	require.NoError(t, os.RemoveAll(dir))
	for range 2 {
		clock.advance(10 * DefaultSettle) // however long it is missing
		snap, problems := src.Load()
		assert.Equal(t, []string{"ConfigMap default/a"}, keys(snap), "a missing directory keeps its objects")
		require.Len(t, problems, 1)
		assert.Equal(t, dir, problems[0].File)
		assert.Equal(t, SeverityError, problems[0].Severity)
		assert.ErrorIs(t, problems[0], os.ErrNotExist)
		assert.Contains(t, problems[0].Error(), "the manifests directory is missing (deleted, or being replaced)")
		assert.Contains(t, problems[0].Error(), "the 1 object(s) last loaded from it stay in use until it is back")
		assert.True(t, src.recheckDue().IsZero(), "the watch, not a timer, says when it is back")
	}

	// Back with a change: read as usual.
	writeFile(t, dir, "app.yaml", configMap("a", "2"))
	snap, problems := src.Load()
	assert.Empty(t, problems)
	require.Equal(t, []string{"ConfigMap default/a"}, keys(snap))
	assert.Equal(t, "2", snap.ConfigMaps[0].Data["value"], "once back, it is read as usual")
}

func TestLoadSingleFile(t *testing.T) {
	// portico render -f app.yaml: a file given as the root is read whatever its extension.
	path := writeFile(t, t.TempDir(), "app.txt", configMap("a", "1"))
	snap, problems := New(path, nil).Load()
	assert.Empty(t, problems)
	require.Len(t, snap.ConfigMaps, 1)
	assert.Equal(t, "a", snap.ConfigMaps[0].Name)
}

// TestLoadConfigMapVolume uses the layout the kubelet gives a ConfigMap
// volume: the real files in a hidden timestamped directory, "..data" pointing
// at it, and one symlink per key. Each file must be read once, through its
// visible symlink, and the directory may itself be reached through a symlink.
func TestLoadConfigMapVolume(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "volume")
	writeFile(t, dir, "..2026_01_01_00_00_00.000000001/app.yaml", configMap("a", "1"))
	require.NoError(t, os.Symlink("..2026_01_01_00_00_00.000000001", filepath.Join(dir, "..data")))
	require.NoError(t, os.Symlink(filepath.Join("..data", "app.yaml"), filepath.Join(dir, "app.yaml")))
	require.NoError(t, os.Symlink("nowhere.yaml", filepath.Join(dir, "dangling.yaml")))
	link := filepath.Join(base, "link")
	require.NoError(t, os.Symlink(dir, link))

	for _, root := range []string{dir, link} {
		snap, problems := New(root, nil).Load()
		assert.Empty(t, problems, root)
		assert.Equal(t, []string{"ConfigMap default/a"}, keys(snap), root)
	}
}

// TestLoadReportsWarningsOfUnchangedFiles guards the decode cache: a file
// that is not decoded again must still report its warnings every time.
func TestLoadReportsWarningsOfUnchangedFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "app.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\n"+configMap("a", "1"))
	src := New(dir, nil)
	for range 2 {
		snap, problems := src.Load()
		assert.Equal(t, []string{"ConfigMap default/a"}, keys(snap))
		require.Len(t, problems, 1)
		assert.Equal(t, SeverityWarning, problems[0].Severity)
	}
}
