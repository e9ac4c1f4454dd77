// Package nginxtest finds the nginx binary for tests and runs nginx -t.
package nginxtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Binary returns the nginx binary. Tests skip without one, except when
// PORTICO_REQUIRE_NGINX is set (make test sets it): there a missing nginx is
// a failure, so CI can never pass by skipping the real-nginx tests.
func Binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("PORTICO_REQUIRE_NGINX") != "" {
		t.Fatal("nginx not found; run hack/install-deps.sh")
	}
	t.Skip("nginx not found; run hack/install-deps.sh (make test does)")
	return ""
}

// Check runs nginx -t on a config file and returns nginx's output on failure.
func Check(t testing.TB, confPath string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), "-t", "-q", "-c", confPath, "-p", filepath.Dir(confPath))
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}
