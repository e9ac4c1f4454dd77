//go:build linux

package kube

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// Bounds for the waits of the suite. They are generous for a loaded 2-core
// machine running the suite with -race; a healthy run stays far below them.
const (
	readyTimeout  = 30 * time.Second // controller start until /readyz answers 200
	reloadTimeout = 20 * time.Second // a change until its reload event shows
	routeTimeout  = 20 * time.Second // a change until the routing is as expected
	pollInterval  = 25 * time.Millisecond
	goneTimeout   = 10 * time.Second // controller exit until its nginx is gone
)

// controllerOptions configures one controller start.
type controllerOptions struct {
	// Namespace is the namespace the test works in; the controller watches
	// only it (--watch-namespace) unless Args say otherwise. The controller
	// itself lives in deploy/'s namespace (POD_NAMESPACE=portico).
	Namespace string
	// Kubeconfig is the kubeconfig file; "" means deploy/'s portico
	// ServiceAccount, so the RBAC rules in deploy/rbac.yaml are tested.
	Kubeconfig string
	// ElectionID is the Lease name; "" gives each controller its own, so
	// parallel tests do not elect each other.
	ElectionID string
	// PodName and PodUID are POD_NAME and POD_UID; "" generates them.
	PodName, PodUID string
	// Args are extra flags, appended last so they override the defaults.
	Args []string
	// Env holds extra KEY=VALUE environment variables.
	Env []string
	// NoWait returns as soon as the process started, without waiting for
	// /readyz (for tests of a controller that must not become ready).
	NoWait bool
	// Resolver is --resolver; "" means 127.0.0.1, where nothing answers
	// for the suite's names. A test's own DNS server (pkg/testutil/dnstest)
	// is IP:PORT.
	Resolver string
}

// controller is one running `portico controller --kubeconfig ... --start-nginx`.
type controller struct {
	opts       controllerOptions
	configDir  string
	runtimeDir string

	httpPort, httpsPort, internalPort, statusPort, debugPort int

	proc    *child
	logs    *logBuffer
	readyIn time.Duration
	// crashed is set by tests that kill the controller on purpose.
	crashed bool
	// stopped is set once stop ran.
	stopped bool

	// client talks to nginx's HTTP port; it never follows redirects.
	client *http.Client
	// status talks to the status server.
	status *http.Client
}

// startController runs the controller as deploy/'s ServiceAccount,
// watching namespace, with extra flags args, and returns once /readyz
// answers 200. It and its nginx are stopped in t.Cleanup.
func startController(t testing.TB, namespace string, args ...string) *controller {
	t.Helper()
	return startControllerWith(t, controllerOptions{Namespace: namespace, Args: args})
}

// startControllerWith runs the controller as opts says.
func startControllerWith(t testing.TB, opts controllerOptions) *controller {
	t.Helper()
	requireEnv(t)
	require.NotEmpty(t, opts.Namespace, "controllerOptions.Namespace")
	if opts.Kubeconfig == "" {
		opts.Kubeconfig = env.porticoKubeconfig
	}
	if opts.ElectionID == "" {
		opts.ElectionID = "portico-e2e-" + randomHex(4)
	}
	if opts.PodName == "" {
		opts.PodName = "portico-" + randomHex(4)
	}
	if opts.PodUID == "" {
		opts.PodUID = string(uuid.NewUUID())
	}
	if opts.Resolver == "" {
		opts.Resolver = "127.0.0.1"
	}
	root := t.TempDir()
	// nginx workers run as nobody and read Lua code and htpasswd files under
	// root: the test's temporary directory must let them through, as
	// /tmp/portico does in a Pod.
	require.NoError(t, os.Chmod(filepath.Dir(root), 0o711))
	c := &controller{
		opts:       opts,
		configDir:  filepath.Join(root, "conf"),
		runtimeDir: filepath.Join(root, "run"),
	}
	c.httpPort, c.httpsPort, c.internalPort, c.statusPort, c.debugPort = mustFreePort(t), mustFreePort(t), mustFreePort(t), mustFreePort(t), mustFreePort(t)
	c.client = newHTTPClient(c.httpPort, true)
	c.status = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: guardedDial}, Timeout: 10 * time.Second}

	args := []string{"controller",
		"--kubeconfig", opts.Kubeconfig,
		"--start-nginx",
		"--nginx-binary", env.nginxBinary,
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
		// One worker keeps parallel nginx instances light on two cores.
		"--worker-processes", "1",
		// Never use the machine's resolvers.
		"--resolver", opts.Resolver,
		"--election-id", opts.ElectionID,
		"--watch-namespace", opts.Namespace,
	}
	args = append(args, opts.Args...)
	cmd := exec.Command(env.porticoBinary, args...)
	cmd.Env = append(controllerEnviron(),
		"POD_NAME="+opts.PodName, "POD_NAMESPACE="+deployNamespace, "POD_UID="+opts.PodUID)
	cmd.Env = append(cmd.Env, opts.Env...)

	// Cleanups run last-in first-out: the logs are printed after the stop,
	// so they include the shutdown.
	var proc *child
	t.Cleanup(func() {
		if t.Failed() && proc != nil {
			t.Logf("controller logs (%s):\n%s", strings.Join(cmd.Args, " "), proc.logs.String())
		}
	})
	started := time.Now()
	proc, err := startChild("portico controller", cmd)
	require.NoError(t, err)
	c.proc, c.logs = proc, proc.logs
	t.Cleanup(func() { c.stop(t) })
	if opts.NoWait {
		return c
	}
	c.waitReady(t)
	c.readyIn = time.Since(started)
	t.Logf("controller ready in %s (http %d, https %d, status %d)", c.readyIn.Round(time.Millisecond), c.httpPort, c.httpsPort, c.statusPort)
	return c
}

