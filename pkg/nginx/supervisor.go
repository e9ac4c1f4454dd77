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
	"strings"
	"sync"
	"syscall"
	"time"
)

// Supervisor defaults. One crash is restarted at once; only a master that
// keeps dying within stableAfter of its start is backed off (see
// restartPolicy), from firstBackoff up to maxBackoff.
const (
	defaultQuickRestarts = 2
	defaultFirstBackoff  = 250 * time.Millisecond
	defaultMaxBackoff    = 5 * time.Second
	defaultStableAfter   = 5 * time.Second
	// defaultKillAfter is how long Stop waits after SIGTERM (fast shutdown)
	// before it sends SIGKILL.
	defaultKillAfter = 5 * time.Second
	// adoptedPoll is how often the exit of an adopted master (not our
	// child, so it cannot be waited for) is looked for.
	adoptedPoll = 50 * time.Millisecond
	// upPoll is how often a new master is checked for having written its
	// pid file (it then listens and handles signals).
	upPoll = 10 * time.Millisecond
	// maxLogLine bounds one line of nginx output kept for the logger.
	maxLogLine = 1 << 20
)

// Restart describes an unexpected exit of the nginx master, after which
// the supervisor starts a new one.
type Restart struct {
	// Pid is the master that exited.
	Pid int
	// Status is its exit status as text ("signal: killed").
	Status string
	// Uptime is how long it ran (under this supervisor, for an adopted one).
	Uptime time.Duration
	// Wait is how long the supervisor waits before the new start.
	Wait time.Duration
	// Count is the number of unexpected exits so far, this one included.
	Count uint64
}

// Supervisor runs nginx as a child process (the --start-nginx mode) and
// restarts it when it dies unexpectedly. It implements Process so a Driver
// can signal it.
//
// nginx runs in its own process group, so a Ctrl-C on the terminal reaches
// only the controller, which then stops nginx gracefully; the group also lets
// the supervisor kill workers orphaned by a crashed master, which would
// otherwise keep the listening sockets and make every restart fail to bind.
//
// nginx does not die with the controller: a controller killed by SIGKILL
// or the OOM killer must not reset every request in flight. The next
// supervisor started with the same pid file and configuration adopts the
// master it finds running (see decideAdoption) instead of starting a
// second one that could not bind the ports.
type Supervisor struct {
	opts   Options
	log    *slog.Logger
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time

	// Timing; fields rather than constants so tests can shorten them.
	policy    restartPolicy
	killAfter time.Duration

	mu        sync.Mutex
	started   bool    // Start or Stop has been called
	cur       *master // the running master, nil between runs
	downSince time.Time
	restarts  uint64
	onRestart func(Restart)
	onUp      func(pid int)

	stopping chan struct{} // closed by Stop
	stopOnce sync.Once
	done     chan struct{} // closed when the last child and all output readers are gone
	readers  sync.WaitGroup
}

// master is one nginx master: a child this supervisor forked (cmd), or one
// a previous controller left running that it adopted.
type master struct {
	pid     int
	cmd     *exec.Cmd
	adopted *adoptedMaster
}

var _ Process = (*Supervisor)(nil)

// NewSupervisor returns a supervisor for nginx with opts.ConfigPath and
// opts.Prefix. nginx's stdout and stderr go to the given writers; a nil
// writer sends that stream to opts.Logger line by line. The configuration
// must not set `daemon` or `master_process`: the supervisor passes them with -g.
func NewSupervisor(opts Options, stdout, stderr io.Writer) *Supervisor {
	opts = opts.withDefaults()
	return &Supervisor{
		opts:   opts,
		log:    opts.Logger,
		stdout: stdout,
		stderr: stderr,
		now:    time.Now,
		policy: restartPolicy{quick: defaultQuickRestarts, first: defaultFirstBackoff,
			max: defaultMaxBackoff, stableAfter: defaultStableAfter},
		killAfter: defaultKillAfter,
		stopping:  make(chan struct{}),
		done:      make(chan struct{}),
	}
}

// OnRestart makes the supervisor call fn after each unexpected exit of the
// master, before it starts the next one (for metrics and Events). Call it
// before Start.
func (s *Supervisor) OnRestart(fn func(Restart)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRestart = fn
}

