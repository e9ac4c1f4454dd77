#!/usr/bin/env bash
# Data-plane benchmark (the "data plane" row of docs/benchmarks.md): requests
# per second and p99 latency through Portico's nginx config, and through a
# minimal hand-written nginx proxy config to the same backend, in the same
# run, on loopback only. Prints one parseable line:
#
#   BENCH dataplane workers=1 ... portico_rps=R portico_p99_ms=L direct_rps=R direct_p99_ms=L ratio=R ...
#
# ratio is the median over the rounds of Portico's requests per second over
# the hand-written config's in the same round (ratio_min and ratio_max show
# the spread). Pairing by round keeps the ratio steadier than a ratio of
# medians when something else on the machine takes CPU now and then. The
# goal (>= 0.97) is checked by hack/bench/report, not here. cpu_ratio is the
# same comparison by the proxy workers' CPU time per request, which a busy
# machine disturbs far less than req/s.
#
# What runs, all on 127.0.0.1:
#   backend   nginx answering `return 200 "ok"` (fast enough not to hide a
#             difference between the proxies; both proxies share it)
#   portico   the real `portico controller --manifests DIR --start-nginx`,
#             one Ingress -> one Service -> an EndpointSlice naming the backend
#   direct    nginx with a minimal `upstream { server ...; keepalive 32; }`
#             and `proxy_pass` over HTTP/1.1 keep-alive
#   lua       the direct config with one change: its upstream's peer is set
#             by a `balancer_by_lua_block` that only calls set_current_peer.
#             Not a goal; it shows what any Lua balancer costs on this nginx
#             (lua_ratio, lua_cpu_ratio), the floor under Portico's figure.
#             Left out (lua_ratio=none) when the Lua module is not installed.
#   wrk       the same parameters against both, alternating rounds after a
#             warm-up of each, every round bounded by DURATION seconds
#
# Both proxies run worker_processes 1 (WORKERS). The machine this is made
# for has 2 cores, and wrk and the backend need CPU too: with one proxy
# worker, each proxy gets the same single core's worth of work while wrk
# and the backend share the other, so the figure compares the two configs
# per worker instead of measuring who wins the scheduler.
#
# Environment (defaults in brackets): LUA_MODULES [Debian's paths of
# ndk_http_module.so and ngx_http_lua_module.so], PORTICO_BIN [build ./cmd/portico],
# PORTICO_ARGS [none: extra controller flags, e.g. "--balancer upstreams"
# to compare the balancers], CONFIGMAP [none: "key: value" lines for the
# controller's options ConfigMap, e.g. 'generate-request-id: "false"'],
# NGINX [nginx in PATH or /usr/sbin/nginx],
# WORKERS [1], CONNECTIONS [32], THREADS [1], DURATION [6], WARMUP [3],
# ROUNDS [5].
set -euo pipefail

cd "$(dirname "$0")/../.."

WORKERS=${WORKERS:-1}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
DURATION=${DURATION:-6}
WARMUP=${WARMUP:-3}
ROUNDS=${ROUNDS:-5}
HOST=bench.portico.invalid

STEP=dataplane
# shellcheck source=hack/bench/lib.sh
. hack/bench/lib.sh

BACKEND_PORT=$(free_port)
PORTICO_PORT=$(free_port)
PORTICO_TLS_PORT=$(free_port)
PORTICO_INTERNAL_PORT=$(free_port)
PORTICO_STATUS_PORT=$(free_port)
DIRECT_PORT=$(free_port)

# Port and nginx pid file of each proxy target; the lua target gets its
# entries only when it is started, so ${port[lua]:-} tells whether it runs.
declare -A port=([portico]=$PORTICO_PORT [direct]=$DIRECT_PORT)
declare -A pidfile=([portico]="$WORK/portico-run/nginx.pid" [direct]="$WORK/direct/nginx.pid")

# start_nginx NAME CONFIG-BODY [MAIN]: runs nginx in the foreground (daemon
# off) in the background of this script, with its own prefix, pid and temp
# paths; MAIN goes at the top of the file (load_module lines).
start_nginx() {
	local name=$1 body=$2 main=${3:-} dir="$WORK/$1"
	mkdir -p "$dir"
	chmod 755 "$dir"
	cat >"$dir/nginx.conf" <<EOF
$main
worker_processes $WORKERS;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
$body
}
EOF
	"$NGINX" -t -q -p "$dir" -c "$dir/nginx.conf" || die "nginx -t failed for $name"
	"$NGINX" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' >"$WORK/$name.log" 2>&1 &
	pids+=($!)
}

