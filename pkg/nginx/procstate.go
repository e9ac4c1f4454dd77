package nginx

import (
	"bytes"
	"fmt"
	"strconv"
)

// ProcState is what the kernel says about a process: whether it can run.
type ProcState int

const (
	// ProcGone is a process that does not exist, or a zombie: it has
	// exited and only waits to be reaped.
	ProcGone ProcState = iota
	// ProcRunning is a process that runs or sleeps: it handles signals
	// and, for nginx, serves.
	ProcRunning
	// ProcStopped is a process stopped by a signal (SIGSTOP, SIGTSTP) or a
	// tracer: it exists, so `kill -0` succeeds, but it does nothing until
	// SIGCONT.
	ProcStopped
)

// String names the state for logs and probe answers.
func (s ProcState) String() string {
	switch s {
	case ProcRunning:
		return "running"
	case ProcStopped:
		return "stopped"
	default:
		return "gone"
	}
}

// procStat is what the supervisor reads from /proc/PID/stat.
type procStat struct {
	// state is the state letter (R, S, D, T, t, Z, X, ...).
	state byte
	// ppid is the parent's pid.
	ppid int
	// pgrp is the process group.
	pgrp int
	// utime and stime are the CPU time spent in user and kernel mode, in
	// clock ticks (ClockTicks a second).
	utime, stime uint64
	// startTime is when the process started, in clock ticks since boot:
	// with the pid it names one process, even after the pid is recycled.
	startTime uint64
}

// procState maps a state letter of /proc/PID/stat to a ProcState.
func (st procStat) procState() ProcState {
	switch st.state {
	case 'T', 't':
		return ProcStopped
	case 'Z', 'X', 'x':
		return ProcGone
	default:
		return ProcRunning
	}
}

// parseStat reads the fields the supervisor needs from the text of a
// /proc/PID/stat file. The command name (field 2) is in parentheses and may
// itself hold spaces and ")", so fields are counted from the last ")".
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("no command name in %q", b)
	}
	// After the name: state (3), ppid (4), pgrp (5), ..., utime (14),
	// stime (15), ..., starttime (22); field n is fields[n-3].
	fields := bytes.Fields(b[i+1:])
	if len(fields) < 20 || len(fields[0]) != 1 {
		return procStat{}, fmt.Errorf("too few fields in %q", b)
	}
	ppid, err := strconv.Atoi(string(fields[1]))
	if err != nil {
		return procStat{}, fmt.Errorf("parent pid %q: %w", fields[1], err)
	}
	pgrp, err := strconv.Atoi(string(fields[2]))
	if err != nil {
		return procStat{}, fmt.Errorf("process group %q: %w", fields[2], err)
	}
	var ticks [3]uint64
	for j, f := range []int{11, 12, 19} {
		if ticks[j], err = strconv.ParseUint(string(fields[f]), 10, 64); err != nil {
			return procStat{}, fmt.Errorf("field %d %q: %w", f+3, fields[f], err)
		}
	}
	return procStat{state: fields[0][0], ppid: ppid, pgrp: pgrp, utime: ticks[0], stime: ticks[1], startTime: ticks[2]}, nil
}
