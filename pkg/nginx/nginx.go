// Package nginx makes a rendered nginx.conf live: it writes the files the
// configuration needs, checks the configuration with `nginx -t`, swaps it in
// atomically, signals nginx to reload and confirms that the new workers serve
// the new generation. It knows nothing of Ingresses; it handles bytes, files
// and one process.
package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// defaultVerifyTimeout bounds how long a reload may take to show. Large
	// configurations take seconds to parse (see DESIGN.md), so it is generous.
	defaultVerifyTimeout = 30 * time.Second
	// verifyInterval is the pause between two polls of the verify URL: short
	// enough that it adds little to the measured reload time, long enough not
	// to spin while nginx parses a large configuration.
	verifyInterval = 25 * time.Millisecond
	// verifyConfirmations is how many answers in a row must carry the new
	// generation. On SIGHUP the master starts the new workers, sleeps 100ms
	// ("allow new processes to start", ngx_process_cycle.c) and only then
	// tells the old workers to stop accepting; in between both generations
	// accept on the shared socket. A run of matches makes "verified" mean
	// "new connections land on new workers" rather than "one did". Measured
	// here: 0 stale answers in 600 requests made right after Apply returned.
	verifyConfirmations = 3
	// verifySettle is how long answers must keep carrying the new generation
	// after the first one: longer than the master's 100ms pause, so that by
	// the time a reload counts as done, old workers have been told to stop
	// accepting and a client connecting afterwards reaches a new worker.
	verifySettle = 120 * time.Millisecond
	// verifyRequestTimeout bounds one poll so that a stuck connection cannot
	// eat the whole verify budget.
	verifyRequestTimeout = 2 * time.Second
	// maxGenerationBody caps what is read from the verify endpoint; a
	// generation number is at most 20 digits.
	maxGenerationBody = 64
	// defaultTestTimeout bounds one nginx -t. It takes about a second at
	// 10,000 Ingresses (docs/benchmarks.md); one that runs far longer is
	// stuck (an include on a hung NFS mount or a FIFO), and while it runs
	// no other change can go live.
	defaultTestTimeout = 30 * time.Second
	// testWaitDelay bounds how long Test waits for nginx -t's output pipe
	// to close once nginx -t is gone: a process that left its group (and
	// so escaped the kill) could hold it open for ever.
	testWaitDelay = time.Second
)

// Options configures the driver and the supervisor.
type Options struct {
	// Binary is the nginx executable; "" means "nginx" looked up in PATH.
	Binary string
	// ConfigPath is the live nginx.conf that nginx loads, e.g. /etc/portico/nginx.conf.
	ConfigPath string
	// Prefix is passed to nginx as -p (its prefix directory); "" means not passed.
	Prefix string
	// PIDFile is the master pid file nginx writes (the template renders `pid`
	// with this path). The supervisor also reads it to know when nginx is
	// ready for signals.
	PIDFile string
	// VerifyURL is the internal endpoint that answers the generation number as
	// a plain-text body, e.g. http://nginx/portico/generation with Socket set.
	// "" disables verification: a reload then counts as done once signalled.
	VerifyURL string
	// Socket, when set, is the unix socket of nginx's internal server: the
	// driver reaches VerifyURL through it, and the supervisor removes a stale
	// one before nginx starts (a killed nginx leaves the file behind, and the
	// next one could not bind it).
	Socket string
	// VerifyTimeout is how long to wait for the new generation to be served;
	// 0 means 30s.
	VerifyTimeout time.Duration
	// TestTimeout is how long one nginx -t may run before it is killed
	// with every process it started; 0 means 30s.
	TestTimeout time.Duration
	// Logger receives the driver's logs; nil discards them.
	Logger *slog.Logger
}

