#!/usr/bin/env bash
# Builds the test bed's upstream binaries (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok) at the versions pinned in
# testbed/*/go.mod, into a cache outside the repository keyed by those pins.
# Prints the bin directory on stdout. A warm cache returns at once.
#
#   CUTOVER_TESTBED_CACHE  cache root (default: $XDG_CACHE_HOME/cutover/testbed
#                          or ~/.cache/cutover/testbed)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${CUTOVER_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cutover/testbed}

key=$( { go env GOVERSION GOOS GOARCH; cat "$here"/build.sh "$here"/*/go.mod "$here"/*/go.sum; } \
	| sha256sum | cut -c1-16)
bin=$root/$key/bin
if [ -f "$bin/.complete" ]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$bin"
log() { echo "testbed: $*" >&2; }

# build MODULE_DIR PACKAGE OUTPUT
build() {
	local dir=$1 pkg=$2 out=$3
	if [ -x "$bin/$out" ]; then return 0; fi
	log "building $out ($pkg)"
	local start=$SECONDS
	(cd "$here/$dir" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$bin/$out.tmp" "$pkg")
	mv "$bin/$out.tmp" "$bin/$out"
	log "built $out in $((SECONDS - start))s"
}

log "cold build into $bin (about 15-20 min on 2 cores; cached afterwards)"
build etcd go.etcd.io/etcd/server/v3 etcd
build kwok sigs.k8s.io/kwok/cmd/kwok kwok
build kube k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver
build kube k8s.io/kubernetes/cmd/kube-controller-manager kube-controller-manager
build kube k8s.io/kubernetes/cmd/kube-scheduler kube-scheduler
touch "$bin/.complete"
echo "$bin"
