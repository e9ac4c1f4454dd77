package nginx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// ClockTicks is USER_HZ, the unit of the CPU and start times in
// /proc/PID/stat. Linux fixes it at 100 for user space on every
// architecture Go supports, whatever the kernel's own HZ, and reading
// sysconf(_SC_CLK_TCK) would need cgo.
const ClockTicks = 100

// ProcessStats is what nginx's processes (the master and its children:
// workers, old workers shutting down, cache manager and loader) use, summed,
// as ingress-nginx's nginx_process_* series report it.
type ProcessStats struct {
	// Procs is the number of processes.
	Procs int
	// CPUSeconds is the user and system CPU time, in seconds, of these
	// processes and of the ones seen before that have exited since (old
	// workers after reloads), so that it never goes down.
	CPUSeconds float64
	// ReadBytes and WriteBytes are the bytes read from and written to
	// storage (/proc/PID/io read_bytes, write_bytes), accumulated as
	// CPUSeconds is. Valid only when IO is true.
	ReadBytes, WriteBytes uint64
	// IO is false when some process's /proc/PID/io could not be read (it
	// needs the same user as nginx, or ptrace rights).
	IO bool
	// ResidentBytes and VirtualBytes are the summed resident and virtual
	// memory sizes (/proc/PID/statm). Shared pages count once per process,
	// as in ingress-nginx.
	ResidentBytes, VirtualBytes uint64
	// OldestStart is when the oldest of the processes (the master) started.
	OldestStart time.Time
}

// procCounts are one process's cumulative counters.
type procCounts struct {
	ticks       uint64 // utime + stime
	read, write uint64
}

// add returns c plus o.
func (c procCounts) add(o procCounts) procCounts {
	return procCounts{ticks: c.ticks + o.ticks, read: c.read + o.read, write: c.write + o.write}
}

// procKey names one process: with its start time, a recycled pid is another.
type procKey struct {
	pid   int
	start uint64
}

// ProcessReader reads ProcessStats from a proc file system. It remembers the
// counters of the processes it saw, so that the totals keep what exited
// processes had used, as process-exporter (which ingress-nginx uses) does;
// a sum of the living alone would fall at every reload and read as a counter
// reset. It is safe for concurrent use.
type ProcessReader struct {
	root     string
	pageSize uint64

	mu sync.Mutex
	// seen holds the last counters of each process of the last read.
	seen map[procKey]procCounts
	// exited sums the last counters of processes that are gone.
	exited procCounts
}

// NewProcessReader reads from root (/proc, or a copy of parts of it in
// tests); pageSize is the unit of /proc/PID/statm (os.Getpagesize()).
func NewProcessReader(root string, pageSize int) *ProcessReader {
	return &ProcessReader{root: root, pageSize: uint64(max(pageSize, 0)), seen: map[procKey]procCounts{}}
}

// Read returns the stats of master and its children; ok is false when
// master is 0 or no longer runs.
func (r *ProcessReader) Read(master int) (stats ProcessStats, ok bool, err error) {
	if master <= 0 {
		return ProcessStats{}, false, nil
	}
	// One read at a time, from the files to the totals: two scrapes at
	// once could otherwise store the older counters last, and the next
	// total would go down.
	r.mu.Lock()
	defer r.mu.Unlock()
	bootTime, err := readBootTime(filepath.Join(r.root, "stat"))
	if err != nil {
		return ProcessStats{}, false, err
	}
	pids, err := r.family(master)
	if gone(err) {
		return ProcessStats{}, false, nil
	}
	if err != nil {
		return ProcessStats{}, false, err
	}
	stats.IO = true
	live := map[procKey]procCounts{}
	var oldest uint64
	for _, pid := range pids {
		p, err := r.readProcess(pid)
		if gone(err) {
			if pid == master {
				return ProcessStats{}, false, nil
			}
			continue // a worker that exited during the read
		}
		if err != nil {
			return ProcessStats{}, false, err
		}
		stats.Procs++
		stats.ResidentBytes += p.resident * r.pageSize
		stats.VirtualBytes += p.size * r.pageSize
		stats.IO = stats.IO && p.io
		if stats.Procs == 1 || p.stat.startTime < oldest {
			oldest = p.stat.startTime
		}
		live[procKey{pid, p.stat.startTime}] = procCounts{ticks: p.stat.utime + p.stat.stime, read: p.read, write: p.write}
	}
	stats.OldestStart = ticksSince(bootTime, oldest)

	for k, c := range r.seen {
		if _, ok := live[k]; !ok {
			r.exited = r.exited.add(c)
		}
	}
	r.seen = live
	total := r.exited
	for _, c := range live {
		total = total.add(c)
	}
	stats.CPUSeconds = float64(total.ticks) / ClockTicks
	stats.ReadBytes, stats.WriteBytes = total.read, total.write
	return stats, true, nil
}

