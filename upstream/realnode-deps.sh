#!/usr/bin/env bash
# Installs the real node's Debian packages once: containerd, runc, the CNI
# plugins, nftables and iptables (iproute2 for ip). Needs root; a no-op
# when everything is there. Not root: says what is missing and exits 0, and
# the real-node tests skip with that reason.
set -euo pipefail

need=()
for bin in containerd ctr runc nft iptables ip; do
	command -v "$bin" >/dev/null || need+=("$bin")
done
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] || need+=(cni-plugins)
if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "realnode-deps: missing ${need[*]}; run as root to install them (the real-node tests skip meanwhile)" >&2
	exit 0
fi
echo "realnode-deps: installing containerd runc containernetworking-plugins nftables iptables iproute2" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends containerd runc containernetworking-plugins nftables iptables iproute2 >&2
