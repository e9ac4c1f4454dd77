//go:build linux

// Package local is the end-to-end proof that Portico works without a cluster:
// each test runs the real `portico controller --start-nginx` binary against a
// manifests directory, with a real nginx listening on loopback and backends
// that are Go HTTP servers on 127.0.0.x addresses. Traffic only ever goes to
// 127.0.0.0/8, every wait is bounded, and every process a test starts is
// stopped (and checked gone) in t.Cleanup, even when the test fails.
package local

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Bounds for the waits of the suite. They are generous for a loaded 2-core
// machine running the suite with -race; a healthy run stays far below them.
const (
	readyTimeout  = 30 * time.Second // start until /readyz answers 200
	reloadTimeout = 20 * time.Second // a change until its reload event shows
	routeTimeout  = 15 * time.Second // a reload until the routing is as expected
	pollInterval  = 25 * time.Millisecond
	stopTimeout   = 20 * time.Second // SIGTERM until the controller exits
	killTimeout   = 10 * time.Second // SIGKILL until the controller is reaped
	goneTimeout   = 10 * time.Second // controller exit until its nginx is gone
)

var (
	// porticoBinary is the controller built once by TestMain.
	porticoBinary string
	// nginxBinary is the nginx the controller runs; "" skips every test.
	nginxBinary string
	// skipReason says why tests skip (no nginx on this machine).
	skipReason string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "portico-e2e-local-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e/local:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()

	nginxBinary, skipReason = findNginx()
	porticoBinary = filepath.Join(dir, "portico")
	if err := buildPortico(porticoBinary); err != nil {
		fmt.Fprintln(os.Stderr, "e2e/local:", err)
		return 1
	}
	return m.Run()
}

func findNginx() (string, string) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, ""
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", ""
	}
	return "", "nginx is not installed (looked in PATH and /usr/sbin/nginx)"
}

// buildPortico builds ./cmd/portico of this module into out.
func buildPortico(out string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", out, "./cmd/portico")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/portico: %w\n%s", err, b)
	}
	return nil
}

// moduleRoot walks up from the package directory to the go.mod of the module.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 10 {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("go.mod not found above the test directory")
}

// spawnRequests carries commands to the one goroutine that starts every
// controller. It is locked to its OS thread for the life of the test binary:
// Pdeathsig fires when the *thread* that forked the child exits, so forking
// from an arbitrary goroutine could kill a controller whenever the runtime
// retires a thread. With this, a test binary that dies (a -timeout panic
// skips every t.Cleanup) still takes its controllers, and through their own
// Pdeathsig their nginx, down with it.
var (
	spawnOnce     sync.Once
	spawnRequests chan spawnRequest
)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnRequests = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives as long as the process
			for r := range spawnRequests {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnRequests <- spawnRequest{cmd: cmd, done: done}
	return <-done
}

// options configures one controller start.
type options struct {
	// files are manifests written before the controller starts, by file name.
	files map[string]string
	// args are extra flags, appended last so they override the defaults.
	args []string
}

// controller is one running `portico controller --start-nginx`.
type controller struct {
	manifests  string
	configDir  string
	runtimeDir string

	httpPort, httpsPort, internalPort, statusPort, debugPort int

	cmd     *exec.Cmd
	logs    *logBuffer
	exited  chan struct{}
	waitErr error
	readyIn time.Duration
	// crashed is set by tests that kill the controller on purpose.
	crashed bool

	// client talks to nginx's HTTP port; it never follows redirects.
	client *http.Client
	// status talks to the status server.
	status *http.Client
}

