# Portico: the two commands a new machine needs are `make demo` and `make test`.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build deps test unit lua-test lint demo fuzz bench reliability clean kube containerd helm image image-test

all: build

build: ## build bin/portico (and bin/kubectl-portico, the kubectl plugin) and the demo echo server
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/portico ./cmd/portico
	# The same binary under the name kubectl looks for: "kubectl portico
	# inspect ..." runs it when bin/ is on PATH (it reads argv[0]).
	ln -sf portico bin/kubectl-portico
	$(GO) build -o bin/echoserver ./e2e/echoserver

deps: ## install what the tests need (nginx with Lua) when missing
	bash hack/install-deps.sh

lint: ## gofmt and go vet
	@out=$$(gofmt -l cmd pkg e2e templates rootfs); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Every test, with real nginx, a real kube-apiserver, and the image run by a
# real kubelet. The REQUIRE variables turn a missing prerequisite into a
# failure instead of a skip. The Kubernetes binaries, containerd, helm and
# the image are built first (cached after the first time, which takes
# minutes) so their builds do not eat into go test's timeout.
test: deps lint lua-test kube containerd helm image ## install dependencies, lint, build the image and run every test, then fuzz for a bounded time
	PORTICO_REQUIRE_NGINX=1 PORTICO_REQUIRE_E2E=1 PORTICO_REQUIRE_HELM=1 $(GO) test -count=1 -race -timeout 30m ./...
	$(MAKE) fuzz

# The Lua balancer's unit tests (rootfs/usr/share/portico/lua/spec), without
# nginx: busted run by LuaJIT, the Lua that nginx's module runs (busted's
# own "lua" is 5.2 on Debian). Under a second of CPU.
lua-test: deps ## unit tests of the Lua balancer modules (busted under LuaJIT, no nginx)
	cd rootfs/usr/share/portico/lua && luajit "$$(command -v busted)"

kube: ## build kube-apiserver, kubelet, kube-controller-manager and kube-scheduler for the e2e suites (cached outside the repo)
	@bash hack/build-kube.sh >/dev/null

containerd: ## build containerd v2 and its runc shim for the e2e node (cached outside the repo)
	@bash hack/build-containerd.sh >/dev/null

helm: ## build helm v4 for the chart's tests (cached outside the repo)
	@bash hack/build-helm.sh >/dev/null

# The container image, from the Dockerfile, with Debian's podman (installed
# by hack/install-deps.sh --image). Where no registry is reachable the base
# images are made locally (debootstrap, cached in PORTICO_CACHE and podman's
# store): the first time about 1.5 minutes for them and 5 for the build on 2
# idle cores; after that about 10 s with nothing changed, 40-75 s after a
# change (the build stage's Go cache is kept in PORTICO_CACHE/image/go-build).
IMAGE ?= localhost/portico:latest

image: ## build the container image IMAGE (default localhost/portico:latest) with podman
	bash hack/install-deps.sh --image
	IMAGE=$(IMAGE) VERSION=$(VERSION) bash hack/build-image.sh

image-test: image ## smoke test of the image: uid 101, read-only root, the two-container Pod serving and reloading
	IMAGE=$(IMAGE) bash hack/image-test.sh

unit: ## fast tests only (no real nginx)
	$(GO) test -count=1 -short ./...

demo: deps build ## serve examples/ on 127.0.0.1:8080 until Ctrl-C
	bash hack/demo.sh

# Fuzz targets as package:name:budget. The budgets are execution counts
# (about 10-20 s each on 2 cores with an empty fuzz cache), not durations:
# go1.26's fuzz coordinator can fail a target whose -fuzztime deadline
# passes while a worker is mid-input ("context deadline exceeded" and no
# failing input; go.dev/issue/75804, fixed in go1.27). Inputs from the
# cache ($$GOCACHE/fuzz) count towards the budget.
FUZZ_TARGETS := \
	./pkg/render:FuzzRenderAnnotations:8000x \
	./pkg/render:FuzzRenderIngress:20000x \
	./pkg/render:FuzzRenderModelStrings:6000x \
	./pkg/render:FuzzRenderRealIP:3000x \
	./pkg/render:FuzzRenderGlobalAuth:3000x \
	./pkg/render:FuzzRenderCustomHeaders:3000x \
	./pkg/render:FuzzLogFormat:3000x \
	./pkg/render:FuzzRenderModSecurity:2000x \
	./pkg/ngxconf:FuzzQuoteRoundTrip:400000x \
	./pkg/ngxvar:FuzzParseURL:200000x \
	./pkg/pcre:FuzzParse:100000x \
	./pkg/annotations:FuzzSnippet:200000x \
	./pkg/render:FuzzSnippetNginx:1000x \
	./pkg/nginx:FuzzDynamicPush:1500x \
	./pkg/model:FuzzUnitsEqualWhole:3000x \
	./pkg/admission:FuzzHandler:30000x

fuzz: ## run each fuzz test for its execution budget, or for FUZZTIME (e.g. 5m) when set
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget=$${rest#*:}; \
		echo "$(GO) test -run XXX -fuzz '^$$name\$$' -fuzztime $${FUZZTIME:-$$budget} $$pkg"; \
		$(GO) test -run XXX -fuzz "^$$name\$$" -fuzztime "$${FUZZTIME:-$$budget}" "$$pkg"; \
	done

# Every figure of docs/benchmarks.md (about 14 minutes on 2 cores, as root):
# build + render, nginx -t and reload at 100 to 10,000 Ingresses, Ingress
# convergence and endpoint churn on the real API server, data plane against
# hand-written nginx, with ModSecurity (none, base rules, OWASP CRS), and
# the admission webhook's review latency. Prints one table and rewrites
# the results part of docs/benchmarks.md.
bench: deps kube ## run every benchmark, print the table, update docs/benchmarks.md
	bash hack/bench/run.sh

# The fault suite of issue 12 (e2e/local's TestFaults, as root: about 2
# minutes on 2 cores), RELIABILITY_RUNS=2 to see the spread. Prints the
# table and rewrites the generated part of docs/reliability.md. make test
# runs the same suite (its bounds asserted) with every other test.
reliability: deps ## run the fault suite, print its table, update docs/reliability.md
	bash hack/reliability/run.sh

clean:
	rm -rf bin
