package nginx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeNginx writes a shell script that plays nginx -t: script is its body.
// The script records its pid and those of the children it starts in the
// file named by $PIDS, so the test can check that none is left.
func fakeNginx(t *testing.T, script string) (binary, pids string) {
	t.Helper()
	dir := t.TempDir()
	binary = filepath.Join(dir, "nginx")
	pids = filepath.Join(dir, "pids")
	body := "#!/bin/sh\nPIDS=" + strconv.Quote(pids) + "\necho $$ >> \"$PIDS\"\n" + script + "\n"
	require.NoError(t, os.WriteFile(binary, []byte(body), 0o755))
	return binary, pids
}

// readPids returns the pids the fake recorded, the first being its own
// (and so its process group's id).
func readPids(t *testing.T, path string) []int {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []int
	for _, f := range strings.Fields(string(raw)) {
		pid, err := strconv.Atoi(f)
		require.NoError(t, err)
		out = append(out, pid)
	}
	return out
}

// alive reports whether pid runs (a zombie counts as gone: it holds nothing).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command name, which is in parentheses.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

// killGrace bounds how long processes sent SIGKILL may take to die: the
// signal is queued at once, death comes when the kernel schedules them.
const killGrace = 2 * time.Second

// liveMembers returns the pids of the processes of group pgid that still
// run. Zombies do not count: they hold no pipe and no CPU, and killed
// children wait for their new parent (init) to reap them.
func liveMembers(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 3 || fields[0] == "Z" {
			continue
		}
		if fields[2] == strconv.Itoa(pgid) {
			out = append(out, pid)
		}
	}
	return out
}

// TestTestDeadline checks that nginx -t cannot outlive its deadline, even
// when a child holds its output pipe open, and that it leaves nothing of
// its process group behind. The bounds are the deadline plus the pipe's
// WaitDelay plus generous slack: a broken deadline shows as the 60s the
// fakes hang.
func TestTestDeadline(t *testing.T) {
	const deadline = 300 * time.Millisecond
	const bound = deadline + testWaitDelay + 3*time.Second
	tests := []struct {
		name string
		// script is the fake's body; it may use $PIDS.
		script string
		// wantTimeout expects a *TestTimeoutError; else wantErr says
		// whether another error is expected.
		wantTimeout bool
		wantRefused bool
		// escaped is how many recorded pids (after the group's) left
		// the group with setsid; the test kills them itself.
		escaped int
	}{
		{name: "hangs", script: "sleep 60", wantTimeout: true},
		{name: "hangs, a child holds the output pipe", script: "sleep 60 &\necho $! >> \"$PIDS\"\nsleep 60", wantTimeout: true},
		{name: "hangs, a child outside the group holds the output pipe",
			script: "setsid sleep 60 &\necho $! >> \"$PIDS\"\nsleep 60", wantTimeout: true, escaped: 1},
		{name: "passes, a child holds the output pipe", script: "sleep 60 &\necho $! >> \"$PIDS\"\nexit 0"},
		{name: "refuses at once", script: "echo 'nginx: [emerg] unknown directive \"x\"' >&2\nexit 1", wantRefused: true},
		{name: "passes at once", script: "exit 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			binary, pidFile := fakeNginx(t, tt.script)
			d := NewDriver(Options{Binary: binary, TestTimeout: deadline}, nil)
			start := time.Now()
			err := d.Test(context.Background(), "/etc/portico/nginx.conf")
			took := time.Since(start)
			pids := readPids(t, pidFile)
			for _, pid := range pids[len(pids)-tt.escaped:] {
				t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			}
			assert.Less(t, took, bound, "nginx -t returned %s after it started", took)

			var timeout *TestTimeoutError
			var refused *TestError
			switch {
			case tt.wantTimeout:
				require.ErrorAs(t, err, &timeout)
				assert.Equal(t, "nginx -t did not finish within 300ms; killed: "+binary+" -t -q -c /etc/portico/nginx.conf", err.Error())
				assert.GreaterOrEqual(t, took, deadline, "killed no sooner than the deadline")
				assert.NotErrorAs(t, err, &refused, "a hung nginx -t is not the configuration's fault")
			case tt.wantRefused:
				require.ErrorAs(t, err, &refused)
				assert.Contains(t, refused.Output, `unknown directive "x"`)
			default:
				require.NoError(t, err)
			}
			// SIGKILL has been sent to the whole group; members other than
			// the reaped leader die when the kernel gets to them.
			assert.Eventually(t, func() bool { return len(liveMembers(t, pids[0])) == 0 }, killGrace, 10*time.Millisecond,
				"no process of nginx -t's group is left")
			for _, pid := range pids[:len(pids)-tt.escaped] {
				assert.Eventually(t, func() bool { return !alive(pid) }, killGrace, 10*time.Millisecond, "pid %d of the group is gone", pid)
			}
		})
	}
}