// OnUp makes the supervisor call fn with the master's pid each time a
// master, started or adopted, is up: its pid file names it, so it listens
// and takes signals. A restarted nginx holds none of the data pushed to the
// previous one; fn is where it is pushed again at once. Call it before Start.
func (s *Supervisor) OnUp(fn func(pid int)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onUp = fn
}

// Restarts returns the number of unexpected exits of the master so far.
func (s *Supervisor) Restarts() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

// DownSince returns when the master stopped being up (exited, or not yet
// serving after a start), or the zero time while it is up and before the
// first Start.
func (s *Supervisor) DownSince() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.downSince
}

// Start starts nginx and returns once it has been forked (not once it
// serves: use Driver.Verify for that). When the pid file names a master a
// previous controller left running with this configuration, Start adopts
// it instead and sends it SIGHUP, so it loads the configuration file as it
// is now. It fails if nginx cannot be executed. A Supervisor runs once;
// after Stop it cannot be started again.
func (s *Supervisor) Start() error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("nginx supervisor: already started or stopped")
	}
	s.started = true
	s.downSince = s.now()
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
	m := s.current()
	if m == nil {
		return ErrNotRunning
	}
	if m.adopted != nil {
		ssig, ok := sig.(syscall.Signal)
		if !ok {
			return fmt.Errorf("nginx: unsupported signal %v", sig)
		}
		return m.adopted.signal(ssig)
	}
	// os.Process.Signal is safe against the run loop reaping the child
	// concurrently: it then reports os.ErrProcessDone instead of hitting a
	// recycled pid.
	if err := m.cmd.Process.Signal(sig); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return ErrNotRunning
		}
		return fmt.Errorf("signal nginx pid %d: %w", m.pid, err)
	}
	return nil
}

// Alive reports whether nginx runs and is ready for signals. With a PIDFile
// configured, "ready" means the pid file names our master: nginx writes it
// after installing its signal handlers, and a SIGHUP that arrives earlier
// would kill the master (the default action) instead of reloading it.
func (s *Supervisor) Alive() bool {
	m := s.current()
	if m == nil {
		return false
	}
	if s.opts.PIDFile == "" {
		return true
	}
	pid, err := readPIDFile(s.opts.PIDFile)
	return err == nil && pid == m.pid
}

// Pid returns the pid of the running nginx master, or 0.
func (s *Supervisor) Pid() int {
	m := s.current()
	if m == nil {
		return 0
	}
	return m.pid
}

