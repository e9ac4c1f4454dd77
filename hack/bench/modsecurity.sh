#!/usr/bin/env bash
# What ModSecurity costs per request (the "data plane with ModSecurity" row
# of docs/benchmarks.md): requests per second, p50 and p99 latency and the
# nginx worker's CPU time per request through one Portico nginx, for three
# Ingresses that differ only in their WAF, measured in the same run on
# loopback only. Prints one parseable line:
#
#   BENCH modsecurity workers=1 ... none_rps=R none_p50_ms=L none_p99_ms=L none_cpu_us=C base_rps=R ... crs_rps=R ... base_ratio=R crs_ratio=R
#
# The targets, three hosts of one `portico controller --manifests DIR
# --start-nginx` (so one nginx and one worker serve them all):
#   none   no ModSecurity
#   base   enable-modsecurity with Debian's recommended base rules and
#          SecRuleEngine On (modsecurity-snippet)
#   crs    the same plus the OWASP Core Rule Set (enable-owasp-core-rules)
# Before timing, a SQL injection probe must be refused with 403 by crs and
# pass the other two, so the figures are those of rules that really run.
# The request timed is a proxied `GET /?id=42&name=alice` (two arguments for
# the rules to inspect) to an nginx backend answering `return 200`.
# base_ratio and crs_ratio are the medians over the rounds of the target's
# req/s over none's in the same round.
#
# Bounded: a warm-up of WARMUP seconds per target, then ROUNDS rounds of
# DURATION seconds per target, the order rotated every round; about 70 s
# with the defaults, plus the build of ./cmd/portico when PORTICO_BIN is unset.
#
# Environment (defaults in brackets): PORTICO_BIN [build ./cmd/portico],
# NGINX [nginx in PATH or /usr/sbin/nginx], WORKERS [1], CONNECTIONS [8],
# THREADS [1], DURATION [5], WARMUP [2], ROUNDS [3].
set -euo pipefail

cd "$(dirname "$0")/../.."

WORKERS=${WORKERS:-1}
CONNECTIONS=${CONNECTIONS:-8}
THREADS=${THREADS:-1}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-3}
REQUEST='/?id=42&name=alice'
PROBE="/?id=1%27%20OR%20%271%27%3D%271"
MODULE=/usr/share/nginx/modules/ngx_http_modsecurity_module.so

STEP=modsecurity
# The Core Rule Set takes seconds to load.
HTTP_STATUS_TIMEOUT=5 WAIT_200_SECONDS=60
# shellcheck source=hack/bench/lib.sh
. hack/bench/lib.sh
[ -f "$MODULE" ] || die "no ModSecurity module at $MODULE (make deps installs libnginx-mod-http-modsecurity)"
[ -d /usr/share/modsecurity-crs/rules ] || die "no OWASP Core Rule Set (make deps installs modsecurity-crs)"

BACKEND_PORT=$(free_port)
HTTP_PORT=$(free_port)
TLS_PORT=$(free_port)
INTERNAL_PORT=$(free_port)
STATUS_PORT=$(free_port)
t0=$(date +%s)

start_backend "$WORK/backend" "$BACKEND_PORT"

if [ -z "${PORTICO_BIN:-}" ]; then
	PORTICO_BIN="$WORK/portico"
	log "building ./cmd/portico"
	go build -o "$PORTICO_BIN" ./cmd/portico
fi

# ingress NAME ANNOTATIONS: an Ingress for host NAME.bench.portico.invalid.
ingress() {
	cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: $1
  namespace: default
  annotations: {$2}
spec:
  ingressClassName: portico
  rules:
  - host: $1.bench.portico.invalid
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: backend, port: {number: 80}}}}
EOF
}
p=nginx.ingress.kubernetes.io
mkdir -p "$WORK/manifests"
{
	cat <<EOF
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: portico}
spec: {controller: portico.dev/ingress-controller}
---
$(backend_manifests "$BACKEND_PORT")
EOF
	ingress none ""
	ingress base "$p/enable-modsecurity: \"true\", $p/modsecurity-snippet: \"SecRuleEngine On\""
	ingress crs "$p/enable-modsecurity: \"true\", $p/enable-owasp-core-rules: \"true\", $p/modsecurity-snippet: \"SecRuleEngine On\""
} >"$WORK/manifests/bench.yaml"

