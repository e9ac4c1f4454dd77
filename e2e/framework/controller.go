//go:build linux

package framework

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
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
)

// Suite is what the tests of one test binary share. A suite's TestMain
// makes it once; tests only read it.
type Suite struct {
	// Portico is the controller binary built for this run.
	Portico string
	// Nginx is the nginx binary the controllers start.
	Nginx string
	// Children starts and tracks every child process.
	Children *Supervisor
	// Ports hands out loopback ports.
	Ports *Ports
}

// ControllerConfig says how to start one controller; a suite fills in
// where the objects come from, a test what it needs beyond the defaults.
type ControllerConfig struct {
	// Source are the flags naming where the objects come from
	// (--manifests DIR, or --kubeconfig FILE and --watch-namespace NS).
	Source []string
	// Args are extra flags, appended last so they override the defaults.
	Args []string
	// Env is the controller's environment; nil inherits the test binary's.
	Env []string
	// Resolver is --resolver; "" means 127.0.0.1, where nothing answers:
	// the machine's resolvers are never used.
	Resolver string
	// Dir holds the controller's directories; "" means a new ControllerDir.
	Dir string
	// NoWait returns as soon as the process started, without waiting for
	// /readyz (for tests of a controller that must not become ready).
	NoWait bool
	// Restart takes the directories and ports of an earlier controller
	// that is gone (killed), as a kubelet restarts a container in the same
	// Pod; Dir is then ignored.
	Restart *Controller
}

// Controller is one running `portico controller --start-nginx`.
type Controller struct {
	// ConfigDir is --config-dir: nginx.conf and the certificate files.
	ConfigDir string
	// RuntimeDir is --runtime-dir: nginx's pid file and temporary files.
	RuntimeDir string
	// HTTPPort is nginx's plain HTTP listener on 127.0.0.1.
	HTTPPort int
	// HTTPSPort is nginx's TLS listener on 127.0.0.1.
	HTTPSPort int
	// InternalPort is nginx's internal listener (generation, balancer data).
	InternalPort int
	// StatusPort is the controller's /healthz, /readyz and /metrics listener.
	StatusPort int
	// DebugPort is the controller's /debug/ listener.
	DebugPort int

	// Process is the controller's process.
	Process *Process
	// Logs is the controller's output (nginx's comes through it).
	Logs *LogBuffer
	// ReadyIn is how long the start took until /readyz answered 200.
	ReadyIn time.Duration
	// Client talks to nginx's HTTP port with keep-alive; it never follows redirects.
	Client *http.Client
	// StatusClient talks to the status and debug listeners, a fresh
	// connection each time.
	StatusClient *http.Client
	// crashed is set by Kill: the controller is expected to be gone.
	crashed bool
	// stopped is set once Stop ran.
	stopped bool
}

// ControllerDir returns a new directory for a controller's files. nginx
// workers run as nobody and read Lua code and htpasswd files under it, so
// its parent lets them through, as /tmp/portico does in a Pod.
func ControllerDir(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(root), 0o711))
	return root
}

