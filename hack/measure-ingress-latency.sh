#!/usr/bin/env bash
# Measures how long an Ingress takes from its creation until nginx serves
# it, against a real kube-apiserver (the e2e/kube suite): 20 Ingresses are
# created one after another and each is polled every 5ms. Prints the
# summary line (min, median, p90, max); the full output stays in the log.
#
# Needs what e2e/kube needs (root, etcd, nginx, ip, go; see
# hack/install-deps.sh). Usage: sudo hack/measure-ingress-latency.sh
set -euo pipefail

cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "measure-ingress-latency: run as root (the suite creates a network namespace)" >&2
	exit 1
fi

log=$(mktemp "${TMPDIR:-/tmp}/portico-ingress-latency.XXXXXX")
status=0
PORTICO_MEASURE=1 PORTICO_REQUIRE_E2E=1 go test -count=1 -run '^TestMeasureIngressLatency$' -v ./e2e/kube/ >"$log" 2>&1 || status=$?

if ! grep -h 'ingress-latency summary:' "$log" | sed 's/^[[:space:]]*latency_test\.go:[0-9]*: //'; then
	echo "measure-ingress-latency: no summary line (go test exit status $status); output:" >&2
	tail -n 60 "$log" >&2
	exit 1
fi
grep -h 'RELOAD Events on Pod' "$log" | sed 's/^[[:space:]]*latency_test\.go:[0-9]*: //' || true
echo "full output: $log" >&2
exit "$status"
