//go:build linux

package local

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// TestStatusEndpoints checks /healthz, /metrics, /debug/config and
// /debug/reloads of a running controller.
func TestStatusEndpoints(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web")
	hosts := []string{"one.example.com", "two.example.com"}
	c := startController(t, options{files: map[string]string{
		"web.yaml": serviceYAML("web", b["web"]),
		"one.yaml": ingressYAML("one", hosts[0], route{"/", "Prefix", "web"}),
		"two.yaml": ingressYAML("two", hosts[1], route{"/", "Prefix", "web"}),
	}})

	t.Run("healthz", func(t *testing.T) {
		assert.Equal(t, "ok\n", string(c.MustStatusGet(t, "/healthz")))
		assert.Equal(t, "ok\n", string(c.MustStatusGet(t, "/readyz")))
	})
	t.Run("metrics", func(t *testing.T) {
		success, ok := c.Metric(t, "portico_reloads_total", map[string]string{"result": "success"})
		require.True(t, ok, "portico_reloads_total{result=\"success\"}")
		assert.GreaterOrEqual(t, success, 1.0)
		hash, ok := c.Metric(t, "portico_config_hash", nil)
		require.True(t, ok, "portico_config_hash")
		assert.NotZero(t, hash)
		last, ok := c.Metric(t, "portico_last_reload_successful", nil)
		require.True(t, ok, "portico_last_reload_successful")
		assert.Equal(t, 1.0, last)
	})
	t.Run("debug/config", func(t *testing.T) {
		conf := string(c.MustStatusGet(t, "/debug/config"))
		assert.Contains(t, conf, "server_name")
		for _, h := range hosts {
			assert.Contains(t, conf, h)
		}
		onDisk, err := os.ReadFile(filepath.Join(c.ConfigDir, "nginx.conf"))
		require.NoError(t, err)
		assert.Equal(t, string(onDisk), conf, "/debug/config is the live nginx.conf")
	})
	t.Run("debug/reloads", func(t *testing.T) {
		events := c.Reloads(t)
		require.NotEmpty(t, events)
		first := events[len(events)-1]
		// Generations count from the run's start time in milliseconds.
		assert.Greater(t, first.Generation, uint64(time.Now().Add(-time.Hour).UnixMilli()), "the run's first generation")
		assert.LessOrEqual(t, first.Generation, uint64(time.Now().UnixMilli())+1)
		assert.Equal(t, "success", first.Result)
		assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{64}$`), first.ConfigHash)
		assert.Positive(t, first.DurationMS)
		assert.False(t, first.Time.IsZero())
		assert.Empty(t, first.Message)
		assert.Subset(t, first.Changes.Added, hosts, "the first reload adds every server")
		assert.NotNil(t, first.Changes.Removed, "empty lists are [] in JSON, not null")
		t.Logf("first reload: generation %d in %.1fms, added %v", first.Generation, first.DurationMS, first.Changes.Added)

		// A later reload lists only what changed, and numbers go up by one.
		c.update(t, "three.yaml", ingressYAML("three", "three.example.com", route{"/", "Prefix", "web"}))
		events = c.Reloads(t)
		require.GreaterOrEqual(t, len(events), 2)
		assert.Equal(t, events[1].Generation+1, events[0].Generation)
		assert.Equal(t, []string{"three.example.com"}, events[0].Changes.Added)
		assert.Empty(t, events[0].Changes.Removed)
		assert.NotEqual(t, events[1].ConfigHash, events[0].ConfigHash)

		limited := c.MustStatusGet(t, "/debug/reloads?limit=1")
		assert.Equal(t, 1, strings.Count(string(limited), `"generation"`))
	})
}

// TestNginxCrashRecovery kills the nginx master with SIGKILL: the supervisor
// must start a new one and traffic must come back.
func TestNginxCrashRecovery(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web")
	const host = "crash.example.com"
	c := startController(t, options{files: map[string]string{
		"web.yaml":     serviceYAML("web", b["web"]),
		"ingress.yaml": ingressYAML("crash", host, route{"/", "Prefix", "web"}),
	}})
	c.WaitServed(t, host, "/", "web")

	oldPid := c.nginxMaster(t)
	oldGroup := framework.NginxProcesses(c.ConfigDir, nil)
	require.NotEmpty(t, oldGroup)
	killed := time.Now()
	require.NoError(t, syscall.Kill(oldPid, syscall.SIGKILL))

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		pid, err := readPid(filepath.Join(c.RuntimeDir, "nginx.pid"))
		require.NoError(ct, err)
		assert.NotEqual(ct, oldPid, pid, "a new nginx master")
		r, err := c.Request(host, "/")
		require.NoError(ct, err)
		assert.Equal(ct, "web", r.Served(), "%s", r)
	}, framework.RouteTimeout, framework.PollInterval)
	t.Logf("traffic back %s after SIGKILL of the nginx master", time.Since(killed).Round(time.Millisecond))

	// The workers of the killed master are gone too: they held the sockets.
	for _, p := range oldGroup {
		assert.False(t, alive(p.PID), "process %v of the killed nginx is still running", p)
	}
	assert.Equal(t, "ok\n", string(c.MustStatusGet(t, "/healthz")))

	// The new nginx still reloads.
	c.update(t, "ingress.yaml", ingressYAML("crash", host, route{"/", "Prefix", "web"}, route{"/after", "Exact", "web"}))
	c.WaitServed(t, host, "/after", "web")
}

// nginxMaster returns the pid of this controller's nginx master, checking
// that the pid file names a process running with our config.
func (c *controller) nginxMaster(t *testing.T) int {
	t.Helper()
	pid, err := readPid(filepath.Join(c.RuntimeDir, "nginx.pid"))
	require.NoError(t, err)
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	require.NoError(t, err)
	require.Contains(t, string(cmdline), filepath.Join(c.ConfigDir, "nginx.conf"), "pid %d is our nginx master", pid)
	return pid
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// alive reports whether pid runs (a zombie is dead).
func alive(pid int) bool {
	for _, p := range framework.Processes() {
		if p.PID == pid {
			return p.State != "Z"
		}
	}
	return false
}
