//go:build linux

package local

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file change the manifests directory the way careless
// writers and deploy scripts do (a directory deleted and renamed back, a file
// truncated then rewritten in chunks) under a small bounded load, and require
// that not one request fails: the controller must never believe the state a
// writer is half way through.

// TestManifestsDirectorySwapKeepsServing deletes the manifests directory and
// renames a new one into its place (what `rm -rf dir && mv new dir` does)
// under load: every request keeps being answered while the directory is
// missing, the new directory's content is served, and an edit made in it
// afterwards is served too (the watch followed the swap).
func TestManifestsDirectorySwapKeepsServing(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "swap-a", "swap-b")
	const host, other = "swap.example.com", "swap-other.example.com"
	services := servicesYAML(b)
	ingress := func(extra ...route) string {
		return ingressYAML("swap", host, append([]route{{"/", "Prefix", "swap-a"}}, extra...)...)
	}
	otherIngress := ingressYAML("swap-other", other, route{"/", "Prefix", "swap-b"})
	c := startController(t, options{files: map[string]string{
		"services.yaml": services,
		"ingress.yaml":  ingress(),
		"other.yaml":    otherIngress,
	}})
	c.WaitServed(t, host, "/", "swap-a")
	c.WaitServed(t, other, "/", "swap-b")

	// The new version of the directory: the same objects (one moved to a
	// subdirectory), and one more route.
	next := c.manifests + ".new"
	for name, content := range map[string]string{
		"services.yaml":   services,
		"ingress.yaml":    ingress(route{"/swapped", "Prefix", "swap-b"}),
		"team/other.yaml": otherIngress,
	} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(next, name)), 0o755))
		writeAtomic(t, filepath.Join(next, name), content)
	}

	load := startSteadyLoad(t, c, loadTarget{host, "/", "swap-a"}, loadTarget{other, "/", "swap-b"})
	time.Sleep(300 * time.Millisecond) // load before the swap

	require.NoError(t, os.RemoveAll(c.manifests))
	// The controller must have looked at the missing directory (and kept
	// serving) before the new one arrives, or the test proves nothing.
	c.waitLog(t, `"msg":"manifest problem"`, "the manifests directory is missing")
	time.Sleep(300 * time.Millisecond) // longer than a hold-off: a sync could apply the gap
	require.NoError(t, os.Rename(next, c.manifests))

	c.WaitServed(t, host, "/swapped", "swap-b")
	// An edit in the new directory is seen: the watch came back with it.
	c.update(t, "ingress.yaml", ingress(route{"/swapped", "Prefix", "swap-b"}, route{"/after", "Prefix", "swap-b"}))
	c.WaitServed(t, host, "/after", "swap-b")
	c.writeManifest(t, "team/new.yaml", ingressYAML("swap-new", "swap-new.example.com", route{"/", "Prefix", "swap-a"}))
	c.WaitServed(t, "swap-new.example.com", "/", "swap-a")
	time.Sleep(300 * time.Millisecond) // load after the swap

	load.requireNoFailures(t, 200)
}

// TestManifestsTruncatedFileKeepsServing rewrites a manifest file in place
// the way a non-atomic writer does (truncate, then write in two chunks cut at
// a document boundary, with pauses long enough for the controller to look at
// each state) under load: no request fails. Afterwards a real removal is
// still applied, within one hold-off plus the settle window.
func TestManifestsTruncatedFileKeepsServing(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "trunc-a", "trunc-b")
	const first, second = "trunc.example.com", "trunc-second.example.com"
	firstDoc := ingressYAML("trunc", first, route{"/", "Prefix", "trunc-a"})
	secondDoc := func(extra ...route) string {
		return ingressYAML("trunc-second", second, append([]route{{"/", "Prefix", "trunc-b"}}, extra...)...)
	}
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"ingress.yaml":  joinDocs(firstDoc, secondDoc()),
	}})
	c.WaitServed(t, first, "/", "trunc-a")
	c.WaitServed(t, second, "/", "trunc-b")

	load := startSteadyLoad(t, c, loadTarget{first, "/", "trunc-a"}, loadTarget{second, "/", "trunc-b"})
	time.Sleep(300 * time.Millisecond) // load before the rewrite

	// A writer that truncates the file, then writes it in two chunks.
	path := filepath.Join(c.manifests, "ingress.yaml")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o644)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	c.waitLog(t, `"msg":"manifest problem"`, "ingress.yaml: warning: the new version, applied, no longer holds Ingress default/trunc, Ingress default/trunc-second")
	_, err = f.WriteString(firstDoc + "---\n")
	require.NoError(t, err)
	c.waitLog(t, `"msg":"manifest problem"`, "ingress.yaml: warning: the new version, applied, no longer holds Ingress default/trunc-second;")
	_, err = f.WriteString(secondDoc(route{"/rewritten", "Prefix", "trunc-a"}))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	c.WaitServed(t, second, "/rewritten", "trunc-a")

	// The same with a shell redirection, which truncates and writes at once.
	script := fmt.Sprintf("cat > %q <<'EOF'\n%sEOF\n", path, joinDocs(firstDoc, secondDoc(route{"/shell", "Prefix", "trunc-a"})))
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	require.NoError(t, err, "%s", out)
	c.WaitServed(t, second, "/shell", "trunc-a")
	time.Sleep(300 * time.Millisecond) // load after the rewrites
	load.requireNoFailures(t, 200)

	// A real removal (written atomically) is applied within one hold-off
	// (at most --sync-max-holdoff, 1s) plus the settle window (1s), plus
	// the reload; 5s bounds it with room for a loaded machine.
	removed := time.Now()
	c.writeManifest(t, "ingress.yaml", firstDoc)
	c.WaitStatus(t, second, "/", http.StatusNotFound, "")
	took := time.Since(removed)
	t.Logf("a removed Ingress stopped serving %s after the write", took.Round(time.Millisecond))
	assert.Less(t, took, 5*time.Second)
	assert.Equal(t, "trunc-a", c.Get(t, first, "/").Served(), "the rest of the file still serves")
}