// controllerEnviron is the test binary's environment without what would
// point the controller anywhere but the suite's API server.
func controllerEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "KUBECONFIG", strings.HasPrefix(k, "KUBERNETES_"), strings.HasPrefix(k, "POD_"),
			strings.EqualFold(k, "http_proxy"), strings.EqualFold(k, "https_proxy"), strings.EqualFold(k, "all_proxy"):
			continue
		}
		out = append(out, kv)
	}
	return out
}

// waitReady waits until /readyz answers 200; the controller exiting first fails the test.
func (c *controller) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		code, _, err := c.statusGet("/readyz")
		if err == nil && code == http.StatusOK {
			return
		}
		if !c.proc.alive() {
			t.Fatalf("controller exited before it was ready: %v\n%s", c.proc.waitErr, c.proc.logTail(30))
		}
		if time.Now().After(deadline) {
			t.Fatalf("controller not ready within %s (last: %d %v)", readyTimeout, code, err)
		}
		time.Sleep(pollInterval)
	}
}

// stop sends SIGTERM (the controller then stops its nginx gracefully), falls
// back to SIGKILL, and checks that no nginx process of this controller is
// left. Tests may call it early; the cleanup then does nothing.
func (c *controller) stop(t testing.TB) {
	t.Helper()
	if c.stopped {
		return
	}
	c.stopped = true
	// Taken before the stop: afterwards the master may be gone and its
	// orphaned workers are only known by their process group.
	groupIDs := map[int]bool{}
	for _, p := range nginxProcesses(c.configDir, nil) {
		groupIDs[p.pgid] = true
	}

	wasAlive := c.proc.alive()
	if !wasAlive && !c.crashed {
		t.Errorf("controller had already exited: %v", c.proc.waitErr)
	}
	if err := c.proc.stop(); err != nil {
		t.Error(err)
	} else if wasAlive && c.proc.waitErr != nil {
		t.Errorf("controller exited with %v after SIGTERM, want a clean exit", c.proc.waitErr)
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
		t.Errorf("nginx processes of this controller still running %s after it stopped: %v", goneTimeout, left)
		for _, p := range left {
			_ = syscall.Kill(p.pid, syscall.SIGKILL) // ours: matched by config path or process group
		}
	}
}

// kill kills the controller with SIGKILL, as a crash would.
func (c *controller) kill(t testing.TB) {
	t.Helper()
	c.crashed = true
	require.NoError(t, c.proc.cmd.Process.Kill())
	select {
	case <-c.proc.exited:
	case <-time.After(childKillTimeout):
		t.Fatalf("controller not reaped within %s of SIGKILL", childKillTimeout)
	}
}

// statusGet fetches a status server path.
func (c *controller) statusGet(path string) (int, []byte, error) {
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

// mustStatusGet fetches a status server path that must answer 200.
func (c *controller) mustStatusGet(t testing.TB, path string) []byte {
	t.Helper()
	code, body, err := c.statusGet(path)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "GET %s: %s", path, body)
	return body
}

// reloadEvent is the wire shape of one /debug/reloads entry.
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
func (c *controller) reloads(t testing.TB) []reloadEvent {
	t.Helper()
	events, err := c.tryReloads()
	require.NoError(t, err)
	return events
}

func (c *controller) tryReloads() ([]reloadEvent, error) {
	code, body, err := c.statusGet("/debug/reloads")
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

// generation returns the generation of the newest reload attempt (0: none).
func (c *controller) generation(t testing.TB) uint64 {
	t.Helper()
	events := c.reloads(t)
	if len(events) == 0 {
		return 0
	}
	return events[0].Generation
}

// waitReload waits for a reload attempt newer than generation after and
// returns the newest event.
func (c *controller) waitReload(t testing.TB, after uint64) reloadEvent {
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
