package nginx

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDynamicSeedAfterRestart: the data last pushed is kept in the runtime
// directory, and an nginx restarted after a crash routes with it from its
// first request, before anything is pushed again, while still telling the
// controller it holds nothing pushed (so the controller pushes anyway).
func TestDynamicSeedAfterRestart(t *testing.T) {
	e := newLuaEnv(t)
	seed := filepath.Join(e.dir, SeedFile)
	require.NoError(t, os.MkdirAll(filepath.Dir(seed), 0o700))
	require.NoError(t, os.WriteFile(seed, []byte("left by an earlier run"), 0o600))
	require.NoError(t, e.dyn.KeepSeed(seed, e.opts.Logger))
	_, err := os.Stat(seed)
	require.ErrorIs(t, err, os.ErrNotExist, "an earlier run's copy is removed")

	ctx := context.Background()
	doc := e.goodDocument()
	require.NoError(t, e.dyn.Push(ctx, doc))
	kept, err := os.ReadFile(seed)
	require.NoError(t, err)
	assert.Equal(t, doc, kept)
	fi, err := os.Stat(seed)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	old := e.sup.Pid()
	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))
	require.Eventually(t, func() bool {
		pid := e.sup.Pid()
		return pid != 0 && pid != old && e.sup.Alive()
	}, 10*time.Second, 5*time.Millisecond, "nginx was not restarted")
	e.pgid = e.sup.Pid()

	status, body := e.get(t, "/routed")
	assert.Equal(t, http.StatusOK, status, "the first request after the restart is routed")
	assert.Equal(t, "backend", body)
	status, _ = e.get(t, "/unrouted")
	assert.Equal(t, http.StatusServiceUnavailable, status)
	held, err := e.dyn.Held(ctx)
	require.NoError(t, err)
	assert.Empty(t, held, "seeded data is not the controller's push: it pushes again")
	require.NoError(t, e.dyn.Push(ctx, doc))
	held, err = e.dyn.Held(ctx)
	require.NoError(t, err)
	assert.Equal(t, Sum(doc), held)
}
