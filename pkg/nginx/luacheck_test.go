package nginx

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingNginx is a fake nginx -t that appends a line to a file per run
// and then runs script (exit 0 by default).
func countingNginx(t *testing.T, script string) (binary string, runs func() int) {
	t.Helper()
	binary, pids := fakeNginx(t, script)
	return binary, func() int {
		raw, err := os.ReadFile(pids)
		if os.IsNotExist(err) {
			return 0
		}
		require.NoError(t, err)
		return len(strings.Fields(string(raw)))
	}
}

// TestLuaCheckProbesOnce checks that the Lua probe runs once per change of
// what it reads, never twice for one check, and never because nginx -t
// failed for a reason of its own.
func TestLuaCheckProbesOnce(t *testing.T) {
	tests := []struct {
		name   string
		script string
		// steps run in order; each is "check", "passed" or "touch" (edit
		// a Lua file).
		steps []string
		// wantRuns is the number of nginx -t runs after the steps.
		wantRuns int
		// wantInstalls is the number of reinstalls of the Lua code.
		wantInstalls int
		// wantErr is part of the last check's error, "" for none.
		wantErr string
	}{
		{name: "passed at start: no probe", steps: []string{"passed", "check", "check"}, wantRuns: 0},
		{name: "first check probes once", steps: []string{"check", "check", "check"}, wantRuns: 1, wantInstalls: 1},
		{name: "an edited Lua file is probed again", steps: []string{"passed", "check", "touch", "check", "check"}, wantRuns: 1, wantInstalls: 1},
		{name: "refused: one probe per check", script: "echo 'nginx: [emerg] module not found' >&2\nexit 1",
			steps: []string{"check"}, wantRuns: 1, wantInstalls: 1, wantErr: "nginx cannot run the Lua balancer: nginx: [emerg] module not found"},
		{name: "hangs: one probe, and the error says nginx -t hung", script: "sleep 60",
			steps: []string{"check"}, wantRuns: 1, wantInstalls: 1, wantErr: "probing for the Lua module: nginx -t did not finish within 300ms; killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			binary, runs := countingNginx(t, tt.script)
			luaDir := t.TempDir()
			hook := filepath.Join(luaDir, "hooks", "init.lua")
			require.NoError(t, os.MkdirAll(filepath.Dir(hook), 0o755))
			require.NoError(t, os.WriteFile(hook, []byte("-- v1\n"), 0o644))
			installs := 0
			check := NewLuaCheck(Options{Binary: binary, TestTimeout: 300 * time.Millisecond}, luaDir, nil, func() error {
				installs++
				return nil
			})
			var err error
			for _, step := range tt.steps {
				switch step {
				case "passed":
					check.Passed()
				case "check":
					err = check.Check(context.Background())
				case "touch":
					require.NoError(t, os.WriteFile(hook, []byte("-- v2, longer\n"), 0o644))
				}
			}
			if tt.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, tt.wantErr)
			}
			assert.Equal(t, tt.wantRuns, runs(), "nginx -t runs")
			assert.Equal(t, tt.wantRuns, check.probes, "probes")
			assert.Equal(t, tt.wantInstalls, installs, "installs of the Lua code")
		})
	}
}

// TestDetectLuaStopsWhenNginxHangs checks that a hung nginx -t ends the
// search for the modules: each further candidate would hang as long.
func TestDetectLuaStopsWhenNginxHangs(t *testing.T) {
	binary, runs := countingNginx(t, "sleep 60")
	probe := DetectLua(context.Background(), Options{Binary: binary, TestTimeout: 200 * time.Millisecond}, t.TempDir(), [][]string{nil, nil, nil})
	var timeout *TestTimeoutError
	require.ErrorAs(t, probe.Err, &timeout)
	assert.Equal(t, 1, runs())
}
