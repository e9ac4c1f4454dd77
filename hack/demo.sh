#!/usr/bin/env bash
# make demo: serve examples/ with nginx, the controller and two echo servers,
# all on loopback, until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

HTTP_PORT=${HTTP_PORT:-8080}
HTTPS_PORT=${HTTPS_PORT:-8443}
STATUS_PORT=${STATUS_PORT:-10254}
WORK=$(mktemp -d /tmp/portico-demo.XXXXXX)
# nginx workers (nobody, when run as root) read the Lua balancer's code under
# $WORK/run: mktemp's 0700 would lock them out.
chmod 711 "$WORK"
pids=()

cleanup() {
	trap - INT TERM EXIT
	echo
	echo "demo: stopping"
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
	echo "demo: stopped"
}
trap cleanup INT TERM EXIT

./bin/echoserver -listen 127.0.0.1:9001 -service coffee 2>"$WORK/coffee.log" &
pids+=($!)
./bin/echoserver -listen 127.0.0.1:9002 -service tea 2>"$WORK/tea.log" &
pids+=($!)
./bin/portico controller --manifests examples --start-nginx \
	--http-port "$HTTP_PORT" --https-port "$HTTPS_PORT" --bind-address 127.0.0.1 \
	--status-address "127.0.0.1:$STATUS_PORT" --debug-address "127.0.0.1:$STATUS_PORT" \
	--config-dir "$WORK/conf" --runtime-dir "$WORK/run" --access-log off \
	--allow-loopback-backends &
pids+=($!)

for _ in $(seq 1 100); do
	if curl -fsS "http://127.0.0.1:$STATUS_PORT/readyz" >/dev/null 2>&1; then break; fi
	sleep 0.1
done
if ! curl -fsS "http://127.0.0.1:$STATUS_PORT/readyz" >/dev/null 2>&1; then
	echo "demo: the controller did not become ready in 10s; see the log above" >&2
	exit 1
fi

cat <<MSG

Portico is serving examples/ on http://127.0.0.1:$HTTP_PORT and https://127.0.0.1:$HTTPS_PORT

  # host and path routing
  curl -H 'Host: cafe.example.com' http://127.0.0.1:$HTTP_PORT/coffee
  curl -H 'Host: cafe.example.com' http://127.0.0.1:$HTTP_PORT/tea/green
  # Exact path: /menu matches, /menu/x does not (404)
  curl -i -H 'Host: cafe.example.com' http://127.0.0.1:$HTTP_PORT/menu/x
  # wildcard host: one label under tea.example.com
  curl -H 'Host: green.tea.example.com' http://127.0.0.1:$HTTP_PORT/
  # the rendered config and the reload history
  curl http://127.0.0.1:$STATUS_PORT/debug/config
  curl http://127.0.0.1:$STATUS_PORT/debug/reloads

Edit examples/cafe-ingress.yaml and nginx picks the change up. Ctrl-C stops everything.
MSG
wait "${pids[2]}"
