package nginx

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNginxLogLevel(t *testing.T) {
	for line, want := range map[string]slog.Level{
		`2026/01/02 10:00:00 [emerg] 1#1: bind() failed`:      slog.LevelError,
		`2026/01/02 10:00:00 [alert] 1#1: worker exited`:      slog.LevelError,
		`2026/01/02 10:00:00 [crit] 1#1: SSL_do_handshake()`:  slog.LevelError,
		`2026/01/02 10:00:00 [error] 1#1: open() failed`:      slog.LevelError,
		`2026/01/02 10:00:00 [warn] 1#1: duplicate MIME type`: slog.LevelWarn,
		`2026/01/02 10:00:00 [notice] 1#1: signal 1 (SIGHUP)`: slog.LevelInfo,
		`2026/01/02 10:00:00 [debug] 1#1: something`:          slog.LevelDebug,
		`free text without a level`:                           slog.LevelInfo,
	} {
		require.Equal(t, want, nginxLogLevel(line), line)
	}
}

func TestReadPIDFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "nginx.pid")

	pid, err := readPIDFile(p)
	require.NoError(t, err, "missing file: not started yet")
	require.Zero(t, pid)

	require.NoError(t, os.WriteFile(p, nil, 0o644))
	pid, err = readPIDFile(p)
	require.NoError(t, err, "empty file: being written")
	require.Zero(t, pid)

	require.NoError(t, os.WriteFile(p, []byte("1234\n"), 0o644))
	pid, err = readPIDFile(p)
	require.NoError(t, err)
	require.Equal(t, 1234, pid)

	for _, bad := range []string{"abc", "-5", "0"} {
		require.NoError(t, os.WriteFile(p, []byte(bad), 0o644))
		_, err = readPIDFile(p)
		require.Error(t, err, bad)
	}
	require.False(t, PIDFileProcess{Path: p}.Alive())
	require.Zero(t, PIDFileProcess{Path: p}.Pid())
	require.Error(t, PIDFileProcess{Path: p}.Signal(os.Interrupt))
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "tls.key")

	written, err := writeFileAtomic(p, []byte("one"), 0o600, nil)
	require.NoError(t, err)
	require.True(t, written)
	fi, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	written, err = writeFileAtomic(p, []byte("one"), 0o600, nil)
	require.NoError(t, err)
	require.False(t, written, "identical content is not rewritten")

	// Identical content but a different mode: the mode is corrected in place.
	written, err = writeFileAtomic(p, []byte("one"), 0o640, nil)
	require.NoError(t, err)
	require.False(t, written)
	fi, err = os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), fi.Mode().Perm())

	written, err = writeFileAtomic(p, []byte("two"), 0o600, nil)
	require.NoError(t, err)
	require.True(t, written)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "two", string(got))

	entries, err := os.ReadDir(filepath.Dir(p))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left behind")
}

func TestTestMissingBinary(t *testing.T) {
	d := NewDriver(Options{Binary: filepath.Join(t.TempDir(), "no-nginx")}, nil)
	err := d.Test(context.Background(), "/nonexistent.conf")
	require.Error(t, err)
	var testErr *TestError
	require.NotErrorAs(t, err, &testErr, "a missing binary is not the configuration's fault")
}

func TestApplyWithoutConfigPath(t *testing.T) {
	_, err := NewDriver(Options{}, nil).Apply(context.Background(), nil, nil, 1)
	require.Error(t, err)
}
