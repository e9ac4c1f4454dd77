#!/usr/bin/env bash
# make bench: runs every benchmark of docs/benchmarks.md one step at a time,
# prints progress with timings, then has hack/bench/report print one table
# and write it (machine, figures, goals, the exact command of each step)
# into docs/benchmarks.md. Goals are reported, never asserted: a missed goal
# does not fail the run; a step that fails does (and leaves the doc as it
# was).
#
# Steps (each command is recorded in the log exactly as run; the report
# copies it into the doc):
#   render-N     model build + render of N synthetic Ingresses, its own process
#                so the peak RSS is that size's (pkg/render)
#   incremental  one Ingress of 10,000 changed (pkg/render)
#   nginx-N      nginx -t and reload-until-verified of N Ingresses (pkg/nginx)
#   regex        worst case of a host's user regexes per request (pkg/nginx)
#   convergence  Ingress created until served, 1,000 present (e2e/kube; root)
#   churn        1,000 EndpointSlice updates: reloads, time until the new
#                endpoint answers (e2e/kube; root)
#   process      the whole controller process at 10,000 Ingresses, from a
#                manifests directory and from the API server: cold start
#                until the first config is live, peak RSS, one change until
#                served (e2e/kube; root)
#   dataplane    Portico's nginx vs a hand-written proxy with wrk (hack/bench)
#   modsecurity  req/s, p50 and p99 with no WAF, ModSecurity's base rules and the
#                OWASP Core Rule Set, one Portico nginx, wrk (hack/bench)
#   requestmetrics  worker CPU per request of the request metrics (hack/bench)
#   requestmetrics-series  series of one scrape at 1,000 and 10,000 Ingresses
#                (pkg/requestmetrics)
#   admission    admission review latency at 1,000 and 10,000 Ingresses, one
#                client and 50 at once, through a real HTTPS server, and the
#                preparation of each new snapshot's index (pkg/admission)
#
# Needs what make test needs (root, nginx, etcd, the built kube-apiserver:
# make bench runs make deps and make kube first) plus wrk.
#
# Environment: BENCH_OUT (directory for the logs; default a new temporary
# one), BENCH_DOC (default docs/benchmarks.md; empty to only print),
# BENCH_SKIP (space-separated step names to leave out, for a quick look).
set -uo pipefail

cd "$(dirname "$0")/../.."

OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/portico-bench.XXXXXX")}
mkdir -p "$OUT"
LOG="$OUT/bench.log"
: >"$LOG"
DOC=${BENCH_DOC-docs/benchmarks.md}
SKIP=" ${BENCH_SKIP:-} "
start=$(date +%s)
failed=()

progress() { printf '[bench %s] %s\n' "$(date -u -d "@$(($(date +%s) - start))" +%M:%S)" "$*"; }

# step NAME COMMAND: runs COMMAND with bash -c (so the string recorded is
# the one that ran), keeps its output in $OUT/NAME.log and the combined
# log, and shows the result lines as soon as the step ends.
step() {
	local name=$1 cmd=$2 t0 rc
	case "$SKIP" in *" $name "*)
		progress "skipping $name (BENCH_SKIP)"
		return 0
		;;
	esac
	printf '# bench-step %s cmd: %s\n' "$name" "$cmd" >>"$LOG"
	progress "$name: $cmd"
	t0=$(date +%s)
	bash -c "$cmd" >"$OUT/$name.log" 2>&1
	rc=$?
	cat "$OUT/$name.log" >>"$LOG"
	printf '# bench-step %s exit=%d seconds=%d\n' "$name" "$rc" "$(($(date +%s) - t0))" >>"$LOG"
	grep -hE '^Benchmark.* ns/op|BENCH ' "$OUT/$name.log" | sed 's/^[[:space:]]*[a-z_]*\.go:[0-9]*: //; s/^/    /'
	if [ "$rc" -ne 0 ]; then
		failed+=("$name")
		progress "$name FAILED (exit $rc) after $(($(date +%s) - t0))s; last lines of $OUT/$name.log:"
		tail -n 25 "$OUT/$name.log" | sed 's/^/    /'
	else
		progress "$name done in $(($(date +%s) - t0))s"
	fi
}

