package nginx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Supervisor defaults. A crash-looping nginx (port taken, certificate gone)
// is retried quickly at first and then at most every maxBackoff; a run that
// lasted stableAfter counts as healthy and resets the backoff.
const (
	defaultMinBackoff  = 250 * time.Millisecond
	defaultMaxBackoff  = 30 * time.Second
	defaultStableAfter = time.Minute
	// defaultKillAfter is how long Stop waits after SIGTERM (fast shutdown)
	// before it sends SIGKILL.
	defaultKillAfter = 5 * time.Second
	// maxLogLine bounds one line of nginx output kept for the logger.
	maxLogLine = 1 << 20
)

// Supervisor runs nginx as a child process (the --start-nginx mode) and
// restarts it with backoff when it dies unexpectedly. It implements Process
// so a Driver can signal it.
//
// nginx runs in its own process group, so a Ctrl-C on the terminal reaches
// only the controller, which then stops nginx gracefully; the group also lets
// the supervisor kill workers orphaned by a crashed master, which would
// otherwise keep the listening sockets and make every restart fail to bind.
type Supervisor struct {
	opts   Options
	log    *slog.Logger
	stdout io.Writer
	stderr io.Writer

	// Timing; fields rather than constants so tests can shorten them.
	minBackoff  time.Duration
	maxBackoff  time.Duration
	stableAfter time.Duration
	killAfter   time.Duration

	mu      sync.Mutex
	started bool      // Start or Stop has been called
	cmd     *exec.Cmd // the running master, nil between runs

	stopping chan struct{} // closed by Stop
	stopOnce sync.Once
	done     chan struct{} // closed when the last child and all output readers are gone
	readers  sync.WaitGroup
}

var _ Process = (*Supervisor)(nil)

// NewSupervisor returns a supervisor for nginx with opts.ConfigPath and
// opts.Prefix. nginx's stdout and stderr go to the given writers; a nil
// writer sends that stream to opts.Logger line by line. The configuration
// must not set `daemon` or `master_process`: the supervisor passes them with -g.
func NewSupervisor(opts Options, stdout, stderr io.Writer) *Supervisor {
	opts = opts.withDefaults()
	return &Supervisor{
		opts:        opts,
		log:         opts.Logger,
		stdout:      stdout,
		stderr:      stderr,
		minBackoff:  defaultMinBackoff,
		maxBackoff:  defaultMaxBackoff,
		stableAfter: defaultStableAfter,
		killAfter:   defaultKillAfter,
		stopping:    make(chan struct{}),
		done:        make(chan struct{}),
	}
}

// Start starts nginx and returns once it has been forked (not once it
// serves: use Driver.Verify for that). It fails if nginx cannot be executed.
// A Supervisor runs once; after Stop it cannot be started again.
func (s *Supervisor) Start() error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("nginx supervisor: already started or stopped")
	}
	s.started = true
	s.mu.Unlock()

	stdout, outOwned, err := s.output(s.stdout, "stdout")
	if err != nil {
		s.finish(nil)
		return err
	}
	var owned []*os.File
	if outOwned {
		owned = append(owned, stdout)
	}
	stderr, errOwned, err := s.output(s.stderr, "stderr")
	if err != nil {
		s.finish(owned)
		return err
	}
	if errOwned {
		owned = append(owned, stderr)
	}
	startErr := make(chan error, 1)
	go s.run(stdout, stderr, owned, startErr)
	return <-startErr
}

// Stop shuts nginx down and waits for it: SIGQUIT first (graceful: workers
// finish their requests), SIGTERM when ctx ends, SIGKILL if that does not
// work either. It returns nil when the graceful shutdown finished in time.
// Calling Stop more than once, or before Start, is fine.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.started {
		// Never started: nothing to wait for, and Start must now refuse.
		s.started = true
		close(s.done)
	}
	s.mu.Unlock()
	s.stopOnce.Do(func() { close(s.stopping) })

	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
	}
	s.log.Warn("nginx did not stop gracefully in time; sending SIGTERM", "error", ctx.Err())
	s.signalQuietly(syscall.SIGTERM)
	timer := time.NewTimer(s.killAfter)
	defer timer.Stop()
	select {
	case <-s.done:
		return fmt.Errorf("graceful stop of nginx timed out, terminated: %w", ctx.Err())
	case <-timer.C:
	}
	s.log.Warn("nginx ignored SIGTERM; sending SIGKILL")
	// Killing the master is enough: the run loop then kills its process
	// group, so no worker survives.
	s.signalQuietly(syscall.SIGKILL)
	timer.Reset(s.killAfter)
	select {
	case <-s.done:
		return fmt.Errorf("graceful stop of nginx timed out, killed: %w", ctx.Err())
	case <-timer.C:
		return fmt.Errorf("nginx did not exit after SIGKILL: %w", ctx.Err())
	}
}

