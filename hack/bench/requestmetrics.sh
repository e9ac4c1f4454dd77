#!/usr/bin/env bash
# What the request metrics cost per request (the "request metrics" row of
# docs/benchmarks.md): the nginx worker's CPU time per request through two
# Portico controllers that differ only in --request-metrics (true, the
# default, and false), same Ingress, same backend, measured in the same run
# on loopback only, rounds alternating which goes first. Prints one line:
#
#   BENCH requestmetrics workers=1 ... on_rps=R on_cpu_us=C off_rps=R off_cpu_us=C cost_us=D cost_us_min=D cost_us_max=D aggregate_ns=N micro_none_us=C hook_us=D metrics_us=D metrics_us_min=D metrics_us_max=D body_ns=N body_ns_min=N body_ns_max=N
#
# cost_us is the median over the rounds of on's CPU per request minus off's
# in the same round (pairs close in time cancel most of what other work on
# the machine adds), with the rounds' range. aggregate_ns is the Lua
# aggregation alone (portico/metrics.lua's observe, no nginx variables),
# timed by LuaJIT over 2,000,000 calls. metrics_us is the whole hook in a
# real nginx worker, proxied requests, measured against the same location
# without it (below), hook_us what an empty Lua log hook costs alone, and
# body_ns the hook's body alone: a location that runs it 100 times per
# request against the empty hook, divided by 100 (steady where the others
# are within the noise of a round).
#
# Before timing, the on controller's /metrics must count the warm-up's
# requests under the Ingress's labels, so the figures are those of metrics
# that really record.
#
# Bounded: a warm-up of WARMUP seconds per target, then ROUNDS rounds of
# DURATION seconds per target; about 90 s with the defaults, plus the build
# of ./cmd/portico when PORTICO_BIN is unset.
#
# Environment (defaults in brackets): PORTICO_BIN [build ./cmd/portico],
# NGINX [nginx in PATH or /usr/sbin/nginx], WORKERS [1], CONNECTIONS [16],
# THREADS [1], DURATION [5], WARMUP [2], ROUNDS [8].
set -euo pipefail

cd "$(dirname "$0")/../.."

WORKERS=${WORKERS:-1}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-1}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-8}
HOST=app.bench.portico.invalid

STEP=requestmetrics
# shellcheck source=hack/bench/lib.sh
. hack/bench/lib.sh

BACKEND_PORT=$(free_port)
t0=$(date +%s)

start_backend "$WORK/backend" "$BACKEND_PORT"

if [ -z "${PORTICO_BIN:-}" ]; then
	PORTICO_BIN="$WORK/portico"
	log "building ./cmd/portico"
	go build -o "$PORTICO_BIN" ./cmd/portico
fi

mkdir -p "$WORK/manifests"
cat >"$WORK/manifests/bench.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: portico}
spec: {controller: portico.dev/ingress-controller}
---
$(backend_manifests "$BACKEND_PORT")
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: app, namespace: default}
spec:
  ingressClassName: portico
  rules:
  - host: $HOST
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: backend, port: {number: 80}}}}
EOF

declare -A http_port status_port pidfile
targets=(on off)
for name in "${targets[@]}"; do
	http_port[$name]=$(free_port)
	status_port[$name]=$(free_port)
	"$PORTICO_BIN" controller --manifests "$WORK/manifests" --start-nginx \
		--nginx-binary "$NGINX" --bind-address 127.0.0.1 \
		--http-port "${http_port[$name]}" --https-port "$(free_port)" \
		--internal-port "$(free_port)" \
		--status-address "127.0.0.1:${status_port[$name]}" --debug-address "" \
		--config-dir "$WORK/$name-conf" --runtime-dir "$WORK/$name-run" \
		--access-log off --worker-processes "$WORKERS" --resolver 127.0.0.1 \
		--allow-loopback-backends --balancer lua \
		--request-metrics="$([ "$name" = on ] && echo true || echo false)" \
		>"$WORK/$name.log" 2>&1 &
	pids+=($!)
	pidfile[$name]="$WORK/$name-run/nginx.pid"
done

wait_200 "$BACKEND_PORT" /
for name in "${targets[@]}"; do
	wait_200 "${status_port[$name]}" /readyz
	wait_200 "${http_port[$name]}" / "$HOST"
done
log "backend and both controllers up in $(($(date +%s) - t0))s (workers=$WORKERS)"



# run_wrk NAME SECONDS: one load round on NAME's nginx; prints "RPS CPU_US".
run_wrk() {
	local name=$1 secs=$2 out rps reqs t0 t1
	t0=$(worker_ticks "${pidfile[$name]}")
	out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 10s -H "Host: $HOST" "http://127.0.0.1:${http_port[$name]}/")
	t1=$(worker_ticks "${pidfile[$name]}")
	if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
		printf '%s\n' "$out" >&2
		die "$name: errors under load"
	fi
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	reqs=$(awk '/ requests in / {print $1}' <<<"$out")
	[ -n "$rps" ] && [ -n "$reqs" ] || die "$name: cannot parse wrk output: $out"
	echo "$rps $(awk -v d="$((t1 - t0))" -v hz="$TICKS" -v n="$reqs" 'BEGIN {printf "%.2f", d * 1e6 / hz / n}')"
}

