//go:build unix && !linux

package nginx

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
)

// runGrouped runs cmd in a process group of its own and kills the whole
// group when ctx ends first, so that a child holding cmd's output pipe
// cannot keep Wait blocked; killed reports whether ctx ended the run.
// Without waitid(WNOWAIT) the group id could in theory be recycled between
// the leader's exit and the kill; this fallback is for development
// machines only, production runs on Linux.
func runGrouped(ctx context.Context, cmd *exec.Cmd) (killed bool, err error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return false, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return false, err
	case <-ctx.Done():
		if kerr := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
			return true, errors.Join(kerr, <-done)
		}
		return true, <-done
	}
}
