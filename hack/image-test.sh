#!/usr/bin/env bash
# Smoke test of the image (make image-test), run as the Pod of deploy/ runs
# it: uid 101, a read-only root filesystem, no capability at all (nginx
# binds port 80 through net.ipv4.ip_unprivileged_port_start=0 in its network
# namespace, as the Pod sets it), and the two emptyDirs (/etc/portico,
# /tmp/portico) as host directories of mode 0777.
#   1. portico version
#   2. portico render -f examples --check (nginx -t on the result) in the image
#   3. the two-container Pod: the nginx container (portico-nginx) and the
#      controller container sharing its pid and network namespaces, with the
#      demo's two echo servers in the same network namespace; nginx must
#      serve examples/ on a loopback port published from the container, as
#      uid 101 on port 80; then an Ingress change must be served after a
#      reload the controller signalled across containers (same nginx master).
# Needs the image (make image); exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/portico:latest}
# A container network of its own in 198.18.0.0/15 (never podman's 10.88/16).
NET=${PORTICO_IMAGE_TEST_NET:-portico-image-test}
SUBNET=${PORTICO_IMAGE_TEST_SUBNET:-198.19.254.0/24}
NAME=portico-image-test-$$

log() { printf 'image-test: %s\n' "$*" >&2; }
fail() {
	log "FAIL: $*"
	exit 1
}

# shellcheck source=hack/podman-lib.sh
. hack/podman-lib.sh
RUN=("${PODMAN[@]}" run "${ULIMITS[@]}"
	--user 101:101 --read-only --read-only-tmpfs=false --cap-drop ALL
	--security-opt no-new-privileges)

"${PODMAN[@]}" image exists "$IMAGE" || fail "no image $IMAGE; run make image"