// StartController runs the controller with fresh directories and ports and
// returns once /readyz answers 200 (unless cfg.NoWait). The controller and
// its nginx are stopped in t.Cleanup, which also checks that no nginx
// process outlives it.
func (s *Suite) StartController(t testing.TB, cfg ControllerConfig) *Controller {
	t.Helper()
	root := cfg.Dir
	if root == "" && cfg.Restart == nil {
		root = ControllerDir(t)
	}
	if cfg.Resolver == "" {
		cfg.Resolver = "127.0.0.1"
	}
	c := &Controller{
		ConfigDir:  filepath.Join(root, "conf"),
		RuntimeDir: filepath.Join(root, "run"),
	}
	if old := cfg.Restart; old != nil {
		c.ConfigDir, c.RuntimeDir = old.ConfigDir, old.RuntimeDir
		c.HTTPPort, c.HTTPSPort, c.InternalPort = old.HTTPPort, old.HTTPSPort, old.InternalPort
		c.StatusPort, c.DebugPort = old.StatusPort, old.DebugPort
	} else {
		c.HTTPPort, c.HTTPSPort, c.InternalPort = s.Ports.MustFree(t), s.Ports.MustFree(t), s.Ports.MustFree(t)
		c.StatusPort, c.DebugPort = s.Ports.MustFree(t), s.Ports.MustFree(t)
	}
	c.Client = NewHTTPClient(c.HTTPPort, true)
	c.StatusClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: GuardedDial}, Timeout: 10 * time.Second}

	args := append([]string{"controller"}, cfg.Source...)
	args = append(args,
		"--start-nginx",
		"--nginx-binary", s.Nginx,
		"--bind-address", "127.0.0.1",
		"--http-port", strconv.Itoa(c.HTTPPort),
		"--https-port", strconv.Itoa(c.HTTPSPort),
		"--internal-port", strconv.Itoa(c.InternalPort),
		"--status-address", "127.0.0.1:"+strconv.Itoa(c.StatusPort),
		"--debug-address", "127.0.0.1:"+strconv.Itoa(c.DebugPort),
		"--config-dir", c.ConfigDir,
		"--runtime-dir", c.RuntimeDir,
		"--access-log", "off",
		"--log-format", "json",
		// One worker keeps a dozen parallel nginx instances light on two
		// cores; tests that care about several workers pass their own.
		"--worker-processes", "1",
		"--resolver", cfg.Resolver,
	)
	args = append(args, cfg.Args...)
	cmd := exec.Command(s.Portico, args...)
	cmd.Env = cfg.Env

	// Cleanups run last-in first-out: the logs are printed after the stop,
	// so they include the shutdown.
	t.Cleanup(func() {
		if t.Failed() && c.Logs != nil {
			t.Logf("controller logs (%s):\n%s", strings.Join(cmd.Args, " "), c.Logs.String())
		}
	})
	started := time.Now()
	proc, err := s.Children.Start("portico controller", cmd)
	require.NoError(t, err)
	c.Process, c.Logs = proc, proc.Logs
	t.Cleanup(func() { c.Stop(t) })
	if cfg.NoWait {
		return c
	}
	c.WaitReady(t)
	c.ReadyIn = time.Since(started)
	t.Logf("controller ready in %s (http %d, https %d, status %d)", c.ReadyIn.Round(time.Millisecond), c.HTTPPort, c.HTTPSPort, c.StatusPort)
	return c
}

// WaitReady waits until /readyz answers 200; the controller exiting first
// fails the test.
func (c *Controller) WaitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(ReadyTimeout)
	for {
		code, _, err := c.StatusGet("/readyz")
		if err == nil && code == http.StatusOK {
			return
		}
		if !c.Process.Alive() {
			t.Fatalf("controller exited before it was ready: %v\n%s", c.Process.Err(), c.Process.LogTail(30))
		}
		if time.Now().After(deadline) {
			t.Fatalf("controller not ready within %s (last: %d %v)", ReadyTimeout, code, err)
		}
		time.Sleep(PollInterval)
	}
}

// Stop sends SIGTERM (the controller then stops its nginx gracefully), falls
// back to SIGKILL, and checks that no nginx process of this controller is
// left. Tests may call it early; the cleanup then does nothing.
func (c *Controller) Stop(t testing.TB) {
	t.Helper()
	if c.stopped {
		return
	}
	c.stopped = true
	// Taken before the stop: afterwards the master may be gone and its
	// orphaned workers are only known by their process group.
	groupIDs := map[int]bool{}
	for _, p := range NginxProcesses(c.ConfigDir, nil) {
		groupIDs[p.PGID] = true
	}

	// An idle keep-alive connection Go's transport dialled but never used
	// would hold nginx's graceful quit until client_header_timeout (60 s).
	c.Client.CloseIdleConnections()
	wasAlive := c.Process.Alive()
	if !wasAlive && !c.crashed {
		t.Errorf("controller had already exited: %v", c.Process.Err())
	}
	if err := c.Process.Stop(); err != nil {
		t.Error(err)
	} else if wasAlive && c.Process.Err() != nil {
		t.Errorf("controller exited with %v after SIGTERM, want a clean exit", c.Process.Err())
	}

	if c.crashed {
		// nginx outlives a controller killed by SIGKILL, by design: it
		// keeps serving until another controller adopts it. What no other
		// controller took over (and stopped) is ended here.
		for _, p := range NginxProcesses(c.ConfigDir, groupIDs) {
			_ = syscall.Kill(p.PID, syscall.SIGKILL) // ours: matched by config path or process group
		}
		return
	}
	var left []Proc
	deadline := time.Now().Add(GoneTimeout)
	for {
		left = NginxProcesses(c.ConfigDir, groupIDs)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("nginx processes of this controller still running %s after it stopped: %v", GoneTimeout, left)
		for _, p := range left {
			_ = syscall.Kill(p.PID, syscall.SIGKILL) // ours: matched by config path or process group
		}
	}
}

// Kill kills the controller with SIGKILL, as a crash would; the cleanup
// then expects it gone, and kills the nginx it leaves serving unless
// another controller adopted it.
func (c *Controller) Kill(t testing.TB) {
	t.Helper()
	c.crashed = true
	require.NoError(t, c.Process.Kill())
}