t0=$(date +%s)

# The backend gets as many workers as the proxies: it must keep up with one
# proxy worker, and a plain `return` is far cheaper than proxying.
start_nginx backend "
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$BACKEND_PORT;
        location / { return 200 \"ok\"; }
    }"

start_nginx direct "
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$DIRECT_PORT;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_pass http://backend;
        }
    }"

# The lua target: the direct config, its peer chosen in balancer_by_lua.
LUA_MODULES=${LUA_MODULES:-/usr/share/nginx/modules/ndk_http_module.so /usr/share/nginx/modules/ngx_http_lua_module.so}
lua_main=""
for m in $LUA_MODULES; do
	[ -f "$m" ] || { lua_main="" && break; }
	lua_main="${lua_main}load_module $m;
"
done
if [ -n "$lua_main" ]; then
	port[lua]=$(free_port) pidfile[lua]="$WORK/lua/nginx.pid"
	start_nginx lua "
    upstream backend {
        server 0.0.0.1:1;
        balancer_by_lua_block {
            require(\"ngx.balancer\").set_current_peer(\"127.0.0.1\", $BACKEND_PORT)
        }
        keepalive 32;
    }
    server {
        listen 127.0.0.1:${port[lua]};
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_pass http://backend;
        }
    }" "$lua_main"
else
	log "no Lua module at $LUA_MODULES: the lua target is left out"
fi
# The targets in the order of the first round.
targets=(portico direct)
[ -z "${port[lua]:-}" ] || targets+=(lua)

if [ -z "${PORTICO_BIN:-}" ]; then
	PORTICO_BIN="$WORK/portico"
	log "building ./cmd/portico"
	go build -o "$PORTICO_BIN" ./cmd/portico
fi

mkdir -p "$WORK/manifests"
cat >"$WORK/manifests/bench.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: portico
  annotations:
    ingressclass.kubernetes.io/is-default-class: "true"
spec:
  controller: portico.dev/ingress-controller
---
$(backend_manifests "$BACKEND_PORT")
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench, namespace: default}
spec:
  ingressClassName: portico
  rules:
  - host: $HOST
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: backend, port: {number: 80}}}}
EOF
configmap_args=()
if [ -n "${CONFIGMAP:-}" ]; then
	{
		printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico-bench, namespace: default}\ndata:\n'
		sed 's/^/  /' <<<"$CONFIGMAP"
	} >>"$WORK/manifests/bench.yaml"
	configmap_args=(--configmap default/portico-bench)
	log "ConfigMap: $(tr '\n' ' ' <<<"$CONFIGMAP")"
fi

"$PORTICO_BIN" controller --manifests "$WORK/manifests" --start-nginx \
	--nginx-binary "$NGINX" --bind-address 127.0.0.1 \
	--http-port "$PORTICO_PORT" --https-port "$PORTICO_TLS_PORT" \
	--internal-port "$PORTICO_INTERNAL_PORT" \
	--status-address "127.0.0.1:$PORTICO_STATUS_PORT" \
	--config-dir "$WORK/portico-conf" --runtime-dir "$WORK/portico-run" \
	--access-log off --worker-processes "$WORKERS" --resolver 127.0.0.1 \
	--allow-loopback-backends \
	"${configmap_args[@]}" ${PORTICO_ARGS:-} >"$WORK/portico.log" 2>&1 & # PORTICO_ARGS unquoted: split into flags
pids+=($!)

wait_200 "$BACKEND_PORT" /
wait_200 "$DIRECT_PORT" /
[ -z "${port[lua]:-}" ] || wait_200 "${port[lua]}" /
wait_200 "$PORTICO_STATUS_PORT" /readyz
wait_200 "$PORTICO_PORT" / "$HOST"
log "backend, proxies (${targets[*]}) up in $(($(date +%s) - t0))s (workers=$WORKERS)"

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