progress "logs in $OUT"
# Other work on the machine slows every figure down and spreads them out;
# the report prints the load averages so a reader can tell.
printf '# bench-load start: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$LOG"

# Build and render: -benchtime 2s gives thousands of iterations at 100
# Ingresses and a few at 10,000; each size in its own process; three counts,
# of which the report takes the median.
for n in 100 1000 10000; do
	step "render-$n" "go test -count=3 -run '^\$' -bench 'BenchmarkBuildRender/ingresses=$n\$' -benchmem -benchtime 2s ./pkg/render"
done
step incremental "go test -count=3 -run '^\$' -bench '^BenchmarkIncremental\$' -benchmem -benchtime 2s ./pkg/render"

# nginx -t and reload: medians of 5 Applies, 3 at 10,000 where one Apply
# takes seconds.
step nginx-100 "PORTICO_REQUIRE_NGINX=1 go test -count=1 -run '^\$' -bench 'BenchmarkSyntheticApply/ingresses=100\$' -benchtime 5x -timeout 10m ./pkg/nginx"
step nginx-1000 "PORTICO_REQUIRE_NGINX=1 go test -count=1 -run '^\$' -bench 'BenchmarkSyntheticApply/ingresses=1000\$' -benchtime 5x -timeout 10m ./pkg/nginx"
step nginx-10000 "PORTICO_REQUIRE_NGINX=1 go test -count=1 -run '^\$' -bench 'BenchmarkSyntheticApply/ingresses=10000\$' -benchtime 3x -timeout 20m ./pkg/nginx"
# The worst case a host's user regexes cost per request (docs/security.md).
step regex "PORTICO_REQUIRE_NGINX=1 go test -count=1 -run '^\$' -bench '^BenchmarkRegexWorstCase\$' -benchtime 200x -timeout 10m ./pkg/nginx"

step convergence "PORTICO_BENCH=1 PORTICO_REQUIRE_E2E=1 go test -count=1 -run '^TestBenchConvergence\$' -v -timeout 20m ./e2e/kube/"
step churn "PORTICO_BENCH=1 PORTICO_REQUIRE_E2E=1 go test -count=1 -run '^TestBenchEndpointChurn\$' -v -timeout 20m ./e2e/kube/"
step process "PORTICO_BENCH=1 PORTICO_REQUIRE_E2E=1 go test -count=1 -run '^TestBenchProcess\$' -v -timeout 30m ./e2e/kube/"

step dataplane "bash hack/bench/dataplane.sh"
# What the request metrics cost per request (about 3 minutes), and the
# series one scrape exports at 1,000 and 10,000 Ingresses.
step requestmetrics "bash hack/bench/requestmetrics.sh"
step requestmetrics-series "go test -count=1 -run '^\$' -bench '^BenchmarkCollect\$' -benchtime 1x -timeout 20m ./pkg/requestmetrics"
# The admission webhook's review latency (issue 16; about 20 s after the
# build): 1,000 reviews per size and number of clients, and 1,000 first
# reviews after a new snapshot per size.
step admission "go test -count=1 -run '^\$' -bench '^BenchmarkReview\$' -benchtime 1000x -timeout 5m ./pkg/admission"
# What ModSecurity's rules cost per request (about 80 s).
step modsecurity "bash hack/bench/modsecurity.sh"

total=$(($(date +%s) - start))
printf '# bench-load end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$LOG"
progress "all steps done in ${total}s; the table:"
echo
args=(-log "$LOG" -total "${total}s")
[ -n "$DOC" ] && args+=(-doc "$DOC")
go run ./hack/bench/report "${args[@]}"
rc=$?
echo
if [ "${#failed[@]}" -gt 0 ]; then
	progress "failed steps: ${failed[*]} (logs in $OUT)"
	exit 1
fi
progress "done in $(($(date +%s) - start))s; logs in $OUT"
exit "$rc"
