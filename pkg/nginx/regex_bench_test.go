package nginx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/render"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// regexHostYAML is one Ingress of n use-regex paths on one host, each
// /(.*)(.*)(.*)q<i>$: three adjacent loops over the same characters, the
// polynomial shape pkg/pcre accepts (only exponential ones are refused).
func regexHostYAML(n int) string {
	var b strings.Builder
	b.WriteString("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: rx\n  annotations:\n")
	b.WriteString("    nginx.ingress.kubernetes.io/use-regex: \"true\"\nspec:\n  ingressClassName: portico\n  rules:\n")
	b.WriteString("  - host: rx.example.com\n    http:\n      paths:\n")
	for i := range n {
		fmt.Fprintf(&b, "      - {path: '/(.*)(.*)(.*)q%d$', pathType: ImplementationSpecific, backend: {service: {name: app, port: {number: 80}}}}\n", i)
	}
	b.WriteString("---\napiVersion: v1\nkind: Service\nmetadata: {name: app}\nspec: {ports: [{port: 80}]}\n")
	return b.String()
}

// BenchmarkRegexWorstCase is the "worst case of a host's regexes" row of
// docs/security.md: a host with n user regexes of a polynomial shape, and
// requests whose path makes PCRE backtrack on them until the match limit
// (the host's budget of 100,000 steps split among its regexes) ends it:
// nginx answers 500 instead of holding the worker. It reports the worker
// CPU per request (from /proc, one worker) and the latency; the path is
// 4,000 bytes, so without the limit each request would cost seconds.
func BenchmarkRegexWorstCase(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("regexes=%d", n), func(b *testing.B) {
			e, logs := newQuietEnv(b)
			opts := envOptions(b, e)
			opts.Global.WorkerProcesses = "1"
			snap, err := fixture.Parse([]byte(regexHostYAML(n)))
			require.NoError(b, err)
			cfg, _ := model.Build(snap, opts)
			r, err := render.New("")
			require.NoError(b, err)
			conf, err := r.Render(cfg, 1)
			require.NoError(b, err)
			require.Contains(b, string(conf), "(*LIMIT_MATCH=", "every user regex is bounded")
			ctx := context.Background()
			_, err = e.drv.Apply(ctx, conf, nil, 1)
			require.NoError(b, err, "%s", logs)
			require.NoError(b, e.sup.Start())
			e.pgid = e.sup.Pid()
			require.NoError(b, e.drv.Verify(ctx, 1), "%s", logs)

			// Every regex finds the characters it needs (PCRE does not fail it
			// early) and backtracks over the 4,000 that follow.
			url := fmt.Sprintf("http://127.0.0.1:%d/%sq0%s", cfg.Global.HTTPPort, digits(n), strings.Repeat("a", 4000))
			client := &http.Client{Timeout: 30 * time.Second}
			get := func() int {
				req, err := http.NewRequest(http.MethodGet, url, nil)
				require.NoError(b, err)
				req.Host = "rx.example.com"
				resp, err := client.Do(req)
				require.NoError(b, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				require.NoError(b, resp.Body.Close())
				return resp.StatusCode
			}
			require.Equal(b, http.StatusInternalServerError, get(), "the match limit ends the match: %s", logs)

			worker := onlyWorker(b, e.sup.Pid())
			cpuBefore := cpuTime(b, worker)
			var latencies []time.Duration
			requests := 0
			for b.Loop() {
				start := time.Now()
				get()
				latencies = append(latencies, time.Since(start))
				requests++
			}
			cpu := cpuTime(b, worker) - cpuBefore
			sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
			b.ReportMetric(float64(cpu.Microseconds())/float64(requests), "µs-worker-cpu/req")
			b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "µs-latency-median")
			b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "µs-latency-p99")
			b.Logf("BENCH regex regexes=%d limit per regex=%d requests=%d", n, max(100000/n, 1000), requests)
		})
	}
}

// onlyWorker returns the pid of the one worker of the master.
func onlyWorker(b *testing.B, master int) int {
	b.Helper()
	var found []int
	require.Eventually(b, func() bool {
		found = found[:0]
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return false
		}
		for _, d := range entries {
			pid, err := strconv.Atoi(d.Name())
			if err != nil {
				continue
			}
			if ppid, err := parentPID(filepath.Join("/proc", d.Name(), "stat")); err == nil && ppid == master {
				found = append(found, pid)
			}
		}
		return len(found) == 1
	}, 10*time.Second, 20*time.Millisecond, "one worker")
	return found[0]
}

// cpuTime is the user and system CPU a process used, from /proc/PID/stat
// (fields 14 and 15, in clock ticks of 10 ms).
func cpuTime(b *testing.B, pid int) time.Duration {
	b.Helper()
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	require.NoError(b, err)
	fields := bytes.Fields(raw[bytes.LastIndexByte(raw, ')')+1:])
	utime, err := strconv.Atoi(string(fields[11]))
	require.NoError(b, err)
	stime, err := strconv.Atoi(string(fields[12]))
	require.NoError(b, err)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// digits is "q1q2...q(n-1)": every regex's last characters appear in the path.
func digits(n int) string {
	var b strings.Builder
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "q%d", i)
	}
	return b.String()
}
