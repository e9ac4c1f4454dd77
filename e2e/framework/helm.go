package framework

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// HelmBinary returns the helm hack/build-helm.sh built, skipping the test
// when there is none yet (failing under PORTICO_REQUIRE_HELM).
func HelmBinary(t testing.TB) string {
	t.Helper()
	root, err := ModuleRoot()
	require.NoError(t, err)
	out, err := exec.Command("bash", filepath.Join(root, "hack", "build-helm.sh"), "--path").Output()
	require.NoError(t, err, "hack/build-helm.sh --path")
	path := strings.TrimSpace(string(out))
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		msg := fmt.Sprintf("helm is not built at %s (run make helm)", path)
		if os.Getenv("PORTICO_REQUIRE_HELM") != "" {
			t.Fatal(msg + "; PORTICO_REQUIRE_HELM is set")
		}
		t.Skip(msg + "; set PORTICO_REQUIRE_HELM=1 to make this a failure")
	}
	return path
}

// Helm runs the helm binary bin, without the user configuration, cache or
// plugins of this machine, and returns its stdout, or an error with stderr.
func Helm(t testing.TB, bin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home, "HELM_CACHE_HOME="+home, "HELM_DATA_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}
