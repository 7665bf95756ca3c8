#!/usr/bin/env bash
# Installs what the test cluster needs and builds the Kubernetes server binaries (kube-apiserver,
# and for the real-cluster lab kube-controller-manager, kube-scheduler, kubelet, kube-proxy) from
# Debian's `kubernetes` source package, offline, once, in one Go build cache: each binary is cached
# outside the repo, keyed by the source version, so later runs (and later sessions on the same
# machine) reuse them.
# Go 1.19 breaks the reflect2 1.0.1 vendored by Kubernetes 1.20 (its map iterator links to a runtime
# function whose signature changed in Go 1.18): every component SIGSEGVs when json-iterator encodes a
# map, e.g. kube-apiserver decoding any custom resource. So the tree's vendored reflect2 and
# json-iterator are replaced with Debian's reflect2 1.0.2 and json-iterator 1.1.12 (the versions
# Kubernetes itself moved to for Go 1.18), and their Debian versions are part of the cache key.
# Prints progress on stderr and the path of the cached kube-apiserver as its last stdout line (the
# others lie beside it: $CACHE_DIR/<component>-<key>).
# Env: HERALD_CACHE_DIR (default /var/cache/herald).
set -euo pipefail

CACHE_DIR="${HERALD_CACHE_DIR:-/var/cache/herald}"
GO_BIN=/usr/lib/go-1.19/bin
log() { echo "[kube-apiserver build] $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

# 1. Packages (idempotent: only what is missing).
missing=""
for p in etcd-server etcd-client golang-1.19 openssl dpkg-dev rsync golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
command -v kubectl >/dev/null 2>&1 || missing="$missing kubernetes-client"
if [ -n "$missing" ]; then
  log "installing$missing"
  as_root apt-get update -q >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2
fi

# 2. A deb-src entry for the archive and suites of the binary entries, in its own
# file, if none exists yet.
if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  src=/etc/apt/sources.list.d/debian.sources
  [ -f "$src" ] || die "no deb-src entry and no $src to derive one from"
  log "adding deb-src entries (derived from $src)"
  sed 's/^Types: deb$/Types: deb-src/' "$src" | as_root tee /etc/apt/sources.list.d/herald-deb-src.sources >/dev/null
  as_root apt-get update -q >&2
fi
# 3. The newest source version on offer is the cache key. apt-cache is fast, unlike
# apt-get source --print-uris, and this runs before every cluster start.
source_versions() { apt-cache showsrc kubernetes 2>/dev/null | sed -n 's/^Version: //p'; }
versions=$(source_versions)
if [ -z "$versions" ]; then
  log "no source index yet; apt-get update"
  as_root apt-get update -q >&2
  versions=$(source_versions)
fi
[ -n "$versions" ] || die "apt-cache showsrc kubernetes found no source package"
version=""
for v in $versions; do
  if [ -z "$version" ] || dpkg --compare-versions "$v" gt "$version"; then version=$v; fi
done
# The Go packages laid over vendor/ (Debian package, import path); their versions join the key, so
# binaries built without them (or with older ones) are never reused, and are left in place for
# whoever still runs them.
OVERLAYS="golang-github-modern-go-reflect2-dev:github.com/modern-go/reflect2 golang-github-json-iterator-go-dev:github.com/json-iterator/go"
key=$version
for o in $OVERLAYS; do
  v=$(dpkg-query -W -f='${Version}' "${o%%:*}") || die "${o%%:*} is not installed"
  imp=${o##*:}; key="$key+$(echo "${imp#github.com/}" | tr / -)-$v"
done
bin="$CACHE_DIR/kube-apiserver-$key"
COMPONENTS="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy"
all_cached() { for c in $COMPONENTS; do [ -x "$CACHE_DIR/$c-$key" ] || return 1; done; }
if all_cached; then
  log "cached: $bin"
  echo "$bin"; exit 0
fi

# Upstream version inside the Debian one (1.20.5+really1.20.2-1.1+deb12u1 -> 1.20.2).
upstream=${version%%-*}; upstream=${upstream##*really}; upstream=${upstream%%+*}
major=${upstream%%.*}; minor=${upstream#*.}; minor=${minor%%.*}

mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/build.lock"
log "waiting for build lock" ; flock 9
if all_cached; then log "built meanwhile: $bin"; echo "$bin"; exit 0; fi

work="$CACHE_DIR/build-$key"
gopath="$work/gopath"
tree="$gopath/src/k8s.io/kubernetes"
start=$(date +%s)
if [ ! -f "$tree/.herald-unpacked" ]; then
  rm -rf "$work"; mkdir -p "$work/src" "$gopath/src/k8s.io"
  log "fetching source package $version"
  (cd "$work/src" && apt-get source -q "kubernetes=$version" >&2) || die "apt-get source kubernetes=$version"
  dir=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -1)
  [ -n "$dir" ] || die "no unpacked source tree in $work/src"
  mv "$dir" "$tree"
  for o in $OVERLAYS; do
    imp=${o##*:}; vendored="$tree/vendor/$imp"
    [ -d "$vendored" ] || die "no vendored $imp in the source tree"
    log "replacing vendor/$imp with ${o%%:*}"
    # The package's own files only (not its tests or sub-packages), as vendoring keeps them.
    rm -f "$vendored"/*.go "$vendored"/*.s
    find "/usr/share/gocode/src/$imp" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' -exec cp {} "$vendored/" \;
  done
  touch "$tree/.herald-unpacked"
fi

export PATH="$GO_BIN:$PATH" GOPATH="$gopath" GO111MODULE=off GOPROXY=off CGO_ENABLED=0
export GOCACHE="$work/gocache"
cd "$tree"
pkg=k8s.io/kubernetes/vendor/k8s.io
ldflags="-s -w"
for p in component-base/version client-go/pkg/version; do
  ldflags="$ldflags -X $pkg/$p.gitVersion=v$upstream -X $pkg/$p.gitMajor=$major -X $pkg/$p.gitMinor=$minor"
  ldflags="$ldflags -X $pkg/$p.gitTreeState=clean -X $pkg/$p.buildDate=1970-01-01T00:00:00Z"
done
n=0
for c in $COMPONENTS; do
  n=$((n + 1))
  out="$CACHE_DIR/$c-$key"
  [ -x "$out" ] && { log "cached: $out"; continue; }
  if [ "$c" = kube-apiserver ] && [ ! -f .herald-openapi ]; then
    # Only kube-apiserver serves the generated OpenAPI (needs rsync, else openapi-gen is empty).
    log "generating OpenAPI code (make gen_openapi)"
    nice make gen_openapi >&2 9>&- || die "make gen_openapi"
    touch .herald-openapi
  fi
  log "[$n/5] go build ./cmd/$c (several minutes on 2 cores)"
  # providerless: leave out the in-tree cloud providers (AWS, Azure, GCE, vSphere SDKs), a large
  # share of the build; dockerless: no dockershim in the kubelet (containerd via CRI instead).
  nice go build -tags "providerless dockerless" -o "$out.tmp" -ldflags "$ldflags" "./cmd/$c" >&2 9>&- || die "go build ./cmd/$c"
  mv "$out.tmp" "$out"
  "$out" --version >&2 || die "built $c does not run"
done
# Recorded for `make bench` (cluster.build.first.seconds), with the machine it was measured on.
echo "$(( $(date +%s) - start )) $(nproc) $(date -u +%Y-%m-%d)" > "$bin.build-seconds"
log "built $COMPONENTS in $(( $(date +%s) - start )) s"
cd /
rm -rf "$work" # source tree and Go build cache (about 1.5 GB); only the binaries are kept
echo "$bin"
