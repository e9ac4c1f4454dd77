//go:build unix && !linux

package nginx

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"
)

// sysProcAttr puts nginx in its own process group so a terminal's Ctrl-C
// does not reach it before the controller's graceful stop. As on Linux,
// nginx outlives a controller that is killed.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// waitAndKillGroup reaps the nginx master, then kills workers a crashed
// master may have left in its group. Without waitid(WNOWAIT) the group id
// could in theory be recycled in between; this fallback is for development
// machines only, production runs on Linux.
func waitAndKillGroup(cmd *exec.Cmd) error {
	err := cmd.Wait()
	if kerr := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
		return errors.Join(err, fmt.Errorf("kill nginx process group %d: %w", cmd.Process.Pid, kerr))
	}
	return err
}
