#!/usr/bin/env bash
# Installs Prometheus from Debian once (package prometheus: Debian 12 ships
# 2.42.0), for the tests that query a real Prometheus. Needs root; a no-op
# when /usr/bin/prometheus is there. Not root: says what is missing and
# exits 0, and those tests fail, naming this script.
#
# Debian's build rather than one from the Go module: the module builds its
# web UI with npm first, and the tests need only the server and its API.
# The package's service is never started (policy-rc.d refuses it): the test
# bed runs its own Prometheus on a loopback port and removes its data.
set -euo pipefail

if command -v prometheus >/dev/null; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "prometheus-deps: prometheus is missing; run as root to install it" >&2
	exit 0
fi
echo "prometheus-deps: installing prometheus (its service left stopped)" >&2
policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then
	saved=$(mktemp)
	cp -p "$policy" "$saved"
fi
restore() {
	if [ -n "$saved" ]; then mv "$saved" "$policy"; else rm -f "$policy"; fi
}
trap restore EXIT
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 755 "$policy"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >&2
