package nginx

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseStatm reads the size and resident pages.
func TestParseStatm(t *testing.T) {
	for _, tc := range []struct {
		name, text     string
		size, resident uint64
		bad            bool
	}{
		{name: "usual", text: "10000 1000 500 200 0 900 0\n", size: 10000, resident: 1000},
		{name: "two fields", text: "7 3", size: 7, resident: 3},
		{name: "empty", text: "", bad: true},
		{name: "one field", text: "7\n", bad: true},
		{name: "not a number", text: "7 x 1", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size, resident, err := parseStatm([]byte(tc.text))
			if tc.bad {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, [2]uint64{tc.size, tc.resident}, [2]uint64{size, resident})
		})
	}
}

// TestParseProcIO reads the storage bytes, not rchar and wchar.
func TestParseProcIO(t *testing.T) {
	for _, tc := range []struct {
		name, text  string
		read, write uint64
		bad         bool
	}{
		{name: "usual", text: "rchar: 99\nwchar: 88\nsyscr: 1\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n",
			read: 4096, write: 8192},
		{name: "zero", text: "read_bytes: 0\nwrite_bytes: 0\n"},
		{name: "no write_bytes", text: "rchar: 99\nread_bytes: 4096\n", bad: true},
		{name: "empty", text: "", bad: true},
		{name: "not a number", text: "read_bytes: x\nwrite_bytes: 1\n", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read, write, err := parseProcIO([]byte(tc.text))
			if tc.bad {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, [2]uint64{tc.read, tc.write}, [2]uint64{read, write})
		})
	}
}

// TestParseBootTime finds btime among /proc/stat's lines.
func TestParseBootTime(t *testing.T) {
	b, err := os.ReadFile("testdata/proc/stat")
	require.NoError(t, err)
	got, err := parseBootTime(b)
	require.NoError(t, err)
	assert.Equal(t, int64(1700000000), got)

	for _, bad := range []string{"", "cpu 1 2 3\n", "btime x\n", "btimex 5\n"} {
		_, err := parseBootTime([]byte(bad))
		assert.Error(t, err, bad)
	}
}

// fixtureStats is what testdata/proc says of master 100 and its two workers
// (process 200 is another program and is left out).
var fixtureStats = ProcessStats{
	Procs:         3,
	CPUSeconds:    6.5, // (150+50 + 300+100 + 30+20) ticks
	ReadBytes:     4096,
	WriteBytes:    4096 + 8192,
	IO:            true,
	ResidentBytes: (1000 + 2000 + 1500) * 4096,
	VirtualBytes:  (10000 + 12000 + 11000) * 4096,
	OldestStart:   time.Unix(1700000010, 0), // btime + 1000 ticks
}

// TestProcessReaderFixture sums the master and its children.
func TestProcessReaderFixture(t *testing.T) {
	r := NewProcessReader("testdata/proc", 4096)
	got, ok, err := r.Read(100)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, fixtureStats, got)

	for _, pid := range []int{0, 999} {
		_, ok, err = r.Read(pid)
		require.NoError(t, err, "no master is no error")
		assert.False(t, ok, "pid %d", pid)
	}
}

// TestProcessReaderKeepsExited: a worker that exits (an old one after a
// reload) keeps what it used in the counters; an unreadable io file drops
// only the I/O figures; a new worker adds its own.
func TestProcessReaderKeepsExited(t *testing.T) {
	root := copyFixture(t)
	r := NewProcessReader(root, 4096)
	_, ok, err := r.Read(100)
	require.NoError(t, err)
	require.True(t, ok)

	require.NoError(t, os.RemoveAll(filepath.Join(root, "102")))
	require.NoError(t, os.Remove(filepath.Join(root, "101", "io")))
	got, ok, err := r.Read(100)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 2, got.Procs)
	assert.InDelta(t, 6.5, got.CPUSeconds, 1e-9, "the exited worker's CPU time stays")
	assert.False(t, got.IO)
	assert.Equal(t, uint64((1000+2000)*4096), got.ResidentBytes, "memory is the living's only")

	// A new worker, 103, started after the reload.
	require.NoError(t, os.MkdirAll(filepath.Join(root, "103"), 0o755))
	writeFile(t, filepath.Join(root, "103", "stat"),
		"103 (nginx) S 100 100 100 0 -1 4194560 100 0 0 0 100 0 0 0 20 0 1 0 5000 1000 100 18446744073709551615\n")
	writeFile(t, filepath.Join(root, "103", "statm"), "9000 100 0 0 0 0 0\n")
	got, _, err = r.Read(100)
	require.NoError(t, err)
	assert.Equal(t, 3, got.Procs)
	assert.InDelta(t, 7.5, got.CPUSeconds, 1e-9)
	assert.Equal(t, time.Unix(1700000010, 0), got.OldestStart, "still the master's start")
}

// copyFixture copies testdata/proc into a temporary directory tests may change.
func copyFixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.CopyFS(root, os.DirFS("testdata/proc")))
	return root
}

// writeFile writes text to path or fails the test.
func writeFile(t *testing.T, path, text string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
}

// TestProcessReaderRealProc reads this test process from the real /proc:
// the parsing fits the kernel's files, not only the fixtures.
func TestProcessReaderRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	r := NewProcessReader("/proc", os.Getpagesize())
	got, ok, err := r.Read(os.Getpid())
	require.NoError(t, err)
	require.True(t, ok)
	assert.GreaterOrEqual(t, got.Procs, 1)
	assert.Positive(t, got.ResidentBytes)
	assert.Greater(t, got.VirtualBytes, got.ResidentBytes)
	assert.WithinDuration(t, time.Now(), got.OldestStart, 10*time.Minute)
}

// TestParseStubStatus reads stub_status's answer and refuses anything else.
func TestParseStubStatus(t *testing.T) {
	const usual = "Active connections: 291 \nserver accepts handled requests\n 16630948 16630947 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n"
	got, err := ParseStubStatus([]byte(usual))
	require.NoError(t, err)
	assert.Equal(t, StubStatus{Active: 291, Accepted: 16630948, Handled: 16630947, Requests: 31070465, Reading: 6, Writing: 179, Waiting: 106}, got)

	for name, bad := range map[string]string{
		"empty":         "",
		"html":          "<html>404</html>",
		"missing line":  "Active connections: 1\nserver accepts handled requests\nReading: 0 Writing: 1 Waiting: 0\n",
		"two counts":    "Active connections: 1\nserver accepts handled requests\n 1 1\nReading: 0 Writing: 1 Waiting: 0\n",
		"negative":      "Active connections: -1\nserver accepts handled requests\n 1 1 1\nReading: 0 Writing: 1 Waiting: 0\n",
		"renamed field": "Active connections: 1\nserver accepts handled requests\n 1 1 1\nReading: 0 Writing: 1 Idle: 0\n",
	} {
		_, err := ParseStubStatus([]byte(bad))
		assert.Error(t, err, name)
	}
}

// TestProcessReaderConcurrent: scrapes at once each get the whole figures
// (run with -race).
func TestProcessReaderConcurrent(t *testing.T) {
	r := NewProcessReader("testdata/proc", 4096)
	results := make(chan ProcessStats, 8)
	for range cap(results) {
		go func() {
			got, _, err := r.Read(100)
			assert.NoError(t, err)
			results <- got
		}()
	}
	for range cap(results) {
		assert.Equal(t, fixtureStats, <-results)
	}
}
