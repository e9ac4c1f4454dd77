package nginx

import (
	"context"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startOrphan starts nginx the way a previous controller's supervisor did
// (own process group, "-c CONFIG"), with generation gen's config, and
// returns its pid once its pid file names it. The test process stays its
// parent only to reap it.
func startOrphan(t *testing.T, e *testEnv, gen uint64) int {
	t.Helper()
	res, err := e.drv.Apply(context.Background(), e.conf(gen, ""), nil, gen)
	require.NoError(t, err)
	require.False(t, res.Signalled)
	cmd := exec.Command(e.opts.Binary, "-c", e.opts.ConfigPath, "-p", e.opts.Prefix, "-g", "daemon off; master_process on;")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	reaped := make(chan struct{})
	go func() { _ = cmd.Wait(); close(reaped) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-reaped
	})
	e.pgid = cmd.Process.Pid
	require.Eventually(t, func() bool {
		pid, err := readPIDFile(e.opts.PIDFile)
		return err == nil && pid == cmd.Process.Pid
	}, 10*time.Second, 10*time.Millisecond, "the orphan nginx never wrote its pid file")
	require.NoError(t, e.drv.Verify(context.Background(), gen))
	return cmd.Process.Pid
}

// TestSupervisorAdoptsRunningNginx: a supervisor that finds our nginx
// running (its controller was killed) adopts it instead of starting a
// second one, makes it load the current config, and when that master dies
// kills its workers and starts a fresh one.
func TestSupervisorAdoptsRunningNginx(t *testing.T) {
	e := newEnv(t)
	orphan := startOrphan(t, e, 1)
	e.requireBody(t, "v1")

	// The new controller writes its config while nginx is not "its" yet.
	_, err := e.drv.Apply(context.Background(), e.conf(2, ""), nil, 2)
	require.NoError(t, err)
	var mu sync.Mutex
	var ups []int
	var restarts []Restart
	e.sup.OnUp(func(pid int) { mu.Lock(); ups = append(ups, pid); mu.Unlock() })
	e.sup.OnRestart(func(r Restart) { mu.Lock(); restarts = append(restarts, r); mu.Unlock() })
	require.NoError(t, e.sup.Start())
	require.Equal(t, orphan, e.sup.Pid(), "the running master was adopted, not replaced")
	require.True(t, e.sup.Alive())
	require.NoError(t, e.drv.Verify(context.Background(), 2), "the adopted master loaded the current config")
	e.requireBody(t, "v2")
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(ups) == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Zero(t, e.sup.DownSince(), "up")

	// It reloads like a child would.
	_, err = e.drv.Apply(context.Background(), e.conf(3, ""), nil, 3)
	require.NoError(t, err)
	e.requireBody(t, "v3")

	// Its death is noticed; its workers go with it and a new master serves.
	require.NoError(t, syscall.Kill(orphan, syscall.SIGKILL))
	require.Eventually(t, func() bool {
		pid := e.sup.Pid()
		return pid != 0 && pid != orphan && e.sup.Alive()
	}, 10*time.Second, 10*time.Millisecond, "no new master after the adopted one died")
	require.Eventually(t, func() bool { return groupGone(orphan) }, 5*time.Second, 10*time.Millisecond,
		"the adopted master's workers were killed")
	require.NoError(t, e.drv.Verify(context.Background(), 3))
	e.requireBody(t, "v3")
	assert.Equal(t, uint64(1), e.sup.Restarts())
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, restarts, 1)
	assert.Equal(t, orphan, restarts[0].Pid)
	assert.Zero(t, restarts[0].Wait, "one crash is restarted at once")
	assert.Equal(t, uint64(1), restarts[0].Count)
}

// TestSupervisorStopsAdoptedNginx: Stop quits an adopted master gracefully.
func TestSupervisorStopsAdoptedNginx(t *testing.T) {
	e := newEnv(t)
	orphan := startOrphan(t, e, 1)
	require.NoError(t, e.sup.Start())
	require.Equal(t, orphan, e.sup.Pid())
	require.NoError(t, e.drv.Verify(context.Background(), 1))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, e.sup.Stop(ctx))
	require.Eventually(t, func() bool { return groupGone(orphan) }, 5*time.Second, 10*time.Millisecond)
	assert.Zero(t, e.sup.Restarts(), "a stop is not a restart")
}

// TestSupervisorReplacesStoppedNginx: a master of ours left stopped
// (SIGSTOP) cannot serve nor reload; a new supervisor kills it and starts
// its own.
func TestSupervisorReplacesStoppedNginx(t *testing.T) {
	e := newEnv(t)
	orphan := startOrphan(t, e, 1)
	require.NoError(t, syscall.Kill(orphan, syscall.SIGSTOP))
	require.Eventually(t, func() bool { st, _ := ReadProcState(orphan); return st == ProcStopped },
		5*time.Second, 5*time.Millisecond)
	require.NoError(t, e.sup.Start())
	require.NotEqual(t, orphan, e.sup.Pid())
	require.NoError(t, e.drv.Verify(context.Background(), 1))
	require.Eventually(t, func() bool { return groupGone(orphan) }, 5*time.Second, 10*time.Millisecond)
}