// Done is closed once the supervisor has stopped for good: nginx and all its
// workers are gone and their output has been read to the end.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// Signal sends sig to the running nginx master.
func (s *Supervisor) Signal(sig os.Signal) error {
	cmd := s.current()
	if cmd == nil {
		return ErrNotRunning
	}
	// os.Process.Signal is safe against the run loop reaping the child
	// concurrently: it then reports os.ErrProcessDone instead of hitting a
	// recycled pid.
	if err := cmd.Process.Signal(sig); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return ErrNotRunning
		}
		return fmt.Errorf("signal nginx pid %d: %w", cmd.Process.Pid, err)
	}
	return nil
}

// Alive reports whether nginx runs and is ready for signals. With a PIDFile
// configured, "ready" means the pid file names our child: nginx writes it
// after installing its signal handlers, and a SIGHUP that arrives earlier
// would kill the master (the default action) instead of reloading it.
func (s *Supervisor) Alive() bool {
	cmd := s.current()
	if cmd == nil {
		return false
	}
	if s.opts.PIDFile == "" {
		return true
	}
	pid, err := readPIDFile(s.opts.PIDFile)
	return err == nil && pid == cmd.Process.Pid
}

// Pid returns the pid of the running nginx master, or 0.
func (s *Supervisor) Pid() int {
	cmd := s.current()
	if cmd == nil {
		return 0
	}
	return cmd.Process.Pid
}

func (s *Supervisor) current() *exec.Cmd {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd
}

func (s *Supervisor) isStopping() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

// signalQuietly signals the master if there is one; used on the way down,
// where "already gone" is the desired outcome rather than an error.
func (s *Supervisor) signalQuietly(sig os.Signal) {
	if err := s.Signal(sig); err != nil && !errors.Is(err, ErrNotRunning) {
		s.log.Warn("could not signal nginx", "signal", sig, "error", err)
	}
}

// run starts nginx, waits for it and restarts it until Stop. The first start
// result goes to startErr.
// owned are the pipe write ends to close once the last child is gone.
func (s *Supervisor) run(stdout, stderr *os.File, owned []*os.File, startErr chan<- error) {
	// Children are forked from this goroutine's thread only, so the
	// parent-death signal (set by sysProcAttr) fires when the controller dies,
	// not when the Go runtime happens to retire some thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer s.finish(owned)

	backoff := s.minBackoff
	for first := true; ; first = false {
		if !first && s.isStopping() {
			return
		}
		cmd, err := s.startChild(stdout, stderr)
		if first {
			startErr <- err
			if err != nil {
				return
			}
		}
		if err != nil {
			s.log.Error("could not restart nginx", "error", err, "retry_in", backoff)
		} else {
			began := time.Now()
			state := s.waitChild(cmd)
			uptime := time.Since(began)
			if s.isStopping() {
				s.log.Info("nginx stopped", "pid", cmd.Process.Pid, "status", state)
				return
			}
			if uptime >= s.stableAfter {
				backoff = s.minBackoff
			}
			s.log.Error("nginx exited unexpectedly; restarting",
				"pid", cmd.Process.Pid, "status", state, "uptime", uptime, "retry_in", backoff)
		}
		timer := time.NewTimer(backoff)
		select {
		case <-s.stopping:
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff = min(2*backoff, s.maxBackoff)
	}
}

// startChild forks `nginx -c ConfigPath [-p Prefix] -g 'daemon off; master_process on;'`.
func (s *Supervisor) startChild(stdout, stderr *os.File) (*exec.Cmd, error) {
	if err := removeStaleSocket(s.opts.Socket); err != nil {
		return nil, err
	}
	args := append([]string{"-c", s.opts.ConfigPath}, s.opts.prefixArgs()...)
	args = append(args, "-g", "daemon off; master_process on;")
	// Not CommandContext: the lifetime is managed by Stop, and a context kill
	// would skip the graceful SIGQUIT.
	cmd := exec.Command(s.opts.Binary, args...)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = sysProcAttr()

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.opts.Binary, err)
	}
	s.cmd = cmd
	s.log.Info("nginx started", "pid", cmd.Process.Pid, "args", args)
	return cmd, nil
}