work=$(mktemp -d)
cleanup() {
	local rc=$?
	if [ "$rc" -ne 0 ]; then
		for c in nginx controller; do
			log "--- logs of $NAME-$c (last 30 lines)"
			"${PODMAN[@]}" logs --tail 30 "$NAME-$c" 2>&1 | sed 's/^/    /' >&2 || true
		done
	fi
	# The others share the nginx container's namespaces: it goes last.
	"${PODMAN[@]}" rm -f -t 0 "$NAME-controller" "$NAME-coffee" "$NAME-tea" >/dev/null 2>&1 || true
	"${PODMAN[@]}" rm -f -t 0 "$NAME-nginx" >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT INT TERM

# 1. version
out=$("${RUN[@]}" --rm "$IMAGE" version)
log "portico version: $out"
[ -n "$out" ] || fail "portico version printed nothing"

# 2. render, and nginx -t on the result (render --check), in the image;
# nginx -t binds the listen ports too, so this network namespace gets the
# Pod's sysctl as well.
mkdir -p "$work/render"
"${RUN[@]}" --rm --tmpfs /tmp:mode=1777 --sysctl net.ipv4.ip_unprivileged_port_start=0 \
	-v "$PWD/examples:/manifests:ro" "$IMAGE" \
	render -f /manifests --allow-loopback-backends --check >"$work/render/nginx.conf" 2>"$work/render/stderr" ||
	{
		cat "$work/render/stderr" >&2
		fail "portico render --check failed in the image"
	}
grep -q 'cafe.example.com' "$work/render/nginx.conf" || fail "the rendered config has no server cafe.example.com"
grep -q 'nginx -t: configuration is valid' "$work/render/stderr" || fail "render --check did not run nginx -t: $(cat "$work/render/stderr")"
log "render --check in the image: $(grep -c . "$work/render/nginx.conf") lines, $(cat "$work/render/stderr")"

# 3. the Pod
if ! "${PODMAN[@]}" network exists "$NET"; then
	"${PODMAN[@]}" network create --subnet "$SUBNET" "$NET" >/dev/null
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(free_port)
status_port=$(free_port)
# The emptyDirs: the kubelet makes them 0777.
mkdir -p "$work/config" "$work/runtime" "$work/manifests"
chmod 0777 "$work/config" "$work/runtime"
cp examples/*.yaml "$work/manifests/"
chmod -R a+rX "$work/manifests"
mkdir -p "$work/bin"
CGO_ENABLED=0 go build -o "$work/bin/echoserver" ./e2e/echoserver

pod_start=$(date +%s.%N)
"${RUN[@]}" -d --name "$NAME-nginx" --network "$NET" \
	--sysctl net.ipv4.ip_unprivileged_port_start=0 \
	-p "127.0.0.1:$http_port:80" -p "127.0.0.1:$status_port:10254" \
	-v "$work/config:/etc/portico" -v "$work/runtime:/tmp/portico" \
	--entrypoint /usr/local/bin/portico-nginx "$IMAGE" >/dev/null
for svc in coffee:9001 tea:9002; do
	"${RUN[@]}" -d --name "$NAME-${svc%%:*}" --network "container:$NAME-nginx" \
		-v "$work/bin:/test:ro" --entrypoint /test/echoserver "$IMAGE" \
		-listen "127.0.0.1:${svc#*:}" -service "${svc%%:*}" >/dev/null
done
"${RUN[@]}" -d --name "$NAME-controller" --network "container:$NAME-nginx" --pid "container:$NAME-nginx" \
	-v "$work/config:/etc/portico" -v "$work/runtime:/tmp/portico" -v "$work/manifests:/manifests:ro" \
	"$IMAGE" controller --manifests /manifests --config-dir /etc/portico --runtime-dir /tmp/portico \
	--allow-loopback-backends --sync-holdoff 50ms >/dev/null

get() { curl -sS -o "$work/body" -w '%{http_code}' --max-time 2 -H "Host: $1" "http://127.0.0.1:$http_port$2" 2>/dev/null || true; }
wait_status() { # host path code seconds
	local deadline=$(($(date +%s) + $4)) code
	while :; do
		code=$(get "$1" "$2")
		[ "$code" = "$3" ] && return 0
		[ "$(date +%s)" -lt "$deadline" ] || fail "http://$1$2 answered ${code:-nothing}, want $3 within $4s"
		sleep 0.1
	done
}

wait_status cafe.example.com /coffee 200 60
ready=$(date +%s.%N)
grep -q coffee "$work/body" || fail "/coffee was not answered by the coffee echo server: $(cat "$work/body")"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$status_port/readyz" || true)
[ "$code" = 200 ] || fail "/readyz answered $code"
# The Lua balancer, as in deploy/ (--balancer auto): its probe runs nginx -t
# under the runtime directory, as the root filesystem is read-only.
metrics=$(curl -sS --max-time 2 "http://127.0.0.1:$status_port/metrics" || true)
grep -q '^portico_balancer_info{balancer="lua"} 1' <<<"$metrics" ||
	fail "the controller did not choose the Lua balancer: $(grep '^portico_balancer_info' <<<"$metrics")"
log "pod started to /coffee served: $(awk "BEGIN {printf \"%.1f\", $ready - $pod_start}")s"

# Both containers' processes run as uid 101, in one pid namespace.
nginx_pid=$("${PODMAN[@]}" inspect --format '{{.State.Pid}}' "$NAME-nginx")
ctl_pid=$("${PODMAN[@]}" inspect --format '{{.State.Pid}}' "$NAME-controller")
# Neither holds any capability.
for pc in "$nginx_pid:0000000000000000" "$ctl_pid:0000000000000000"; do
	p=${pc%%:*}
	uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$p/status")
	[ "$uids" = "101 101 101 101" ] || fail "process $p ($(cat "/proc/$p/comm")) runs as uids $uids, want 101"
	caps=$(awk '/^CapEff:/ {print $2}' "/proc/$p/status")
	[[ "$caps" =~ ^(${pc#*:})$ ]] || fail "process $p ($(cat "/proc/$p/comm")) has effective capabilities $caps, want ${pc#*:}"
	log "process $p ($(cat "/proc/$p/comm")): uid 101, CapEff $caps"
done
[ "$(readlink "/proc/$nginx_pid/ns/pid")" = "$(readlink "/proc/$ctl_pid/ns/pid")" ] || fail "the containers do not share a pid namespace"
master=$(cat "$work/runtime/nginx.pid")
log "nginx master $master (pid in the pod) and the controller share a pid namespace"

# An Ingress change: /latte is not served, then is, by the same nginx master.
code=$(get cafe.example.com /latte)
[ "$code" = 404 ] || fail "/latte answered $code before the change, want 404"
change=$(date +%s.%N)
sed -i 's#      - path: /coffee#      - path: /latte\n        pathType: Prefix\n        backend:\n          service: {name: coffee, port: {name: http}}\n      - path: /coffee#' "$work/manifests/cafe-ingress.yaml"
wait_status cafe.example.com /latte 200 30
served=$(date +%s.%N)
grep -q coffee "$work/body" || fail "/latte was not answered by the coffee echo server"
[ "$(cat "$work/runtime/nginx.pid")" = "$master" ] || fail "nginx was restarted, not reloaded (master $master -> $(cat "$work/runtime/nginx.pid"))"
# nginx serves the new generation before the controller has confirmed it
# and counted the reload: wait for the count.
for _ in $(seq 1 100); do
	reloads=$(curl -sS --max-time 2 "http://127.0.0.1:$status_port/metrics" | awk '/^portico_reloads_total\{result="success"\}/ {print $2}')
	[ "${reloads:-0}" -ge 2 ] && break
	sleep 0.1
done
[ "${reloads:-0}" -ge 2 ] || fail "portico_reloads_total{result=\"success\"} is ${reloads:-missing}, want at least 2"
log "Ingress change to served across containers: $(awk "BEGIN {printf \"%.2f\", $served - $change}")s (same master, $reloads successful reloads)"
"${PODMAN[@]}" container exists "$NAME-nginx" && [ "$("${PODMAN[@]}" inspect --format '{{.State.Running}}' "$NAME-nginx")" = true ] || fail "the nginx container stopped"
size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE")
log "PASS ($IMAGE, $((size / 1000000)) MB)"
