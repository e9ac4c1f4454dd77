//go:build linux

package framework

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Supervisor starts every child process of one test binary and remembers
// the live ones, so a teardown can stop what a test left behind.
//
// It forks from one goroutine locked to its OS thread for the life of the
// test binary: Pdeathsig fires when the *thread* that forked the child
// exits, so forking from an arbitrary goroutine could kill a child whenever
// the runtime retires a thread. With this, a test binary that dies (a
// -timeout panic skips every t.Cleanup and TestMain's teardown) still takes
// its children down with it; a controller ended by SIGTERM stops its nginx
// gracefully.
type Supervisor struct {
	requests chan spawnRequest

	mu       sync.Mutex
	children map[*Process]bool
	seq      int
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// NewSupervisor starts the forking thread; a suite's TestMain makes one.
func NewSupervisor() *Supervisor {
	s := &Supervisor{requests: make(chan spawnRequest), children: map[*Process]bool{}}
	go func() {
		runtime.LockOSThread() // never unlocked: this thread lives as long as the process
		for r := range s.requests {
			r.done <- r.cmd.Start()
		}
	}()
	return s
}

// Process is a child the suite started and must stop.
type Process struct {
	// Name says what the process is, in messages.
	Name string
	// Cmd is the started command.
	Cmd *exec.Cmd
	// Logs holds the output the caller did not send elsewhere.
	Logs *LogBuffer

	sup    *Supervisor
	seq    int
	exited chan struct{}
	err    error
}

// Start starts cmd with its output in a LogBuffer (unless cmd already has
// an output) and a parent-death signal (SIGTERM unless cmd sets another),
// and registers it until it is stopped.
func (s *Supervisor) Start(name string, cmd *exec.Cmd) (*Process, error) {
	p := &Process{Name: name, Cmd: cmd, Logs: &LogBuffer{}, sup: s, exited: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.Logs
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.Logs
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if cmd.SysProcAttr.Pdeathsig == 0 {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	}
	cmd.WaitDelay = 5 * time.Second
	done := make(chan error, 1)
	s.requests <- spawnRequest{cmd: cmd, done: done}
	if err := <-done; err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s.mu.Lock()
	s.seq++
	p.seq = s.seq
	s.children[p] = true
	s.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Live returns the registered children, newest first: a controller goes
// before the API server it talks to.
func (s *Supervisor) Live() []*Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Process, 0, len(s.children))
	for p := range s.children {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Process) int { return b.seq - a.seq })
	return out
}

// StopAll stops every live child but those in keep, newest first.
func (s *Supervisor) StopAll(keep ...*Process) error {
	var errs []error
	for _, p := range s.Live() {
		if slices.Contains(keep, p) {
			continue
		}
		errs = append(errs, p.Stop())
	}
	return errors.Join(errs...)
}

func (s *Supervisor) forget(p *Process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.children, p)
}

// Exited is closed once the process has exited and Err is set.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is what waiting for the process returned; only read it after Exited.
func (p *Process) Err() error { return p.err }

// Alive reports whether the process has not exited yet.
func (p *Process) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM, falls back to SIGKILL after StopTimeout, and
// unregisters the process. An error says it had to be killed or would not
// die; an exit status after SIGTERM is the caller's to judge (see Err).
func (p *Process) Stop() error {
	defer p.sup.forget(p)
	if !p.Alive() {
		return nil
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(StopTimeout):
	}
	_ = p.Cmd.Process.Kill()
	select {
	case <-p.exited:
		return fmt.Errorf("%s (pid %d) did not exit within %s of SIGTERM; killed", p.Name, p.Cmd.Process.Pid, StopTimeout)
	case <-time.After(KillTimeout):
		return fmt.Errorf("%s (pid %d) not reaped within %s of SIGKILL", p.Name, p.Cmd.Process.Pid, KillTimeout)
	}
}

// Kill sends SIGKILL, as a crash would, waits until the process is reaped,
// and unregisters it.
func (p *Process) Kill() error {
	defer p.sup.forget(p)
	if !p.Alive() {
		return nil
	}
	if err := p.Cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(KillTimeout):
		return fmt.Errorf("%s (pid %d) not reaped within %s of SIGKILL", p.Name, p.Cmd.Process.Pid, KillTimeout)
	}
}

// LogTail returns the last n lines of the process's output.
func (p *Process) LogTail(n int) string { return p.Logs.Tail(n) }

// LogBuffer collects a child's stdout and stderr; tests read it while the
// child writes.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p; the child's output goes through it.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Count returns how many lines contain s.
func (b *LogBuffer) Count(s string) int {
	n := 0
	for line := range strings.Lines(b.String()) {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// Tail returns the last n lines.
func (b *LogBuffer) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
