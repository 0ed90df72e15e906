#!/usr/bin/env bash
# Builds Flagger, the peer cutover is benchmarked against, at the version in
# upstream/flagger/version, into a cache outside the repository, and prints
# its directory on stdout: the controller binary flagger, and Flagger's CRDs
# (Canary, MetricTemplate, AlertProvider) in crd.yaml. A warm cache returns
# at once.
#
#   flagger   upstream/flagger (github.com/fluxcd/flagger; see its README)
#
# Not part of make test: Flagger takes about 5 minutes to build cold on 2
# cores (about 5 CPU minutes).
#
#   CUTOVER_TESTBED_CACHE  cache root, as for upstream/build.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/module.sh"

version=$(cat "$here/flagger/version")
# Flagger needs no patch at this version: the proxy serves all it needs.
# A patch, if one is ever needed, goes in upstream/flagger/flagger.patch
# (paths a/ and b/) and is part of the key.
patch=$here/flagger/flagger.patch
key=$( { echo "$toolchain"; echo "$version"; if [ -f "$patch" ]; then cat "$patch"; fi; } | sha256sum | cut -c1-16)
claim flagger "$key"
mkdir -p "$out"

# Built as the main module, from its pinned source, so that its go.mod and
# go.sum pin its dependencies.
log "building flagger $version (cold: about 5 min on 2 cores)"
start=$SECONDS
src=$(download "github.com/fluxcd/flagger@$version")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src" "$work/src"
chmod -R u+w "$work/src"
(cd "$work/src" && if [ -f "$patch" ]; then git apply -p1 "$patch"; fi &&
	CGO_ENABLED=0 go build -mod=readonly -trimpath \
		-ldflags="-s -w" -o "$out/flagger" ./cmd/flagger)
# The same CRDs are in kustomize/base/flagger and charts/flagger/crds.
cp "$work/src/artifacts/flagger/crd.yaml" "$out/crd.yaml"
log "built flagger in $((SECONDS - start))s"
touch "$out/.complete"
echo "$out"
