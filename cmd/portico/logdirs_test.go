package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckLogDirs: --log-dir takes absolute, clean directories, never "/"
// nor one inside or around the config or runtime directory.
func TestCheckLogDirs(t *testing.T) {
	for _, c := range []struct {
		dir, err string
	}{
		{"/var/log", ""},
		{"/data/logs", ""},
		{"/tmp/e2e-logs", ""},
		{"/", "other than /"},
		{"logs", "absolute"},
		{"/var/log/", "clean"},
		{"/var/../etc", "clean"},
		{"/var/log;x", "absolute"},
		{"/etc/portico", "must not be inside or hold"},
		{"/etc/portico/certs", "must not be inside or hold"},
		{"/etc", "must not be inside or hold"},
		{"/tmp/portico", "must not be inside or hold"},
		{"/tmp", "must not be inside or hold"},
	} {
		t.Run(c.dir, func(t *testing.T) {
			got, err := checkLogDirs([]string{c.dir}, "/tmp/portico", "/etc/portico")
			if c.err == "" {
				require.NoError(t, err)
				assert.Equal(t, []string{c.dir}, got)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.err)
		})
	}
}
