package nginx

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// runGrouped runs cmd in a process group of its own and waits for it. When
// ctx ends first it kills the whole group, not only cmd: a child that
// inherited cmd's output pipe would otherwise keep Wait blocked long after
// the deadline (exec.CommandContext kills only the process it started).
// Whatever the outcome, nothing of the group outlives the call. killed
// reports whether ctx ended the run.
//
// The group is killed while its leader is an unreaped zombie (waitid with
// WNOWAIT, as waitAndKillGroup does for the nginx master): its pid, and so
// the group id, cannot have been recycled, so the SIGKILL reaches only
// what cmd left behind, never an unrelated process group.
func runGrouped(ctx context.Context, cmd *exec.Cmd) (killed bool, err error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return false, err
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() {
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if !errors.Is(err, unix.EINTR) {
				exited <- err
				return
			}
		}
	}()
	var waitErr error
	select {
	case waitErr = <-exited:
	case <-ctx.Done():
		killed = true
		// The leader has not been reaped (only Wait below reaps), so the
		// group id is still its own.
		_ = unix.Kill(-pid, unix.SIGKILL) // ESRCH: it is gone already
		waitErr = <-exited
	}
	if waitErr != nil {
		// Cannot tell whether the leader still runs: kill only it (by
		// pidfd, safe against reuse) and let Wait report.
		_ = cmd.Process.Kill() // best effort: the waitid error is what matters
		return killed, errors.Join(fmt.Errorf("waiting for %s: %w", cmd.Path, waitErr), cmd.Wait())
	}
	// Children that outlived the leader (none for a healthy nginx -t).
	if err := unix.Kill(-pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return killed, errors.Join(fmt.Errorf("kill process group %d: %w", pid, err), cmd.Wait())
	}
	return killed, cmd.Wait()
}
