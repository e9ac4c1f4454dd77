package nginx

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseStat reads the fields from /proc/PID/stat texts, including a
// command name with spaces and parentheses.
func TestParseStat(t *testing.T) {
	rest := " 1 77 77 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 100 18446744073709551615"
	for _, tc := range []struct {
		name  string
		text  string
		want  procStat
		state ProcState
	}{
		{"sleeping", "77 (nginx) S" + rest, procStat{state: 'S', ppid: 1, pgrp: 77, utime: 1, stime: 2, startTime: 123456}, ProcRunning},
		{"running", "77 (nginx) R" + rest, procStat{state: 'R', ppid: 1, pgrp: 77, utime: 1, stime: 2, startTime: 123456}, ProcRunning},
		{"disk wait", "77 (nginx) D" + rest, procStat{state: 'D', ppid: 1, pgrp: 77, utime: 1, stime: 2, startTime: 123456}, ProcRunning},
		{"stopped", "77 (nginx) T" + rest, procStat{state: 'T', ppid: 1, pgrp: 77, utime: 1, stime: 2, startTime: 123456}, ProcStopped},
		{"traced", "77 (nginx) t" + rest, procStat{state: 't', ppid: 1, pgrp: 77, utime: 1, stime: 2, startTime: 123456}, ProcStopped},
		{"zombie", "77 (nginx) Z" + rest, procStat{state: 'Z', ppid: 1, pgrp: 77, utime: 1, stime: 2, startTime: 123456}, ProcGone},
		{"odd name", "77 (a) b (c) T" + rest, procStat{state: 'T', ppid: 1, pgrp: 77, utime: 1, stime: 2, startTime: 123456}, ProcStopped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.text))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.state, got.procState())
		})
	}
	for _, bad := range []string{"", "77 nginx S 1", "77 (nginx) S 1 x", "77 (nginx) SS" + rest} {
		_, err := parseStat([]byte(bad))
		assert.Error(t, err, bad)
	}
}

// TestReadProcState stops and continues a real child process and reads its
// state as the probes do; then it exits.
func TestReadProcState(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	waitState := func(want ProcState) {
		t.Helper()
		require.Eventually(t, func() bool {
			got, err := ReadProcState(pid)
			return err == nil && got == want
		}, 5*time.Second, 5*time.Millisecond, "pid %d never %s", pid, want)
	}
	waitState(ProcRunning)
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	waitState(ProcStopped)
	require.NoError(t, syscall.Kill(pid, syscall.SIGCONT))
	waitState(ProcRunning)

	require.NoError(t, cmd.Process.Kill())
	waitState(ProcGone) // a zombie until reaped
	_ = cmd.Wait()
	state, err := ReadProcState(pid)
	require.NoError(t, err)
	assert.Equal(t, ProcGone, state)

	state, err = ReadProcState(0)
	require.NoError(t, err)
	assert.Equal(t, ProcGone, state)
}

