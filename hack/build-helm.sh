#!/usr/bin/env bash
# Builds helm v4 from the helm.sh/helm/v4 Go module (served by the Go module
# proxy) for the chart's tests, and prints the binary's path. helm's go.mod
# has no replace directives, so `go install module@version` builds it as
# released, with the version helm's own Makefile stamps in. The result is
# cached outside the repository, as hack/build-kube.sh caches the Kubernetes
# server: a second run prints the cached path at once. HELM_VERSION picks
# another release.
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v4.3.2}
CACHE=${PORTICO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portico}
OUT="$CACHE/helm-$HELM_VERSION"

log() { printf 'build-helm: %s\n' "$*" >&2; }

# --path: print where the binary is (or would be) without building it; the
# chart tests use it to find helm, built beforehand by `make helm`.
if [ "${1:-}" = "--path" ]; then
	echo "$OUT"
	exit 0
fi

if [ -x "$OUT" ]; then
	echo "$OUT"
	exit 0
fi

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

log "building helm $HELM_VERSION from helm.sh/helm/v4 (about 8 minutes of CPU the first time: 4-5 minutes on 2 idle cores)"
# Run outside any module (the repository's go.mod must not matter), with
# GOFLAGS cleared of -mod settings that go install refuses.
(cd "$work" && GOFLAGS= GOBIN="$work" CGO_ENABLED=0 go install -trimpath \
	-ldflags "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.metadata= -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
	"helm.sh/helm/v4/cmd/helm@$HELM_VERSION")
mv "$work/helm" "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "built $OUT in $(( $(date +%s) - start ))s"
echo "$OUT"
