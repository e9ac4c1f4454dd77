// Package rootfs holds the files the container image ships; this test
// checks the bootstrap nginx.conf with the real nginx.
package rootfs

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/nginx"
	"github.com/portico-ingress/portico/pkg/testutil/nginxtest"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = ln.Close() }()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	return port
}

// TestBootstrapServes503 runs the bootstrap config (ports and paths moved
// to a temporary directory and free loopback ports) and checks it answers
// 503 everywhere and generation 0 on the internal socket.
func TestBootstrapServes503(t *testing.T) {
	bin := nginxtest.Binary(t)
	raw, err := os.ReadFile("usr/share/portico/bootstrap.conf")
	require.NoError(t, err)
	dir := t.TempDir()
	httpPort := freePort(t)
	conf := strings.NewReplacer(
		"/tmp/portico", dir,
		"listen 80 default_server", "listen 127.0.0.1:"+httpPort+" default_server",
	).Replace(string(raw))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "internal"), 0o700))
	internal := nginx.InternalClient(filepath.Join(dir, "internal", "nginx.sock"), 2*time.Second)
	path := filepath.Join(dir, "nginx.conf")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o644))
	out, ok := nginxtest.Check(t, path)
	require.True(t, ok, out)

	cmd := exec.Command(bin, "-c", path, "-p", dir, "-g", "daemon off;")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})

	client := &http.Client{Timeout: 2 * time.Second}
	get := func(url string) (int, string) {
		client := client
		if strings.HasPrefix(url, "http://nginx/") {
			client = internal
		}
		resp, err := client.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	require.Eventually(t, func() bool {
		code, _ := get("http://nginx/portico/generation")
		return code == 200
	}, 10*time.Second, 20*time.Millisecond)
	code, body := get("http://nginx/portico/generation")
	assert.Equal(t, 200, code)
	assert.Equal(t, "0", body)
	code, body = get("http://127.0.0.1:" + httpPort + "/anything")
	assert.Equal(t, 503, code)
	assert.Contains(t, body, "no configuration is live yet")
}
