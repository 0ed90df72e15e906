#!/usr/bin/env bash
# Builds the test bed's gateway at the pinned versions, into a cache outside
# the repository, and prints its directory on stdout: traefik, and the
# Gateway API's standard channel CRDs in gateway-api/. A warm cache returns
# at once.
#
#   traefik            upstream/traefik (its source, patched: see its README)
#   Gateway API CRDs   upstream/gateway-api/version (sigs.k8s.io/gateway-api)
#
# make test builds it: Traefik takes about 2-3 minutes to build cold on 2
# cores (about 10 before traefik.patch left out what the test bed does not
# use: see upstream/traefik/README.md).
#
#   CUTOVER_TESTBED_CACHE  cache root, as for upstream/build.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/module.sh"

traefik_version=$(cat "$here/traefik/version")
crds_version=$(cat "$here/gateway-api/version")
key=$( { echo "$toolchain"; echo "$crds_version"; cat "$here/traefik/version" "$here/traefik/traefik.patch"; } | sha256sum | cut -c1-16)
claim gateway "$key"
mkdir -p "$out/gateway-api"

# The CRDs of the standard channel; the admission policy beside them is
# not one.
src=$(download "sigs.k8s.io/gateway-api@$crds_version")
cp "$src"/config/crd/standard/gateway.networking.k8s.io_*.yaml "$out/gateway-api/"
rm -f "$out"/gateway-api/gateway.networking.k8s.io_vap_*.yaml

# Traefik's go.mod has replace directives, so it is built as the main
# module, from its pinned source with upstream/traefik/traefik.patch.
log "building traefik $traefik_version (cold: about 2-3 min on 2 cores)"
start=$SECONDS
src=$(download "github.com/traefik/traefik/v3@$traefik_version")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src" "$work/src"
chmod -R u+w "$work/src"
(cd "$work/src" && git apply -p1 "$here/traefik/traefik.patch" &&
	CGO_ENABLED=0 go build -mod=readonly -trimpath \
		-ldflags="-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$traefik_version" -o "$out/traefik" ./cmd/traefik)
log "built traefik in $((SECONDS - start))s"
touch "$out/.complete"
echo "$out"
