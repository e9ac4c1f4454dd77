package nginx

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts nginx in its own process group, so a terminal's Ctrl-C
// does not reach it before the controller's graceful stop, and so its
// workers can be killed with it.
//
// There is deliberately no parent-death signal: nginx outlives a
// controller killed by SIGKILL or the OOM killer and keeps serving (a
// SIGTERM there reset every request in flight), and the next controller
// adopts it (decideAdoption). A controller that stops normally stops
// nginx gracefully itself.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// waitAndKillGroup waits for the nginx master to exit, kills what is left of
// its process group, then reaps it. The order matters: waiting with WNOWAIT
// leaves the master a zombie, which keeps its pid (and so the group id)
// reserved, so the SIGKILL cannot reach an unrelated process group that
// recycled the number. Workers survive a master killed by SIGKILL or a crash,
// and they hold the listening sockets, so without this kill every restart
// would fail to bind.
func waitAndKillGroup(cmd *exec.Cmd) error {
	pid := cmd.Process.Pid
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			// Not fatal: fall through to Wait, which reaps and reports.
			break
		}
		if err := unix.Kill(-pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			// Wait anyway; the error is reported with the exit status below.
			return errors.Join(fmt.Errorf("kill nginx process group %d: %w", pid, err), cmd.Wait())
		}
		break
	}
	return cmd.Wait()
}
