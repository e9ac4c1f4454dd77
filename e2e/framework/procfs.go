//go:build linux

package framework

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Proc is a process as /proc shows it.
type Proc struct {
	// PID is the process id.
	PID int
	// PPID is the parent's process id.
	PPID int
	// PGID is the process group id (nginx's workers share their master's).
	PGID int
	// State is the one-letter state ("Z" for a zombie).
	State string
	// Cmdline is its command line, arguments joined by spaces.
	Cmdline string
}

// String names the process in messages.
func (p Proc) String() string { return fmt.Sprintf("%d(%s %q)", p.PID, p.State, p.Cmdline) }

// NginxProcesses lists the live processes of the nginx that serves
// configDir: masters name the config file on their command line, workers
// share the master's process group (the supervisor starts nginx in its own
// group). groups adds process groups known from earlier. Zombies are dead.
func NginxProcesses(configDir string, groups map[int]bool) []Proc {
	all := Processes()
	masters := map[int]bool{}
	conf := filepath.Join(configDir, "nginx.conf")
	for _, p := range all {
		if strings.Contains(p.Cmdline, "nginx") && strings.Contains(p.Cmdline, conf) {
			masters[p.PID] = true
		}
	}
	var out []Proc
	for _, p := range all {
		if p.State == "Z" {
			continue
		}
		if masters[p.PID] || masters[p.PGID] || groups[p.PGID] {
			out = append(out, p)
		}
	}
	return out
}

// Processes lists every process of the machine.
func Processes() []Proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 3 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		pgid, _ := strconv.Atoi(fields[2])
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out = append(out, Proc{PID: pid, PPID: ppid, PGID: pgid, State: fields[0],
			Cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))})
	}
	return out
}

// PIDAlive reports whether a process with this pid exists (a zombie does).
func PIDAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