// ticksSince is the time ticks clock ticks after the boot time bootTime.
func ticksSince(bootTime int64, ticks uint64) time.Time {
	return time.Unix(bootTime, 0).Add(time.Duration(ticks) * (time.Second / ClockTicks))
}

// family returns master (first) and the pids whose parent is master. The
// whole table is scanned, as countWorkersIn does and for the same reasons.
func (r *ProcessReader) family(master int) ([]int, error) {
	if _, err := os.Stat(filepath.Join(r.root, strconv.Itoa(master))); err != nil {
		return nil, fmt.Errorf("nginx master %d: %w", master, err)
	}
	entries, err := os.ReadDir(r.root)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	pids := []int{master}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 || pid == master {
			continue
		}
		b, err := os.ReadFile(filepath.Join(r.root, e.Name(), "stat"))
		if gone(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list processes: %w", err)
		}
		st, err := parseStat(b)
		if err != nil {
			return nil, fmt.Errorf("process %d: %w", pid, err)
		}
		if st.ppid == master {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// procSample is what one process's files say.
type procSample struct {
	stat           procStat
	size, resident uint64 // pages
	read, write    uint64
	io             bool
}

// readProcess reads pid's stat, statm and io; an io file that cannot be
// read leaves io false rather than failing.
func (r *ProcessReader) readProcess(pid int) (procSample, error) {
	dir := filepath.Join(r.root, strconv.Itoa(pid))
	var p procSample
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return p, fmt.Errorf("process %d: %w", pid, err)
	}
	if p.stat, err = parseStat(b); err != nil {
		return p, fmt.Errorf("process %d: %w", pid, err)
	}
	if b, err = os.ReadFile(filepath.Join(dir, "statm")); err != nil {
		return p, fmt.Errorf("process %d: %w", pid, err)
	}
	if p.size, p.resident, err = parseStatm(b); err != nil {
		return p, fmt.Errorf("process %d: %w", pid, err)
	}
	// io is unreadable without nginx's user or ptrace rights (EACCES),
	// missing without the kernel's task I/O accounting, and gone if the
	// process just exited: in each case only the two I/O series go.
	if b, err = os.ReadFile(filepath.Join(dir, "io")); err == nil {
		if p.read, p.write, err = parseProcIO(b); err != nil {
			return p, fmt.Errorf("process %d: %w", pid, err)
		}
		p.io = true
	}
	return p, nil
}

// parseStatm reads the total program size and the resident set size, in
// pages, from the first two fields of /proc/PID/statm.
func parseStatm(b []byte) (size, resident uint64, err error) {
	fields := bytes.Fields(b)
	if len(fields) < 2 {
		return 0, 0, fmt.Errorf("statm: too few fields in %q", b)
	}
	if size, err = strconv.ParseUint(string(fields[0]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("statm: size: %w", err)
	}
	if resident, err = strconv.ParseUint(string(fields[1]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("statm: resident: %w", err)
	}
	return size, resident, nil
}

// parseProcIO reads read_bytes and write_bytes from /proc/PID/io: the
// bytes that went to and from storage, as process-exporter reports them
// (rchar and wchar would count sockets too).
func parseProcIO(b []byte) (read, write uint64, err error) {
	var haveRead, haveWrite bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, value, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		var into *uint64
		switch string(name) {
		case "read_bytes":
			into, haveRead = &read, true
		case "write_bytes":
			into, haveWrite = &write, true
		default:
			continue
		}
		if *into, err = strconv.ParseUint(string(bytes.TrimSpace(value)), 10, 64); err != nil {
			return 0, 0, fmt.Errorf("io: %s: %w", name, err)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("io: %w", err)
	}
	if !haveRead || !haveWrite {
		return 0, 0, fmt.Errorf("io: no read_bytes or write_bytes in %q", excerptOf(b))
	}
	return read, write, nil
}

// readBootTime reads the boot time (btime, Unix seconds) from /proc/stat.
func readBootTime(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("boot time: %w", err)
	}
	return parseBootTime(b)
}

// parseBootTime finds the btime line of /proc/stat's text.
func parseBootTime(b []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20) // the cpu lines are long on big machines
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("btime ")); ok {
			t, err := strconv.ParseInt(string(bytes.TrimSpace(rest)), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("boot time %q: %w", rest, err)
			}
			return t, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("boot time: %w", err)
	}
	return 0, errors.New("boot time: no btime line in /proc/stat")
}
