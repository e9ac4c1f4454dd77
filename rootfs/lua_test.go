package rootfs

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLuaTreeHoldsOnlyCode checks what the controller installs for nginx:
// every hook and module, and none of the specs that live beside them.
func TestLuaTreeHoldsOnlyCode(t *testing.T) {
	var files []string
	require.NoError(t, fs.WalkDir(Lua(), ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	}))
	for _, want := range []string{
		"hooks/balancer.lua", "hooks/init.lua", "hooks/escaped_request_uri.lua", "portico/balancer.lua", "portico/document.lua", "portico/ratelog.lua",
		"portico/balancer/store.lua", "portico/balancer/pool.lua", "portico/balancer/round_robin.lua",
		"portico/balancer/least_conn.lua", "portico/balancer/ewma.lua", "portico/balancer/chash.lua",
		"portico/balancer/affinity.lua", "portico/balancer/canary.lua",
	} {
		assert.Contains(t, files, want)
	}
	for _, f := range files {
		assert.False(t, strings.HasPrefix(f, "spec/") || strings.HasSuffix(f, "_spec.lua"), "%s is a spec, nginx has no use for it", f)
		assert.True(t, strings.HasSuffix(f, ".lua"), "%s is not Lua code", f)
	}
}
