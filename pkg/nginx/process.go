package nginx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNotRunning is returned when a signal is sent to an nginx that is not
// running (no child, or no pid in the pid file).
var ErrNotRunning = errors.New("nginx is not running")

// Process is the nginx master the driver signals. The two implementations
// are PIDFileProcess (nginx in another container of the Pod) and Supervisor
// (nginx as a child of the controller).
type Process interface {
	// Signal sends sig to the nginx master.
	Signal(sig os.Signal) error
	// Alive reports whether the master runs and is ready to handle signals.
	Alive() bool
	// Pid returns the master's pid, or 0 when there is none.
	Pid() int
}

// PIDFileProcess is an nginx master known only by its pid file: the sidecar
// mode, where nginx runs in another container of the same Pod with
// shareProcessNamespace. The pid file is read on every call because nginx
// rewrites it whenever its container restarts. Signalling needs the same UID
// as nginx's master or CAP_KILL.
type PIDFileProcess struct {
	// Path is the pid file nginx writes (its `pid` directive).
	Path string
}

var _ Process = PIDFileProcess{}

// Signal sends sig to the pid currently in the pid file.
func (p PIDFileProcess) Signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("nginx: unsupported signal %v", sig)
	}
	pid, err := readPIDFile(p.Path)
	if err != nil {
		return err
	}
	if pid == 0 {
		return fmt.Errorf("%w: no pid in %s", ErrNotRunning, p.Path)
	}
	if err := syscall.Kill(pid, s); err != nil {
		return fmt.Errorf("signal nginx pid %d: %w", pid, err)
	}
	return nil
}

// Alive reports whether the pid in the pid file names a live process. A
// missing or empty pid file means nginx has not started yet (or has exited:
// nginx removes the file on a clean shutdown).
func (p PIDFileProcess) Alive() bool {
	pid, err := readPIDFile(p.Path)
	if err != nil || pid == 0 {
		return false
	}
	return processExists(pid)
}

// Pid returns the pid in the pid file, or 0 if there is none.
func (p PIDFileProcess) Pid() int {
	pid, err := readPIDFile(p.Path)
	if err != nil {
		return 0
	}
	return pid
}

// processExists probes pid with signal 0. EPERM means the process exists but
// belongs to someone else, which still counts as alive: the real signal will
// then fail with a clear error instead of being silently skipped.
func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// readPIDFile returns the pid in path, or 0 when the file is missing or empty
// (nginx has not written it yet). Garbage in the file is an error.
func readPIDFile(path string) (int, error) {
	if path == "" {
		return 0, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return 0, nil
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s holds %q, not a pid", path, s)
	}
	return pid, nil
}

// WatchMaster calls up with the master's pid each time proc names a new
// live master, looking every interval until ctx ends: in the sidecar mode
// it is how the controller learns that nginx's container restarted (the
// Supervisor reports its own masters with OnUp). The master running when
// it starts counts as new.
func WatchMaster(ctx context.Context, proc Process, every time.Duration, up func(pid int)) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	last := 0
	for {
		if proc.Alive() {
			if pid := proc.Pid(); pid != 0 && pid != last {
				last = pid
				up(pid)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
