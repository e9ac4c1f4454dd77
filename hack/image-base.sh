#!/usr/bin/env bash
# Makes sure podman has the two base images the Dockerfile names,
# debian:bookworm-slim and golang:1.26-bookworm, so the Dockerfile builds
# unchanged. Each is pulled from its registry when one is reachable; when not
# (these machines reach no image registry), it is made locally:
#   debian:bookworm-slim  debootstrap (minbase) of bookworm from Debian's
#                         archive, the mirror apt uses here, trimmed as the
#                         official slim image is (no docs, man pages, locales)
#   golang:1.26-bookworm  that image plus ca-certificates and git (go mod
#                         download fetches over HTTPS), this machine's CA
#                         bundle (so the build trusts the HTTPS this machine
#                         trusts) and the Go toolchain: this machine's GOROOT
#                         when it is a go1.26, else the go1.26 release from
#                         the Go module proxy (golang.org/toolchain)
# Both are tagged with their docker.io/library/ names, so podman build finds
# them in its store and pulls nothing. The debootstrap tree is cached as a
# tarball outside the repository (PORTICO_CACHE, default ~/.cache/portico) and
# the images stay in podman's store: a second run takes about a second.
# PORTICO_IMAGE_PULL=0 skips the pull attempts.
set -euo pipefail

CACHE=${PORTICO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portico}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
GO_MINOR=1.26
DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
GOLANG_IMAGE=docker.io/library/golang:$GO_MINOR-bookworm
# shellcheck source=hack/podman-lib.sh
. "$(dirname "$0")/podman-lib.sh"

log() { printf 'image-base: %s\n' "$*" >&2; }

have() { "${PODMAN[@]}" image exists "$1"; }

pull() {
	[ "${PORTICO_IMAGE_PULL:-1}" != 0 ] || return 1
	timeout 300 "${PODMAN[@]}" pull -q "$1" >/dev/null 2>&1
}

# The debootstrap tree as a tarball, made once.
debian_tarball() {
	local tar="$CACHE/image/debian-$SUITE-slim.tar"
	if [ -s "$tar" ]; then
		echo "$tar"
		return
	fi
	mkdir -p "$CACHE/image"
	local root
	root=$(mktemp -d "$CACHE/image/rootfs.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$root'" EXIT
	local start
	start=$(date +%s)
	log "debootstrap $SUITE from $MIRROR (a few minutes, once)"
	debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 || {
		tail -20 "$root.log" >&2
		exit 1
	}
	rm -f "$root.log"
	# The sources the official image has.
	rm -f "$root/etc/apt/sources.list"
	cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	# Trimmed as the slim image is: no apt lists or caches, docs, man pages
	# or translations, and dpkg told not to install them again.
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
		"$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
		"$root"/usr/share/locale/* "$root"/var/log/*.log "$root"/var/log/apt/*
	cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
	: >"$root/etc/hostname"
	: >"$root/etc/resolv.conf"
	tar -C "$root" --numeric-owner -cf "$tar.tmp" .
	mv "$tar.tmp" "$tar"
	rm -rf "$root"
	trap - EXIT
	log "debootstrap done in $(($(date +%s) - start))s ($(du -h "$tar" | cut -f1))"
	echo "$tar"
}

# GOROOT of a go$GO_MINOR toolchain: this machine's, or the release from the
# Go module proxy.
goroot() {
	local host
	host=$(go env GOROOT 2>/dev/null || true)
	if [ -n "$host" ] && "$host/bin/go" version 2>/dev/null | grep -q "go$GO_MINOR[. ]"; then
		echo "$host"
		return
	fi
	local ver
	ver=$(curl -fsS "${GOPROXY_URL:-https://proxy.golang.org}/golang.org/toolchain/@v/list" |
		sed -n "s/^v0\.0\.1-go\($GO_MINOR\.[0-9]*\)\.linux-amd64$/\1/p" | sort -t. -k3,3n | tail -1)
	[ -n "$ver" ] || {
		log "no go$GO_MINOR release found on the module proxy"
		exit 1
	}
	log "fetching go$ver from the module proxy"
	local dir
	dir=$(cd /tmp && GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download -json "golang.org/toolchain@v0.0.1-go$ver.linux-amd64" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	echo "$dir"
}

if ! have "$DEBIAN_IMAGE"; then
	if pull "$DEBIAN_IMAGE"; then
		log "pulled $DEBIAN_IMAGE"
	else
		tar=$(debian_tarball)
		"${PODMAN[@]}" import -q \
			--change 'CMD ["bash"]' \
			--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			"$tar" "$DEBIAN_IMAGE" >/dev/null
		log "imported $DEBIAN_IMAGE from $tar (no registry reachable)"
	fi
fi

if ! have "$GOLANG_IMAGE"; then
	if pull "$GOLANG_IMAGE"; then
		log "pulled $GOLANG_IMAGE"
	else
		start=$(date +%s)
		root=$(goroot)
		gover=$("$root/bin/go" env GOVERSION)
		ctx=$(mktemp -d)
		# shellcheck disable=SC2064
		trap "rm -rf '$ctx'" EXIT
		# The toolchain without its tests and caches, as the official image has it.
		mkdir -p "$ctx/go"
		tar -C "$root" --exclude=./pkg/obj --exclude=./test --exclude='*_test.go' --exclude=./.git -cf - . | tar -C "$ctx/go" -xf -
		# The CAs this machine trusts: where its HTTPS goes through a proxy of
		# its own (as here), go mod download in the build must trust it too.
		cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
		cat >"$ctx/Containerfile" <<EOF
FROM $DEBIAN_IMAGE
RUN apt-get update \\
 && apt-get install -y --no-install-recommends ca-certificates git \\
 && rm -rf /var/lib/apt/lists/*
COPY go /usr/local/go
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV GOLANG_VERSION=${gover#go} GOTOOLCHAIN=local GOPATH=/go PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /go/src /go/bin && chmod -R 1777 /go
WORKDIR /go
EOF
		"${PODMAN[@]}" build -q --network host "${ULIMITS[@]}" -t "$GOLANG_IMAGE" "$ctx" >/dev/null
		rm -rf "$ctx"
		trap - EXIT
		log "built $GOLANG_IMAGE with $gover in $(($(date +%s) - start))s (no registry reachable)"
	fi
fi
