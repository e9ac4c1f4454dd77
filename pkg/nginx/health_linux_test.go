package nginx

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeProcess is a Process whose liveness the test sets; pid is a real
// process, so its state comes from /proc.
type fakeProcess struct {
	alive bool
	pid   int
}

func (p *fakeProcess) Signal(os.Signal) error { return nil }
func (p *fakeProcess) Alive() bool            { return p.alive }
func (p *fakeProcess) Pid() int               { return p.pid }

// reportingProcess also says since when it is down, as the Supervisor does.
type reportingProcess struct {
	fakeProcess
	down time.Time
}

func (p *reportingProcess) DownSince() time.Time { return p.down }

// TestHealth walks the probes through nginx's states with a real process
// standing in for the master (so stopped is read from /proc) and a clock
// the test moves.
func TestHealth(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	proc := &fakeProcess{alive: true, pid: cmd.Process.Pid}
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := NewHealth(proc, 10*time.Second)
	h.now = func() time.Time { return clock }
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewProcessCollector(h, func() uint64 { return 3 }))
	up := func() float64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "portico_nginx_up" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no portico_nginx_up")
		return 0
	}

	require.NoError(t, h.Ready())
	require.NoError(t, h.Healthy())
	assert.Equal(t, 1.0, up())

	// Between restarts: not ready at once, healthy for the grace period.
	proc.alive = false
	require.EqualError(t, h.Ready(), "nginx is not running")
	require.NoError(t, h.Healthy())
	assert.Equal(t, 0.0, up())
	clock = clock.Add(10 * time.Second)
	require.NoError(t, h.Healthy(), "within the grace period")
	clock = clock.Add(time.Second)
	require.EqualError(t, h.Healthy(), "nginx is not running for 11s")
	proc.alive = true
	require.NoError(t, h.Ready())
	require.NoError(t, h.Healthy())

	// Stopped: neither ready nor healthy, at once.
	require.NoError(t, syscall.Kill(proc.pid, syscall.SIGSTOP))
	require.Eventually(t, func() bool { return h.Ready() != nil }, 5*time.Second, 5*time.Millisecond)
	assert.Contains(t, h.Ready().Error(), "is stopped")
	assert.Contains(t, h.Healthy().Error(), "is stopped")
	assert.Equal(t, 0.0, up())
	require.NoError(t, syscall.Kill(proc.pid, syscall.SIGCONT))
	require.Eventually(t, func() bool { return h.Ready() == nil }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, h.Healthy())

	// Gone while the pid file still names it.
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.EqualError(t, h.Ready(), "nginx is not running")

	text := strings.NewReader("# HELP portico_nginx_restarts_total Unexpected exits of the nginx master that the controller restarted (--start-nginx).\n# TYPE portico_nginx_restarts_total counter\nportico_nginx_restarts_total 3\n")
	require.NoError(t, testutil.GatherAndCompare(reg, text, "portico_nginx_restarts_total"))
}

// TestHealthSupervisorDownSince: a Process that knows when its master went
// (the supervisor) is trusted over the probes' own first look, and one not
// started yet is not "down".
func TestHealthSupervisorDownSince(t *testing.T) {
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	proc := &reportingProcess{}
	h := NewHealth(proc, 10*time.Second)
	h.now = func() time.Time { return clock }
	require.Error(t, h.Ready())
	require.NoError(t, h.Healthy(), "not started yet")
	proc.down = clock.Add(-time.Minute)
	require.EqualError(t, h.Healthy(), "nginx is not running for 1m0s")

	// Without restart counts (sidecar nginx) only portico_nginx_up is exported.
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewProcessCollector(h, nil))
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// TestWatchMaster: each new master named by the pid file is reported once.
func TestWatchMaster(t *testing.T) {
	dir := t.TempDir()
	p := PIDFileProcess{Path: dir + "/nginx.pid"}
	start := func() int {
		cmd := exec.Command("sleep", "60")
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		require.NoError(t, os.WriteFile(p.Path, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644))
		return cmd.Process.Pid
	}
	ups := make(chan int, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- WatchMaster(ctx, p, time.Millisecond, func(pid int) { ups <- pid }) }()
	first := start()
	assert.Equal(t, first, <-ups)
	second := start()
	assert.Equal(t, second, <-ups)
	cancel()
	require.NoError(t, <-done)
	assert.Empty(t, ups, "each master once")
}

// TestProbeServing runs the nginx container's probe against a real nginx:
// not started, serving, stopped, continued.
func TestProbeServing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	probe := func() error { return ProbeServing(ctx, e.opts.PIDFile, e.opts.Socket) }
	require.EqualError(t, probe(), "nginx is not running")
	e.start(t)
	require.NoError(t, probe())
	pid := e.sup.Pid()
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	require.Eventually(t, func() bool { return probe() != nil }, 5*time.Second, 5*time.Millisecond)
	assert.Contains(t, probe().Error(), "is stopped")
	require.NoError(t, syscall.Kill(pid, syscall.SIGCONT))
	require.Eventually(t, func() bool { return probe() == nil }, 5*time.Second, 5*time.Millisecond)
	err := ProbeServing(ctx, e.opts.PIDFile, e.opts.Socket+".missing")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nginx does not answer")
}