// startController runs the controller with fresh directories and ports and
// returns once /readyz answers 200. The controller and its nginx are stopped
// in t.Cleanup.
func startController(t *testing.T, opts options) *controller {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	root := t.TempDir()
	// nginx workers run as nobody and read Lua code and htpasswd files under
	// root: the test's temporary directory must let them through, as
	// /tmp/portico does in a Pod.
	require.NoError(t, os.Chmod(filepath.Dir(root), 0o711))
	c := &controller{
		manifests:  filepath.Join(root, "manifests"),
		configDir:  filepath.Join(root, "conf"),
		runtimeDir: filepath.Join(root, "run"),
		logs:       &logBuffer{},
		exited:     make(chan struct{}),
	}
	require.NoError(t, os.Mkdir(c.manifests, 0o755))
	for name, content := range opts.files {
		c.writeManifest(t, name, content)
	}
	c.httpPort, c.httpsPort, c.internalPort, c.statusPort, c.debugPort = freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
	c.client = newHTTPClient(c.httpPort, true)
	c.status = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 10 * time.Second}

	args := []string{"controller",
		"--manifests", c.manifests,
		"--start-nginx",
		"--nginx-binary", nginxBinary,
		"--bind-address", "127.0.0.1",
		"--http-port", strconv.Itoa(c.httpPort),
		"--https-port", strconv.Itoa(c.httpsPort),
		"--internal-port", strconv.Itoa(c.internalPort),
		"--status-address", "127.0.0.1:" + strconv.Itoa(c.statusPort),
		"--debug-address", "127.0.0.1:" + strconv.Itoa(c.debugPort),
		"--config-dir", c.configDir,
		"--runtime-dir", c.runtimeDir,
		"--access-log", "off",
		"--log-format", "json",
		// One worker keeps a dozen parallel nginx instances light on two
		// cores; tests that care about several workers pass their own.
		"--worker-processes", "1",
		// Never use the machine's resolvers: nothing here resolves names.
		"--resolver", "127.0.0.1",
		// The echo backends run on 127.0.0.1.
		"--allow-loopback-backends",
	}
	args = append(args, opts.args...)
	c.cmd = exec.Command(porticoBinary, args...)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	c.cmd.WaitDelay = 5 * time.Second

	// Cleanups run last-in first-out: the logs are printed after the stop,
	// so they include the shutdown.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("controller logs (%s):\n%s", strings.Join(c.cmd.Args, " "), c.logs.String())
		}
	})
	started := time.Now()
	require.NoError(t, spawn(c.cmd), "starting %s", porticoBinary)
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() { c.stop(t) })

	deadline := time.Now().Add(readyTimeout)
	for {
		code, _, err := c.get("/readyz")
		if err == nil && code == http.StatusOK {
			break
		}
		select {
		case <-c.exited:
			t.Fatalf("controller exited before it was ready: %v", c.waitErr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("controller not ready within %s (last: %d %v)", readyTimeout, code, err)
		}
		time.Sleep(pollInterval)
	}
	c.readyIn = time.Since(started)
	t.Logf("controller ready in %s (http %d, https %d, status %d)", c.readyIn.Round(time.Millisecond), c.httpPort, c.httpsPort, c.statusPort)
	return c
}

// stop sends SIGTERM (the controller then stops its nginx gracefully), falls
// back to SIGKILL, and checks that no nginx process of this controller is left.
func (c *controller) stop(t *testing.T) {
	// Taken before the stop: afterwards the master may be gone and its
	// orphaned workers are only known by their process group.
	group := nginxProcesses(c.configDir, nil)
	groupIDs := map[int]bool{}
	for _, p := range group {
		groupIDs[p.pgid] = true
	}

	select {
	case <-c.exited:
		if !c.crashed {
			t.Errorf("controller had already exited: %v", c.waitErr)
		}
	default:
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
			if c.waitErr != nil {
				t.Errorf("controller exited with %v after SIGTERM, want a clean exit", c.waitErr)
			}
		case <-time.After(stopTimeout):
			t.Errorf("controller did not exit within %s of SIGTERM; sending SIGKILL", stopTimeout)
			_ = c.cmd.Process.Kill()
			select {
			case <-c.exited:
			case <-time.After(killTimeout):
				t.Errorf("controller pid %d not reaped within %s of SIGKILL", c.cmd.Process.Pid, killTimeout)
			}
		}
	}

	var left []proc
	deadline := time.Now().Add(goneTimeout)
	for {
		left = nginxProcesses(c.configDir, groupIDs)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("nginx processes of this test still running %s after the controller stopped: %v", goneTimeout, left)
		for _, p := range left {
			_ = syscall.Kill(p.pid, syscall.SIGKILL) // ours: matched by config path or process group
		}
	}
}

// proc is a process as /proc shows it.
type proc struct {
	pid, ppid, pgid int
	state           string
	cmdline         string
}

func (p proc) String() string { return fmt.Sprintf("%d(%s %q)", p.pid, p.state, p.cmdline) }

// nginxProcesses lists the live processes of the nginx that serves
// configDir: masters name the config file on their command line, workers
// share the master's process group (the supervisor starts nginx in its own
// group). groups adds process groups known from earlier. Zombies are dead.
func nginxProcesses(configDir string, groups map[int]bool) []proc {
	all := processes()
	masters := map[int]bool{}
	conf := filepath.Join(configDir, "nginx.conf")
	for _, p := range all {
		if strings.Contains(p.cmdline, "nginx") && strings.Contains(p.cmdline, conf) {
			masters[p.pid] = true
		}
	}
	var out []proc
	for _, p := range all {
		if p.state == "Z" {
			continue
		}
		if masters[p.pid] || masters[p.pgid] || groups[p.pgid] {
			out = append(out, p)
		}
	}
	return out
}

func processes() []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []proc
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
		out = append(out, proc{pid: pid, ppid: ppid, pgid: pgid, state: fields[0],
			cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))})
	}
	return out
}

// usedPorts keeps one test from being handed a port another test of this
// process got a moment ago (the kernel may hand out a closed port again).
var (
	portsMu   sync.Mutex
	usedPorts = map[int]bool{}
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := ln.Addr().(*net.TCPAddr).Port
		require.NoError(t, ln.Close())
		if !usedPorts[port] {
			usedPorts[port] = true
			return port
		}
	}
	t.Fatal("no free port in 50 attempts")
	return 0
}

