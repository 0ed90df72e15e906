#!/usr/bin/env bash
# Builds the test bed's upstream binaries at the versions pinned in
# upstream/*/go.mod, into a cache outside the repository, and prints the bin
# directory on stdout. A warm cache returns at once.
#
#   etcd                                   upstream/etcd
#   kwok (the fake nodes' kubelet)         upstream/kwok
#   kube-apiserver, kube-controller-manager,
#   kube-scheduler, kubelet, kube-proxy    upstream/kube (the real node's too)
#
# Each module's binaries are cached under a key of that module's go.mod,
# go.sum, build flags and the Go toolchain, so a change to one module
# rebuilds only its binaries. The printed directory links them together.
#
#   CUTOVER_TESTBED_CACHE  cache root (default: $XDG_CACHE_HOME/cutover/testbed
#                          or ~/.cache/cutover/testbed)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${CUTOVER_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cutover/testbed}
toolchain=$(go env GOVERSION GOOS GOARCH)
log() { echo "testbed: $*" >&2; }

# ldflags MODULE_DIR: the module's link flags. Kubernetes binaries get their
# version stamped, or the real node reports v0.0.0-master.
ldflags() {
	local flags='-s -w'
	if [ "$1" = kube ]; then
		local v
		v=$(cd "$here/kube" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
		flags+=" -X k8s.io/component-base/version.gitVersion=$v"
		flags+=" -X k8s.io/client-go/pkg/version.gitVersion=$v"
	fi
	echo "$flags"
}

# modbin MODULE_DIR: the module's cache directory, keyed by its pins.
modbin() {
	local key
	key=$( { echo "$toolchain"; ldflags "$1"; cat "$here/$1/go.mod" "$here/$1/go.sum"; } | sha256sum | cut -c1-16)
	echo "$root/$1-$key"
}

# build MODULE_DIR PACKAGE OUTPUT
build() {
	local dir=$1 pkg=$2 out=$3 mb
	mb=$(modbin "$dir")
	if [ -x "$mb/$out" ]; then return 0; fi
	mkdir -p "$mb"
	log "building $out ($pkg)"
	local start=$SECONDS
	(cd "$here/$dir" && CGO_ENABLED=0 go build -trimpath -ldflags="$(ldflags "$dir")" -o "$mb/$out.tmp" "$pkg")
	mv "$mb/$out.tmp" "$mb/$out"
	log "built $out in $((SECONDS - start))s"
}

targets=(
	"etcd go.etcd.io/etcd/server/v3 etcd"
	"kwok sigs.k8s.io/kwok/cmd/kwok kwok"
	"kube k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver"
	"kube k8s.io/kubernetes/cmd/kube-controller-manager kube-controller-manager"
	"kube k8s.io/kubernetes/cmd/kube-scheduler kube-scheduler"
	"kube k8s.io/kubernetes/cmd/kubelet kubelet"
	"kube k8s.io/kubernetes/cmd/kube-proxy kube-proxy"
)

# The linked directory's key covers every module's.
key=$(for t in "${targets[@]}"; do read -r dir _ out <<<"$t"; echo "$(modbin "$dir") $out"; done | sha256sum | cut -c1-16)
bin=$root/$key/bin
if [ -f "$bin/.complete" ]; then
	echo "$bin"
	exit 0
fi

# One build at a time: test packages that start in parallel on a cold cache
# all call this script, and the later ones wait, then find it built.
mkdir -p "$root"
exec 9>"$root/.lock"
flock 9
if [ -f "$bin/.complete" ]; then
	echo "$bin"
	exit 0
fi
log "building what is not cached yet into $root (cold: about 15 min on 2 cores)"
mkdir -p "$bin"
for t in "${targets[@]}"; do
	read -r dir pkg out <<<"$t"
	build "$dir" "$pkg" "$out"
	ln -sfn "$(modbin "$dir")/$out" "$bin/$out"
done
touch "$bin/.complete"
echo "$bin"