// withDefaults returns a copy of o with zero values replaced by defaults, so
// the rest of the package never has to check them.
func (o Options) withDefaults() Options {
	if o.Binary == "" {
		o.Binary = "nginx"
	}
	if o.VerifyTimeout <= 0 {
		o.VerifyTimeout = defaultVerifyTimeout
	}
	if o.TestTimeout <= 0 {
		o.TestTimeout = defaultTestTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// prefixArgs returns the -p flag when a prefix is configured.
func (o Options) prefixArgs() []string {
	if o.Prefix == "" {
		return nil
	}
	return []string{"-p", o.Prefix}
}

// File is an extra file a configuration needs on disk before `nginx -t`
// (certificates and keys). Content may be key material.
type File struct {
	// Path is the absolute path the configuration refers to.
	Path string
	// Content is the exact bytes to write.
	Content []byte
	// Mode is the file's permission bits; 0 means 0600, the safe choice for
	// key material.
	Mode os.FileMode
	// ForWorkers makes nginx's worker processes the owner. Certificates are
	// read by the master (root); files read per request, like
	// auth_basic_user_file, are opened by workers, which run as "nobody"
	// when the master is root. Owner-only mode then still suffices.
	ForWorkers bool
}

// Result reports what one Apply did and how long each step took.
type Result struct {
	// Signalled is true when nginx was running and was sent SIGHUP. When
	// false the configuration was only written and tested; the caller starts
	// nginx and then calls Verify.
	Signalled bool
	// Test is the duration of `nginx -t` on the new configuration.
	Test time.Duration
	// Reload is the time from sending SIGHUP until the new generation was
	// served (or verification gave up).
	Reload time.Duration
	// Total is the wall time of the whole Apply.
	Total time.Duration
}

// TestError is returned when `nginx -t` rejects a configuration. Output is
// nginx's own message (it names file:line), suitable for an Event.
type TestError struct {
	// Path is the file that was tested.
	Path string
	// Output is nginx's combined output, trimmed.
	Output string
	// Err is the process error (usually an *exec.ExitError).
	Err error
}

// Error implements error.
func (e *TestError) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("nginx -t %s failed: %v", e.Path, e.Err)
	}
	return "nginx -t failed: " + e.Output
}

// Unwrap returns the process error.
func (e *TestError) Unwrap() error { return e.Err }

// TestTimeoutError is returned when nginx -t did not finish within
// Options.TestTimeout and was killed (with every process it started). It
// says nothing about the configuration: the same one may pass once nginx
// can read its files again, so it is worth a retry.
type TestTimeoutError struct {
	// Command is the command line that was run.
	Command string
	// Timeout is the deadline it ran past.
	Timeout time.Duration
	// Output is what nginx -t printed before it was killed, trimmed.
	Output string
}

// Error implements error.
func (e *TestTimeoutError) Error() string {
	msg := fmt.Sprintf("nginx -t did not finish within %s; killed: %s", e.Timeout, e.Command)
	if e.Output != "" {
		msg += ": " + e.Output
	}
	return msg
}

// VerifyError is returned when nginx did not serve the expected generation
// in time. The configuration on disk is already the new one; nginx most
// likely failed to load it (see its error log) and still runs the old one.
type VerifyError struct {
	// Generation is the generation that was expected.
	Generation uint64
	// Last describes the last answer (or error) seen from the verify URL.
	Last string
	// Elapsed is how long verification ran.
	Elapsed time.Duration
	// Err is the context error that ended verification.
	Err error
}

// Error implements error.
func (e *VerifyError) Error() string {
	return fmt.Sprintf("nginx did not serve generation %d within %s (last answer: %s): %v",
		e.Generation, e.Elapsed.Round(time.Millisecond), e.Last, e.Err)
}

// Unwrap returns the context error that ended verification.
func (e *VerifyError) Unwrap() error { return e.Err }

// Driver applies configurations to one nginx. Its methods are safe for
// concurrent use; Apply and CleanupFiles are serialised so that two
// configurations never race for the live file.
type Driver struct {
	opts   Options
	proc   Process
	log    *slog.Logger
	client *http.Client

	// mu serialises Apply and CleanupFiles.
	mu sync.Mutex
}

