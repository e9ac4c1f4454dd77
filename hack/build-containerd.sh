#!/usr/bin/env bash
# Builds containerd v2 (containerd, containerd-shim-runc-v2 and ctr) from
# the github.com/containerd/containerd/v2 Go module (served by the Go module
# proxy) for the end-to-end node, and prints the directory that holds them.
# Debian's containerd is 1.6, which kubelet 1.38 no longer supports. Built
# without cgo and without the snapshotters that need C libraries (btrfs,
# devmapper, zfs); the node uses overlayfs and Debian's runc. About 2
# minutes on 2 cores the first time; cached outside the repository after
# that, so a second run prints the cached directory at once.
set -euo pipefail

CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
CACHE=${PORTICO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portico}
OUT="$CACHE/containerd-$CONTAINERD_VERSION"
BINARIES="containerd containerd-shim-runc-v2 ctr"

log() { printf 'build-containerd: %s\n' "$*" >&2; }

complete() {
	for b in $BINARIES; do
		[ -x "$OUT/$b" ] || return 1
	done
}

if complete; then
	echo "$OUT"
	exit 0
fi

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
mod=github.com/containerd/containerd/v2
pkgs=""
for b in $BINARIES; do
	pkgs="$pkgs $mod/cmd/$b@$CONTAINERD_VERSION"
done
log "building $BINARIES $CONTAINERD_VERSION (about 2 minutes on 2 idle cores the first time)"
# Outside any module, with GOFLAGS cleared of -mod settings go install refuses.
# shellcheck disable=SC2086 # pkgs is a list of package paths
(cd "$work" && GOFLAGS= GOBIN="$work" CGO_ENABLED=0 go install -trimpath \
	-tags "no_btrfs no_devmapper no_zfs urfave_cli_no_docs" \
	-ldflags "-X $mod/version.Version=$CONTAINERD_VERSION" $pkgs)
mkdir -p "$OUT"
for b in $BINARIES; do
	mv "$work/$b" "$OUT/$b"
done
log "built $BINARIES into $OUT in $(( $(date +%s) - start ))s"
echo "$OUT"