func (s *Supervisor) current() *master {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
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

// run adopts or starts nginx, waits for it and restarts it until Stop. The
// first start result goes to startErr.
// owned are the pipe write ends to close once the last child is gone.
func (s *Supervisor) run(stdout, stderr *os.File, owned []*os.File, startErr chan<- error) {
	defer s.finish(owned)

	for first := true; ; first = false {
		if !first && s.isStopping() {
			return
		}
		var m *master
		var err error
		if first {
			m, err = s.adoptOrStart(stdout, stderr)
			startErr <- err
			if err != nil {
				return
			}
		} else {
			m, err = s.startChild(stdout, stderr)
		}
		var wait time.Duration
		if err != nil {
			wait = s.policy.afterFailedStart(s.now())
			s.log.Error("could not restart nginx", "error", err, "retry_in", wait)
		} else {
			began := s.now()
			up := make(chan struct{})
			go s.announceUp(m, up)
			state := s.waitMaster(m)
			close(up)
			exited := s.now()
			if s.isStopping() {
				s.log.Info("nginx stopped", "pid", m.pid, "status", state)
				return
			}
			wait = s.policy.next(began, exited)
			s.restarted(Restart{Pid: m.pid, Status: state, Uptime: exited.Sub(began), Wait: wait})
		}
		if wait <= 0 {
			continue
		}
		timer := time.NewTimer(wait)
		select {
		case <-s.stopping:
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// restarted counts an unexpected exit, logs it and tells OnRestart.
func (s *Supervisor) restarted(r Restart) {
	s.mu.Lock()
	s.restarts++
	r.Count = s.restarts
	fn := s.onRestart
	s.mu.Unlock()
	s.log.Error("nginx exited unexpectedly; restarting",
		"pid", r.Pid, "status", r.Status, "uptime", r.Uptime, "retry_in", r.Wait, "restarts", r.Count)
	if fn != nil {
		fn(r)
	}
}

// announceUp waits until m is up (Alive names it) and then marks the
// supervisor up and calls OnUp; it gives up when m exits (exited closed).
func (s *Supervisor) announceUp(m *master, exited <-chan struct{}) {
	tick := time.NewTicker(upPoll)
	defer tick.Stop()
	for s.current() != m || !s.Alive() {
		select {
		case <-exited:
			return
		case <-tick.C:
		}
	}
	s.mu.Lock()
	if s.cur == m {
		s.downSince = time.Time{}
	}
	fn := s.onUp
	s.mu.Unlock()
	if fn != nil {
		fn(m.pid)
	}
}

// adoptOrStart adopts the master a previous controller left running, when
// there is one of ours, and otherwise starts one.
func (s *Supervisor) adoptOrStart(stdout, stderr *os.File) (*master, error) {
	if s.opts.PIDFile == "" {
		return s.startChild(stdout, stderr)
	}
	a, err := decideAdoption("/proc", s.opts.PIDFile, s.opts.Binary, s.opts.ConfigPath)
	if err != nil {
		s.log.Warn("could not check for a running nginx to adopt; starting one", "error", err)
	}
	switch a.action {
	case adoptMaster:
		m := &master{pid: a.pid, adopted: &adoptedMaster{pid: a.pid, stat: a.stat}}
		// It runs the configuration it loaded last; Start is called
		// once the current one is in place, so it must load that.
		if err := m.adopted.signal(syscall.SIGHUP); err != nil {
			s.log.Warn("could not adopt the running nginx; starting one", "pid", a.pid, "error", err)
			break
		}
		s.mu.Lock()
		s.cur = m
		s.mu.Unlock()
		s.log.Info("adopted the running nginx master left by a previous controller; it keeps serving and reloads",
			"pid", a.pid, "why", a.reason,
			"note", "its own error output went to the previous controller and is lost until it restarts")
		return m, nil
	case killStale:
		s.log.Warn("killing an unusable nginx left by a previous controller, then starting a new one", "pid", a.pid, "why", a.reason)
		stale := adoptedMaster{pid: a.pid, stat: a.stat}
		if err := stale.killGroup(); err != nil {
			s.log.Warn("could not kill the stale nginx", "error", err)
		}
		gone := make(chan struct{})
		timer := time.AfterFunc(s.killAfter, func() { close(gone) })
		stale.wait(gone, adoptedPoll)
		timer.Stop()
	default:
		s.log.Debug("no running nginx to adopt", "why", a.reason)
	}
	return s.startChild(stdout, stderr)
}

// startChild forks `nginx -c ConfigPath [-p Prefix] -g 'daemon off; master_process on;'`.
func (s *Supervisor) startChild(stdout, stderr *os.File) (*master, error) {
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
	m := &master{pid: cmd.Process.Pid, cmd: cmd}
	s.cur = m
	s.log.Info("nginx started", "pid", m.pid, "args", args)
	return m, nil
}

// waitMaster waits for the master to exit, sending it SIGQUIT if Stop is
// called meanwhile, kills whatever is left of its process group and marks
// the supervisor down. It returns the exit status as text.
func (s *Supervisor) waitMaster(m *master) string {
	var state string
	if m.adopted != nil {
		state = s.waitAdopted(m.adopted)
	} else {
		state = s.waitChild(m.cmd)
	}
	s.mu.Lock()
	s.cur = nil
	if s.downSince.IsZero() {
		s.downSince = s.now()
	}
	s.mu.Unlock()
	return state
}

// waitAdopted is waitChild for a master this supervisor did not fork: its
// exit status went to init, so it is not known.
func (s *Supervisor) waitAdopted(a *adoptedMaster) string {
	if !a.wait(s.stopping, adoptedPoll) {
		if err := a.signal(syscall.SIGQUIT); err != nil && !errors.Is(err, ErrNotRunning) {
			s.log.Warn("could not send SIGQUIT to nginx", "error", err)
		}
		// Stop escalates to SIGTERM and SIGKILL through Signal.
		a.wait(nil, adoptedPoll)
	}
	if err := a.killGroup(); err != nil {
		s.log.Warn("could not kill the workers of the adopted nginx", "error", err)
	}
	return "exited (adopted master: its exit status went to its parent)"
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
