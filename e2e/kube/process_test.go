//go:build linux

package kube

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// spawnRequests carries commands to the one goroutine that starts every
// child of the suite. It is locked to its OS thread for the life of the test
// binary: Pdeathsig fires when the *thread* that forked the child exits, so
// forking from an arbitrary goroutine could kill a child whenever the
// runtime retires a thread. With this, a test binary that dies (a -timeout
// panic skips every t.Cleanup and TestMain's teardown) still takes etcd,
// kube-apiserver, the controllers (and through their own Pdeathsig their
// nginx) and the echo servers down with it.
var (
	spawnOnce     sync.Once
	spawnRequests chan spawnRequest
)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnRequests = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives as long as the process
			for r := range spawnRequests {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnRequests <- spawnRequest{cmd: cmd, done: done}
	return <-done
}

// child is a process the suite started and must stop.
type child struct {
	name    string
	cmd     *exec.Cmd
	logs    *logBuffer
	exited  chan struct{}
	waitErr error
	seq     int
}

var (
	childrenMu sync.Mutex
	children   = map[*child]bool{}
	childSeq   int
)

// startChild starts cmd with its output in a buffer (unless cmd already has
// an output), dying with the test binary, and registers it so teardown stops
// it if its owner did not.
func startChild(name string, cmd *exec.Cmd) (*child, error) {
	c := &child{name: name, cmd: cmd, logs: &logBuffer{}, exited: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = c.logs
	}
	if cmd.Stderr == nil {
		cmd.Stderr = c.logs
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	cmd.WaitDelay = 5 * time.Second
	if err := spawn(cmd); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	childrenMu.Lock()
	childSeq++
	c.seq = childSeq
	children[c] = true
	childrenMu.Unlock()
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// liveChildren returns the registered children, newest first.
func liveChildren() []*child {
	childrenMu.Lock()
	defer childrenMu.Unlock()
	out := make([]*child, 0, len(children))
	for c := range children {
		out = append(out, c)
	}
	// Newest first: a controller goes before the API server it talks to.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].seq > out[j-1].seq; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// alive reports whether the process has not exited yet.
func (c *child) alive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, falls back to SIGKILL, and unregisters the child. An
// error says it had to be killed or would not die; an exit status after
// SIGTERM is the caller's to judge (see waitErr).
func (c *child) stop() error {
	defer func() {
		childrenMu.Lock()
		delete(children, c)
		childrenMu.Unlock()
	}()
	if !c.alive() {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return nil
	case <-time.After(childStopTimeout):
	}
	_ = c.cmd.Process.Kill()
	select {
	case <-c.exited:
		return fmt.Errorf("%s (pid %d) did not exit within %s of SIGTERM; killed", c.name, c.cmd.Process.Pid, childStopTimeout)
	case <-time.After(childKillTimeout):
		return fmt.Errorf("%s (pid %d) not reaped within %s of SIGKILL", c.name, c.cmd.Process.Pid, childKillTimeout)
	}
}

// logTail returns the last n lines of the child's output.
func (c *child) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(c.logs.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startReaper starts a shell that waits until it gets SIGTERM (teardown
// sends it; Pdeathsig sends it when the test binary dies any other way) and
// then deletes the network namespace and the temporary directory.
func startReaper(netnsName, dir string) (*child, error) {
	const script = `ns=$1 dir=$2
cleanup() {
	for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
	ip netns delete "$ns" 2>/dev/null
	rm -rf -- "$dir"
	kill "$sleeper" 2>/dev/null
	exit 0
}
trap cleanup TERM INT HUP
while :; do sleep 3600 & sleeper=$!; wait "$sleeper"; done`
	return startChild("reaper", exec.Command("bash", "-c", script, "portico-e2e-reaper", netnsName, dir))
}

// pidAlive reports whether a process with this pid exists.
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// sweepLeftovers removes network namespaces, veth interfaces and
// temporary directories of earlier runs whose test binary is gone.
func sweepLeftovers() {
	unlock, err := lockNetns()
	if err == nil {
		defer unlock()
	}
	for _, name := range netnsNames() {
		pid, ok := strings.CutPrefix(name, netnsPrefix)
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(pid); err != nil || pidAlive(n) {
			continue
		}
		fmt.Fprintf(os.Stderr, "e2e/kube: deleting network namespace %s left by a dead run\n", name)
		_ = (&netns{name: name}).delete()
	}
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			pid, ok := strings.CutPrefix(i.Name, vethPrefix)
			if !ok {
				continue
			}
			pid = strings.TrimRight(pid, "hn")
			if n, err := strconv.Atoi(pid); err == nil && !pidAlive(n) {
				_ = exec.Command("ip", "link", "delete", i.Name).Run()
			}
		}
	}
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), tempPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		if n, err := strconv.Atoi(pid); err == nil && !pidAlive(n) {
			_ = os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}

// proc is a process as /proc shows it.
type proc struct {
	pid, ppid, pgid int
	state           string
	cmdline         string
}

func (p proc) String() string { return fmt.Sprintf("%d(%s %q)", p.pid, p.state, p.cmdline) }

// nginxProcesses lists the live processes of the nginx that serves
// configDir: masters name the config file on their command line, workers
// share the master's process group (the supervisor starts nginx in its own
// group). groups adds process groups known from earlier. Zombies are dead.
func nginxProcesses(configDir string, groups map[int]bool) []proc {
	all := processes()
	masters := map[int]bool{}
	conf := filepath.Join(configDir, "nginx.conf")
	for _, p := range all {
		if strings.Contains(p.cmdline, "nginx") && strings.Contains(p.cmdline, conf) {
			masters[p.pid] = true
		}
	}
	var out []proc
	for _, p := range all {
		if p.state == "Z" {
			continue
		}
		if masters[p.pid] || masters[p.pgid] || groups[p.pgid] {
			out = append(out, p)
		}
	}
	return out
}

func processes() []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 3 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		pgid, _ := strconv.Atoi(fields[2])
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out = append(out, proc{pid: pid, ppid: ppid, pgid: pgid, state: fields[0],
			cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))})
	}
	return out
}

// usedPorts keeps one caller from being handed a port another got a moment
// ago (the kernel may hand out a closed port again).
var (
	portsMu   sync.Mutex
	usedPorts = map[int]bool{}
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		if err := ln.Close(); err != nil {
			return 0, err
		}
		if !usedPorts[port] {
			usedPorts[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free port in 50 attempts")
}

// mustFreePort is freePort for tests.
func mustFreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	require.NoError(t, err)
	return port
}

// logBuffer collects a child's stdout and stderr.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count returns how many lines contain s.
func (b *logBuffer) count(s string) int {
	n := 0
	for line := range strings.Lines(b.String()) {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}
