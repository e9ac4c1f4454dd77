package main

import (
	"strings"
	"testing"
)

// sampleLog has one line of each kind run.sh and the benchmarks write,
// including -count repeats and a benchmark name printed before its log.
const sampleLog = `# bench-load start: 0.10 0.20 0.30
# bench-step render-10000 cmd: go test -bench x ./pkg/render
BenchmarkBuildRender/ingresses=10000-2   	3	 900000000 ns/op	 4.8 MB-config	 190.0 peak-RSS-MB	 166000000 B/op	 2042000 allocs/op
BenchmarkBuildRender/ingresses=10000-2   	3	 250000000 ns/op	 4.8 MB-config	 150.0 peak-RSS-MB	 166000000 B/op	 2042000 allocs/op
BenchmarkBuildRender/ingresses=10000-2   	3	 280000000 ns/op	 4.8 MB-config	 160.0 peak-RSS-MB	 166000000 B/op	 2042000 allocs/op
# bench-step render-10000 exit=0 seconds=10
# bench-step nginx-100 cmd: go test -bench y ./pkg/nginx
BenchmarkSyntheticApply/ingresses=100-2  	5	 443257844 ns/op	 0.05 MB-config	 351.0 ms-reload-median	 95.36 ms-test-median
--- BENCH: BenchmarkSyntheticApply/ingresses=100-2
    bench_test.go:95: BENCH nginx ingresses=100 balancer=lua
# bench-step nginx-100 exit=0 seconds=5
# bench-step convergence cmd: go test -run TestBenchConvergence ./e2e/kube/
    bench_convergence_test.go:127: BENCH convergence ingresses=1000 tries=100 median_ms=450.5 p90_ms=600.0 p99_ms=700.0 max_ms=710.0
# bench-step convergence exit=1 seconds=100
# bench-step process cmd: go test -run TestBenchProcess ./e2e/kube/
    bench_process_test.go:215: BENCH process-manifests ingresses=10000 first_live_ms=8300 controller_ms=8250 apply_ms=3100 peak_rss_mb=268 tries=5 change_median_ms=4100 change_max_ms=4500
# bench-step process exit=1 seconds=300
BENCH dataplane workers=1 connections=32 rounds=5 duration_s=6 portico_rps=100 direct_rps=101 ratio=0.990 ratio_min=0.9 ratio_max=1.1 lua_rps=95 lua_cpu_us=17.5 lua_ratio=0.905 lua_cpu_ratio=0.880
# bench-step modsecurity cmd: bash hack/bench/modsecurity.sh
BENCH modsecurity workers=1 threads=1 connections=8 duration_s=5 rounds=3 none_rps=5633.64 none_p50_ms=0.718 none_p99_ms=51.540 none_cpu_us=43.5 base_rps=2687.54 base_p50_ms=2.010 base_p99_ms=50.840 base_cpu_us=167.8 crs_rps=261.74 crs_p50_ms=31.690 crs_p99_ms=111.180 crs_cpu_us=1803.8 base_ratio=0.477 crs_ratio=0.050
# bench-step modsecurity exit=0 seconds=80
# bench-step admission cmd: go test -bench '^BenchmarkReview$' ./pkg/admission
BenchmarkReview/ingresses=10000/prepare-2              	    1000	  10509076 ns/op	        10.33 after-sync-p99-ms	        65.28 prepare-max-ms	         7.788 prepare-p50-ms
--- BENCH: BenchmarkReview/ingresses=10000/prepare-2
    bench_test.go:343: BENCH admission ingresses=10000 prepare_ms=7.79 prepare_max_ms=65.28 after_sync_p50_ms=0.90 after_sync_p99_ms=10.33 prepares=1000
BenchmarkReview/ingresses=10000/concurrency=1-2        	    1000	    501086 ns/op	         2.936 conflict-p99-ms	        13.98 max-ms	         3.975 new-p99-ms	         0.3122 p50-ms	         3.973 p99-ms	         3.119 update-p99-ms
BenchmarkReview/ingresses=10000/concurrency=50-2       	    1000	    428207 ns/op	        74.24 conflict-p99-ms	        77.38 max-ms	        74.55 new-p99-ms	        12.13 p50-ms	        74.55 p99-ms	        74.72 update-p99-ms
# bench-step admission exit=0 seconds=30
# bench-load end: 1.00 2.00 3.00
`

