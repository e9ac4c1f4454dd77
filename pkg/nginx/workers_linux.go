package nginx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// countWorkers reads the real /proc.
func countWorkers(master int) (Workers, error) {
	return countWorkersIn("/proc", master)
}

// countWorkersIn scans every process under proc for children of master.
// The whole table is scanned rather than /proc/PID/task/PID/children,
// which needs a kernel option and misses children of other threads; in the
// nginx container there are only a handful of processes. A process that
// exits during the scan is skipped: it is no longer a worker.
func countWorkersIn(proc string, master int) (Workers, error) {
	entries, err := os.ReadDir(proc)
	if err != nil {
		return Workers{}, fmt.Errorf("count nginx workers: %w", err)
	}
	var w Workers
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 || pid == master {
			continue
		}
		ppid, err := parentPID(filepath.Join(proc, e.Name(), "stat"))
		if gone(err) {
			continue
		}
		if err != nil {
			return Workers{}, fmt.Errorf("count nginx workers: %w", err)
		}
		if ppid != master {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(proc, e.Name(), "cmdline"))
		if gone(err) {
			continue
		}
		if err != nil {
			return Workers{}, fmt.Errorf("count nginx workers: %w", err)
		}
		// nginx writes its title over argv, so the rest of the old
		// argument area follows as NULs (or spaces).
		title := string(bytes.TrimRight(cmdline, "\x00 "))
		if down, ok := workerState(title); ok {
			if down {
				w.ShuttingDown++
			} else {
				w.Active++
			}
		}
	}
	return w, nil
}

// gone reports whether err means the process exited while it was read.
func gone(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// parentPID reads the parent pid from a /proc/PID/stat file. The command
// name (field 2) is in parentheses and may itself hold spaces and ")", so
// fields are counted from the last ")".
func parentPID(statPath string) (int, error) {
	b, err := os.ReadFile(statPath)
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: no command name", statPath)
	}
	// After the name: state, then ppid.
	fields := bytes.Fields(b[i+1:])
	if len(fields) < 2 {
		return 0, fmt.Errorf("%s: too few fields", statPath)
	}
	ppid, err := strconv.Atoi(string(fields[1]))
	if err != nil {
		return 0, fmt.Errorf("%s: parent pid %q: %w", statPath, fields[1], err)
	}
	return ppid, nil
}