// writeManifest writes a file in the manifests directory atomically: a
// hidden temporary file (the source ignores dot files) renamed into place,
// so the controller never reads half a file.
func (c *controller) writeManifest(t *testing.T, name, content string) {
	t.Helper()
	writeAtomic(t, filepath.Join(c.manifests, name), content)
}

// removeManifest deletes a manifest file.
func (c *controller) removeManifest(t *testing.T, name string) {
	t.Helper()
	require.NoError(t, os.Remove(filepath.Join(c.manifests, name)))
}

func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	require.NoError(t, err)
	_, err = f.WriteString(content)
	require.NoError(t, errors.Join(err, f.Close()))
	require.NoError(t, os.Chmod(f.Name(), 0o644))
	require.NoError(t, os.Rename(f.Name(), path))
}

// get fetches a status server path.
func (c *controller) get(path string) (int, []byte, error) {
	port := c.statusPort
	if strings.HasPrefix(path, "/debug/") {
		port = c.debugPort // the debug views listen apart (--debug-address)
	}
	resp, err := c.status.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, body, err
}

// mustGet fetches a status server path that must answer 200.
func (c *controller) mustGet(t *testing.T, path string) []byte {
	t.Helper()
	code, body, err := c.get(path)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "GET %s: %s", path, body)
	return body
}

// reloadEvent is the wire shape of one /debug/reloads entry. It is declared
// here rather than imported so the test pins the JSON operators read.
type reloadEvent struct {
	Time       time.Time `json:"time"`
	Result     string    `json:"result"`
	Generation uint64    `json:"generation"`
	ConfigHash string    `json:"config_hash"`
	DurationMS float64   `json:"duration_ms"`
	Changes    struct {
		Added   []string `json:"added"`
		Removed []string `json:"removed"`
		Changed []string `json:"changed"`
	} `json:"changes"`
	Message string `json:"message"`
}

// reloads returns /debug/reloads, newest first.
func (c *controller) reloads(t *testing.T) []reloadEvent {
	t.Helper()
	events, err := c.tryReloads()
	require.NoError(t, err)
	return events
}

func (c *controller) tryReloads() ([]reloadEvent, error) {
	code, body, err := c.get("/debug/reloads")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("/debug/reloads: status %d: %s", code, body)
	}
	var events []reloadEvent
	if err := json.Unmarshal(body, &events); err != nil {
		return nil, fmt.Errorf("/debug/reloads: %w", err)
	}
	return events, nil
}

// generation returns the generation of the newest reload attempt. Every
// attempt gets the next number, so the difference of two readings counts
// reload attempts whatever the size of the history.
func (c *controller) generation(t *testing.T) uint64 {
	t.Helper()
	events := c.reloads(t)
	if len(events) == 0 {
		return 0
	}
	return events[0].Generation
}

// waitReload waits for a reload attempt newer than generation after and
// returns the newest event.
func (c *controller) waitReload(t *testing.T, after uint64) reloadEvent {
	t.Helper()
	var newest reloadEvent
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		events, err := c.tryReloads()
		require.NoError(ct, err)
		require.NotEmpty(ct, events)
		newest = events[0]
		require.Greater(ct, newest.Generation, after, "no reload after generation %d yet", after)
	}, reloadTimeout, pollInterval)
	return newest
}

// update writes a manifest and waits for the reload it causes, which must succeed.
func (c *controller) update(t *testing.T, name, content string) reloadEvent {
	t.Helper()
	before := c.generation(t)
	c.writeManifest(t, name, content)
	ev := c.waitReload(t, before)
	require.Equal(t, "success", ev.Result, "reload after writing %s: %s", name, ev.Message)
	return ev
}

// metric scrapes /metrics and returns the value of the series with this name
// whose labels include labels; ok is false when there is none.
func (c *controller) metric(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	body := c.mustGet(t, "/metrics")
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		got, lbls := series, ""
		if i := strings.IndexByte(series, '{'); i >= 0 {
			got, lbls = series[:i], strings.TrimSuffix(series[i+1:], "}")
		}
		if got != name || !hasLabels(lbls, labels) {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		require.NoError(t, err, "metric line %q", line)
		return v, true
	}
	require.NoError(t, sc.Err())
	return 0, false
}

// hasLabels reports whether a Prometheus label list (`a="x",b="y"`) holds all want.
func hasLabels(list string, want map[string]string) bool {
	for k, v := range want {
		if !strings.Contains(","+list+",", ","+k+"="+strconv.Quote(v)+",") {
			return false
		}
	}
	return true
}

// logBuffer collects the controller's stdout and stderr.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count returns how many log lines contain s.
func (b *logBuffer) count(s string) int {
	n := 0
	for line := range strings.Lines(b.String()) {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}
