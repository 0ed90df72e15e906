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

# gcflags: no DWARF in the objects. The binaries are stripped anyway (-s
# -w); the compiler then skips writing it: 11% less CPU for the standard
# library, measured (69 s against 77 s of user time).
gcflags='all=-dwarf=false'

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
	key=$( { echo "$toolchain"; echo "$gcflags"; ldflags "$1"; cat "$here/$1/go.mod" "$here/$1/go.sum"; } | sha256sum | cut -c1-16)
	echo "$root/$1-$key"
}

# build MODULE_DIR PACKAGE:NAME... : the module's binaries not cached yet,
# in one go build, so that the linking of one overlaps the compiling of
# the next. With several packages go names each binary after its path's
# last element, which NAME must then be.
build() {
	local dir=$1 mb spec todo=() names=()
	shift
	mb=$(modbin "$dir")
	for spec in "$@"; do
		[ -x "$mb/${spec##*:}" ] && continue
		todo+=("${spec%%:*}")
		names+=("${spec##*:}")
	done
	[ ${#todo[@]} -gt 0 ] || return 0
	local out=$mb/.tmp/
	[ ${#todo[@]} -eq 1 ] && out=$mb/.tmp/${names[0]}
	rm -rf "$mb/.tmp" && mkdir -p "$mb/.tmp"
	log "building ${names[*]} ($dir)"
	local start=$SECONDS name
	(cd "$here/$dir" && CGO_ENABLED=0 go build -trimpath -gcflags="$gcflags" -ldflags="$(ldflags "$dir")" -o "$out" "${todo[@]}")
	for name in "${names[@]}"; do
		mv "$mb/.tmp/$name" "$mb/$name"
	done
	rmdir "$mb/.tmp"
	log "built ${names[*]} in $((SECONDS - start))s"
}

# MODULE_DIR PACKAGE:NAME...: each module's binaries, built together.
kube=k8s.io/kubernetes/cmd
targets=(
	"etcd go.etcd.io/etcd/server/v3:etcd"
	"kwok sigs.k8s.io/kwok/cmd/kwok:kwok"
	"kube $kube/kube-apiserver:kube-apiserver $kube/kube-controller-manager:kube-controller-manager $kube/kube-scheduler:kube-scheduler $kube/kubelet:kubelet $kube/kube-proxy:kube-proxy"
)

# each_binary prints "MODULE_DIR NAME" for every binary.
each_binary() {
	local t dir specs spec
	for t in "${targets[@]}"; do
		read -r dir specs <<<"$t"
		for spec in $specs; do
			echo "$dir ${spec##*:}"
		done
	done
}

# The linked directory's key covers every module's.
key=$(each_binary | while read -r dir out; do echo "$(modbin "$dir") $out"; done | sha256sum | cut -c1-16)
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
log "building what is not cached yet into $root (cold: about 17 min on 2 cores)"
mkdir -p "$bin"
for t in "${targets[@]}"; do
	read -r dir specs <<<"$t"
	# shellcheck disable=SC2086 # the packages, one word each
	build "$dir" $specs
done
each_binary | while read -r dir out; do
	ln -sfn "$(modbin "$dir")/$out" "$bin/$out"
done
touch "$bin/.complete"
echo "$bin"