func TestRows(t *testing.T) {
	d, err := parse(strings.NewReader(sampleLog))
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]row{}
	for _, r := range d.rows() {
		byKey[r.bench+"|"+r.size] = r
	}
	check := func(key, figure, met string, missing bool) {
		t.Helper()
		r, ok := byKey[key]
		if !ok {
			t.Fatalf("no row %q", key)
		}
		if !strings.Contains(r.figure, figure) || r.met != met || r.missing != missing {
			t.Errorf("row %q: figure %q, met %q, missing %v; want figure containing %q, met %q, missing %v",
				key, r.figure, r.met, r.missing, figure, met, missing)
		}
	}
	// The median of three counts: 280 ms, with that run's RSS.
	check("build + render, full sync|10,000 Ingresses", "280 ms/op (median of 3 runs)", "yes", false)
	check("build + render, peak RSS|10,000 Ingresses", "160 MB", "yes", false)
	check("build + render, full sync|100 Ingresses", "missing: step render-100 did not run", "—", true)
	check("nginx -t (lua balancer)|100 Ingresses", "95.4 ms (median of 5)", "—", false)
	check("reload until verified (lua balancer)|100 Ingresses", "351 ms (median of 5)", "—", false)
	// A BENCH line counts even from a step that failed afterwards.
	check("Ingress created until served|1,000 Ingresses", "median 450.5 ms", "yes", false)
	check("data plane, Portico vs hand-written nginx|1 Ingress", "req/s ratio 0.990", "yes", false)
	check("data plane floor: hand-written + bare Lua balancer vs hand-written|1 upstream", "req/s ratio 0.905", "—", false)
	check("data plane with ModSecurity: none / base rules / OWASP CRS|1 Ingress each",
		"no WAF 5633.64 req/s, p50 0.718 ms, p99 51.540 ms, 43.5 µs worker CPU per request; base rules 2687.54 req/s, p50 2.010 ms, "+
			"p99 50.840 ms, 167.8 µs worker CPU per request (req/s ratio 0.477); Core Rule Set 261.74 req/s, p50 31.690 ms, p99 111.180 ms, "+
			"1803.8 µs worker CPU per request (req/s ratio 0.050); 1 worker, 8 connections, 3 rounds of 5 s", "—", false)
	check("endpoint churn|1,000 EndpointSlice updates", "not run", "—", false)
	check("admission review latency, one client|10,000 Ingresses", "p50 0.31 ms, p99 3.97 ms, max 14.0 ms (1,000 reviews", "yes", false)
	check("admission review latency, 50 concurrent clients|10,000 Ingresses", "p99 74.5 ms", "**no**", false)
	check("admission: a new snapshot's index|10,000 Ingresses", "prepared in 7.79 ms (median; max 65.3 ms) in the background; a review sent at once: p99 10.3 ms", "—", false)
	check("admission review latency, one client|1,000 Ingresses", "missing: step admission printed no figure", "—", true)
	check("whole process: start until the first config is live|10,000 Ingresses, manifests directory", "8300 ms (the controller counts 8250 ms", "—", false)
	check("whole process: controller peak RSS|10,000 Ingresses, manifests directory", "268 MB", "—", false)
	check("whole process: one Ingress changed until served|10,000 Ingresses, manifests directory", "median 4100 ms, max 4500 ms (5 tries)", "—", false)
	// The step failed before the API source printed its line.
	check("whole process: controller peak RSS|10,000 Ingresses, API server", "missing: step process failed (exit 1)", "—", true)

	churn := func(line string) row {
		t.Helper()
		d, err := parse(strings.NewReader(sampleLog + line + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range d.rows() {
			if r.bench == "endpoint churn" {
				return r
			}
		}
		t.Fatal("no churn row")
		return row{}
	}
	r := churn("    bench_churn_test.go:150: BENCH churn updates=1000 endpoint_holdoff=20ms reloads=0 median_ms=23.8 p90_ms=40.0 p99_ms=72.0 max_ms=90.1 " +
		"min_ms=20.0 api_median_ms=4.1 pushes=1000 non200=0 " +
		"small_holdoff=10ms small_reloads=0 small_median_ms=15.0 small_p99_ms=30.0 small_max_ms=31.0 " +
		"full_endpoint_holdoff=200ms full_updates=200 full_reloads=0 full_median_ms=210.0 full_p99_ms=260.0 full_max_ms=270.0")
	want := "API update accepted until the new endpoint answers: median 23.8 ms, p90 40.0 ms, p99 72.0 ms, max 90.1 ms; 0 reloads, 1000 balancer pushes " +
		"(defaults: endpoint hold-off 20ms); endpoint holdoff 200ms: median 210.0 ms, p99 260.0 ms, 0 reloads (200 updates); " +
		"holdoff 10ms: median 15.0 ms, p99 30.0 ms, 0 reloads"
	if r.figure != want || r.met != "yes" || r.size != "1,000 EndpointSlice updates" {
		t.Errorf("churn row:\n%q (met %s, size %s)\nwant\n%q", r.figure, r.met, r.size, want)
	}
	if r := churn("BENCH churn updates=10 reloads=2 median_ms=80"); r.met != "**no**" {
		t.Errorf("2 reloads: met %q", r.met)
	}
	if r := churn("BENCH churn something=else"); r.figure != "something=else" {
		t.Errorf("unknown shape: %q", r.figure)
	}
}