// StatusGet fetches a path of the status listener, or of the debug
// listener for /debug/ paths (the debug views listen apart, --debug-address).
func (c *Controller) StatusGet(path string) (int, []byte, error) {
	port := c.StatusPort
	if strings.HasPrefix(path, "/debug/") {
		port = c.DebugPort
	}
	resp, err := c.StatusClient.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, body, err
}

// MustStatusGet is StatusGet of a path that must answer 200.
func (c *Controller) MustStatusGet(t testing.TB, path string) []byte {
	t.Helper()
	code, body, err := c.StatusGet(path)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "GET %s: %s", path, body)
	return body
}

// ReloadEvent is the wire shape of one /debug/reloads entry. It is declared
// here rather than imported so the tests pin the JSON operators read.
type ReloadEvent struct {
	// Time is when the attempt started.
	Time time.Time `json:"time"`
	// Result is "success" or a failure's kind.
	Result string `json:"result"`
	// Generation numbers every attempt, one more each time.
	Generation uint64 `json:"generation"`
	// ConfigHash is the SHA-256 of the rendered nginx.conf.
	ConfigHash string `json:"config_hash"`
	// DurationMS is how long the attempt took.
	DurationMS float64 `json:"duration_ms"`
	// Changes names the servers the attempt added, removed and changed.
	Changes struct {
		// Added are the servers that are new.
		Added []string `json:"added"`
		// Removed are the servers that are gone.
		Removed []string `json:"removed"`
		// Changed are the servers whose lines changed.
		Changed []string `json:"changed"`
	} `json:"changes"`
	// Message says why an attempt failed.
	Message string `json:"message"`
	// Count is how many attempts in a row that failed the same way this
	// entry stands for (1 for one).
	Count int `json:"count"`
	// LastTime is when the last of those attempts started.
	LastTime time.Time `json:"last_time"`
}

// Reloads returns /debug/reloads, newest first.
func (c *Controller) Reloads(t testing.TB) []ReloadEvent {
	t.Helper()
	events, err := c.TryReloads()
	require.NoError(t, err)
	return events
}

// TryReloads is Reloads for callers that poll.
func (c *Controller) TryReloads() ([]ReloadEvent, error) {
	code, body, err := c.StatusGet("/debug/reloads")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("/debug/reloads: status %d: %s", code, body)
	}
	var events []ReloadEvent
	if err := json.Unmarshal(body, &events); err != nil {
		return nil, fmt.Errorf("/debug/reloads: %w", err)
	}
	return events, nil
}

// Generation returns the generation of the newest reload attempt. Every
// attempt gets the next number, so the difference of two readings counts
// reload attempts whatever the size of the history. Tests read it once
// nginx serves, and nginx serves a new configuration a moment before the
// controller has verified and recorded the reload: it waits (at most
// ReloadTimeout) until the first attempt is on record, so a baseline is
// never a 0 read too early (a make test flake).
func (c *Controller) Generation(t testing.TB) uint64 {
	t.Helper()
	var gen uint64
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		events, err := c.TryReloads()
		require.NoError(ct, err)
		require.NotEmpty(ct, events, "no reload on record yet")
		gen = events[0].Generation
	}, ReloadTimeout, PollInterval)
	return gen
}

// WaitReload waits for a reload attempt newer than generation after and
// returns the newest event.
func (c *Controller) WaitReload(t testing.TB, after uint64) ReloadEvent {
	t.Helper()
	var newest ReloadEvent
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		events, err := c.TryReloads()
		require.NoError(ct, err)
		require.NotEmpty(ct, events)
		newest = events[0]
		require.Greater(ct, newest.Generation, after, "no reload after generation %d yet", after)
	}, ReloadTimeout, PollInterval)
	return newest
}

// Samples returns the values of the series of metric name on /metrics
// whose labels include labels, in the order /metrics lists them.
func (c *Controller) Samples(t testing.TB, name string, labels map[string]string) []float64 {
	t.Helper()
	series, err := ParseMetrics(c.MustStatusGet(t, "/metrics"))
	require.NoError(t, err)
	var out []float64
	for _, s := range series {
		if s.Name == name && hasLabels(s.Labels, labels) {
			out = append(out, s.Value)
		}
	}
	return out
}

// Series is one sample of a Prometheus text page.
type Series struct {
	// Name is the metric's name.
	Name string
	// Labels is the text between the braces ("" without labels).
	Labels string
	// Value is the sample's value.
	Value float64
}

// ParseMetrics returns the samples of a Prometheus text page in page order;
// a value that is not a number is an error.
func ParseMetrics(body []byte) ([]Series, error) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var out []Series
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, value, ok := splitSeries(line)
		if !ok {
			return nil, fmt.Errorf("metric line %q: not name{labels} value", line)
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("metric line %q: %w", line, err)
		}
		out = append(out, Series{Name: name, Labels: labels, Value: v})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	return out, nil
}

