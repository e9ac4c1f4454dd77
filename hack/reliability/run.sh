#!/usr/bin/env bash
# make reliability: runs the fault suite of issue 12 (e2e/local's
# TestFaults: real nginx, real backends, one fault per subtest under a
# bounded load) RELIABILITY_RUNS times (default 1), then has
# hack/reliability/report print the table and write it into
# docs/reliability.md between its markers. A fault that misses its bound
# fails go test and so this script, after the page is written: the table is
# the record either way.
#
# Needs root (two faults mount a tmpfs) and nginx with its Lua module
# (make deps). Environment: RELIABILITY_OUT (directory for the logs;
# default a new temporary one), RELIABILITY_DOC (default
# docs/reliability.md; empty to only print), RELIABILITY_RUNS.
set -uo pipefail

cd "$(dirname "$0")/../.."

OUT=${RELIABILITY_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/portico-reliability.XXXXXX")}
mkdir -p "$OUT"
LOG="$OUT/faults.log"
: >"$LOG"
DOC=${RELIABILITY_DOC-docs/reliability.md}
RUNS=${RELIABILITY_RUNS:-1}
start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
rc=0
for run in $(seq 1 "$RUNS"); do
	echo "[reliability] run $run of $RUNS (log $LOG)"
	printf '# reliability-run %d\n' "$run" >>"$LOG"
	PORTICO_REQUIRE_NGINX=1 go test -count=1 -run '^TestFaults$' -v -timeout 15m ./e2e/local/ >"$OUT/run-$run.log" 2>&1
	status=$?
	cat "$OUT/run-$run.log" >>"$LOG"
	grep -ahE 'FAULT name=|--- (FAIL|SKIP|PASS): TestFaults' "$OUT/run-$run.log" | sed 's/^[[:space:]]*[a-z_]*\.go:[0-9]*: //; s/^/    /'
	if [ "$status" -ne 0 ]; then
		echo "[reliability] run $run: go test exited $status (a fault missed its bound, or the suite failed; see $OUT/run-$run.log)"
		rc=$status
	fi
done
total=$(($(date +%s) - start))
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
	commit="$commit (with uncommitted changes)"
fi
args=(-log "$LOG" -total "${total}s" -commit "$commit" -load "start $load_start, end $(cut -d' ' -f1-3 /proc/loadavg)")
[ -n "$DOC" ] && args+=(-doc "$DOC")
echo
go run ./hack/reliability/report "${args[@]}" || rc=1
echo "[reliability] done in ${total}s; logs in $OUT"
exit "$rc"