// NewDriver returns a driver for the nginx reached through proc. proc may be
// nil when nothing is to be signalled (for example to only write and test).
func NewDriver(opts Options, proc Process) *Driver {
	opts = opts.withDefaults()
	return &Driver{
		opts: opts,
		proc: proc,
		log:  opts.Logger,
		// A fresh connection per poll: old workers keep serving their open
		// keep-alive connections with the old configuration, so a reused
		// connection would report the old generation for as long as it lives.
		client: InternalClient(opts.Socket, verifyRequestTimeout),
	}
}

// InternalClient returns an HTTP client for nginx's internal server: through
// the unix socket when socket is set, else over TCP. It opens a new
// connection per request and never uses a proxy (HTTP_PROXY must not apply).
func InternalClient(socket string, timeout time.Duration) *http.Client {
	transport := &http.Transport{DisableKeepAlives: true}
	if socket != "" {
		transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}
	}
	return &http.Client{Transport: transport, Timeout: timeout}
}

// Test runs `nginx -t -q -c path [-p prefix]`. A configuration nginx rejects
// yields a *TestError carrying nginx's output; an nginx -t still running
// after Options.TestTimeout is killed, with its whole process group, and
// yields a *TestTimeoutError; failing to run nginx at all yields a plain
// wrapped error.
func (d *Driver) Test(ctx context.Context, path string) error {
	args := append([]string{"-t", "-q", "-c", path}, d.opts.prefixArgs()...)
	tctx, cancel := context.WithTimeout(ctx, d.opts.TestTimeout)
	defer cancel()
	cmd := exec.Command(d.opts.Binary, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = testWaitDelay
	killed, err := runGrouped(tctx, cmd)
	output := strings.TrimSpace(out.String())
	if killed {
		if ctxErr := ctx.Err(); ctxErr != nil {
			// Killed because the caller gave up (shutdown, the sync's own
			// deadline), not because nginx hung; and a TestError would
			// blame the user's objects.
			return fmt.Errorf("nginx -t %s: %w", path, ctxErr)
		}
		return &TestTimeoutError{Command: strings.Join(cmd.Args, " "), Timeout: d.opts.TestTimeout, Output: output}
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		// nginx -t exited with success, but something it started kept the
		// output open; its exit status is what counts.
		err = nil
	}
	if err == nil {
		if output != "" {
			// -q silences the success lines, so anything left is a warning
			// worth seeing (duplicate MIME types, unreadable error log, ...).
			d.log.Warn("nginx -t passed with warnings", "path", path, "output", output)
		}
		return nil
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return fmt.Errorf("run %s -t: %w", d.opts.Binary, err)
	}
	return &TestError{Path: path, Output: output, Err: err}
}

// Change is one configuration to make live.
type Change struct {
	// Conf is the nginx.conf to make live.
	Conf []byte
	// Check, when not nil, is tested with nginx -t instead of Conf: a copy
	// of Conf without what the caller checks otherwise (the Lua module,
	// whose loading makes nginx -t several times slower). It is written and
	// tested next to the live file, then removed.
	Check []byte
	// Files are written before nginx -t (certificates, keys).
	Files []File
	// Generation is the number Conf serves on the verify URL.
	Generation uint64
	// BeforeReload, when set, runs after nginx -t accepted the change and
	// before it is swapped in and nginx is signalled; an error stops the
	// change there. The controller pushes the balancer data the new
	// workers need here: never for a configuration nginx -t refused.
	BeforeReload func(context.Context) error
}

// Apply makes conf live as the given generation; see ApplyChange.
func (d *Driver) Apply(ctx context.Context, conf []byte, files []File, generation uint64) (Result, error) {
	return d.ApplyChange(ctx, Change{Conf: conf, Files: files, Generation: generation})
}

// ApplyChange makes c live:
//
//  1. writes each File atomically, skipping files whose content is unchanged;
//  2. writes Conf to a temporary file next to ConfigPath;
//  3. tests it (or Check) with nginx -t (on failure the temporary file is
//     removed, the live file is untouched and nothing is signalled; the
//     error is a *TestError);
//  4. runs BeforeReload;
//  5. renames it over ConfigPath;
//  6. sends SIGHUP to the process, if it is running;
//  7. waits until VerifyURL answers the generation (*VerifyError otherwise).
//
// When the process is not running (first start, or nginx not up yet in
// sidecar mode), ApplyChange stops after step 5 with Result.Signalled false;
// nginx will read the new file when it starts, and the caller confirms it
// with Verify.
func (d *Driver) ApplyChange(ctx context.Context, c Change) (Result, error) {
	conf, check, files, generation := c.Conf, c.Check, c.Files, c.Generation
	d.mu.Lock()
	defer d.mu.Unlock()

	start := time.Now()
	var res Result
	if d.opts.ConfigPath == "" {
		return res, errors.New("nginx: Options.ConfigPath is empty")
	}

	if err := d.writeFiles(files); err != nil {
		return res, err
	}

	// The temporary file lives in the same directory as the live one for two
	// reasons: rename(2) is only atomic within a filesystem, and nginx
	// resolves relative include paths against the directory of the -c file,
	// so the test must see the same directory the live file will.
	dir, base := filepath.Split(d.opts.ConfigPath)
	stem := filepath.Join(dir, "."+base+"."+strconv.FormatUint(generation, 10))
	tmp := stem + ".tmp"
	if err := writeFileSynced(tmp, conf, 0o644); err != nil {
		_ = os.Remove(tmp) // best effort: the write error is what matters
		return res, fmt.Errorf("write temporary config: %w", err)
	}

	testStart := time.Now()
	err := d.testCandidate(ctx, tmp, stem+".check", check)
	res.Test = time.Since(testStart)
	if err != nil {
		if rmErr := os.Remove(tmp); rmErr != nil {
			d.log.Warn("could not remove rejected config", "path", tmp, "error", rmErr)
		}
		res.Total = time.Since(start)
		return res, err
	}
	if c.BeforeReload != nil {
		if err := c.BeforeReload(ctx); err != nil {
			_ = os.Remove(tmp) // best effort: the hook's error is what matters
			res.Total = time.Since(start)
			return res, err
		}
	}

	if err := os.Rename(tmp, d.opts.ConfigPath); err != nil {
		_ = os.Remove(tmp) // best effort: the rename error is what matters
		return res, fmt.Errorf("install config: %w", err)
	}
	syncDir(dir)

	err = d.reload(ctx, generation, &res)
	res.Total = time.Since(start)
	switch {
	case err != nil:
		return res, err
	case !res.Signalled:
		d.log.Info("nginx config written; nginx not running, not signalled",
			"generation", generation, "test", res.Test, "total", res.Total)
	default:
		d.log.Info("nginx reloaded", "generation", generation,
			"test", res.Test, "reload", res.Reload, "total", res.Total)
	}
	return res, nil
}

// writeFiles writes the files a config names (certificates, htpasswd),
// each only when its content changed, mode 0600 unless it says otherwise.
func (d *Driver) writeFiles(files []File) error {
	for _, f := range files {
		mode := f.Mode
		if mode == 0 {
			mode = 0o600
		}
		var chown func(string) error
		if f.ForWorkers {
			chown = chownToWorkers
		}
		written, err := writeFileAtomic(f.Path, f.Content, mode, chown)
		if err != nil {
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
		if written {
			d.log.Debug("wrote file", "path", f.Path)
		}
	}
	return nil
}

// testCandidate runs nginx -t on the written candidate, or on its copy for
// nginx -t (check, written to checkPath and removed after) when there is one.
func (d *Driver) testCandidate(ctx context.Context, candidate, checkPath string, check []byte) error {
	if check == nil {
		return d.Test(ctx, candidate)
	}
	// Never renamed, so no fsync is needed.
	if err := os.WriteFile(checkPath, check, 0o644); err != nil {
		_ = os.Remove(checkPath) // best effort: the write error is what matters
		return fmt.Errorf("write config copy for nginx -t: %w", err)
	}
	err := d.Test(ctx, checkPath)
	if rmErr := os.Remove(checkPath); rmErr != nil {
		d.log.Warn("could not remove the tested copy", "path", checkPath, "error", rmErr)
	}
	return err
}

// reload signals nginx to load the installed config and waits until it
// serves generation; without a running nginx it does nothing
// (res.Signalled stays false).
func (d *Driver) reload(ctx context.Context, generation uint64, res *Result) error {
	if d.proc == nil || !d.proc.Alive() {
		return nil
	}
	reloadStart := time.Now()
	if err := d.proc.Signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("signal nginx to reload: %w", err)
	}
	res.Signalled = true
	err := d.Verify(ctx, generation)
	res.Reload = time.Since(reloadStart)
	return err
}

// Verify polls VerifyURL until it answers generation several times in a row,
// each time over a new connection, or returns a *VerifyError after
// VerifyTimeout (or when ctx ends). It returns nil at once if VerifyURL is "".
func (d *Driver) Verify(ctx context.Context, generation uint64) error {
	if d.opts.VerifyURL == "" {
		return nil
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, d.opts.VerifyTimeout)
	defer cancel()

	want := strconv.FormatUint(generation, 10)
	ticker := time.NewTicker(verifyInterval)
	defer ticker.Stop()
	last := "none"
	matched := 0
	var firstMatch time.Time
	for {
		got, err := d.fetchGeneration(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			// The poll was cut short by our own deadline; keep the previous
			// answer, which says more about what nginx was doing.
			matched = 0
		case err != nil:
			last, matched = err.Error(), 0
		case got == want:
			if matched == 0 {
				firstMatch = time.Now()
			}
			matched++
			if matched >= verifyConfirmations && time.Since(firstMatch) >= verifySettle {
				return nil
			}
			if matched < verifyConfirmations {
				continue // confirm right away; the settle time is the wait
			}
		default:
			last, matched = strconv.Quote(got), 0
		}
		select {
		case <-ctx.Done():
			return &VerifyError{Generation: generation, Last: last, Elapsed: time.Since(start), Err: ctx.Err()}
		case <-ticker.C:
		}
	}
}

// fetchGeneration makes one request to VerifyURL and returns the trimmed body.
func (d *Driver) fetchGeneration(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.opts.VerifyURL, nil)
	if err != nil {
		return "", fmt.Errorf("build verify request: %w", err)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("get %s: %w", d.opts.VerifyURL, err)
	}
	defer func() { _ = resp.Body.Close() }() // read-only; nothing to lose
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxGenerationBody))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", d.opts.VerifyURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("get %s: status %d", d.opts.VerifyURL, resp.StatusCode)
	}
	return strings.TrimSpace(string(body)), nil
}

// CleanupFiles removes the regular files directly in dir whose paths are not
// in keep, to collect certificates that the live configuration no longer
// names. Call it only after a successful reload: old workers may still need
// the old files until then. keep is keyed by path as given in File.Path; a
// missing dir is not an error.
func (d *Driver) CleanupFiles(dir string, keep map[string]bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()

	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	kept := make(map[string]bool, len(keep))
	for p, ok := range keep {
		if ok {
			kept[filepath.Clean(p)] = true
		}
	}
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue // never descend or touch links and directories we did not write
		}
		p := filepath.Join(dir, e.Name())
		if kept[p] {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
			continue
		}
		d.log.Debug("removed unused file", "path", p)
	}
	return errors.Join(errs...)
}