# run_wrk NAME PORT PIDFILE SECONDS: one load round; prints "RPS P99_MS
# CPU_US", CPU_US being the proxy workers' CPU time per request in
# microseconds. Unlike req/s, CPU per request hardly moves when other work
# on the machine takes turns on the cores. A round with any non-2xx answer
# or socket error fails the run: a proxy that answers 404 or resets
# connections would look fast for the wrong reason.
run_wrk() {
	local name=$1 port=$2 pidfile=$3 secs=$4 out rps p99 reqs t0 t1
	t0=$(worker_ticks "$pidfile")
	out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --latency -H "Host: $HOST" "http://127.0.0.1:$port/")
	t1=$(worker_ticks "$pidfile")
	if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
		printf '%s\n' "$out" >&2
		die "$name: errors under load"
	fi
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	reqs=$(awk '/ requests in / {print $1}' <<<"$out")
	[ -n "$rps" ] && [ -n "$p99" ] && [ -n "$reqs" ] || die "$name: cannot parse wrk output: $out"
	echo "$rps $(to_ms "$p99") $(awk -v d="$((t1 - t0))" -v hz="$TICKS" -v n="$reqs" 'BEGIN {printf "%.2f", d * 1e6 / hz / n}')"
}

# Every request must reach the backend through every proxy before timing.
for name in "${targets[@]}"; do
	run_wrk "$name" "${port[$name]}" "${pidfile[$name]}" "$WARMUP" >/dev/null
	log "warm-up $name: ${WARMUP}s"
done

# Figures per target, space-separated, one per round.
declare -A rps_of p99_of cpu_of
ratios=() lua_ratios=()
order=("${targets[@]}")
for round in $(seq 1 "$ROUNDS"); do
	declare -A this_rps=()
	for name in "${order[@]}"; do
		read -r rps p99 cpu < <(run_wrk "$name" "${port[$name]}" "${pidfile[$name]}" "$DURATION") || true
		# die inside the process substitution only ends that subshell.
		[ -n "${cpu:-}" ] || die "$name: round $round failed"
		log "round $round $name: $rps req/s, p99 ${p99}ms, ${cpu}us CPU per request"
		rps_of[$name]+=" $rps" p99_of[$name]+=" $p99" cpu_of[$name]+=" $cpu"
		this_rps[$name]=$rps
	done
	ratios+=("$(ratio "${this_rps[portico]}" "${this_rps[direct]}")")
	log "round $round ratio ${ratios[-1]}"
	if [ -n "${port[lua]:-}" ]; then
		lua_ratios+=("$(ratio "${this_rps[lua]}" "${this_rps[direct]}")")
	fi
	# Rotate the order, so that drift (thermal, other load) hits every
	# target in every position.
	order=("${order[@]:1}" "${order[0]}")
done

# median of the arguments (the upper middle for an even count).

# The per-target lists are unquoted below: they are meant to split.
p_rps=$(median ${rps_of[portico]}) p_p99=$(median ${p99_of[portico]}) p_cpu=$(median ${cpu_of[portico]})
d_rps=$(median ${rps_of[direct]}) d_p99=$(median ${p99_of[direct]}) d_cpu=$(median ${cpu_of[direct]})
ratio=$(median "${ratios[@]}")
ratio_min=$(printf '%s\n' "${ratios[@]}" | sort -g | head -n 1)
ratio_max=$(printf '%s\n' "${ratios[@]}" | sort -g | tail -n 1)
p99_ratio=$(ratio "$p_p99" "$d_p99")
# Like ratio, higher is better: the hand-written config's CPU per request
# over Portico's.
cpu_ratio=$(ratio "$d_cpu" "$p_cpu")
lua="lua_ratio=none"
if [ -n "${port[lua]:-}" ]; then
	l_rps=$(median ${rps_of[lua]}) l_cpu=$(median ${cpu_of[lua]})
	lua="lua_rps=$l_rps lua_cpu_us=$l_cpu lua_ratio=$(median "${lua_ratios[@]}") lua_cpu_ratio=$(ratio "$d_cpu" "$l_cpu")"
fi

echo "BENCH dataplane workers=$WORKERS threads=$THREADS connections=$CONNECTIONS duration_s=$DURATION rounds=$ROUNDS portico_rps=$p_rps portico_p99_ms=$p_p99 direct_rps=$d_rps direct_p99_ms=$d_p99 ratio=$ratio ratio_min=$ratio_min ratio_max=$ratio_max p99_ratio=$p99_ratio portico_cpu_us=$p_cpu direct_cpu_us=$d_cpu cpu_ratio=$cpu_ratio $lua"
log "done in $(($(date +%s) - t0))s"