// waitChild waits for the master to exit, sending it SIGQUIT if Stop is
// called meanwhile, kills whatever is left of its process group and reaps
// it. It returns the exit status as text.
func (s *Supervisor) waitChild(cmd *exec.Cmd) string {
	exited := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-s.stopping:
			if err := cmd.Process.Signal(syscall.SIGQUIT); err != nil && !errors.Is(err, os.ErrProcessDone) {
				s.log.Warn("could not send SIGQUIT to nginx", "error", err)
			}
		case <-exited:
		}
	}()

	err := waitAndKillGroup(cmd)
	close(exited)
	<-watcherDone

	s.mu.Lock()
	s.cmd = nil
	s.mu.Unlock()

	if cmd.ProcessState != nil {
		return cmd.ProcessState.String()
	}
	return fmt.Sprintf("unknown (%v)", err)
}

// output returns the file nginx writes one stream to, and whether it is a
// pipe the supervisor owns. An *os.File is handed to nginx directly; anything
// else gets a pipe and a reader goroutine. One pipe serves all restarts, so
// output is never lost between runs.
func (s *Supervisor) output(w io.Writer, stream string) (*os.File, bool, error) {
	if f, ok := w.(*os.File); ok {
		return f, false, nil
	}
	r, pw, err := os.Pipe()
	if err != nil {
		return nil, false, fmt.Errorf("create %s pipe for nginx: %w", stream, err)
	}
	s.readers.Add(1)
	go func() {
		defer s.readers.Done()
		defer func() { _ = r.Close() }() // read end; nothing to flush
		if w != nil {
			if _, err := io.Copy(w, r); err != nil {
				s.log.Warn("copying nginx output failed", "stream", stream, "error", err)
				_, _ = io.Copy(io.Discard, r) // keep draining so nginx never blocks on a full pipe
			}
			return
		}
		logLines(s.log, r, stream)
	}()
	return pw, true, nil
}

// finish closes the pipe ends the supervisor owns, waits for the readers to
// see EOF and marks the supervisor done.
func (s *Supervisor) finish(owned []*os.File) {
	for _, f := range owned {
		_ = f.Close() // write end of our own pipe; the reader sees EOF either way
	}
	s.readers.Wait()
	close(s.done)
}

// logLines logs each line nginx writes at the level nginx gave it.
func logLines(log *slog.Logger, r io.Reader, stream string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLogLine)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		log.Log(context.Background(), nginxLogLevel(line), "nginx", "stream", stream, "line", line)
	}
	if err := sc.Err(); err != nil {
		log.Warn("reading nginx output failed", "stream", stream, "error", err)
		_, _ = io.Copy(io.Discard, r) // keep draining so nginx never blocks on a full pipe
	}
}

// nginxLogLevel maps the "[level]" tag of an nginx error-log line to slog.
func nginxLogLevel(line string) slog.Level {
	switch {
	case strings.Contains(line, "[emerg]"), strings.Contains(line, "[alert]"),
		strings.Contains(line, "[crit]"), strings.Contains(line, "[error]"):
		return slog.LevelError
	case strings.Contains(line, "[warn]"):
		return slog.LevelWarn
	case strings.Contains(line, "[debug]"):
		return slog.LevelDebug
	default:
		return slog.LevelInfo
	}
}

// removeStaleSocket removes the unix socket a killed nginx left at path,
// so the next one can bind it. Only a socket is removed: anything else
// there is the operator's, and nginx's own bind error will say so.
func removeStaleSocket(path string) error {
	if path == "" {
		return nil
	}
	info, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("checking for a stale internal socket: %w", err)
	case info.Mode()&os.ModeSocket == 0:
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the stale internal socket: %w", err)
	}
	return nil
}