for name in "${targets[@]}"; do
	run_wrk "$name" "$WARMUP" >/dev/null
	log "warm-up $name: ${WARMUP}s"
done
# The metrics must really record: the warm-up's requests are on /metrics.
counted=0
for _ in $(seq 1 30); do
	counted=$(curl -fsS "http://127.0.0.1:${status_port[on]}/metrics" |
		awk '/^nginx_ingress_controller_requests\{/ && /ingress="app"/ && /status="200"/ {s += $NF} END {printf "%d", s}')
	[ "$counted" -gt 1000 ] && break
	sleep 0.5
done
[ "$counted" -gt 1000 ] || die "the on controller's /metrics counts $counted requests of the warm-up"
off_series=$(curl -fsS "http://127.0.0.1:${status_port[off]}/metrics" | grep -c '^nginx_ingress_controller_requests{' || true)
[ "$off_series" = 0 ] || die "the off controller exports request series"
log "on counts $counted warm-up requests; off exports none"

declare -A rps_of cpu_of
costs=()
order=("${targets[@]}")
for round in $(seq 1 "$ROUNDS"); do
	declare -A this=()
	for name in "${order[@]}"; do
		read -r rps cpu < <(run_wrk "$name" "$DURATION") || true
		[ -n "${cpu:-}" ] || die "$name: round $round failed"
		log "round $round $name: $rps req/s, ${cpu}us CPU per request"
		rps_of[$name]+=" $rps" cpu_of[$name]+=" $cpu"
		this[$name]=$cpu
	done
	costs+=("$(awk -v a="${this[on]}" -v b="${this[off]}" 'BEGIN {printf "%.2f", a - b}')")
	order=("${order[@]:1}" "${order[0]}")
done

aggregate_ns=$(cd rootfs/usr/share/portico/lua && luajit -e '
package.path = "./?.lua;" .. package.path
local metrics = require("portico.metrics")
local cfg = assert(metrics.parse_config("0f;none;request_duration,response_duration,connect_duration,header_duration,request_size,response_size,bytes_sent;0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10;10,20,30,40,50,60,70,80,90,100;10,100,1000,10000,100000,1e+06,1e+07"))
local dict = { incr = function() return 1 end, safe_add = function() return true end }
local m = metrics.new(cfg, { shared = dict, log = print })
local n = 2000000
local t0 = os.clock()
for i = 1, n do
    m:observe("rabcdef0123456789", 200, "GET", "", "", 0.002, 0.0015, 0.0002, 0.0012, 120, 230)
    if i % 100000 == 0 then m:flush() end
end
io.write(string.format("%.1f", (os.clock() - t0) * 1e9 / n))')

# The hook alone, in one nginx worker with three locations that proxy to
# the same backend and differ only in their log phase: none, an empty
# log_by_lua_block (what any Lua log hook costs nginx) and Portico's
# metrics hook with its route set. Rounds alternate the three; the CPU per
# request of each minus none's, in the same round, is hook_us and
# metrics_us (medians).
mkdir -p "$WORK/micro"
chmod 755 "$WORK/micro"
MICRO_PORT=$(free_port)
micro_env=$({ "$PORTICO_BIN" render --allow-loopback-backends -f "$WORK/manifests" 2>/dev/null || true; } | sed -n 's/^env "PORTICO_METRICS=\(.*\)";$/\1/p')
[ -n "$micro_env" ] || die "no PORTICO_METRICS in portico render's output"
cat >"$WORK/micro/nginx.conf" <<EOF
load_module /usr/share/nginx/modules/ndk_http_module.so;
load_module /usr/share/nginx/modules/ngx_http_lua_module.so;
env "PORTICO_METRICS=$micro_env";
worker_processes 1;
pid $WORK/micro/nginx.pid;
error_log $WORK/micro/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK/micro/client_body;
    proxy_temp_path $WORK/micro/proxy;
    fastcgi_temp_path $WORK/micro/fastcgi;
    uwsgi_temp_path $WORK/micro/uwsgi;
    scgi_temp_path $WORK/micro/scgi;
    lua_package_path "$PWD/rootfs/usr/share/portico/lua/?.lua;;";
    lua_shared_dict portico_metrics 32m;
    init_worker_by_lua_block { require("portico.request_log").start() }
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 32;
    }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    server {
        listen 127.0.0.1:$MICRO_PORT;
        location /none { proxy_pass http://backend/; }
        location /hook {
            proxy_pass http://backend/;
            log_by_lua_block { }
        }
        location /metrics {
            set \$portico_route "rabcdef0123456789";
            proxy_pass http://backend/;
            log_by_lua_file $PWD/rootfs/usr/share/portico/lua/hooks/metrics.lua;
        }
        # The hook's body a hundred times per request: its cost stands out
        # of the noise a hundredfold.
        location /metrics100 {
            set \$portico_route "rabcdef0123456789";
            proxy_pass http://backend/;
            log_by_lua_block {
                local log = require("portico.request_log").log
                for _ = 1, 100 do log() end
            }
        }
        location = /dump {
            content_by_lua_file $PWD/rootfs/usr/share/portico/lua/hooks/metrics_dump.lua;
        }
    }
}
EOF
# The worker on CPU 1, wrk on CPU 0 (where there are two): fewer
# migrations, steadier figures.
pin_nginx=() pin_wrk=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	pin_nginx=(taskset -c 1) pin_wrk=(taskset -c 0)
fi
"${pin_nginx[@]}" "$NGINX" -p "$WORK/micro" -c "$WORK/micro/nginx.conf" -g 'daemon off;' >"$WORK/micro.log" 2>&1 &
pids+=($!)
wait_200 "$MICRO_PORT" /metrics
pidfile[micro]="$WORK/micro/nginx.pid"