"$PORTICO_BIN" controller --manifests "$WORK/manifests" --start-nginx \
	--nginx-binary "$NGINX" --bind-address 127.0.0.1 \
	--http-port "$HTTP_PORT" --https-port "$TLS_PORT" \
	--internal-port "$INTERNAL_PORT" \
	--status-address "127.0.0.1:$STATUS_PORT" \
	--config-dir "$WORK/portico-conf" --runtime-dir "$WORK/portico-run" \
	--access-log off --worker-processes "$WORKERS" --resolver 127.0.0.1 \
	--allow-loopback-backends --allow-snippet-annotations --snippet-namespaces default \
	>"$WORK/portico.log" 2>&1 &
pids+=($!)
PIDFILE="$WORK/portico-run/nginx.pid"

targets=(none base crs)
wait_200 "$BACKEND_PORT" /
wait_200 "$STATUS_PORT" /readyz
for name in "${targets[@]}"; do wait_200 "$HTTP_PORT" "$REQUEST" "$name.bench.portico.invalid"; done
# The rules must really run: the Core Rule Set refuses the probe, the base
# rules alone and no WAF let it through.
for want in "none 200" "base 200" "crs 403"; do
	set -- $want
	got=$(http_status "$HTTP_PORT" "$PROBE" "$1.bench.portico.invalid")
	[ "$got" = "$2" ] || die "$1: the SQL injection probe got ${got:-no answer}, want $2"
done
log "backend and Portico (${targets[*]}) up in $(($(date +%s) - t0))s (workers=$WORKERS); the probe is refused by crs only"

# to_ms converts a wrk latency ("812.00us", "1.23ms", "2.00s") to ms.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n = n / 1000
		else if (v ~ /ms$/) n = n
		else if (v ~ /m$/) n = n * 60000
		else if (v ~ /s$/) n = n * 1000
		printf "%.3f", n
	}'
}


# run_wrk NAME SECONDS: one load round on host NAME; prints "RPS P50_MS
# P99_MS CPU_US". Any non-2xx answer or socket error fails the run.
run_wrk() {
	local name=$1 secs=$2 out rps p50 p99 reqs t0 t1
	t0=$(worker_ticks "$PIDFILE")
	out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 10s --latency -H "Host: $name.bench.portico.invalid" "http://127.0.0.1:$HTTP_PORT$REQUEST")
	t1=$(worker_ticks "$PIDFILE")
	if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
		printf '%s\n' "$out" >&2
		die "$name: errors under load"
	fi
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	reqs=$(awk '/ requests in / {print $1}' <<<"$out")
	[ -n "$rps" ] && [ -n "$p50" ] && [ -n "$p99" ] && [ -n "$reqs" ] || die "$name: cannot parse wrk output: $out"
	echo "$rps $(to_ms "$p50") $(to_ms "$p99") $(awk -v d="$((t1 - t0))" -v hz="$TICKS" -v n="$reqs" 'BEGIN {printf "%.1f", d * 1e6 / hz / n}')"
}

for name in "${targets[@]}"; do
	run_wrk "$name" "$WARMUP" >/dev/null
	log "warm-up $name: ${WARMUP}s"
done

declare -A rps_of p50_of p99_of cpu_of
base_ratios=() crs_ratios=()
order=("${targets[@]}")
for round in $(seq 1 "$ROUNDS"); do
	declare -A this=()
	for name in "${order[@]}"; do
		read -r rps p50 p99 cpu < <(run_wrk "$name" "$DURATION") || true
		[ -n "${cpu:-}" ] || die "$name: round $round failed"
		log "round $round $name: $rps req/s, p50 ${p50}ms, p99 ${p99}ms, ${cpu}us CPU per request"
		rps_of[$name]+=" $rps" p50_of[$name]+=" $p50" p99_of[$name]+=" $p99" cpu_of[$name]+=" $cpu"
		this[$name]=$rps
	done
	base_ratios+=("$(ratio "${this[base]}" "${this[none]}")")
	crs_ratios+=("$(ratio "${this[crs]}" "${this[none]}")")
	order=("${order[@]:1}" "${order[0]}")
done

line="BENCH modsecurity workers=$WORKERS threads=$THREADS connections=$CONNECTIONS duration_s=$DURATION rounds=$ROUNDS"
for name in "${targets[@]}"; do
	# Unquoted: the per-target lists are meant to split.
	line+=" ${name}_rps=$(median ${rps_of[$name]}) ${name}_p50_ms=$(median ${p50_of[$name]}) ${name}_p99_ms=$(median ${p99_of[$name]}) ${name}_cpu_us=$(median ${cpu_of[$name]})"
done
echo "$line base_ratio=$(median "${base_ratios[@]}") crs_ratio=$(median "${crs_ratios[@]}")"
log "done in $(($(date +%s) - t0))s"
