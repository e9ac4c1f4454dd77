//go:build !linux

package nginx

// ReadProcState tells running from gone with signal 0: without /proc a
// stopped process cannot be told from a running one. (Production runs on
// Linux; this is for development machines.)
func ReadProcState(pid int) (ProcState, error) {
	if pid > 0 && processExists(pid) {
		return ProcRunning, nil
	}
	return ProcGone, nil
}
