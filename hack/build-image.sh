#!/usr/bin/env bash
# Builds the Dockerfile with podman as IMAGE (default localhost/portico:latest).
# hack/image-base.sh first makes sure the base images are in podman's store:
# pulled where a registry is reachable, made locally (debootstrap) where not.
# The build runs on the host network, so go mod download reaches the module
# proxy and apt-get reaches Debian's archive as they do from this machine,
# and creates no container network. The Go build cache of the build stage is
# a directory in PORTICO_CACHE mounted for the build only, so after a code
# change go build recompiles only what changed (the image is the same).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/portico:latest}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
CACHE=${PORTICO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portico}
mkdir -p "$CACHE/image/go-build"

log() { printf 'build-image: %s\n' "$*" >&2; }

start=$(date +%s)
bash hack/image-base.sh
based=$(date +%s)
# shellcheck source=hack/podman-lib.sh
. hack/podman-lib.sh
"${PODMAN[@]}" build --network host "${ULIMITS[@]}" \
	-v "$CACHE/image/go-build:/root/.cache/go-build" \
	--build-arg "VERSION=$VERSION" \
	-t "$IMAGE" .
end=$(date +%s)
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
log "built $IMAGE ($VERSION): $((size / 1000000)) MB; base images $((based - start))s, build $((end - based))s"