// splitSeries splits a sample line into its name, the text between the
// label braces and the value (a timestamp after it is dropped). Label
// values are quoted and may hold spaces, braces and escaped quotes.
func splitSeries(line string) (name, labels, value string, ok bool) {
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return "", "", "", false
	}
	name, rest := line[:i], line[i:]
	if rest[0] == '{' {
		inQuotes := false
		end := -1
		for j := 1; j < len(rest) && end < 0; j++ {
			switch {
			case rest[j] == '\\' && inQuotes:
				j++ // the escaped character
			case rest[j] == '"':
				inQuotes = !inQuotes
			case rest[j] == '}' && !inQuotes:
				end = j
			}
		}
		if end < 0 {
			return "", "", "", false
		}
		labels, rest = rest[1:end], rest[end+1:]
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", "", "", false
	}
	return name, labels, fields[0], true
}

// Metric returns the value of the first series of metric name whose labels
// include labels; ok is false when there is none.
func (c *Controller) Metric(t testing.TB, name string, labels map[string]string) (value float64, ok bool) {
	t.Helper()
	samples := c.Samples(t, name, labels)
	if len(samples) == 0 {
		return 0, false
	}
	return samples[0], true
}

// MetricSum returns the sum of the series of metric name whose labels
// include labels (every series of the name for nil labels); the metric
// must be there.
func (c *Controller) MetricSum(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	samples := c.Samples(t, name, labels)
	require.NotEmpty(t, samples, "%s%v not in /metrics", name, labels)
	sum := 0.0
	for _, v := range samples {
		sum += v
	}
	return sum
}

// SumSeries adds up the samples of metric name whose labels hold want,
// and says whether there was any.
func SumSeries(series []Series, name string, want map[string]string) (sum float64, found bool) {
	for _, s := range series {
		if s.Name == name && hasLabels(s.Labels, want) {
			sum += s.Value
			found = true
		}
	}
	return sum, found
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

// Request sends GET path with the given Host header to nginx's HTTP port.
func (c *Controller) Request(host, path string) (Response, error) {
	return DoGet(c.Client, "http", host, path)
}

// Get is Request for tests: transport errors fail the test.
func (c *Controller) Get(t testing.TB, host, path string) Response {
	t.Helper()
	r, err := c.Request(host, path)
	require.NoError(t, err, "GET http://%s%s", host, path)
	return r
}

// WaitServed waits until host+path answers 200 from service and returns
// the response.
func (c *Controller) WaitServed(t testing.TB, host, path, service string) Response {
	t.Helper()
	return c.WaitStatus(t, host, path, http.StatusOK, service)
}

// WaitStatus waits until host+path answers status from service ("" for
// nginx itself) and returns the response.
func (c *Controller) WaitStatus(t testing.TB, host, path string, status int, service string) Response {
	t.Helper()
	var last Response
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r, err := c.Request(host, path)
		require.NoError(ct, err)
		last = r
		assert.Equal(ct, status, r.Status, "GET http://%s%s: %s", host, path, r)
		assert.Equal(ct, service, r.Served(), "GET http://%s%s: %s", host, path, r)
	}, RouteTimeout, PollInterval)
	return last
}

// HTTPSClient returns a client for nginx's HTTPS port that sends serverName
// as SNI and trusts roots (nil: verification off).
func (c *Controller) HTTPSClient(serverName string, roots *x509.CertPool) *http.Client {
	client := NewHTTPClient(c.HTTPSPort, false)
	client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{
		ServerName:         serverName,
		RootCAs:            roots,
		InsecureSkipVerify: roots == nil, //nolint:gosec // tests inspect self-signed certificates
	}
	return client
}

// MustPeerCertificate is PeerCertificate for tests: a failed handshake
// fails the test.
func (c *Controller) MustPeerCertificate(t testing.TB, serverName string) *x509.Certificate {
	t.Helper()
	cert, err := c.PeerCertificate(serverName)
	require.NoError(t, err, "TLS handshake with SNI %q", serverName)
	return cert
}

// PeerCertificate completes a TLS handshake with nginx's HTTPS port sending
// serverName as SNI ("" sends none) and returns the certificate nginx
// presented.
func (c *Controller) PeerCertificate(serverName string) (*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := GuardedDial(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.HTTPSPort)))
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, &tls.Config{ServerName: serverName, InsecureSkipVerify: true}) //nolint:gosec // inspecting, not trusting
	defer func() { _ = conn.Close() }()
	if err := conn.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, fmt.Errorf("no certificate for SNI %q", serverName)
	}
	return certs[0], nil
}
