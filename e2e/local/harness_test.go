//go:build linux

// Package local is the end-to-end proof that Portico works without a cluster:
// each test runs the real `portico controller --start-nginx` binary against a
// manifests directory, with a real nginx listening on loopback and backends
// that are Go HTTP servers on 127.0.0.x addresses. Traffic only ever goes to
// 127.0.0.0/8, every wait is bounded, and every process a test starts is
// stopped (and checked gone) in t.Cleanup, even when the test fails.
package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

var (
	// suite is what TestMain set up: the controller binary, the nginx it
	// runs, the children and the ports of this test binary.
	suite *framework.Suite
	// skipReason says why tests skip (no nginx on this machine).
	skipReason string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "portico-e2e-local-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e/local:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()

	s := &framework.Suite{
		Portico:  filepath.Join(dir, "portico"),
		Nginx:    framework.FindNginx(),
		Children: framework.NewSupervisor(),
		Ports:    &framework.Ports{},
	}
	if s.Nginx == "" {
		skipReason = "nginx is not installed (looked in PATH and /usr/sbin/nginx)"
	}
	root, err := framework.ModuleRoot()
	if err == nil {
		err = framework.GoBuild(root, s.Portico, "./cmd/portico")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e/local:", err)
		return 1
	}
	suite = s
	code := m.Run()
	// Every test stops its controllers; what is left here a test leaked.
	if err := s.Children.StopAll(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e/local: teardown:", err)
	}
	return code
}

// options configures one controller start.
type options struct {
	// files are manifests written before the controller starts, by file name.
	files map[string]string
	// args are extra flags, appended last so they override the defaults.
	args []string
	// env is the controller's environment; nil inherits the test binary's.
	env []string
}

// controller is one running `portico controller --manifests DIR --start-nginx`.
type controller struct {
	*framework.Controller
	// manifests is the directory the controller reads.
	manifests string
}

// startController runs the controller with fresh directories and ports and
// returns once /readyz answers 200. The controller and its nginx are stopped
// in t.Cleanup.
func startController(t *testing.T, opts options) *controller {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	root := framework.ControllerDir(t)
	c := &controller{manifests: filepath.Join(root, "manifests")}
	require.NoError(t, os.Mkdir(c.manifests, 0o755))
	for name, content := range opts.files {
		c.writeManifest(t, name, content)
	}
	c.Controller = suite.StartController(t, framework.ControllerConfig{
		Source: []string{"--manifests", c.manifests,
			// The echo backends run on 127.0.0.x.
			"--allow-loopback-backends"},
		Args: opts.args,
		Env:  opts.env,
		Dir:  root,
	})
	return c
}

// writeManifest writes a file in the manifests directory atomically: a
// hidden temporary file (the source ignores dot files) renamed into place,
// so the controller never reads half a file.
func (c *controller) writeManifest(t *testing.T, name, content string) {
	t.Helper()
	writeAtomic(t, filepath.Join(c.manifests, name), content)
}

// removeManifest deletes a manifest file.
func (c *controller) removeManifest(t *testing.T, name string) {
	t.Helper()
	require.NoError(t, os.Remove(filepath.Join(c.manifests, name)))
}

func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	require.NoError(t, err)
	_, err = f.WriteString(content)
	require.NoError(t, errors.Join(err, f.Close()))
	require.NoError(t, os.Chmod(f.Name(), 0o644))
	require.NoError(t, os.Rename(f.Name(), path))
}

// update writes a manifest and waits for the reload it causes, which must succeed.
func (c *controller) update(t *testing.T, name, content string) framework.ReloadEvent {
	t.Helper()
	before := c.Generation(t)
	c.writeManifest(t, name, content)
	ev := c.WaitReload(t, before)
	require.Equal(t, "success", ev.Result, "reload after writing %s: %s", name, ev.Message)
	return ev
}
