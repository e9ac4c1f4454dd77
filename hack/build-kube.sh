#!/usr/bin/env bash
# Builds the Kubernetes binaries the end-to-end tests run (kube-apiserver,
# kubectl for what users see of the admission webhook, and for the node:
# kubelet, kube-controller-manager, kube-scheduler) from the
# k8s.io/kubernetes Go module (served by the Go module proxy), and prints
# the directory that holds them. All five come from one `go build`
# so the packages they share are compiled once (about 11 minutes on 2 cores
# with a cold build cache).
# k8s.io/kubernetes points every k8s.io/<staging> module at ./staging/...,
# which a module download does not have, so a throwaway tools module
# requires k8s.io/kubernetes and replaces each staging module with its
# published v0.X.Y release. The result is cached outside the repository:
# a second run prints the cached directory at once.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
STAGING_VERSION=${STAGING_VERSION:-v0.${KUBE_VERSION#v1.}}
CACHE=${PORTICO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portico}
OUT="$CACHE/kube-$KUBE_VERSION"
BINARIES="kube-apiserver kubelet kube-controller-manager kube-scheduler kubectl"
# RECIPE changes when the way the binaries are built changes, so a cache
# built the old way is rebuilt (2: version stamped, as helm checks it).
RECIPE=2

log() { printf 'build-kube: %s\n' "$*" >&2; }

complete() {
	[ "$(cat "$OUT/recipe" 2>/dev/null)" = "$RECIPE" ] || return 1
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

log "downloading k8s.io/kubernetes@$KUBE_VERSION"
gomod=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
if [ ! -f "$gomod" ]; then
	log "could not find the go.mod of k8s.io/kubernetes@$KUBE_VERSION"
	exit 1
fi
gover=$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$gomod" | head -1)

{
	echo "module portico.local/kube-build"
	echo
	echo "go ${gover:-1.26}"
	echo
	echo "require k8s.io/kubernetes $KUBE_VERSION"
	echo
	# Every staging module k8s.io/kubernetes replaces with ./staging/...
	sed -n 's#^[[:space:]]*\(replace[[:space:]]\{1,\}\)\{0,1\}\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\2#p' "$gomod" |
		sort -u | while read -r mod; do
			echo "replace $mod => $mod $STAGING_VERSION"
		done
} >"$work/go.mod"
nrep=$(grep -c '^replace' "$work/go.mod" || true)
if [ "$nrep" -lt 10 ]; then
	log "found only $nrep staging modules in $gomod; the recipe needs updating"
	exit 1
fi
cat >"$work/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO

log "resolving dependencies ($nrep staging modules replaced with $STAGING_VERSION)"
(cd "$work" && GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true)
(cd "$work" && GOFLAGS=-mod=mod go get "k8s.io/kubernetes@$KUBE_VERSION" >&2)
log "building $BINARIES (about 11 minutes on 2 idle cores the first time)"
pkgs=""
for b in $BINARIES; do
	pkgs="$pkgs k8s.io/kubernetes/cmd/$b"
done
mkdir -p "$work/bin"
# The version the servers report (kubectl version, helm's kubeVersion
# check), stamped the way Kubernetes' hack/lib/version.sh does.
minor=${KUBE_VERSION#v1.}
minor=${minor%%.*}
ldflags=""
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
	ldflags="$ldflags -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
# shellcheck disable=SC2086 # pkgs is a list of package paths
(cd "$work" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$work/bin/" $pkgs)
rm -rf "$OUT"
mkdir -p "$OUT"
for b in $BINARIES; do
	mv "$work/bin/$b" "$OUT/$b"
done
echo "$RECIPE" >"$OUT/recipe"
log "built $BINARIES into $OUT in $(( $(date +%s) - start ))s"
echo "$OUT"
