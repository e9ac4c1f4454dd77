# Shared by the bench steps that run nginx and wrk themselves
# (dataplane.sh, modsecurity.sh). Source it after setting STEP (the name in
# log lines) and cd'ing to the repository root; it finds nginx, checks for
# wrk and ss, makes $WORK, and stops every pid in pids[] at exit.

log() { printf '%s: %s\n' "$STEP" "$*" >&2; }
die() {
	log "$*"
	exit 1
}

NGINX=${NGINX:-$(command -v nginx || true)}
[ -n "$NGINX" ] || [ ! -x /usr/sbin/nginx ] || NGINX=/usr/sbin/nginx
[ -n "$NGINX" ] || die "nginx not found (make deps installs it)"
command -v wrk >/dev/null 2>&1 || die "wrk not found (make deps installs it)"
command -v ss >/dev/null 2>&1 || die "ss not found (iproute2; make deps installs it)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/portico-$STEP.XXXXXX")
# nginx workers run as nobody when started as root; they must be able to
# enter the directory of their temporary files.
chmod 755 "$WORK"
pids=()

# cleanup stops what the step started (SIGTERM: the controller stops its
# nginx; plain nginx masters stop fast), shows the logs' tails when the
# step failed, and removes $WORK.
cleanup() {
	local status=$?
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ "$status" -ne 0 ]; then
		for f in "$WORK"/*.log; do
			[ -f "$f" ] || continue
			log "--- $(basename "$f") (last 20 lines)"
			tail -n 20 "$f" >&2 || true
		done
	fi
	rm -rf "$WORK"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a loopback TCP port no socket uses and that this run has
# not handed out yet, below the kernel's range for outgoing connections: a
# port from that range can be taken by a connection (wrk's, nginx's to the
# backend) between this check and the bind.
ephemeral_low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
used_ports=" "
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((10000 + RANDOM % (ephemeral_low - 10000)))
		case "$used_ports" in *" $p "*) continue ;; esac
		if [ -z "$(ss -Htan "sport = :$p")" ]; then
			used_ports="$used_ports$p "
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

# http_status PORT PATH HOST prints the status code of one HTTP/1.0 GET to
# 127.0.0.1:PORT (nothing when the connection fails). Bash's /dev/tcp needs
# no client program, and read -t (HTTP_STATUS_TIMEOUT seconds, 2 unless
# set) bounds a server that never answers.
http_status() {
	local line=""
	if exec 3<>"/dev/tcp/127.0.0.1/$1"; then
		printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$3" >&3
		read -r -t "${HTTP_STATUS_TIMEOUT:-2}" line <&3 || true
		exec 3>&-
	fi 2>/dev/null
	awk '{print $2}' <<<"$line"
}

# wait_200 PORT PATH [HOST] waits up to WAIT_200_SECONDS (30 unless set)
# until GET PATH on PORT with Host HOST answers 200.
wait_200() {
	local port=$1 path=$2 host=${3:-localhost} seconds=${WAIT_200_SECONDS:-30}
	for _ in $(seq 1 $((seconds * 10))); do
		[ "$(http_status "$port" "$path" "$host")" = 200 ] && return 0
		sleep 0.1
	done
	die "http://127.0.0.1:$port$path (Host $host) did not answer 200 within ${seconds}s"
}

# backend_manifests PORT prints the Service "backend" and its EndpointSlice
# (127.0.0.1:PORT) that the steps' Ingresses proxy to.
backend_manifests() {
	cat <<MANIFESTS
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: $1}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: backend-1
  namespace: default
  labels: {kubernetes.io/service-name: backend}
addressType: IPv4
ports: [{name: http, port: $1}]
endpoints:
- addresses: [127.0.0.1]
  conditions: {ready: true}
MANIFESTS
}

# start_backend DIR PORT starts the nginx every step proxies to: one worker
# answering `return 200 "ok"` on 127.0.0.1:PORT, its files under DIR.
start_backend() {
	local dir=$1 port=$2
	mkdir -p "$dir"
	chmod 755 "$dir"
	cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
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
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port;
        location / { return 200 "ok"; }
    }
}
CONF
	"$NGINX" -t -q -p "$dir" -c "$dir/nginx.conf" || die "nginx -t failed for the backend"
	"$NGINX" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' >"$dir.log" 2>&1 &
	pids+=($!)
}

# Figures of the rounds: ratio A B, and median, minimum, maximum of a list.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int(NR / 2) + 1]}'; }
minimum() { printf '%s\n' "$@" | sort -g | head -1; }
maximum() { printf '%s\n' "$@" | sort -g | tail -1; }

# worker_ticks PIDFILE prints the CPU time (user + system, in clock ticks)
# the worker processes of the nginx master in PIDFILE have used so far.
worker_ticks() {
	local master pid total=0 stat
	master=$(cat "$1")
	for pid in $(ps -o pid= --ppid "$master"); do
		# Fields 14 and 15 of /proc/PID/stat; the command name, field 2,
		# is "(nginx)", without spaces, so awk's fields line up.
		stat=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) || continue
		total=$((total + stat))
	done
	echo "$total"
}
TICKS=$(getconf CLK_TCK)
