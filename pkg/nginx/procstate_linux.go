package nginx

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// ReadProcState reads pid's state from /proc. A process that does not
// exist is ProcGone with no error.
func ReadProcState(pid int) (ProcState, error) {
	st, err := readStat("/proc", pid)
	if gone(err) {
		return ProcGone, nil
	}
	if err != nil {
		return ProcGone, err
	}
	return st.procState(), nil
}

// readStat reads and parses proc/PID/stat; a missing process gives an
// error gone recognises.
func readStat(proc string, pid int) (procStat, error) {
	if pid <= 0 {
		return procStat{}, fmt.Errorf("read process state: pid %d: %w", pid, os.ErrNotExist)
	}
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, fmt.Errorf("read process state: %w", err)
	}
	st, err := parseStat(b)
	if err != nil {
		return procStat{}, fmt.Errorf("read process state of pid %d: %w", pid, err)
	}
	return st, nil
}
