package nginx

import (
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
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// nginxBinary finds a real nginx or skips: these tests exist to exercise
// nginx itself, a fake would prove nothing.
func nginxBinary(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	tb.Skip("nginx binary not found in PATH or /usr/sbin; install nginx (Debian: nginx-extras) to run these tests")
	return ""
}

// freePort returns a loopback port that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(tb, l.Close())
	return port
}

// testEnv is one nginx instance under test: its own prefix directory, port,
// supervisor and driver.
type testEnv struct {
	dir  string
	port int
	opts Options
	sup  *Supervisor
	drv  *Driver
	// pgid is the process group of the first master, for the leak checks.
	pgid int
}

// newEnv prepares (but does not start) an nginx in a temporary directory.
// Cleanup always stops it, even when the test fails half-way.
func newEnv(tb testing.TB) *testEnv {
	tb.Helper()
	e := newEnvWith(tb, 10*time.Second,
		slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
	// Fast restarts keep the crash test short.
	e.sup.policy.first = 50 * time.Millisecond
	return e
}

// newEnvWith is newEnv with the verify timeout and logger given, and the
// supervisor's default restart backoff.
func newEnvWith(tb testing.TB, verifyTimeout time.Duration, logger *slog.Logger) *testEnv {
	tb.Helper()
	bin := nginxBinary(tb)
	dir := tb.TempDir()
	e := &testEnv{dir: dir, port: freePort(tb)}
	e.opts = Options{
		Binary:        bin,
		ConfigPath:    filepath.Join(dir, "nginx.conf"),
		Prefix:        dir,
		PIDFile:       filepath.Join(dir, "nginx.pid"),
		VerifyURL:     "http://nginx/portico/generation",
		Socket:        filepath.Join(dir, "internal.sock"),
		VerifyTimeout: verifyTimeout,
		Logger:        logger,
	}
	e.sup = NewSupervisor(e.opts, nil, nil)
	e.drv = NewDriver(e.opts, e.sup)
	tb.Cleanup(func() { e.stop(tb) })
	return e
}

// stop stops nginx and makes sure nothing of its process group remains.
func (e *testEnv) stop(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := e.sup.Stop(ctx); err != nil {
		tb.Errorf("stop nginx: %v", err)
	}
	if e.pgid > 0 {
		// Last resort so a failing test never leaves nginx running.
		_ = syscall.Kill(-e.pgid, syscall.SIGKILL)
	}
}

// conf renders the minimal test configuration for a generation; extra is
// inserted in the server block.
func (e *testEnv) conf(gen uint64, extra string) []byte {
	user := ""
	if os.Geteuid() == 0 {
		// Workers would otherwise run as nobody, who cannot enter the
		// 0700 temporary directory.
		user = "user root;"
	}
	return fmt.Appendf(nil, `%s
pid %s;
error_log stderr notice;
worker_processes 2;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[3]s/body;
    proxy_temp_path %[3]s/proxy;
    fastcgi_temp_path %[3]s/fcgi;
    uwsgi_temp_path %[3]s/uwsgi;
    scgi_temp_path %[3]s/scgi;
    server {
        listen 127.0.0.1:%[4]d;
        listen unix:%[7]s;
        %[6]s
        location = /portico/generation { return 200 "%[5]d"; }
        location / { return 200 "v%[5]d"; }
    }
}
`, user, e.opts.PIDFile, e.dir, e.port, gen, extra, e.opts.Socket)
}

// start applies generation 1 while nginx is down, starts it and verifies.
func (e *testEnv) start(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	res, err := e.drv.Apply(ctx, e.conf(1, ""), nil, 1)
	require.NoError(tb, err)
	require.False(tb, res.Signalled, "nginx was not running, nothing to signal")
	require.NoError(tb, e.sup.Start())
	e.pgid = e.sup.Pid()
	require.NoError(tb, e.drv.Verify(ctx, 1))
	require.Eventually(tb, e.sup.Alive, 5*time.Second, 10*time.Millisecond, "pid file never named the child")
}

// get fetches path over a new connection and returns status and body.
func (e *testEnv) get(path string) (int, string, error) {
	c := http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + strconv.Itoa(e.port) + path)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// requireBody asserts that / answers 200 with body.
func (e *testEnv) requireBody(tb testing.TB, body string) {
	tb.Helper()
	code, got, err := e.get("/")
	require.NoError(tb, err)
	require.Equal(tb, http.StatusOK, code)
	require.Equal(tb, body, got)
}

// groupGone reports whether no process of the group pgid remains.
func groupGone(pgid int) bool {
	return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}
