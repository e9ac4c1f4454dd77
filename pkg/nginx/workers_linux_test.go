package nginx

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestCountWorkersAcrossReloads counts the workers of a real nginx while a
// reload leaves an old worker busy with a slow download, and shows that
// worker_shutdown_timeout (of the configuration the old worker runs) ends it.
func TestCountWorkersAcrossReloads(t *testing.T) {
	e := newEnv(t)
	e.start(t)
	master := e.sup.Pid()
	requireWorkers := func(want Workers, msg string) {
		t.Helper()
		var got Workers
		require.Eventually(t, func() bool {
			var err error
			got, err = CountWorkers(master)
			require.NoError(t, err)
			return got == want
		}, 10*time.Second, 20*time.Millisecond, "%s: got %+v, want %+v", msg, got, want)
	}
	requireWorkers(Workers{Active: 2}, "fresh start, worker_processes 2")
	requireMetric(t, NewWorkerCollector(e.sup), 2, 0)
	requireMetric(t, NewWorkerCollector(PIDFileProcess{Path: e.opts.PIDFile}), 2, 0)

	// A 1 MB file sent at 1 KB/s keeps a worker busy for as long as the
	// test wants: a connection in use, which a graceful shutdown must not cut.
	www := filepath.Join(e.dir, "www")
	require.NoError(t, os.MkdirAll(www, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(www, "big"), bytes.Repeat([]byte("x"), 1<<20), 0o644))
	slow := fmt.Sprintf("location = /big { root %s; limit_rate 1k; }", www)
	// worker_shutdown_timeout is read by each worker from its own
	// configuration, so the timeout that ends a lingering worker is the one
	// of the generation it runs, not of the one that replaced it.
	gen2 := bytes.Replace(e.conf(2, slow), []byte("worker_processes 2;"), []byte("worker_processes 2;\nworker_shutdown_timeout 1s;"), 1)
	_, err := e.drv.Apply(context.Background(), gen2, nil, 2)
	require.NoError(t, err)
	requireWorkers(Workers{Active: 2}, "after a reload with no connection open, old workers exit at once")

	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(e.port))
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	_, err = conn.Write([]byte("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"))
	require.NoError(t, err)
	status, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(status, "HTTP/1.1 200"), status)

	_, err = e.drv.Apply(context.Background(), e.conf(3, slow), nil, 3)
	require.NoError(t, err)
	requireWorkers(Workers{Active: 2, ShuttingDown: 1}, "the worker sending /big finishes it")
	requireMetric(t, NewWorkerCollector(e.sup), 2, 1)

	start := time.Now()
	requireWorkers(Workers{Active: 2}, "worker_shutdown_timeout 1s ends the lingering worker")
	t.Logf("old worker gone %v after it was counted as shutting down", time.Since(start).Round(time.Millisecond))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = bufio.NewReader(conn).ReadString(0)
	require.Error(t, err, "the timed-out worker closed the download")
}

// requireMetric checks portico_nginx_worker_processes as a scrape shows it.
func requireMetric(t *testing.T, c prometheus.Collector, active, down int) {
	t.Helper()
	want := fmt.Sprintf(`# HELP portico_nginx_worker_processes Number of nginx worker processes, by state: active (current configuration) or shutting_down (an older configuration finishing its connections).
# TYPE portico_nginx_worker_processes gauge
portico_nginx_worker_processes{state="active"} %d
portico_nginx_worker_processes{state="shutting_down"} %d
`, active, down)
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want)))
}

func TestCountWorkersNoMaster(t *testing.T) {
	w, err := CountWorkers(0)
	require.NoError(t, err)
	require.Zero(t, w)
	requireMetric(t, NewWorkerCollector(PIDFileProcess{Path: filepath.Join(t.TempDir(), "nginx.pid")}), 0, 0)
}

// TestCountWorkersProcFormat covers what a real nginx does not show: a
// command name with spaces and parentheses, other children of the master
// (cache manager) and a process that vanished half-way.
func TestCountWorkersProcFormat(t *testing.T) {
	proc := t.TempDir()
	add := func(pid int, comm string, ppid int, cmdline string) {
		dir := filepath.Join(proc, strconv.Itoa(pid))
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), fmt.Appendf(nil, "%d (%s) S %d 10 10 0 -1", pid, comm, ppid), 0o644))
		if cmdline != "" {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "cmdline"), []byte(cmdline), 0o644))
		}
	}
	add(10, "nginx", 1, "nginx: master process nginx -c x\x00")
	add(11, "nginx", 10, "nginx: worker process\x00\x00\x00\x00")
	add(12, "nginx", 10, "nginx: worker process is shutting down\x00\x00")
	add(13, "nginx", 10, "nginx: cache manager process\x00")
	add(14, "odd) 10 (name", 99, "nginx: worker process\x00") // not a child despite the name
	add(15, "nginx", 10, "")                                  // gone before cmdline was read
	add(20, "nginx", 1, "nginx: worker process\x00")          // another master's worker
	require.NoError(t, os.MkdirAll(filepath.Join(proc, "self"), 0o755))

	w, err := countWorkersIn(proc, 10)
	require.NoError(t, err)
	require.Equal(t, Workers{Active: 1, ShuttingDown: 1}, w)
	require.Equal(t, 2, w.Total())

	_, err = countWorkersIn(filepath.Join(proc, "missing"), 10)
	require.Error(t, err)
}