# run_micro LOCATION SECONDS: prints the micro worker's CPU per request.
run_micro() {
	local out reqs t0 t1
	t0=$(worker_ticks "${pidfile[micro]}")
	out=$("${pin_wrk[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${2}s" --timeout 10s "http://127.0.0.1:$MICRO_PORT/$1")
	t1=$(worker_ticks "${pidfile[micro]}")
	grep -qE 'Non-2xx|Socket errors' <<<"$out" && die "micro $1: errors under load: $out"
	reqs=$(awk '/ requests in / {print $1}' <<<"$out")
	[ -n "$reqs" ] || die "micro $1: cannot parse wrk output: $out"
	awk -v d="$((t1 - t0))" -v hz="$TICKS" -v n="$reqs" 'BEGIN {printf "%.3f", d * 1e6 / hz / n}'
}
for loc in none hook metrics metrics100; do run_micro "$loc" "$WARMUP" >/dev/null; done
hook_costs=() metrics_costs=() micro_none=() body_costs=()
locs=(none hook metrics metrics100)
for round in $(seq 1 "$ROUNDS"); do
	declare -A mc=()
	for loc in "${locs[@]}"; do mc[$loc]=$(run_micro "$loc" "$DURATION"); done
	log "micro round $round: none ${mc[none]}us, empty log hook ${mc[hook]}us, metrics hook ${mc[metrics]}us, its body x100 ${mc[metrics100]}us CPU per request"
	body_costs+=("$(awk -v a="${mc[metrics100]}" -v b="${mc[hook]}" 'BEGIN {printf "%.1f", (a - b) * 1000 / 100}')")
	micro_none+=("${mc[none]}")
	hook_costs+=("$(awk -v a="${mc[hook]}" -v b="${mc[none]}" 'BEGIN {printf "%.3f", a - b}')")
	metrics_costs+=("$(awk -v a="${mc[metrics]}" -v b="${mc[none]}" 'BEGIN {printf "%.3f", a - b}')")
	locs=("${locs[@]:1}" "${locs[0]}")
done
# The metrics location's requests were counted (the dump is read back).
sleep 1.5
micro_counted=$(curl -fsS "http://127.0.0.1:$MICRO_PORT/dump" | awk -F'\t' '$2 == "rabcdef0123456789" && $7 == "1" {s += $8} END {printf "%d", s}')
[ "$micro_counted" -gt 1000 ] || die "the micro nginx's metrics hook counted $micro_counted requests"
log "the micro nginx's metrics hook counted $micro_counted requests"
echo "BENCH requestmetrics workers=$WORKERS threads=$THREADS connections=$CONNECTIONS duration_s=$DURATION rounds=$ROUNDS" \
	"on_rps=$(median ${rps_of[on]}) on_cpu_us=$(median ${cpu_of[on]}) off_rps=$(median ${rps_of[off]}) off_cpu_us=$(median ${cpu_of[off]})" \
	"cost_us=$(median "${costs[@]}") cost_us_min=$(minimum "${costs[@]}") cost_us_max=$(maximum "${costs[@]}") aggregate_ns=$aggregate_ns" \
	"micro_none_us=$(median "${micro_none[@]}") hook_us=$(median "${hook_costs[@]}") metrics_us=$(median "${metrics_costs[@]}") metrics_us_min=$(minimum "${metrics_costs[@]}") metrics_us_max=$(maximum "${metrics_costs[@]}")" \
	"body_ns=$(median "${body_costs[@]}") body_ns_min=$(minimum "${body_costs[@]}") body_ns_max=$(maximum "${body_costs[@]}")"
log "done in $(($(date +%s) - t0))s"
