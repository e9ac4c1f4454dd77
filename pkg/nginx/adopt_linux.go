package nginx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// adoptAction is what a starting supervisor does with an nginx master
// that a previous controller left running.
type adoptAction int

const (
	// startFresh: there is no master of ours; start one.
	startFresh adoptAction = iota
	// adoptMaster: the pid file names our running master; keep it serving
	// and supervise it.
	adoptMaster
	// killStale: our master is there but stopped (SIGSTOP) or otherwise
	// unusable; kill its process group and start a fresh one.
	killStale
)

// adoption is the decision about the master a pid file names, and why.
type adoption struct {
	action adoptAction
	// pid and stat name the master (zero for startFresh without one).
	pid  int
	stat procStat
	// reason says why, for the log.
	reason string
}

// decideAdoption looks at the master pidFile names, under proc (/proc): it
// is adopted only when it is nginx (its executable is binary), runs with
// our configuration (its command line has "-c config"), leads its own
// process group (as every master a supervisor starts does, so its
// workers can be killed with it) and is not stopped.
func decideAdoption(proc, pidFile, binary, config string) (adoption, error) {
	pid, err := readPIDFile(pidFile)
	if err != nil {
		return adoption{reason: "unreadable pid file"}, err
	}
	if pid == 0 {
		return adoption{reason: "no pid in the pid file"}, nil
	}
	st, err := readStat(proc, pid)
	if gone(err) {
		return adoption{reason: fmt.Sprintf("pid %d of the pid file no longer runs", pid)}, nil
	}
	if err != nil {
		return adoption{}, err
	}
	if st.procState() == ProcGone {
		return adoption{reason: fmt.Sprintf("pid %d of the pid file has exited", pid)}, nil
	}
	same, err := sameExecutable(filepath.Join(proc, strconv.Itoa(pid), "exe"), binary)
	if gone(err) {
		return adoption{reason: fmt.Sprintf("pid %d of the pid file no longer runs", pid)}, nil
	}
	if err != nil {
		return adoption{}, err
	}
	if !same {
		return adoption{reason: fmt.Sprintf("pid %d of the pid file is not %s", pid, binary)}, nil
	}
	cmdline, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "cmdline"))
	if gone(err) {
		return adoption{reason: fmt.Sprintf("pid %d of the pid file no longer runs", pid)}, nil
	}
	if err != nil {
		return adoption{}, fmt.Errorf("read the command line of pid %d: %w", pid, err)
	}
	if !hasConfigArg(cmdline, config) {
		return adoption{reason: fmt.Sprintf("pid %d of the pid file runs another configuration than %s", pid, config)}, nil
	}
	if st.pgrp != pid {
		return adoption{reason: fmt.Sprintf("pid %d of the pid file does not lead its process group", pid)}, nil
	}
	if st.procState() == ProcStopped {
		return adoption{action: killStale, pid: pid, stat: st, reason: fmt.Sprintf("nginx master %d is stopped", pid)}, nil
	}
	return adoption{action: adoptMaster, pid: pid, stat: st, reason: fmt.Sprintf("nginx master %d runs our configuration", pid)}, nil
}

// sameExecutable reports whether the process executable link exe points
// at binary (looked up in PATH like exec.Command does, symlinks resolved).
// A binary replaced on disk since the process started shows as
// "PATH (deleted)" and is not the same.
func sameExecutable(exe, binary string) (bool, error) {
	running, err := os.Readlink(exe)
	if err != nil {
		return false, fmt.Errorf("read the executable of a process: %w", err)
	}
	path, err := exec.LookPath(binary)
	if err != nil {
		return false, fmt.Errorf("find %s: %w", binary, err)
	}
	want, err := filepath.EvalSymlinks(path)
	if err != nil {
		return false, fmt.Errorf("resolve %s: %w", path, err)
	}
	return running == want, nil
}

// hasConfigArg reports whether a /proc cmdline holds "-c config" as two
// whole arguments. An nginx master rewrites its argv into its title,
// "nginx: master process BINARY -c CONFIG ...", joined by spaces, so both
// separators count.
func hasConfigArg(cmdline []byte, config string) bool {
	args := strings.Fields(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-c" && args[i+1] == config {
			return true
		}
	}
	return false
}

// adoptedMaster is an nginx master this supervisor did not fork: it can
// signal it and watch it, but not wait for it (its parent is now init).
type adoptedMaster struct {
	pid  int
	stat procStat
}

// running reports whether the adopted master still exists as the same
// process (a recycled pid has another start time).
func (a adoptedMaster) running() bool {
	st, err := readStat("/proc", a.pid)
	return err == nil && st.startTime == a.stat.startTime && st.procState() != ProcGone
}

// signal sends sig to the adopted master, unless its pid now names
// another process.
func (a adoptedMaster) signal(sig syscall.Signal) error {
	if !a.running() {
		return ErrNotRunning
	}
	if err := syscall.Kill(a.pid, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return ErrNotRunning
		}
		return fmt.Errorf("signal nginx pid %d: %w", a.pid, err)
	}
	return nil
}

// wait polls until the adopted master is gone or stop is closed (then it
// returns false). Polling is the portable way: a process that is not our
// child cannot be waited for, and its exit must be seen within a tenth of
// a second, which a poll of one small /proc file does cheaply.
func (a adoptedMaster) wait(stop <-chan struct{}, every time.Duration) bool {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for a.running() {
		select {
		case <-stop:
			return false
		case <-tick.C:
		}
	}
	return true
}

// killGroup kills every process of the adopted master's process group, so
// workers a crashed master left behind release the listening sockets. The
// members are found in /proc rather than with kill(-pgid): the master was
// reaped by init, so nothing keeps the group id from being recycled once
// its last member is gone.
func (a adoptedMaster) killGroup() error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("kill the process group of nginx %d: %w", a.pid, err)
	}
	var errs []error
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		st, err := readStat("/proc", pid)
		if err != nil || st.pgrp != a.pid || st.procState() == ProcGone {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill nginx process %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}