// TestTestCallerCancel checks that a caller giving up is reported as its
// own context error, not as nginx -t timing out.
func TestTestCallerCancel(t *testing.T) {
	binary, pidFile := fakeNginx(t, "sleep 60")
	d := NewDriver(Options{Binary: binary, TestTimeout: time.Minute}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := d.Test(ctx, "/etc/portico/nginx.conf")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var timeout *TestTimeoutError
	require.NotErrorAs(t, err, &timeout)
	pgid := readPids(t, pidFile)[0]
	assert.Eventually(t, func() bool { return len(liveMembers(t, pgid)) == 0 }, killGrace, 10*time.Millisecond)
}

// TestApplyWhenNginxTestHangs makes the real nginx -t hang the way a
// configuration on a hung NFS mount does: the configuration includes a
// FIFO, whose open blocks until a writer comes. The apply must fail within
// the deadline, saying so, leave no nginx -t behind and the live
// configuration serving; once the include is readable again, the next
// apply goes live.
func TestApplyWhenNginxTestHangs(t *testing.T) {
	e := newEnv(t)
	e.start(t)
	opts := e.opts
	opts.TestTimeout = 500 * time.Millisecond
	drv := NewDriver(opts, e.sup)

	fifo := filepath.Join(e.dir, "hangs.conf")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	include := "include " + fifo + ";"
	start := time.Now()
	res, err := drv.Apply(context.Background(), e.conf(2, include), nil, 2)
	took := time.Since(start)
	var timeout *TestTimeoutError
	require.ErrorAs(t, err, &timeout, "%v", err)
	assert.Contains(t, err.Error(), "nginx -t did not finish within 500ms; killed: "+opts.Binary+" -t -q -c "+filepath.Join(e.dir, ".nginx.conf.2.tmp"))
	assert.Less(t, took, opts.TestTimeout+testWaitDelay+3*time.Second, "the deadline holds (took %s)", took)
	assert.False(t, res.Signalled)
	// The full path: other tests on the machine run nginx -t on candidates
	// of the same name in their own directories.
	candidate := filepath.Join(e.dir, ".nginx.conf.2.tmp")
	assert.Eventually(t, func() bool { return len(processesNaming(t, candidate)) == 0 }, killGrace, 10*time.Millisecond,
		"no nginx -t is left running")
	_, err = os.Stat(candidate)
	require.ErrorIs(t, err, os.ErrNotExist, "the candidate is removed")
	e.requireBody(t, "v1")

	// The file is readable again: the next attempt goes live.
	require.NoError(t, os.Remove(fifo))
	require.NoError(t, os.WriteFile(fifo, []byte("# readable again\n"), 0o600))
	_, err = drv.Apply(context.Background(), e.conf(3, include), nil, 3)
	require.NoError(t, err)
	e.requireBody(t, "v3")
}

// processesNaming returns the pids of running processes whose command
// line contains s.
func processesNaming(t *testing.T, s string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(cmdline), s) {
			continue
		}
		if alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}