// TestDecideAdoption checks the decision on real processes: a shell stands
// in for the nginx master, started the way the supervisor starts nginx
// (its own process group, "-c CONFIG" among its arguments).
func TestDecideAdoption(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "nginx.conf")
	pidFile := filepath.Join(dir, "nginx.pid")
	shell, err := exec.LookPath("sh")
	require.NoError(t, err)

	start := func(t *testing.T, ownGroup bool, args ...string) int {
		t.Helper()
		// "; :" keeps the shell from exec'ing sleep: the process stays the shell.
		cmd := exec.Command(shell, append([]string{"-c", "sleep 60; :"}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: ownGroup}
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		require.NoError(t, os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644))
		// Wait until the child has exec'd the shell and its new command
		// line is in place: execve switches /proc/PID/exe before it sets the
		// argument area, so for a moment the shell shows an empty cmdline.
		procDir := filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid))
		last := args[len(args)-1]
		require.Eventually(t, func() bool {
			same, err := sameExecutable(filepath.Join(procDir, "exe"), shell)
			if err != nil || !same {
				return false
			}
			cmdline, err := os.ReadFile(filepath.Join(procDir, "cmdline"))
			return err == nil && bytes.HasSuffix(cmdline, []byte(last+"\x00"))
		}, 5*time.Second, 5*time.Millisecond)
		return cmd.Process.Pid
	}

	t.Run("no pid file", func(t *testing.T) {
		a, err := decideAdoption("/proc", filepath.Join(dir, "missing.pid"), shell, config)
		require.NoError(t, err)
		assert.Equal(t, startFresh, a.action, a.reason)
	})
	t.Run("ours, running", func(t *testing.T) {
		pid := start(t, true, "sh", "-c", config)
		a, err := decideAdoption("/proc", pidFile, shell, config)
		require.NoError(t, err)
		assert.Equal(t, adoptMaster, a.action, a.reason)
		assert.Equal(t, pid, a.pid)
		assert.True(t, adoptedMaster{pid: a.pid, stat: a.stat}.running())
	})
	t.Run("ours, stopped", func(t *testing.T) {
		pid := start(t, true, "sh", "-c", config)
		require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
		require.Eventually(t, func() bool {
			a, err := decideAdoption("/proc", pidFile, shell, config)
			return err == nil && a.action == killStale && a.pid == pid
		}, 5*time.Second, 5*time.Millisecond)
		require.NoError(t, adoptedMaster{pid: pid}.killGroup())
		require.Eventually(t, func() bool {
			st, _ := ReadProcState(pid)
			return st == ProcGone
		}, 5*time.Second, 5*time.Millisecond, "killGroup kills the stale master")
	})
	t.Run("another configuration", func(t *testing.T) {
		start(t, true, "sh", "-c", config+".other")
		a, err := decideAdoption("/proc", pidFile, shell, config)
		require.NoError(t, err)
		assert.Equal(t, startFresh, a.action, a.reason)
	})
	t.Run("another executable", func(t *testing.T) {
		start(t, true, "sh", "-c", config)
		a, err := decideAdoption("/proc", pidFile, "sleep", config)
		require.NoError(t, err)
		assert.Equal(t, startFresh, a.action, a.reason)
	})
	t.Run("not a group leader", func(t *testing.T) {
		start(t, false, "sh", "-c", config)
		a, err := decideAdoption("/proc", pidFile, shell, config)
		require.NoError(t, err)
		assert.Equal(t, startFresh, a.action, a.reason)
	})
	t.Run("exited", func(t *testing.T) {
		cmd := exec.Command("true")
		require.NoError(t, cmd.Run())
		require.NoError(t, os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644))
		a, err := decideAdoption("/proc", pidFile, shell, config)
		require.NoError(t, err)
		assert.Equal(t, startFresh, a.action, a.reason)
	})
	t.Run("garbage pid file", func(t *testing.T) {
		require.NoError(t, os.WriteFile(pidFile, []byte("nope"), 0o644))
		a, err := decideAdoption("/proc", pidFile, shell, config)
		require.Error(t, err)
		assert.Equal(t, startFresh, a.action)
	})
}

func TestHasConfigArg(t *testing.T) {
	for _, tc := range []struct {
		cmdline string
		want    bool
	}{
		{"nginx\x00-c\x00/x/nginx.conf\x00-g\x00daemon off;\x00", true},
		{"nginx: master process /usr/sbin/nginx -c /x/nginx.conf -p /run -g daemon off;\x00\x00\x00", true},
		{"nginx: master process /usr/sbin/nginx -c /x/nginx.conf.bak", false},
		{"nginx: master process /usr/sbin/nginx -c /y/x/nginx.conf", false},
		{"nginx -c", false},
	} {
		assert.Equal(t, tc.want, hasConfigArg([]byte(tc.cmdline), "/x/nginx.conf"), "%q", tc.cmdline)
	}
}
