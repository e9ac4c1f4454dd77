# One image for both containers of the Portico Pod: nginx (Debian's, with
# the Lua module) and the portico controller, which needs the same nginx
# binary for nginx -t.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd cmd
COPY pkg pkg
COPY templates templates
# The controller embeds the Lua balancer (rootfs/lua.go) and installs it
# under the runtime directory at start.
COPY rootfs rootfs
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/portico ./cmd/portico

FROM debian:bookworm-slim
# Both containers run as uid 101, as ingress-nginx's do, with no capability
# at all: the controller signals the nginx master because they are the same
# user (no CAP_KILL), and nginx binds 80 and 443 because the Pod sets the
# namespaced sysctl net.ipv4.ip_unprivileged_port_start=0. No file
# capability: under a kubelet, allowPrivilegeEscalation: false (no_new_privs)
# and the shell that starts nginx keep one from ever taking effect, and a
# binary with one cannot even be executed where the capability is not in
# the bounding set.
RUN groupadd --system --gid 101 portico \
 && useradd --system --uid 101 --gid 101 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin portico \
 && apt-get update \
 && apt-get install -y --no-install-recommends nginx-extras lua-cjson libnginx-mod-http-headers-more-filter libnginx-mod-http-modsecurity modsecurity-crs ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && rm -f /etc/nginx/sites-enabled/default \
 && mkdir -p /etc/portico /tmp/portico \
 && chown 101:101 /etc/portico /tmp/portico \
 && ln -sf /dev/stdout /var/log/nginx/access.log \
 && ln -sf /dev/stderr /var/log/nginx/error.log
# As in ingress-nginx's image: its default access-log-path and error-log-path,
# which ConfigMaps copy, go to the container's log.
# The bootstrap config is outside /etc/portico, which the Pod mounts an
# emptyDir over (/etc/portico and /tmp/portico are the only writable paths).
COPY rootfs/usr/share/portico/bootstrap.conf /usr/share/portico/bootstrap.conf
COPY rootfs/usr/local/bin/portico-nginx /usr/local/bin/portico-nginx
COPY --from=build /out/portico /usr/local/bin/portico
USER 101:101
EXPOSE 80 443 10254
# The controller container runs "portico controller"; the nginx container
# overrides the command with /usr/local/bin/portico-nginx.
ENTRYPOINT ["/usr/local/bin/portico"]
CMD ["controller", "--help"]
