# Sourced by the scripts that build a pinned module from the Go module
# proxy into the test bed's cache (gateway.sh, flagger.sh): the cache root,
# the toolchain that keys it, and the steps they share.
#
#   CUTOVER_TESTBED_CACHE  cache root, as for upstream/build.sh

root=${CUTOVER_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cutover/testbed}
toolchain=$(go env GOVERSION GOOS GOARCH)
log() { echo "testbed: $*" >&2; }

# download MODULE@VERSION: the module's source directory in the module
# cache, from the Go module proxy (outside any module: ours pin other
# things).
download() {
	local tmp dir
	tmp=$(mktemp -d)
	dir=$(cd "$tmp" && go mod init download >/dev/null 2>&1 && go mod download -json "$1" | jq -r .Dir)
	rm -rf "$tmp"
	echo "$dir"
}

# claim NAME KEY sets out to NAME-KEY in the cache. A complete build there
# is printed and ends the script; otherwise claim takes NAME's lock (held
# until the script ends), looks again, and returns with out created.
claim() {
	out=$root/$1-$2
	if [ -f "$out/.complete" ]; then
		echo "$out"
		exit 0
	fi
	mkdir -p "$root"
	exec 9>"$root/.$1-lock"
	flock 9
	if [ -f "$out/.complete" ]; then
		echo "$out"
		exit 0
	fi
	mkdir -p "$out"
}
