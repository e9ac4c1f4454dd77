#!/usr/bin/env bash
# Installs what the tests and the demo need on a Debian machine: nginx with
# the Lua module (Debian's nginx-extras) and lua-cjson for the Lua balancer,
# LuaJIT and busted for the balancer's unit tests (make lua-test), etcd (the
# end-to-end API server's store), iproute2 (network namespaces for end-to-end
# backends) and wrk (load across reloads in e2e/local), and pcre2test
# (pkg/pcre checks printed regexes against the PCRE2 library nginx uses).
# Safe to run again: it only acts when something is missing, and runs
# apt-get update only then.
#
# With --image it installs only what `make image` needs instead: podman (which
# builds the Dockerfile with its buildah library), runc (podman's default
# runtime, crun, refuses hybrid cgroup hosts), the CNI plugins for the build's
# and the smoke test's networks, and debootstrap (hack/image-base.sh makes the
# base images locally when no registry is reachable). e2e/node runs its Pods
# with the same runc and CNI plugins, and iptables for its one DNAT rule.
set -euo pipefail

log() { printf 'install-deps: %s\n' "$*" >&2; }

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			echo sudo
		else
			log "missing packages and not root; run as root: apt-get install -y $*"
			exit 1
		fi
	fi
}

install_missing() {
	if [ "${#missing[@]}" -eq 0 ]; then
		return 0
	fi
	SUDO=$(need_root "${missing[@]}")
	start=$(date +%s)
	log "installing ${missing[*]} (apt-get update first)"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# Debian starts the packaged nginx service where an init system runs; the
	# tests run their own nginx and etcd, so stop the packaged ones if they started.
	if command -v service >/dev/null 2>&1; then
		$SUDO service nginx stop >/dev/null 2>&1 || true
		$SUDO service etcd stop >/dev/null 2>&1 || true
	fi
	log "installed ${missing[*]} in $(($(date +%s) - start))s"
}

missing=()
if [ "${1:-}" = "--image" ]; then
	command -v podman >/dev/null 2>&1 || missing+=(podman)
	command -v runc >/dev/null 2>&1 || missing+=(runc)
	[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
	command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
	command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || missing+=(iptables)
	install_missing
	exit 0
fi

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
	missing+=(nginx-extras)
elif [ ! -f /usr/share/nginx/modules/ngx_http_lua_module.so ] && [ ! -f /usr/lib/nginx/modules/ngx_http_lua_module.so ]; then
	missing+=(nginx-extras)
fi

# The Lua balancer decodes the endpoint lists the controller pushes with cjson.
if [ ! -f /usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so ] && [ ! -f "/usr/lib/$(uname -m)-linux-gnu/lua/5.1/cjson.so" ]; then
	missing+=(lua-cjson)
fi
# make lua-test runs the balancer's specs with busted under LuaJIT, the Lua
# nginx's module runs. luajit2 is OpenResty's branch of LuaJIT, the one
# Debian's nginx-extras links; Debian's plain luajit would do as well.
# lua-busted installs its modules for Lua 5.1 too (/usr/share/lua/5.1).
if ! command -v luajit >/dev/null 2>&1; then
	missing+=(luajit2)
fi
if ! command -v busted >/dev/null 2>&1 || [ ! -f /usr/share/lua/5.1/busted/runner.lua ]; then
	missing+=(lua-busted)
fi
if ! command -v etcd >/dev/null 2>&1; then
	missing+=(etcd-server)
fi
if ! command -v ip >/dev/null 2>&1; then
	missing+=(iproute2)
fi
# The reload tests put a bounded load on nginx (loopback only) across reloads.
if ! command -v wrk >/dev/null 2>&1; then
	missing+=(wrk)
fi

# ModSecurity (the modsecurity annotations and ConfigMap keys) and the OWASP
# Core Rule Set its enable-owasp-core-rules loads; without the module an
# Ingress asking for ModSecurity is not served (fail closed).
if [ ! -f /usr/share/nginx/modules/ngx_http_modsecurity_module.so ] && [ ! -f /usr/lib/nginx/modules/ngx_http_modsecurity_module.so ]; then
	missing+=(libnginx-mod-http-modsecurity)
fi
if [ ! -f /usr/share/modsecurity-crs/owasp-crs.load ]; then
	missing+=(modsecurity-crs)
fi

# The headers-more module (more_set_headers and friends in snippets, as
# ingress-nginx loads it); nginx-extras depends on it, this names it so a
# plainer nginx gets it too. Without it an Ingress whose snippet uses it is
# not served (fail closed).
if [ ! -f /usr/share/nginx/modules/ngx_http_headers_more_filter_module.so ] && [ ! -f /usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so ]; then
	missing+=(libnginx-mod-http-headers-more-filter)
fi

# pkg/pcre runs the regexes it prints through real PCRE2.
if ! command -v pcre2test >/dev/null 2>&1; then
	missing+=(pcre2-utils)
fi

install_missing

